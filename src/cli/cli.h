/* cli.h - helpers shared by the subcommands (the only code that prints). */
#ifndef CLVTIER_CLI_H
#define CLVTIER_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "clvtier/comm.h"
#include "clvtier/dates.h"
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
/* JSON string literal of s on fp. */
void cli_json_str(FILE *fp, const char *s);
/* Progress bar on stderr when it is a terminal and not quiet. */
void cli_progress(void *ctx, double fraction);
void cli_progress_done(const cli_common *c);
double cli_now(void);

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
