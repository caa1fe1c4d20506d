/* cmd_run.c - `clvtier run`: a tier model end to end. */
#include "clvtier/comm.h"
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier run -m MODEL.ini TX.csv|DATA.h5 -o RESULT.h5 [--report R.html]\n"
    "                   [--summary S.json] [--markdown R.md] [--csv TIERS.csv]\n"
    "                   [--previous OLD.h5] [--features F.csv] [--min-group N]\n"
    "                   [--id-key KEYFILE] [--threads N] [--json]\n"
    "\n"
    "Apply a tier model (models/*.ini): ingest the transactions (CSV input, with\n"
    "the model's [data] settings), fit the purchase and spend models, score CLV,\n"
    "cluster the customers old enough to grade, map the clusters onto the tier\n"
    "ladder, and write every stage's tables to RESULT.h5 (/customers, /fits,\n"
    "/scores, /clusters, /tiers, /audit), then the reports asked for (the same as\n"
    "`clvtier report RESULT.h5`).  Prints the tiers (or --json) on stdout and the\n"
    "stage times on stderr.  With --previous (an earlier result of the same\n"
    "model), cluster labels are matched to its centroids, the model's hysteresis\n"
    "margin is applied, and the tier migration matrix (old x new) is written to\n"
    "/migration and printed.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE      tier model\n"
    "  -o, --output FILE     result HDF5 (written atomically)\n"
    "      --report FILE     self-contained HTML report (inline SVG charts)\n"
    "      --summary FILE    summary.json (schema clvtier-summary/1, see README)\n"
    "      --markdown FILE   report.md (the tables, for papers)\n"
    "      --csv FILE        id, tier, loyalty, clv, p_alive per customer\n"
    "      --id-key FILE     pseudonymise ids in --csv with HMAC-SHA256 under this key\n"
    "      --min-group N     withhold aggregates over fewer than N customers\n"
    "                        (default: the model's min_group, 10)\n"
    "      --features FILE   CSV input: per-customer columns joined by id (/features)\n"
    "      --dynamic-covariates FILE  CSV input: time-varying covariates (see ingest)\n"
    "      --id, --date, --amount, --quantity, --price, --order, --cancel-prefix,\n"
    "      --returns, --missing-id, --on-bad-row, --bad-rows, --max-bad-rows,\n"
    "      --encoding, --date-format, --delimiter, --no-header, --features-delimiter\n"
    "                        CSV input: the log's format, as in `clvtier ingest --help`\n"
    "                        (also the model file's [ingest] section; these win)\n"
    "      --previous FILE   compare with an earlier result (labels, migration)\n"
    "      --threads N       threads (default: all cores; results do not depend on it)\n"
    "      --stability N     tier stability over N parameter draws ([tiers] stability)\n"
    "      --json            summary as JSON on stdout\n"
    "  -q, --quiet           nothing on stderr but errors\n"
    "  -h, --help            this help\n";

enum { O_THREADS = 256, O_PREV, O_FEAT, O_STAB, O_DYN };

static void on_stage(void *ctx, const char *stage, double seconds)
{
    const cli_common *c = ctx;
    if (!c->quiet) {
        fprintf(stderr, "clvtier %s: %-8s %7.2f s\n", c->cmd, stage, seconds);
    }
}

static void print_run(const cli_common *c, const ct_tier_model *mp, const ct_run_summary *sp,
                      double secs, const char *previous)
{
    const ct_tier_model m = *mp;
    const ct_run_summary sum = *sp;
    double tot = 0;
    for (size_t t = 0; t <= m.ntiers; t++) {
        tot += sum.tier_weight[t];
    }
    if (c->json) {
        printf("{\"model\": ");
        cli_json_str(stdout, m.name);
        printf(", \"customers\": %.17g, \"rows\": %zu, \"k\": %zu, \"inertia\": %.10g, "
               "\"total_clv\": %.10g, \"ll\": %.10g, \"seconds\": %.3f, \"tiers\": {",
               tot, sum.customers, sum.k, sum.inertia, sum.total_clv, sum.ll, secs);
        for (size_t t = 0; t <= m.ntiers; t++) {
            printf("%s", t ? ", " : "");
            cli_json_str(stdout, t < m.ntiers ? m.tiers[t] : m.new_tier);
            printf(": %.17g", sum.tier_weight[t]);
        }
        printf("}, \"loyalty\": {");
        for (size_t l = 0; l < 3; l++) {
            printf("%s", l ? ", " : "");
            cli_json_str(stdout, m.loyalty_names[l]);
            printf(": %.17g", sum.loyalty_weight[l]);
        }
        printf("}");
        if (sum.has_migration) {
            printf(", \"labels_matched\": %s, \"hysteresis_kept\": %zu, \"migration\": [",
                   sum.labels_matched ? "true" : "false", sum.hysteresis_kept);
            for (size_t r = 0; r < sum.mig_rows; r++) {
                printf("%s[", r ? ", " : "");
                for (size_t q = 0; q < sum.mig_cols; q++) {
                    printf("%s%.17g", q ? ", " : "", sum.migration[r * sum.mig_cols + q]);
                }
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("%s: %.0f customers%s, k = %zu, total CLV %.2f (%.2f s)\n", m.name, tot,
               tot != (double)sum.customers ? " (a weighted summary)" : "", sum.k, sum.total_clv,
               secs);
        printf("  %-16s %12s %7s\n", "tier", "customers", "share");
        for (size_t t = 0; t <= m.ntiers; t++) {
            printf("  %-16s %12.0f %6.1f%%\n", t < m.ntiers ? m.tiers[t] : m.new_tier,
                   sum.tier_weight[t], tot > 0 ? 100 * sum.tier_weight[t] / tot : 0.0);
        }
        if (sum.has_migration) {
            printf("migration from %s (rows: before, with 'new' and 'absent'; columns: now, "
                   "with 'new' and 'gone')%s",
                   previous, sum.labels_matched ? "; cluster labels matched" : "");
            if (sum.hysteresis_applied) {
                printf("; hysteresis kept %zu", sum.hysteresis_kept);
            }
            printf("\n");
            for (size_t r = 0; r < sum.mig_rows; r++) {
                printf("  ");
                for (size_t q = 0; q < sum.mig_cols; q++) {
                    printf(" %9.0f", sum.migration[r * sum.mig_cols + q]);
                }
                printf("\n");
            }
        }
    }
}

int cmd_run(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"model", required_argument, NULL, 'm'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"report", required_argument, NULL, CLI_O_HTML},
                                         CLI_REPORT_LONG_OPTIONS,
                                         {"features", required_argument, NULL, O_FEAT},
                                         {"dynamic-covariates", required_argument, NULL, O_DYN},
                                         CLI_INGEST_LONG_OPTIONS,
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"stability", required_argument, NULL, O_STAB},
                                         {"previous", required_argument, NULL, O_PREV},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *modelp = NULL, *out = NULL;
    ct_run_opts ro;
    const char *io[64];
    size_t nio = 0;
    ct_report_opts rep;
    int opt;
    memset(&ro, 0, sizeof ro);
    ro.stability = -1;
    ct_report_opts_init(&rep);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case 'm':
            modelp = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case O_FEAT:
            ro.features = optarg;
            break;
        case O_DYN:
            ro.dynamic = optarg;
            break;
        case O_PREV:
            ro.previous = optarg;
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &ro.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_STAB: {
            size_t v;
            if (cli_parse_size(optarg, &v) != 0 || v > 10000) {
                return cli_usage(c, "--stability '%s' must be 0..10000 draws", optarg);
            }
            ro.stability = (long)v;
            break;
        }
        default: {
            ct_ingest_opts check;
            ct_ingest_opts_init(&check);
            int ec = cli_ingest_option(c, opt, optarg, &check); /* the value checked now */
            if (ec == 0 && nio < sizeof io / sizeof io[0]) {
                io[nio] = cli_ingest_option_name(opt, optarg, &io[nio + 1]);
                nio += 2;
                break;
            }
            if (ec >= 0) {
                return ec > 0 ? ec : cli_usage(c, "too many ingest options");
            }
            ec = cli_report_option(c, opt, &rep, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing TX.csv or DATA.h5" : "too many arguments");
    }
    if (modelp == NULL || out == NULL) {
        return cli_usage(c, "missing %s", modelp == NULL ? "-m MODEL.ini" : "-o RESULT.h5");
    }
    ro.comm = c->ranks > 1 ? ct_comm_world() : NULL; /* clvtier-mpi: all ranks run */
    ro.ingest_opts = io;
    ro.ningest_opts = nio / 2;
    return cli_tier_command(c, ct_run, modelp, argv[optind], out, &ro, &rep);
}

/* The --bad-rows file of a run (command line, else the model's [ingest]
 * section), or NULL. */
static const char *run_bad_rows(const ct_tier_model *m, const ct_run_opts *ro)
{
    const char *path = NULL;
    for (size_t i = 0; i < m->ningest; i++) {
        if (strcmp(m->ingest_key[i], "bad_rows") == 0 || strcmp(m->ingest_key[i], "bad-rows") == 0) {
            path = m->ingest_val[i];
        }
    }
    for (size_t i = 0; i < ro->ningest_opts; i++) {
        if (strcmp(ro->ingest_opts[2 * i], "bad-rows") == 0) {
            path = ro->ingest_opts[2 * i + 1];
        }
    }
    return path;
}

int cli_tier_command(cli_common *c, cli_tier_fn fn, const char *model, const char *input,
                     const char *output, ct_run_opts *ro, const ct_report_opts *rep)
{
    ct_tier_model m;
    ct_error err;
    if (ct_tier_model_load(model, &m, &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    if (ro->stability >= 0) {
        m.stability = (size_t)ro->stability;
    }
    ro->command = c->cmdline;
    ro->stage = on_stage;
    ro->stage_ctx = c;
    ct_run_summary sum;
    double t0 = ct_seconds();
    /* Every input readable and no output an input or another output, every
     * output's directory there, before anything runs; the outputs are then
     * published together at the end (a failure leaves every old one). */
    const char *in[6] = {model, input, ro->features, ro->previous, rep->id_key, ro->dynamic};
    const char *out[7] = {output, rep->html, rep->json, rep->md, rep->csv, NULL, NULL};
    out[5] = run_bad_rows(&m, ro);
    ct_status s = c->rank == 0 ? ct_paths_check(in, 6, out, 6, &err) : CT_OK;
    s = ro->comm != NULL ? ct_comm_agree(ro->comm, s, &err) : s;
    if (s != CT_OK) {
        return cli_fail(c, &err);
    }
    ct_outputs_hold(out, 6);
    s = fn(&m, input, output, ro, &sum, &err);
    if (s == CT_OK && c->rank == 0 && (rep->html || rep->json || rep->md || rep->csv)) {
        double tr = ct_seconds();
        s = ct_stage_report(output, rep, &err);
        if (s == CT_OK) {
            on_stage(c, "report", ct_seconds() - tr);
        }
    }
    /* clvtier-mpi: rank 0 wrote the result and the reports */
    s = ro->comm != NULL ? ct_comm_agree(ro->comm, s, &err) : s;
    s = ct_outputs_release(s, &err);
    s = ro->comm != NULL ? ct_comm_agree(ro->comm, s, &err) : s;
    if (s != CT_OK) {
        return cli_fail(c, &err);
    }
    if (c->rank == 0 && sum.feature_unmatched > 0) {
        cli_warn(c,
                 "%llu feature rows name customers with no transactions (e.g. %s); they were "
                 "not joined",
                 (unsigned long long)sum.feature_unmatched, sum.feature_unmatched_examples);
    }
    if (c->rank == 0) {
        print_run(c, &m, &sum, ct_seconds() - t0, ro->previous);
    }
    return 0;
}
