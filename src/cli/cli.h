/* cli.h - helpers shared by the subcommands (the only code that prints). */
#ifndef CLVTIER_CLI_H
#define CLVTIER_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "clvtier/comm.h"
#include "clvtier/dates.h"
#include "clvtier/par.h"
#include "clvtier/pipeline.h"
#include "clvtier/status.h"
#include "clvtier/version.h"

/* sysexits(3) */
#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOINPUT_ 66
#define EX_SOFTWARE_ 70
#define EX_OSERR_ 71
#define EX_CANTCREAT_ 73
#define EX_IOERR_ 74
#define EX_CONFIG_ 78

typedef struct cli_common {
    int quiet, json;
    int rank, ranks;  /* MPI (clvtier-mpi): this rank and how many; else 0 and 1.
                       * Only rank 0 prints. */
    const char *cmd; /* "ingest", ... */
    char *cmdline;   /* whole command line, for provenance */
} cli_common;

int cli_exit_code(ct_status s);
/* Print "clvtier CMD: error: MSG" and return the exit code for s. */
int cli_fail(const cli_common *c, const ct_error *err);
/* Usage error: "clvtier CMD: MSG (see clvtier CMD --help)", returns 64. */
/* Inputs readable, no output an input or another output, output
 * directories there (ct_paths_check), on rank 0: 0, or the exit code after
 * the error line. */
int cli_check_paths(cli_common *c, const char *const *in, size_t nin, const char *const *out,
                    size_t nout);
/* "clvtier CMD: warning: ..." on stderr, input bytes escaped, one line. */
void cli_warn(const cli_common *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(const cli_common *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt code of --json in every command's option table. */
#define CLI_JSON 0x7f00

/* The options every command shares: --json, -q/--quiet, -h/--help (prints
 * help), and anything unknown (one-line usage error).  Returns -1 to go on
 * parsing, else the exit code to return. */
int cli_option(cli_common *c, int opt, const char *help, int argc, char **argv);
/* --threads N: 0, or the usage exit code (message printed). */
int cli_threads(cli_common *c, const char *arg, unsigned *threads);
int cli_min_group(cli_common *c, const char *arg, long *min_group); /* --min-group N */
/* --compress[=LEVEL] (arg NULL: level 1) */
int cli_deflate(cli_common *c, const char *arg, int *level);

/* Report options shared by run, tier and report (--report is --html). */
enum { CLI_O_HTML = 400, CLI_O_SUMMARY, CLI_O_MD, CLI_O_CSV, CLI_O_KEY, CLI_O_MING };
#define CLI_REPORT_LONG_OPTIONS                                                                    \
    {"summary", required_argument, NULL, CLI_O_SUMMARY},                                          \
        {"markdown", required_argument, NULL, CLI_O_MD},                                          \
        {"csv", required_argument, NULL, CLI_O_CSV},                                              \
        {"id-key", required_argument, NULL, CLI_O_KEY},                                           \
        {"min-group", required_argument, NULL, CLI_O_MING}
/* The options of a log's format, the same for `ingest` and `run` (and a
 * model file's [ingest] section): their names are ct_ingest_opt_set's. */
#define CLI_O_INGEST 1000
#define CLI_INGEST_LONG_OPTIONS                                                                    \
    {"id", required_argument, NULL, CLI_O_INGEST + 0},                                            \
        {"date", required_argument, NULL, CLI_O_INGEST + 1},                                      \
        {"amount", required_argument, NULL, CLI_O_INGEST + 2},                                    \
        {"quantity", required_argument, NULL, CLI_O_INGEST + 3},                                  \
        {"price", required_argument, NULL, CLI_O_INGEST + 4},                                     \
        {"order", required_argument, NULL, CLI_O_INGEST + 5},                                     \
        {"cancel-prefix", required_argument, NULL, CLI_O_INGEST + 6},                             \
        {"returns", required_argument, NULL, CLI_O_INGEST + 7},                                   \
        {"missing-id", required_argument, NULL, CLI_O_INGEST + 8},                                \
        {"on-bad-row", required_argument, NULL, CLI_O_INGEST + 9},                                \
        {"bad-rows", required_argument, NULL, CLI_O_INGEST + 10},                                 \
        {"max-bad-rows", required_argument, NULL, CLI_O_INGEST + 11},                             \
        {"encoding", required_argument, NULL, CLI_O_INGEST + 12},                                 \
        {"date-format", required_argument, NULL, CLI_O_INGEST + 13},                              \
        {"features-delimiter", required_argument, NULL, CLI_O_INGEST + 14},                       \
        {"delimiter", required_argument, NULL, CLI_O_INGEST + 15},                                \
        {"no-header", no_argument, NULL, CLI_O_INGEST + 16},                                      \
        {"allow-negative", no_argument, NULL, CLI_O_INGEST + 17},                                 \
        {"timezone", required_argument, NULL, CLI_O_INGEST + 18}
#define CLI_INGEST_HELP                                                                             \
    "      --id COL               customer id column: header name or 1-based index\n"            \
    "      --date COL             date column\n"                                                  \
    "      --amount COL           amount column ('none': no amounts)\n"                           \
    "      --quantity COL --price COL  line items: amount = quantity x unit price\n"              \
    "      --order COL            rows with the same order id are one transaction\n"             \
    "                             (amounts summed, the earliest line's date; an order\n"         \
    "                             with two customer ids is a bad row)\n"                         \
    "      --cancel-prefix P[,P2] order ids starting with P are cancellations (returns)\n"       \
    "      --returns drop|keep|net  returns (cancellations, negative quantity or amount):\n"       \
    "                             left out and counted (default), kept as negative\n"            \
    "                             transactions, or netted: subtracted from the order\n"          \
    "                             they cancel, else from the latest purchase before\n"           \
    "                             them (never a new purchase, never below 0); orders\n"          \
    "                             of amount <= 0 (only free items) are left out\n"               \
    "      --allow-negative       the same as --returns keep\n"                                  \
    "      --missing-id fail|skip rows without a customer id (guest sales): stop\n"              \
    "                             (default), or skip and count\n"                                \
    "      --on-bad-row fail|skip unparseable dates or numbers, too few fields, ids not\n"       \
    "                             UTF-8: stop (default), or skip and count\n"                    \
    "      --bad-rows FILE.csv    write every skipped row (file, line, reason, text)\n"          \
    "      --max-bad-rows N       stop when more than N rows (N < 1: that share of the\n"        \
    "                             rows) are skipped as missing ids or bad rows\n"                \
    "      --encoding E           utf-8 (default) | latin1 | cp1252: ids are stored as UTF-8\n"  \
    "      --date-format FMT      e.g. %Y-%m-%d, %m/%d/%Y %H:%M, %d-%b-%y, %Y-%m-%dT%H:%M:%S%z\n" \
    "                             (default: YYYY-MM-DD, YYYYMMDD, ISO 8601 date-times)\n"        \
    "      --timezone ZONE        times with a UTC offset (Z, +01:00) give their date in ZONE\n" \
    "                             (e.g. Europe/Berlin; default: the UTC date)\n"                 \
    "  -d, --delimiter D          ',' | tab | space (runs of blanks) | ';' (default: sniffed)\n" \
    "      --no-header            the first row is data; columns are 1-based indices\n"          \
    "      --features-delimiter D the features file's (default: sniffed from its first line)\n"
/* An option of CLI_INGEST_LONG_OPTIONS ('d' too) into o: 0, or the exit
 * code of a bad value; -1 when opt is not one of them. */
int cli_ingest_option(cli_common *c, int opt, const char *arg, ct_ingest_opts *o);
/* Its name (ct_ingest_opt_set's) and *value (arg, or the flags' "no" and
 * "keep"), or NULL when opt is not one of them. */
const char *cli_ingest_option_name(int opt, const char *arg, const char **value);

/* The report options, then cli_option's: -1 to go on parsing, else the exit
 * code to return. */
int cli_report_option(cli_common *c, int opt, ct_report_opts *rep, const char *help, int argc,
                      char **argv);

/* run and tier after option parsing: load the model, run `fn` (ct_run or
 * ct_retier), write the reports asked for, print the tiers. */
typedef ct_status (*cli_tier_fn)(const ct_tier_model *m, const char *input, const char *output,
                                 const ct_run_opts *o, ct_run_summary *sum, ct_error *err);
int cli_tier_command(cli_common *c, cli_tier_fn fn, const char *model, const char *input,
                     const char *output, ct_run_opts *ro, const ct_report_opts *rep);

/* One-line message for a bad option found by getopt_long (opterr = 0). */
int cli_bad_option(const cli_common *c, int argc, char **argv);
char *cli_join_args(int argc, char **argv);
/* "YYYY-MM-DD" (or YYYYMMDD) -> day; 0 ok, -1 bad. */
/* The index of s in names[0..n) (an option's choices), or -1. */
int cli_choice(const char *s, const char *const *names, int n);
int cli_parse_day(const char *s, int32_t *day);
int cli_parse_double(const char *s, double *v);
int cli_parse_size(const char *s, size_t *v);
int cli_parse_u64(const char *s, uint64_t *v);
/* "k=v,k=v" -> values for the given keys (missing keys untouched).
 * Returns 0, or -1 with the bad key/value in bad[0..cap). */
int cli_parse_kv(const char *s, const char *const *keys, double *vals, int nkeys, char *bad,
                 size_t cap);
/* s for a terminal: control bytes as \xNN (truncated to fit cap). */
void cli_term_str(char *dst, size_t cap, const char *s);
/* JSON string literal of s on fp. */
void cli_json_str(FILE *fp, const char *s);
/* Progress bar on stderr when it is a terminal and not quiet. */
void cli_progress(void *ctx, double fraction);
void cli_progress_done(const cli_common *c);

int cmd_ingest(int argc, char **argv, cli_common *c);
int cmd_inspect(int argc, char **argv, cli_common *c);
int cmd_synth(int argc, char **argv, cli_common *c);
int cmd_fit(int argc, char **argv, cli_common *c);
int cmd_score(int argc, char **argv, cli_common *c);
int cmd_validate(int argc, char **argv, cli_common *c);
int cmd_cluster(int argc, char **argv, cli_common *c);
int cmd_run(int argc, char **argv, cli_common *c);
int cmd_tier(int argc, char **argv, cli_common *c);
int cmd_report(int argc, char **argv, cli_common *c);


#endif
