/* cmd_report.c - `clvtier report`: reports from an existing result. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier report RESULT.h5 [--html R.html] [--summary S.json] [--markdown R.md]\n"
    "                      [--csv TIERS.csv] [--id-key KEYFILE] [--min-group N]\n"
    "\n"
    "Write reports from a `clvtier run` (or `clvtier tier`) result: a self-contained\n"
    "HTML page with inline SVG charts, summary.json (schema clvtier-summary/1, see\n"
    "README), the tables in Markdown, and id, tier, loyalty, clv, p_alive per\n"
    "customer.  Aggregates over fewer than N customers are withheld (default: the\n"
    "model's min_group).  At least one output is needed.\n"
    "\n"
    "options:\n"
    "      --html FILE       report.html\n"
    "      --summary FILE    summary.json\n"
    "      --markdown FILE   report.md\n"
    "      --csv FILE        tiers.csv\n"
    "      --id-key FILE     pseudonymise ids in --csv with HMAC-SHA256 under this key\n"
    "                        (at least 16 bytes; keep it apart from the output)\n"
    "      --min-group N     withhold aggregates over fewer than N customers\n"
    "  -q, --quiet           nothing on stderr but errors\n"
    "  -h, --help            this help\n";


int cmd_report(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"html", required_argument, NULL, CLI_O_HTML},
                                         CLI_REPORT_LONG_OPTIONS,
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ct_report_opts rep;
    ct_error err;
    int opt;
    ct_report_opts_init(&rep);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", LONG, NULL)) != -1) {
        switch (opt) {
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
    if (!rep.html && !rep.json && !rep.md && !rep.csv) {
        return cli_usage(c, "nothing to write: give --html, --summary, --markdown or --csv");
    }
    const char *in2[2] = {argv[optind], rep.id_key};
    const char *out4[4] = {rep.html, rep.json, rep.md, rep.csv};
    int ec = cli_check_paths(c, in2, 2, out4, 4);
    if (ec != 0) {
        return ec;
    }
    if (ct_stage_report(argv[optind], &rep, &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    return 0;
}
