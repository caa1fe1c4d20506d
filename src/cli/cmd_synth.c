/* cmd_synth.c - `clvtier synth`. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier synth --model bgnbd|mbgnbd|pareto --params r=..,alpha=..,a=..,b=..\n"
    "                     [--spend p=..,q=..,v=..] -n CUSTOMERS [--periods T]\n"
    "                     [--seed S] -o OUT.csv|OUT.h5\n"
    "\n"
    "Simulate customers: purchases from BG/NBD or MBG/NBD (r, alpha, a, b) or Pareto/NBD\n"
    "(r, alpha, s, beta), spend from Gamma-Gamma (p, q, v = gamma; default the\n"
    "CDNOW estimates 6.25, 3.74, 15.44).  OUT.csv gets the transaction log\n"
    "(id,date,amount; dates at day resolution); OUT.h5 gets /customers with\n"
    "the exact continuous-time summaries (x, t_x, T, m), what the models assume.\n"
    "The same seed gives the same customers in both, for any --threads.\n"
    "\n"
    "options:\n"
    "      --model M          bgnbd (default) | mbgnbd | pareto\n"
    "      --params K=V,...   purchase parameters (default: CDNOW BG/NBD)\n"
    "      --spend K=V,...    spend parameters p, q, v\n"
    "  -n, --customers N      number of customers (e.g. 100000, 10M)\n"
    "      --periods T        observation length in periods (default 52)\n"
    "      --cohort C         first purchases spread over the first C periods (default 0)\n"
    "      --period P         day | week (default) | month: length of a period for dates\n"
    "      --start DATE       calendar date of time 0 (default 2020-01-01)\n"
    "      --seed S           random seed (default 1)\n"
    "      --covariates NAME:KIND:GT:GL,...  static covariates (at most 8): KIND b (0/1,\n"
    "                         p = 1/2) or n (standard normal); GT, GL the coefficients in\n"
    "                         the purchase and drop-out processes (clvtier fit's\n"
    "                         parametrisation).  OUT.h5 gets them as /features\n"
    "      --features-out F.csv  with OUT.csv: the covariates as id,NAME,... for\n"
    "                         ingest --features\n"
    "                         KIND db or dn: time-varying (pareto), drawn afresh\n"
    "                         each period\n"
    "      --dynamic-out F.csv   with OUT.csv: those as id,date,NAME,... per customer and\n"
    "                         period, for ingest --dynamic-covariates\n"
    "      --ahead H          their periods run H past T (default 52), for scoring\n"
    "      --threads N        threads (default: all cores; result does not depend on it)\n"
    "  -o, --output FILE      .csv or .h5 (written atomically)\n"
    "      --json             print a JSON report on stdout\n"
    "  -q, --quiet            nothing on stderr but errors\n"
    "  -h, --help             this help\n";

enum { O_MODEL = 256, O_PARAMS, O_SPEND, O_PERIODS, O_COHORT, O_PERIOD, O_START, O_SEED,
       O_THREADS, O_COV, O_FEAT_OUT, O_DYN_OUT, O_AHEAD };

/* NAME:KIND:GT:GL,... into o's covariates; 0, or -1 with the fault in bad. */
static int parse_covariates(const char *spec, ct_synth_opts *o, char *bad, size_t cap)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    o->ncov = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char name[32], kind[8];
        double gt, gl;
        int used = 0;
        if (o->ncov == CT_SYNTH_MAXCOV) {
            snprintf(bad, cap, "at most %d covariates", CT_SYNTH_MAXCOV);
            return -1;
        }
        if (sscanf(tok, "%31[^:]:%7[^:]:%lf:%lf%n", name, kind, &gt, &gl, &used) != 4 ||
            tok[used] != '\0' ||
            (strcmp(kind, "b") != 0 && strcmp(kind, "n") != 0 && strcmp(kind, "db") != 0 &&
             strcmp(kind, "dn") != 0)) {
            snprintf(bad, cap, "'%.80s' is not NAME:b|n|db|dn:GAMMA_TRANS:GAMMA_LIFE", tok);
            return -1;
        }
        size_t j = o->ncov++;
        snprintf(o->cov_name[j], sizeof o->cov_name[j], "%s", name);
        o->cov_dynamic[j] = kind[0] == 'd';
        o->cov_kind[j] = kind[o->cov_dynamic[j] ? 1 : 0];
        o->cov_trans[j] = gt;
        o->cov_life[j] = gl;
    }
    return 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

int cmd_synth(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"model", required_argument, NULL, O_MODEL},
                                         {"params", required_argument, NULL, O_PARAMS},
                                         {"spend", required_argument, NULL, O_SPEND},
                                         {"customers", required_argument, NULL, 'n'},
                                         {"periods", required_argument, NULL, O_PERIODS},
                                         {"cohort", required_argument, NULL, O_COHORT},
                                         {"period", required_argument, NULL, O_PERIOD},
                                         {"start", required_argument, NULL, O_START},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"covariates", required_argument, NULL, O_COV},
                                         {"features-out", required_argument, NULL, O_FEAT_OUT},
                                         {"dynamic-out", required_argument, NULL, O_DYN_OUT},
                                         {"ahead", required_argument, NULL, O_AHEAD},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ct_synth_opts o;
    ct_error err;
    const char *out = NULL, *params = NULL, *spend = NULL, *feat_out = NULL, *dyn_out = NULL;
    int opt;
    char bad[160];

    ct_synth_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "n:o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case O_MODEL:
            if (strcmp(optarg, "bgnbd") == 0) {
                o.model = CT_SYNTH_BGNBD;
            } else if (strcmp(optarg, "mbgnbd") == 0) {
                o.model = CT_SYNTH_MBGNBD;
            } else if (strcmp(optarg, "pareto") == 0 || strcmp(optarg, "paretonbd") == 0) {
                o.model = CT_SYNTH_PARETO;
            } else {
                return cli_usage(c, "unknown model '%s' (use bgnbd, mbgnbd or pareto)", optarg);
            }
            break;
        case O_PARAMS:
            params = optarg;
            break;
        case O_SPEND:
            spend = optarg;
            break;
        case 'n':
            if (cli_parse_size(optarg, &o.n) != 0 || o.n == 0) {
                return cli_usage(c, "-n '%s' is not a positive count", optarg);
            }
            break;
        case O_PERIODS:
            if (cli_parse_double(optarg, &o.T) != 0 || o.T <= 0) {
                return cli_usage(c, "--periods '%s' must be > 0", optarg);
            }
            break;
        case O_COHORT:
            if (cli_parse_double(optarg, &o.cohort) != 0 || o.cohort < 0) {
                return cli_usage(c, "--cohort '%s' must be >= 0", optarg);
            }
            break;
        case O_PERIOD: {
            ct_period p;
            if (ct_period_parse(optarg, &p) != 0) {
                return cli_usage(c, "unknown period '%s'", optarg);
            }
            o.period_days = ct_period_days(p);
            break;
        }
        case O_START:
            if (cli_parse_day(optarg, &o.start_day) != 0) {
                return cli_usage(c, "--start '%s' is not a date YYYY-MM-DD", optarg);
            }
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &o.seed) != 0) {
                return cli_usage(c, "--seed '%s' is not a non-negative integer", optarg);
            }
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &o.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case O_COV:
            if (parse_covariates(optarg, &o, bad, sizeof bad) != 0) {
                return cli_usage(c, "--covariates: %s", bad);
            }
            break;
        case O_FEAT_OUT:
            feat_out = optarg;
            break;
        case O_DYN_OUT:
            dyn_out = optarg;
            break;
        case O_AHEAD:
            if (cli_parse_double(optarg, &o.ahead) != 0) {
                return cli_usage(c, "--ahead '%s' is not a number", optarg);
            }
            break;
        default: {
            int ec = cli_option(c, opt, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc) {
        return cli_usage(c, "unexpected argument '%s'", argv[optind]);
    }
    if (out == NULL) {
        return cli_usage(c, "missing -o OUT.csv|OUT.h5");
    }
    if (params != NULL) {
        static const char *const KB[] = {"r", "alpha", "a", "b"};
        static const char *const KP[] = {"r", "alpha", "s", "beta"};
        double v[4] = {o.r, o.alpha, o.a, o.b};
        if (o.model == CT_SYNTH_PARETO) {
            v[2] = 0.6;
            v[3] = 12.0;
        }
        if (cli_parse_kv(params, o.model == CT_SYNTH_PARETO ? KP : KB, v, 4, bad, sizeof bad) !=
            0) {
            return cli_usage(c, "--params: %s", bad);
        }
        o.r = v[0];
        o.alpha = v[1];
        o.a = v[2];
        o.b = v[3];
    } else if (o.model == CT_SYNTH_PARETO) {
        /* Pareto/NBD on CDNOW (Fader, Hardie & Lee 2005 BG/NBD paper, table 1). */
        o.r = 0.553;
        o.alpha = 10.578;
        o.a = 0.606;
        o.b = 11.669;
    }
    if (spend != NULL) {
        static const char *const KS[] = {"p", "q", "v", "gamma"};
        double v[4] = {o.p, o.q, o.gamma, -1};
        if (cli_parse_kv(spend, KS, v, 4, bad, sizeof bad) != 0) {
            return cli_usage(c, "--spend: %s", bad);
        }
        o.p = v[0];
        o.q = v[1];
        o.gamma = v[3] > 0 ? v[3] : v[2];
    }
    if (ct_synth_check(&o, &err) != CT_OK) {
        return cli_usage(c, "%s", err.msg);
    }
    int h5 = ends_with(out, ".h5") || ends_with(out, ".hdf5");
    size_t nstatic = 0;
    for (size_t j = 0; j < o.ncov; j++) {
        nstatic += !o.cov_dynamic[j];
    }
    int dyn = ct_synth_dynamic(&o);
    if (dyn && (h5 || dyn_out == NULL)) {
        return cli_usage(c, "time-varying covariates (db, dn) need OUT.csv and --dynamic-out "
                            "F.csv (then ingest --dynamic-covariates F.csv)");
    }
    if (dyn_out != NULL && !dyn) {
        return cli_usage(c, "--dynamic-out goes with time-varying covariates (KIND db or dn)");
    }
    if (feat_out != NULL && (h5 || nstatic == 0)) {
        return cli_usage(c, "--features-out goes with --covariates and OUT.csv (OUT.h5 holds "
                            "them as /features)");
    }
    if (!h5 && nstatic > 0 && feat_out == NULL) {
        return cli_usage(c, "--covariates with OUT.csv need --features-out F.csv");
    }
    const char *outs[3] = {out, feat_out, dyn_out};
    int ec = cli_check_paths(c, NULL, 0, outs, 3);
    if (ec != 0) {
        return ec;
    }
    double t0 = ct_seconds();
    uint64_t rows = 0;
    ct_status s;
    ct_outputs_hold(outs, 3); /* the log and its covariates appear together */
    if (h5) {
        s = ct_synth_h5(&o, out, c->cmdline, &err);
    } else {
        s = ct_synth_csv(&o, out, &rows, &err);
        if (s == CT_OK && feat_out != NULL) {
            s = ct_synth_features_csv(&o, feat_out, &err);
        }
        if (s == CT_OK && dyn_out != NULL) {
            s = ct_synth_dynamic_csv(&o, dyn_out, &err);
        }
    }
    s = ct_outputs_release(s, &err);
    if (s != CT_OK) {
        return cli_fail(c, &err);
    }
    double secs = ct_seconds() - t0;
    if (!c->quiet) {
        fprintf(stderr, "clvtier synth: %zu customers", o.n);
        if (rows > 0) {
            fprintf(stderr, ", %llu transactions", (unsigned long long)rows);
        }
        fprintf(stderr, " (%.2f s) -> %s\n", secs, out);
    }
    if (c->json) {
        printf("{\"output\": ");
        cli_json_str(stdout, out);
        printf(", \"customers\": %zu, \"transactions\": %llu, \"seconds\": %.3f}\n", o.n,
               (unsigned long long)rows, secs);
    }
    return 0;
}
