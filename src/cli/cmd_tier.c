/* cmd_tier.c - `clvtier tier`: re-tier an existing result. */
#include "clvtier/comm.h"
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier tier -m MODEL.ini RESULT.h5 -o TIERS.h5 [--previous OLD.h5]\n"
    "                    [--report R.html] [--summary S.json] [--markdown R.md]\n"
    "                    [--csv TIERS.csv] [--id-key KEYFILE] [--min-group N] [--json]\n"
    "\n"
    "Map the clusters of an existing result (/customers, /scores, /clusters, e.g.\n"
    "from `clvtier run`) onto MODEL's tier ladder, loyalty classes and new-customer\n"
    "rule, without refitting or reclustering: try another ladder or other cuts in\n"
    "a second.  TIERS.h5 holds /tiers (+ /migration, /audit) and external links to\n"
    "RESULT.h5's tables, so keep RESULT.h5 where it is.  Customers RESULT.h5 left\n"
    "ungraded (too young for its model) but old enough for MODEL go to the\n"
    "nearest centroid when MODEL clusters on the same features.  Reports as\n"
    "in `run`.\n"
    "\n"
    "options:\n"
    "  -m, --model FILE      tier model\n"
    "  -o, --output FILE     the new result (written atomically)\n"
    "      --previous FILE   compare with an earlier result (migration, hysteresis)\n"
    "      --report FILE     report.html\n"
    "      --summary FILE    summary.json\n"
    "      --markdown FILE   report.md\n"
    "      --csv FILE        tiers.csv\n"
    "      --id-key FILE     pseudonymise ids in --csv (HMAC-SHA256)\n"
    "      --min-group N     withhold aggregates over fewer than N customers\n"
    "      --json            summary as JSON on stdout\n"
    "  -q, --quiet           nothing on stderr but errors\n"
    "  -h, --help            this help\n";

enum { O_PREV = 256 };

int cmd_tier(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"model", required_argument, NULL, 'm'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"previous", required_argument, NULL, O_PREV},
                                         {"report", required_argument, NULL, CLI_O_HTML},
                                         CLI_REPORT_LONG_OPTIONS,
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *modelp = NULL, *out = NULL;
    ct_run_opts ro;
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
        case O_PREV:
            ro.previous = optarg;
            break;
        default: {
            int ec = cli_report_option(c, opt, &rep, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing RESULT.h5" : "too many arguments");
    }
    if (modelp == NULL || out == NULL) {
        return cli_usage(c, "missing %s", modelp == NULL ? "-m MODEL.ini" : "-o TIERS.h5");
    }
    ro.comm = c->ranks > 1 ? ct_comm_world() : NULL; /* clvtier-mpi: all ranks re-tier */
    return cli_tier_command(c, ct_retier, modelp, argv[optind], out, &ro, &rep);
}
