/* cmd_ingest.c - `clvtier ingest`. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier ingest TX.csv[.gz|.xz|.zst] [MORE.csv ...] -o DATA.h5 [options]\n"
    "       clvtier ingest --summary SUMMARY.csv -o DATA.h5 [options]\n"
    "\n"
    "Read a transaction log (one row per transaction: customer id, date, amount;\n"
    "any row order) and write /transactions and /customers (x, t_x, T, m, n, ...,\n"
    "RFM scores) to DATA.h5.  Several files (the same columns, e.g. monthly\n"
    "exports) are one log; gzip, xz and zstd files are read as they are (told by\n"
    "their first bytes).  With --summary, read an RFM summary instead\n"
    "(columns x|frequency, t_x|recency, T|periods, optional m|monetary_value|zbar,\n"
    "weight|weights|count, id).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE          output HDF5 file (written atomically)\n"
    CLI_INGEST_HELP
    "      --period P             day | week | month (month = 365.2425/12 days)\n"
    "      --calibration-end D    split: calibration up to D, holdout after it\n"
    "      --observation-end D    ignore transactions after D (default: last date)\n"
    "      --features FILE.csv    join extra numeric per-customer columns by id\n"
    "      --features-id COL      id column of the features file\n"
    "      --dynamic-covariates F.csv  time-varying covariates: id, period start, numbers;\n"
    "                             a row per customer and period (day or week) from\n"
    "                             its first purchase on (--dynamic-id/-date COL)\n"
    "      --summary FILE.csv     input is an RFM summary, not a transaction log\n"
    "      --compress[=LEVEL]     shuffle + deflate (default level 1)\n"
    "      --threads N            1: parse in this thread only (default: big files\n"
    "                             without quotes are parsed in a second thread)\n"
    "      --json                 print the ingest report as JSON on stdout\n"
    "  -q, --quiet                no progress or summary on stderr\n"
    "  -h, --help                 this help\n";

enum { O_PERIOD = 256, O_CAL, O_OBS, O_FEAT, O_FEATID, O_SUMMARY, O_COMPRESS, O_THREADS, O_DYN,
       O_DYNID, O_DYNDATE };

static const struct option LONG[] = {
    {"output", required_argument, NULL, 'o'},
    CLI_INGEST_LONG_OPTIONS,
    {"period", required_argument, NULL, O_PERIOD},
    {"calibration-end", required_argument, NULL, O_CAL},
    {"observation-end", required_argument, NULL, O_OBS},
    {"features", required_argument, NULL, O_FEAT},
    {"features-id", required_argument, NULL, O_FEATID},
    {"dynamic-covariates", required_argument, NULL, O_DYN},
    {"dynamic-id", required_argument, NULL, O_DYNID},
    {"dynamic-date", required_argument, NULL, O_DYNDATE},
    {"summary", required_argument, NULL, O_SUMMARY},
    {"compress", optional_argument, NULL, O_COMPRESS},
    {"json", no_argument, NULL, CLI_JSON},
    {"threads", required_argument, NULL, O_THREADS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static void day_json(FILE *fp, const char *key, int32_t day, int comma)
{
    char d[11];
    ct_date_format(day, d);
    fprintf(fp, "  \"%s\": \"%s\"%s\n", key, d, comma ? "," : "");
}

/* What was left out, by reason (ingest.h's counts), then orders and returns. */
static void show_counts(const ct_ingest_report *rep, const ct_ingest_opts *o)
{
    for (size_t i = 0; ct_ingest_count_name(i) != NULL; i++) {
        uint64_t v = ct_ingest_count_value(rep, i);
        if (ct_ingest_count_left_out(i) != NULL && v > 0) {
            fprintf(stderr, "clvtier ingest: note: %llu %s left out\n", (unsigned long long)v,
                    ct_ingest_count_left_out(i));
        }
    }
    if (o->order_col != NULL) {
        fprintf(stderr, "clvtier ingest: %llu orders\n", (unsigned long long)rep->orders);
    }
    if (rep->returns > 0 && o->returns == CT_RETURNS_NET) {
        fprintf(stderr,
                "clvtier ingest: note: %llu return rows netted against purchases; %llu "
                "customers' spend netted to 0\n",
                (unsigned long long)(rep->returns - rep->returns_unmatched),
                (unsigned long long)rep->net_zero);
    } else if (rep->returns > 0) {
        fprintf(stderr, "clvtier ingest: note: %llu return rows kept as negative amounts\n",
                (unsigned long long)rep->returns);
    }
}

static void json_counts(const ct_ingest_report *rep)
{
    printf("  \"orders\": %llu,\n  \"left_out\": {", (unsigned long long)rep->orders);
    const char *sep = "";
    for (size_t i = 0; ct_ingest_count_name(i) != NULL; i++) {
        if (ct_ingest_count_left_out(i) != NULL) {
            printf("%s\"%s\": %llu", sep, ct_ingest_count_name(i),
                   (unsigned long long)ct_ingest_count_value(rep, i));
            sep = ", ";
        }
    }
    printf("},\n  \"returns_unmatched\": %llu,\n  \"customers_net_zero\": %llu,\n",
           (unsigned long long)rep->returns_unmatched, (unsigned long long)rep->net_zero);
}

int cmd_ingest(int argc, char **argv, cli_common *c)
{
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_error err;
    const char *out = NULL, *summary = NULL;
    int opt;

    ct_ingest_opts_init(&o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:d:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case O_PERIOD:
            if (ct_period_parse(optarg, &o.period) != 0) {
                return cli_usage(c, "unknown period '%s' (use day, week or month)", optarg);
            }
            break;
        case O_CAL:
            if (cli_parse_day(optarg, &o.calibration_end) != 0) {
                return cli_usage(c, "--calibration-end '%s' is not a date YYYY-MM-DD", optarg);
            }
            break;
        case O_OBS:
            if (cli_parse_day(optarg, &o.observation_end) != 0) {
                return cli_usage(c, "--observation-end '%s' is not a date YYYY-MM-DD", optarg);
            }
            break;
        case O_FEAT:
            o.features_path = optarg;
            break;
        case O_FEATID:
            o.features_id = optarg;
            break;
        case O_DYN:
            o.dynamic_path = optarg;
            break;
        case O_DYNID:
            o.dynamic_id = optarg;
            break;
        case O_DYNDATE:
            o.dynamic_date = optarg;
            break;
        case O_SUMMARY:
            summary = optarg;
            break;
        case O_COMPRESS:
            if (cli_deflate(c, optarg, &o.deflate) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &o.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        default: {
            int ec = cli_ingest_option(c, opt, optarg, &o);
            if (ec >= 0) {
                if (ec > 0) {
                    return ec;
                }
                break;
            }
            ec = cli_option(c, opt, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    const char *in = summary;
    if (summary == NULL) {
        if (optind >= argc) {
            return cli_usage(c, "missing input TX.csv");
        }
        in = argv[optind];
    } else if (optind != argc) {
        return cli_usage(c, "--summary takes the input; unexpected '%s'", argv[optind]);
    }
    if (out == NULL) {
        return cli_usage(c, "missing -o DATA.h5");
    }
    if (o.dynamic_path != NULL && summary != NULL) {
        return cli_usage(c, "--dynamic-covariates needs a transaction log (the covariates at "
                            "each purchase), not --summary");
    }
    o.command = c->cmdline;
    o.progress = cli_progress;
    o.progress_ctx = c;
    double t0 = ct_seconds();
    const char *const *inputs = summary != NULL ? &in : (const char *const *)argv + optind;
    size_t ninputs = summary != NULL ? 1 : (size_t)(argc - optind);
    ct_status s = ct_stage_ingest(inputs, ninputs, summary != NULL, out, &o, &rep, &err);
    cli_progress_done(c);
    if (s != CT_OK) {
        return cli_fail(c, &err);
    }
    double secs = ct_seconds() - t0;
    if (!c->quiet) {
        fprintf(stderr, "clvtier ingest: %llu rows -> %llu customers",
                (unsigned long long)rep.rows, (unsigned long long)rep.customers);
        if (summary == NULL) {
            char a[11], b[11];
            ct_date_format(rep.calibration_end, a);
            ct_date_format(rep.observation_end, b);
            fprintf(stderr, ", %llu transactions; period %s, calibration end %s, observation "
                            "end %s",
                    (unsigned long long)rep.transactions, ct_period_name(o.period), a, b);
        }
        fprintf(stderr, " (%.2f s) -> %s\n", secs, out);
        if (rep.after_observation > 0) {
            fprintf(stderr, "clvtier ingest: note: %llu rows after the observation end left out\n",
                    (unsigned long long)rep.after_observation);
        }
        show_counts(&rep, &o);
        if (rep.late_customers > 0) {
            fprintf(stderr,
                    "clvtier ingest: note: %llu customers (%llu rows) first bought after the "
                    "calibration end and were left out\n",
                    (unsigned long long)rep.late_customers,
                    (unsigned long long)rep.late_transactions);
        }
        if (rep.feature_unmatched > 0) {
            cli_warn(c,
                     "%llu feature rows name customers with no transactions (e.g. %s); they "
                     "were not joined",
                     (unsigned long long)rep.feature_unmatched, rep.feature_unmatched_examples);
        }
        if (rep.dynamic_unmatched > 0) {
            cli_warn(c, "%llu time-varying covariate rows name customers with no transactions "
                        "in the calibration window; they were left out",
                     (unsigned long long)rep.dynamic_unmatched);
        }
        if (rep.customers_without_features > 0) {
            fprintf(stderr, "clvtier ingest: note: %llu customers have no feature row (NaN)\n",
                    (unsigned long long)rep.customers_without_features);
        }
    }
    if (c->json) {
        printf("{\n  \"output\": ");
        cli_json_str(stdout, out);
        printf(",\n  \"rows\": %llu,\n  \"customers\": %llu,\n",
               (unsigned long long)rep.rows, (unsigned long long)rep.customers);
        if (summary == NULL) {
            printf("  \"transactions\": %llu,\n  \"period\": \"%s\",\n",
                   (unsigned long long)rep.transactions, ct_period_name(o.period));
            day_json(stdout, "first_date", rep.first_day, 1);
            day_json(stdout, "last_date", rep.last_day, 1);
            day_json(stdout, "calibration_end", rep.calibration_end, 1);
            day_json(stdout, "observation_end", rep.observation_end, 1);
            printf("  \"rows_after_observation\": %llu,\n  \"customers_after_calibration\": "
                   "%llu,\n  \"returns\": %llu,\n",
                   (unsigned long long)rep.after_observation,
                   (unsigned long long)rep.late_customers, (unsigned long long)rep.returns);
            json_counts(&rep);
            if (o.features_path != NULL) {
                printf("  \"feature_columns\": %zu,\n  \"feature_rows_unmatched\": %llu,\n"
                       "  \"customers_without_features\": %llu,\n",
                       rep.feature_columns, (unsigned long long)rep.feature_unmatched,
                       (unsigned long long)rep.customers_without_features);
            }
            if (o.dynamic_path != NULL) {
                printf("  \"dynamic_columns\": %zu,\n  \"dynamic_rows\": %llu,\n"
                       "  \"dynamic_rows_unmatched\": %llu,\n",
                       rep.dynamic_columns, (unsigned long long)rep.dynamic_rows,
                       (unsigned long long)rep.dynamic_unmatched);
            }
        }
        printf("  \"seconds\": %.3f\n}\n", secs);
    }
    return 0;
}
