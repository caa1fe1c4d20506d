/* common.c - CLI helpers: exit codes, messages, parsing, progress. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_exit_code(ct_status s)
{
    switch (s) {
    case CT_OK:
        return EX_OK_;
    case CT_EINVAL:
        return EX_USAGE_;
    case CT_ENOMEM:
        return EX_OSERR_;
    case CT_ENOENT:
        return EX_NOINPUT_;
    case CT_EIO:
        return EX_IOERR_;
    case CT_ECREATE:
        return EX_CANTCREAT_;
    case CT_EPARSE:
    case CT_EDATA:
    case CT_EFORMAT:
    case CT_EDIM:
        return EX_DATAERR_;
    case CT_ENOCONV:
    case CT_ENUM:
        return EX_DATAERR_;
    case CT_ECONFIG:
    case CT_EPROTECTED:
        return EX_CONFIG_;
    case CT_EINTERNAL:
        return EX_SOFTWARE_;
    }
    return EX_SOFTWARE_;
}

/* Text from the input onto a terminal: control bytes (ESC, BEL, a quoted
 * newline...) as \xNN, so a message is one line and cannot drive the terminal. */
static void put_safe(FILE *fp, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f) {
            fprintf(fp, "\\x%02x", ch);
        } else {
            fputc(*s, fp);
        }
    }
}

void cli_term_str(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s != NULL && *s != '\0' && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        n += ch < 0x20 || ch == 0x7f ? (size_t)snprintf(dst + n, cap - n, "\\x%02x", ch)
                                     : (size_t)snprintf(dst + n, cap - n, "%c", *s);
    }
    if (cap > 0) {
        dst[n < cap ? n : cap - 1] = '\0';
    }
}

int cli_fail(const cli_common *c, const ct_error *err)
{
    cli_progress_done(c);
    if (c->rank == 0) { /* ranks agree on errors (ct_comm_agree): one message */
        fprintf(stderr, "clvtier %s: error: ", c->cmd);
        put_safe(stderr, err->msg[0] != '\0' ? err->msg : ct_strerror(err->status));
        fputc('\n', stderr);
    }
    return cli_exit_code(err->status);
}

int cli_bad_option(const cli_common *c, int argc, char **argv)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (optopt != 0 && optopt < 256) {
        return cli_usage(c, "option '-%c' is unknown or needs a value", optopt);
    }
    return cli_usage(c, "option '%s' is unknown or needs a value", arg);
}

int cli_option(cli_common *c, int opt, const char *help, int argc, char **argv)
{
    switch (opt) {
    case CLI_JSON:
        c->json = 1;
        return -1;
    case 'q':
        c->quiet = 1;
        return -1;
    case 'h':
        fputs(help, stdout);
        return 0;
    default:
        return cli_bad_option(c, argc, argv);
    }
}

int cli_threads(cli_common *c, const char *arg, unsigned *threads)
{
    size_t v;
    if (cli_parse_size(arg, &v) != 0 || v < 1 || v > 1024) {
        return cli_usage(c, "--threads '%s' must be 1..1024", arg);
    }
    *threads = (unsigned)v;
    return 0;
}

int cli_deflate(cli_common *c, const char *arg, int *level)
{
    size_t lv = 1;
    if (arg != NULL && (cli_parse_size(arg, &lv) != 0 || lv < 1 || lv > 9)) {
        return cli_usage(c, "--compress level '%s' must be 1..9", arg);
    }
    *level = (int)lv;
    return 0;
}

int cli_min_group(cli_common *c, const char *arg, long *min_group)
{
    size_t v;
    if (cli_parse_size(arg, &v) != 0 || v > 1000000) {
        return cli_usage(c, "--min-group '%s' must be 0..1000000", arg);
    }
    *min_group = (long)v;
    return 0;
}

int cli_report_option(cli_common *c, int opt, ct_report_opts *rep, const char *help, int argc,
                      char **argv)
{
    switch (opt) {
    case CLI_O_HTML:
        rep->html = optarg;
        return -1;
    case CLI_O_SUMMARY:
        rep->json = optarg;
        return -1;
    case CLI_O_MD:
        rep->md = optarg;
        return -1;
    case CLI_O_CSV:
        rep->csv = optarg;
        return -1;
    case CLI_O_KEY:
        rep->id_key = optarg;
        return -1;
    case CLI_O_MING:
        return cli_min_group(c, optarg, &rep->min_group) == 0 ? -1 : EX_USAGE_;
    default:
        return cli_option(c, opt, help, argc, argv);
    }
}

int cli_check_paths(cli_common *c, const char *const *in, size_t nin, const char *const *out,
                    size_t nout)
{
    ct_error err;
    ct_status s = c->rank == 0 ? ct_paths_check(in, nin, out, nout, &err) : CT_OK;
    if (c->ranks > 1) {
        s = ct_comm_agree(ct_comm_world(), s, &err);
    }
    return s == CT_OK ? 0 : cli_fail(c, &err);
}

/* "clvtier CMD: <pre><message><post>" on stderr, one line, input bytes
 * escaped. */
__attribute__((format(printf, 4, 0))) static void say(const cli_common *c, const char *pre,
                                                      const char *post, const char *fmt,
                                                      va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "clvtier %s: %s", c->cmd, pre);
    put_safe(stderr, msg);
    fprintf(stderr, "%s\n", post);
}

void cli_warn(const cli_common *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(c, "warning: ", "", fmt, ap);
    va_end(ap);
}

int cli_usage(const cli_common *c, const char *fmt, ...)
{
    char post[128];
    va_list ap;
    snprintf(post, sizeof post, " (see 'clvtier %s --help')", c->cmd);
    va_start(ap, fmt);
    say(c, "", post, fmt, ap);
    va_end(ap);
    return EX_USAGE_;
}

char *cli_join_args(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++) {
        n += strlen(argv[i]) + 3;
    }
    char *s = malloc(n);
    if (s == NULL) {
        return NULL;
    }
    s[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (i > 0) {
            strcat(s, " ");
        }
        strcat(s, argv[i]);
    }
    return s;
}

int cli_parse_day(const char *s, int32_t *day)
{
    return ct_date_parse(s, strlen(s), NULL, day);
}

int cli_parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return (end == s || *end != '\0' || errno != 0 || !isfinite(*v)) ? -1 : 0;
}

int cli_parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s[0] == '-' || s[0] == '\0') {
        return -1;
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    /* allow 10M, 1k suffixes and 1e6 */
    if (*end == 'k' || *end == 'K') {
        x *= 1000ULL;
        end++;
    } else if (*end == 'M') {
        x *= 1000000ULL;
        end++;
    } else if (*end == 'e' || *end == 'E') {
        double d;
        if (cli_parse_double(s, &d) != 0 || d < 0 || d > 1e18 || d != floor(d)) {
            return -1;
        }
        *v = (uint64_t)d;
        return 0;
    }
    if (*end != '\0') {
        return -1;
    }
    *v = x;
    return 0;
}

int cli_parse_size(const char *s, size_t *v)
{
    uint64_t x;
    if (cli_parse_u64(s, &x) != 0 || x > SIZE_MAX) {
        return -1;
    }
    *v = (size_t)x;
    return 0;
}

int cli_parse_kv(const char *s, const char *const *keys, double *vals, int nkeys, char *bad,
                 size_t cap)
{
    char *copy = strdup(s), *save = NULL;
    if (copy == NULL) {
        snprintf(bad, cap, "out of memory");
        return -1;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int k;
        if (eq == NULL) {
            snprintf(bad, cap, "'%s' is not name=value", tok);
            free(copy);
            return -1;
        }
        *eq = '\0';
        for (k = 0; k < nkeys; k++) {
            if (strcmp(tok, keys[k]) == 0) {
                break;
            }
        }
        if (k == nkeys) {
            snprintf(bad, cap, "unknown parameter '%s'", tok);
            free(copy);
            return -1;
        }
        if (cli_parse_double(eq + 1, &vals[k]) != 0) {
            snprintf(bad, cap, "%s = '%s' is not a number", tok, eq + 1);
            free(copy);
            return -1;
        }
    }
    free(copy);
    return 0;
}

void cli_json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", fp);
            break;
        case '\\':
            fputs("\\\\", fp);
            break;
        case '\n':
            fputs("\\n", fp);
            break;
        case '\t':
            fputs("\\t", fp);
            break;
        case '\r':
            fputs("\\r", fp);
            break;
        default:
            if (*p < 0x20) {
                fprintf(fp, "\\u%04x", *p);
            } else {
                fputc(*p, fp);
            }
        }
    }
    fputc('"', fp);
}

static int bar_shown;

void cli_progress(void *ctx, double fraction)
{
    const cli_common *c = ctx;
    if (c->quiet || !isatty(2)) {
        return;
    }
    int w = 40, k = (int)(fraction * w);
    k = k < 0 ? 0 : k > w ? w : k;
    fprintf(stderr, "\r%s [", c->cmd);
    for (int i = 0; i < w; i++) {
        fputc(i < k ? '#' : '.', stderr);
    }
    fprintf(stderr, "] %3d%%", (int)(fraction * 100));
    bar_shown = 1;
}

void cli_progress_done(const cli_common *c)
{
    (void)c;
    if (bar_shown) {
        fputs("\r\033[K", stderr);
        bar_shown = 0;
    }
}

int cli_choice(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *cli_ingest_option_name(int opt, const char *arg, const char **value)
{
    static const char *const NAME[] = {
        "id",           "date",       "amount",    "quantity",   "price",
        "order",        "cancel-prefix", "returns", "missing-id", "on-bad-row",
        "bad-rows",     "max-bad-rows", "encoding", "date-format", "features-delimiter",
        "delimiter",    "header",     "returns",   "timezone"};
    /* the two flags: --no-header, --allow-negative */
    *value = opt == CLI_O_INGEST + 16 ? "no" : opt == CLI_O_INGEST + 17 ? "keep" : arg;
    if (opt == 'd') {
        return "delimiter";
    }
    int k = opt - CLI_O_INGEST;
    return k >= 0 && k < (int)(sizeof NAME / sizeof NAME[0]) ? NAME[k] : NULL;
}

int cli_ingest_option(cli_common *c, int opt, const char *arg, ct_ingest_opts *o)
{
    const char *value, *name = cli_ingest_option_name(opt, arg, &value);
    if (name == NULL) {
        return -1;
    }
    ct_error err;
    if (ct_ingest_opt_set(o, name, value, &err) != CT_OK) {
        return cli_usage(c, "--%s", err.msg);
    }
    return 0;
}
