/* ingest.c - CSV transaction log -> /transactions + /customers (+ /features).
 *
 * One pass over a read-only memory map: each row's id is interned in an
 * open-addressing hash table, its date turned into a day number, its amount
 * parsed; then a counting sort by customer (customers ordered by id), a
 * per-customer sort by (day, amount), the summaries (summary.c) and RFM
 * scores (rfm.c), and the HDF5 writes (store.c).  Output does not depend on
 * the input's row order. */
#include "clvtier/ingest.h"
#include "clvtier/customers.h"
#include "clvtier/outfile.h"
#include "clvtier/schema.h"
#include "clvtier/store.h"
#include "data/csv_internal.h"
#include "data/ingest_internal.h"
#include "clvtier/publish.h"
#include "data/decompress_internal.h"
#include "core/mem_internal.h"
#include "core/sort_internal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>


void ct_ingest_opts_init(ct_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->delim = 0;
    o->header = 1;
    o->period = CT_PERIOD_DAY;
    o->calibration_end = CT_NO_DAY;
    o->observation_end = CT_NO_DAY;
}

/* isspace() of the C locale, without the locale table lookup. */
static int is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

void ct_ingest_trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space((unsigned char)(*p)[0])) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_space((unsigned char)(*p)[*n - 1])) {
        (*n)--;
    }
}

static int field_is(const ct_field *f, const char *name, int nocase)
{
    const char *p = f->p;
    size_t n = f->n;
    ct_ingest_trim(&p, &n);
    if (strlen(name) != n) {
        return 0;
    }
    return nocase ? strncasecmp(p, name, n) == 0 : memcmp(p, name, n) == 0;
}

static void header_text(const ct_csv *c, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < c->nf && off + 8 < cap; j++) {
        char f[64];
        ct_field_str(&c->f[j], f, sizeof f);
        int k = snprintf(buf + off, cap - off, "%s'%s'", j ? ", " : "", f);
        if (k > 0) {
            off += (size_t)k;
        }
    }
}

/* Resolve a column spec (name or 1-based index; NULL = first default name
 * found, else default_index) against the current row.  Returns the 0-based
 * column or -1 with err filled. */
long ct_ingest_resolve_col(const ct_csv *c, int header, const char *spec,
                        const char *const *defaults, long default_index, const char *role,
                        const char *option, ct_error *err)
{
    char hdr[400];
    if (spec != NULL && ct_all_digits(spec, strlen(spec))) {
        long j = strtol(spec, NULL, 10);
        if (j < 1 || (size_t)j > c->nf) {
            header_text(c, hdr, sizeof hdr);
            ct_fail_at(err, CT_EINVAL, c->path, c->line, 0,
                       "%s column %ld out of range: the first row has %zu column(s) (%s); is "
                       "--delimiter right?",
                       role, j, c->nf, hdr);
            return -1;
        }
        return j - 1;
    }
    if (spec == NULL && !header) {
        if (default_index < 1 || (size_t)default_index > c->nf) {
            ct_fail_at(err, CT_EINVAL, c->path, c->line, 0,
                       "no %s column: the first row has %zu column(s); give %s", role, c->nf,
                       option);
            return -1;
        }
        return default_index - 1;
    }
    if (spec != NULL && !header) {
        ct_fail_at(err, CT_EINVAL, c->path, 0, 0,
                   "%s column '%s' is a name but the file has no header; give a 1-based index",
                   role, spec);
        return -1;
    }
    for (int nocase = 0; nocase <= 1; nocase++) {
        if (spec != NULL) {
            for (size_t j = 0; j < c->nf; j++) {
                if (field_is(&c->f[j], spec, nocase)) {
                    return (long)j;
                }
            }
        } else {
            for (const char *const *d = defaults; *d != NULL; d++) {
                for (size_t j = 0; j < c->nf; j++) {
                    if (field_is(&c->f[j], *d, nocase)) {
                        return (long)j;
                    }
                }
            }
        }
    }
    header_text(c, hdr, sizeof hdr);
    if (spec != NULL) {
        ct_fail_at(err, CT_EINVAL, c->path, c->line, 0,
                   "%s column '%s' not found in the header (%zu column(s): %s); is --delimiter "
                   "right?",
                   role, spec, c->nf, hdr);
    } else {
        ct_fail_at(err, CT_EINVAL, c->path, c->line, 0,
                   "no %s column found in the header (%zu column(s): %s); name it with %s or "
                   "check --delimiter",
                   role, c->nf, hdr, option);
    }
    return -1;
}

ct_status ct_ingest_check_duplicates(const ct_csv *c, ct_error *err)
{
    for (size_t j = 0; j < c->nf; j++) {
        for (size_t i = 0; i < j; i++) {
            const char *a = c->f[i].p, *b = c->f[j].p;
            size_t na = c->f[i].n, nb = c->f[j].n;
            ct_ingest_trim(&a, &na);
            ct_ingest_trim(&b, &nb);
            if (na == nb && memcmp(a, b, na) == 0) {
                char name[128];
                ct_field f = {a, na, 0};
                ct_field_str(&f, name, sizeof name);
                return ct_fail_at(err, CT_EPARSE, c->path, c->line, (unsigned)j + 1,
                                  "duplicate column name '%s' (columns %zu and %zu)", name, i + 1,
                                  j + 1);
            }
        }
    }
    return CT_OK;
}

const char *const ct_ingest_id_names[] = {"id",      "customer_id", "customer", "customerid",
                                       "cust_id", "client_id",   "user_id",  "ID",
                                       NULL};
const char *const ct_ingest_date_names[] = {"date",       "datetime",         "timestamp",
                                         "order_date", "transaction_date", "time",
                                         NULL};
static const char *const AMOUNT_NAMES[] = {"amount", "value",    "dollar_value", "revenue",
                                           "sales",  "monetary", "price",        "total",
                                           NULL};

/* ---- the transaction arrays ---------------------------------------------- */


static void txlog_free(txlog *t)
{
    free(t->cust);
    free(t->day);
    free(t->amt);
    memset(t, 0, sizeof *t);
}

int ct_txlog_reserve(txlog *t, size_t cap)
{
    if (cap <= t->cap) {
        return 0;
    }
    uint32_t *c = realloc(t->cust, cap * sizeof *c);
    if (c == NULL) {
        return -1;
    }
    t->cust = c;
    int32_t *d = realloc(t->day, cap * sizeof *d);
    if (d == NULL) {
        return -1;
    }
    t->day = d;
    double *a = realloc(t->amt, cap * sizeof *a);
    if (a == NULL) {
        return -1;
    }
    t->amt = a;
    t->cap = cap;
    return 0;
}

typedef struct txrow {
    int32_t day;
    double amt;
} txrow;

static int cmp_txrow(const void *pa, const void *pb)
{
    const txrow *a = pa, *b = pb;
    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }
    return (a->amt > b->amt) - (a->amt < b->amt);
}

/* ---- parsing ------------------------------------------------------------ */


/* A rejected row: skipped and counted (and written to --bad-rows) when the
 * options allow it (0), else the error (-1). */
int ct_ingest_reject(rowctx *x, const ct_csv *c, uint64_t line, uint64_t *counter, int skip,
                     ct_status st, unsigned col, ct_error *err, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!skip) {
        ct_fail_at(err, st, c->path, line, col, "%s", why);
        return -1;
    }
    (*counter)++;
    if (x->bad != NULL && line == c->line) { /* the raw row, as a CSV field */
        FILE *fp = ct_outfile_stream(x->bad);
        size_t a = c->row_start, b = c->pos;
        while (b > a && (c->data[b - 1] == '\n' || c->data[b - 1] == '\r')) {
            b--;
        }
        ct_csv_quote(fp, c->path, strlen(c->path), 1);
        fprintf(fp, ",%llu,", (unsigned long long)line);
        ct_csv_quote(fp, why, strlen(why), 1);
        fputc(',', fp);
        ct_csv_quote(fp, c->data + a, b - a, 1);
        fputc('\n', fp);
    } else if (x->bad != NULL) {
        FILE *fp = ct_outfile_stream(x->bad);
        ct_csv_quote(fp, c->path, strlen(c->path), 1);
        fprintf(fp, ",%llu,", (unsigned long long)line);
        ct_csv_quote(fp, why, strlen(why), 1);
        fputs(",\n", fp);
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 (RFC 3629: no
 * overlongs, no surrogates, at most U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || k > n) {
        return 0;
    }
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    if ((k == 2 && c < 0xC2) || (k == 3 && c == 0xE0 && p[1] < 0xA0) ||
        (k == 3 && c == 0xED && p[1] >= 0xA0) || (k == 4 && c == 0xF0 && p[1] < 0x90) ||
        (k == 4 && (c > 0xF4 || (c == 0xF4 && p[1] >= 0x90)))) {
        return 0;
    }
    return k;
}

static int valid_utf8(const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0) {
            return 0;
        }
        i += k;
    }
    return 1;
}

/* Whether p[0..n) has a byte >= 0x80 (*high) or a NUL (*nul): eight bytes
 * at a time (the last eight overlapping), bytewise below eight. */
static void scan_bytes(const char *p, size_t n, int *high, int *nul)
{
    const uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL;
    uint64_t any = 0, zero = 0, w;
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            any |= (unsigned char)p[i];
            zero |= p[i] == '\0';
        }
        *high = any >= 0x80;
        *nul = zero != 0;
        return;
    }
    for (size_t i = 0;; i += 8) {
        memcpy(&w, p + (i + 8 <= n ? i : n - 8), 8);
        any |= w;
        zero |= (w - ones) & ~w & tops; /* a zero byte sets its top bit */
        if (i + 8 >= n) {
            break;
        }
    }
    *high = (any & tops) != 0;
    *nul = zero != 0;
}

/* Latin-1 or Windows-1252 text as UTF-8 into out (4 bytes per byte at most);
 * its length.  CP1252's 0x80-0x9F are its printable characters (five of them
 * are undefined and become U+FFFD). */
static size_t to_utf8(const char *p, size_t n, ct_encoding enc, char *out)
{
    static const uint16_t CP1252[32] = {
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)p[i];
        if (enc == CT_ENC_CP1252 && c >= 0x80 && c < 0xA0) {
            c = CP1252[c - 0x80];
        }
        if (c < 0x80) {
            out[k++] = (char)c;
        } else if (c < 0x800) {
            out[k++] = (char)(0xC0 | (c >> 6));
            out[k++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[k++] = (char)(0xE0 | (c >> 12));
            out[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return k;
}

/* The length of the comma-separated prefix the order id starts with (0: none). */
static size_t has_prefix(const char *prefixes, const char *p, size_t n)
{
    while (prefixes != NULL && *prefixes != '\0') {
        const char *e = strchr(prefixes, ',');
        size_t k = e != NULL ? (size_t)(e - prefixes) : strlen(prefixes);
        if (k > 0 && k <= n && memcmp(p, prefixes, k) == 0) {
            return k;
        }
        prefixes = e != NULL ? e + 1 : "";
    }
    return 0;
}

/* A number field of the current row into *v: 1; else the row is rejected
 * (0 skipped, -1 error): unparseable (CT_EPARSE) or not finite (CT_EDATA). */
static int num_field(rowctx *x, const ct_csv *c, long j, const char *what, double *v, ct_error *err)
{
    const char *p = c->f[j].p;
    size_t n = c->f[j].n;
    int ok_num = ct_parse_double(p, n, v) == 0;
    if (ok_num && isfinite(*v)) {
        return 1;
    }
    char t[80];
    ct_field f = {p, n, 0};
    ct_field_str(&f, t, sizeof t);
    int skip = x->o->skip_bad_rows;
    return ct_ingest_reject(x, c, c->line, &x->k->bad_number, skip, ok_num ? CT_EDATA : CT_EPARSE,
                            (unsigned)j + 1, err, "%s %s '%s'%s", ok_num ? what : "cannot parse",
                            ok_num ? "is not a finite number" : what, t,
                            skip ? "" : " (--on-bad-row skip leaves such rows out)");
}

/* a[0..n) == b[0..n) for 1 <= n <= DATE_KEY, in words where n >= 8. */
static int same_text(const char *a, const char *b, size_t n)
{
    if (n < 8) {
        return memcmp(a, b, n) == 0;
    }
    uint64_t x, y, diff = 0;
    for (size_t i = 0;; i += 8) {
        size_t at = i + 8 <= n ? i : n - 8;
        memcpy(&x, a + at, 8);
        memcpy(&y, b + at, 8);
        diff |= x ^ y;
        if (i + 8 >= n) {
            break;
        }
    }
    return diff == 0;
}

/* The day of date text p[0..n) (ct_date_parse with the run's format),
 * through a small direct-mapped cache of texts already parsed: logs repeat
 * the same dates (and timestamps) many times.  0, or -1 when unparseable. */
static int parse_day(rowctx *x, const char *p, size_t n, int32_t *day)
{
    if (n == 0 || n > DATE_KEY) {
        return ct_date_parse_tz(p, n, x->o->date_format, x->tz, day);
    }
    uint32_t h = ct_id_hash(p, n);
    struct date_slot *e = &x->dates[h & (DATE_SLOTS - 1)];
    if (e->n == n && same_text(e->text, p, n)) {
        *day = e->day;
        return 0;
    }
    if (ct_date_parse_tz(p, n, x->o->date_format, x->tz, day) != 0) {
        return -1;
    }
    memcpy(e->text, p, n);
    e->n = (unsigned char)n;
    e->day = *day;
    return 0;
}

/* Parse the current row of c.  1: a transaction in *row; 0: left out
 * (after the observation end, a return dropped, a rejected row skipped);
 * -1: error in err. */
static int parse_row(rowctx *x, const ct_csv *c, prow *row, ct_error *err)
{
    const ct_ingest_opts *o = x->o;
    const cols *cl = x->cl;
    int skip = o->skip_bad_rows;
    x->k->rows++;
    if ((long)c->nf <= cl->need) {
        return ct_ingest_reject(
            x, c, c->line, &x->k->bad_fields, skip, CT_EPARSE, (unsigned)c->nf + 1, err,
            "row has %zu column(s), expected at least %ld%s", c->nf, cl->need + 1,
            skip ? "" : " (--on-bad-row skip leaves such rows out)");
    }
    const char *p = c->f[cl->date].p;
    size_t n = c->f[cl->date].n;
    int32_t day;
    ct_ingest_trim(&p, &n);
    if (parse_day(x, p, n, &day) != 0) {
        char v[80];
        ct_field f = {p, n, 0};
        ct_field_str(&f, v, sizeof v);
        return ct_ingest_reject(
            x, c, c->line, &x->k->bad_date, skip, CT_EPARSE, (unsigned)cl->date + 1, err,
            "cannot parse date '%s' (expected %s; see --date-format%s)", v,
            o->date_format != NULL ? o->date_format : "YYYY-MM-DD, YYYYMMDD or YYYY-MM-DD HH:MM:SS",
            skip ? "" : ", or --on-bad-row skip");
    }
    double amt = 0, qty = 1;
    int k = 1;
    if (cl->qty >= 0) { /* line items: quantity x unit price */
        double price;
        k = num_field(x, c, cl->qty, "quantity", &qty, err);
        if (k == 1) {
            k = num_field(x, c, cl->price, "unit price", &price, err);
            amt = qty * price;
        }
    } else if (cl->has_amount) {
        k = num_field(x, c, cl->amt, "amount", &amt, err);
    }
    if (k != 1) {
        return k;
    }
    row->oid = NULL;
    row->on = 0;
    if (cl->order >= 0) {
        p = c->f[cl->order].p;
        n = c->f[cl->order].n;
        ct_ingest_trim(&p, &n);
        if (n == 0 || n > MAX_ID_BYTES) {
            return ct_ingest_reject(x, c, c->line, &x->k->bad_id, skip, CT_EDATA,
                                    (unsigned)cl->order + 1, err, "%s order id%s",
                                    n == 0 ? "empty" : "over-long",
                                    skip ? "" : " (--on-bad-row skip leaves such rows out)");
        }
        row->oid = p;
        row->on = (uint32_t)n;
    }
    size_t pre = row->oid != NULL ? has_prefix(o->cancel_prefix, p, n) : 0;
    int ret = amt < 0 || qty < 0 || pre > 0;
    row->ret = ret;
    row->pre = (uint32_t)pre;
    if (ret && o->returns == CT_RETURNS_DROP && !o->allow_negative) {
        x->k->returns_dropped++;
        return 0;
    }
    if (ret) {
        x->k->returns++;
    }
    if (o->observation_end != CT_NO_DAY && day > o->observation_end) {
        x->k->after_observation++;
        return 0;
    }
    p = c->f[cl->id].p;
    n = c->f[cl->id].n;
    ct_ingest_trim(&p, &n);
    if (n == 0) {
        return ct_ingest_reject(x, c, c->line, &x->k->missing_id, o->missing_id_skip, CT_EDATA,
                                (unsigned)cl->id + 1, err, "empty customer id%s",
                                o->missing_id_skip ? ""
                                                   : " (--missing-id skip leaves such rows, e.g. "
                                                     "guest sales, out)");
    }
    if (n > MAX_ID_BYTES) {
        return ct_ingest_reject(x, c, c->line, &x->k->bad_id, skip, CT_EDATA, (unsigned)cl->id + 1,
                                err, "customer id of %zu bytes (longer than %d)", n, MAX_ID_BYTES);
    }
    int any, nul;
    scan_bytes(p, n, &any, &nul);
    if (nul) { /* "AB\0CD" and "AB\0XY" would both be stored "AB" */
        return ct_ingest_reject(x, c, c->line, &x->k->bad_id, skip, CT_EDATA, (unsigned)cl->id + 1,
                                err, "customer id contains a NUL byte");
    }
    if (o->encoding != CT_ENC_UTF8) { /* stored as UTF-8 (the pipeline copies it out) */
        n = to_utf8(p, n, o->encoding, x->idbuf);
        p = x->idbuf;
    } else if (any && !valid_utf8(p, n)) {
        return ct_ingest_reject(x, c, c->line, &x->k->bad_encoding, skip, CT_EDATA,
                                (unsigned)cl->id + 1, err,
                                "customer id is not valid UTF-8 (see --encoding%s)",
                                skip ? "" : "; --on-bad-row skip leaves such rows out");
    }
    row->id = p;
    row->n = (uint32_t)n;
    row->day = day;
    row->amt = amt;
    row->line = c->line;
    return 1;
}

/* ---- two-stage pipeline: a parser thread fills batches in file order, this
 * thread interns and appends them in the same order, so the result is the
 * serial one. ---- */

#define PIPE_ROWS 8192
#define PIPE_SLOTS 8
#define PIPE_AHEAD 16 /* rows */

#define PIPE_TEXT ((size_t)1 << 18)

typedef struct pbatch {
    prow row[PIPE_ROWS];
    /* ids that do not point into the mapped file (quoted fields unescaped
     * in the tokenizer's row buffer, ids converted to UTF-8) copied here */
    char text[PIPE_TEXT];
    size_t n, tlen;
    size_t pos;  /* file offset reached (progress) */
    int last;    /* end of input, or the parser's error */
} pbatch;

typedef struct pipe_ctx {
    ct_csv *c;
    rowctx x; /* the producer's counts */
    pbatch *b;
    size_t head, tail; /* batches produced / consumed */
    int stop;          /* the consumer gave up */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ct_status st;
    ct_error err;
} pipe_ctx;

/* The share of the input read up to pos, for progress. */
static double progress_share(const ct_csv *c, size_t pos)
{
    double total = (double)ct_csv_size_hint(c);
    return total > (double)pos ? (double)pos / total : 1.0;
}

/* Text of a parsed row that lives in the mapped file as it is, else a copy
 * in the batch (the tokenizer's buffers are reused by the next row). */
static const char *keep_text(const ct_csv *c, pbatch *b, const char *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)c->data;
    if (a >= lo && a - lo + n <= c->size) {
        return p;
    }
    char *t = b->text + b->tlen;
    memcpy(t, p, n);
    b->tlen += n;
    return t;
}

static void *pipe_producer(void *arg)
{
    pipe_ctx *q = arg;
    int r = 1; /* the current row of q->c is the first data row */
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->head - q->tail == PIPE_SLOTS && !q->stop) {
            pthread_cond_wait(&q->cv, &q->mu);
        }
        int stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (stop) {
            return NULL;
        }
        pbatch *b = &q->b[q->head % PIPE_SLOTS];
        b->n = 0;
        b->tlen = 0;
        b->last = 0;
        /* room for both ids of a row (4 * MAX_ID_BYTES: see rowctx.idbuf) */
        while (b->n < PIPE_ROWS && b->tlen + 8 * MAX_ID_BYTES <= PIPE_TEXT && r == 1) {
            prow *row = &b->row[b->n];
            int k = parse_row(&q->x, q->c, row, &q->err);
            if (k < 0) {
                q->st = q->err.status;
                r = -1;
                break;
            }
            if (k == 1) {
                row->id = keep_text(q->c, b, row->id, row->n);
                if (row->oid != NULL) {
                    row->oid = keep_text(q->c, b, row->oid, row->on);
                }
            }
            b->n += (size_t)k;
            r = ct_csv_next(q->c, &q->err);
            if (r < 0) {
                q->st = q->err.status;
            }
        }
        b->last = r != 1;
        b->pos = q->c->pos;
        pthread_mutex_lock(&q->mu);
        q->head++;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (b->last) {
            return NULL;
        }
    }
}

/* A row's id hashes (prow.h, .oh), and their table slots prefetched. */
static void row_hash(const parsed *P, prow *row)
{
    row->h = ct_id_hash(row->id, row->n);
    ct_idtab_prefetch(&P->ids, row->h);
    if (row->oid != NULL) {
        row->oh = ct_id_hash(row->oid, row->on);
        ct_idtab_prefetch(&P->orders, row->oh);
    }
}

/* The producer's counts into x's. */
static void rowctx_add(rowctx *x, const ct_ingest_report *y)
{
    ct_ingest_report *k = x->k;
    k->rows += y->rows;
    k->returns += y->returns;
    k->returns_dropped += y->returns_dropped;
    k->after_observation += y->after_observation;
    k->missing_id += y->missing_id;
    k->bad_fields += y->bad_fields;
    k->bad_date += y->bad_date;
    k->bad_number += y->bad_number;
    k->bad_id += y->bad_id;
    k->order_conflicts += y->order_conflicts;
    k->bad_encoding += y->bad_encoding;
}

static ct_status pipelined(ct_csv *c, rowctx *x, parsed *P, ct_ingest_report *rep,
                           ct_error *err)
{
    const ct_ingest_opts *o = x->o;
    pipe_ctx q;
    pthread_t th;
    memset(&q, 0, sizeof q);
    q.c = c;
    ct_ingest_report counts; /* the parser thread's, added to x's at the end */
    memset(&counts, 0, sizeof counts);
    q.x = *x;
    q.x.k = &counts;
    q.st = CT_OK;
    q.b = malloc(PIPE_SLOTS * sizeof *q.b);
    if (q.b == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    if (pthread_create(&th, NULL, pipe_producer, &q) != 0) {
        pthread_mutex_destroy(&q.mu);
        pthread_cond_destroy(&q.cv);
        free(q.b);
        return ct_fail(err, CT_ENOMEM, "cannot start the parser thread");
    }
    ct_status s = CT_OK;
    uint32_t prev = NO_CUST;
    for (int done = 0; !done && s == CT_OK;) {
        pthread_mutex_lock(&q.mu);
        while (q.tail == q.head) {
            pthread_cond_wait(&q.cv, &q.mu);
        }
        pthread_mutex_unlock(&q.mu);
        pbatch *b = &q.b[q.tail % PIPE_SLOTS];
        /* the ids' hashes here (the parser thread has more to do), each a
         * few rows before it is needed, and its hash slots prefetched */
        for (size_t i = 0; i < b->n && i < PIPE_AHEAD; i++) {
            row_hash(P, &b->row[i]);
        }
        for (size_t i = 0; i < b->n && s == CT_OK; i++) {
            if (i + PIPE_AHEAD < b->n) {
                row_hash(P, &b->row[i + PIPE_AHEAD]);
            }
            s = ct_ingest_append_row(P, x, c, &b->row[i], &prev, rep, err);
        }
        done = b->last;
        if (o->progress != NULL) {
            o->progress(o->progress_ctx, 0.8 * progress_share(c, b->pos));
        }
        pthread_mutex_lock(&q.mu);
        q.tail++;
        if (s != CT_OK) {
            q.stop = 1;
        }
        pthread_cond_broadcast(&q.cv);
        pthread_mutex_unlock(&q.mu);
    }
    pthread_join(th, NULL);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    free(q.b);
    rowctx_add(x, &counts);
    if (s == CT_OK && q.st != CT_OK) {
        *err = q.err;
        s = q.st;
    }
    return s;
}

/* An optional column (spec NULL: none): its index, -1 when absent, -2 on error. */
static long opt_col(const ct_csv *c, int header, const char *spec, const char *role,
                    const char *option, ct_error *err)
{
    static const char *const NONE[] = {NULL};
    if (spec == NULL) {
        return -1;
    }
    long j = ct_ingest_resolve_col(c, header, spec, NONE, 0, role, option, err);
    return j < 0 ? -2 : j;
}

/* The columns of the log from its first row (the header, or data). */
static ct_status resolve_cols(const ct_csv *c, const ct_ingest_opts *o, parsed *P, cols *cl,
                              ct_error *err)
{
    long jid, jdate, jamt = -1;
    jid = ct_ingest_resolve_col(c, o->header, o->id_col, ct_ingest_id_names, 1, "customer id", "--id", err);
    if (jid < 0) {
        return err->status;
    }
    jdate = ct_ingest_resolve_col(c, o->header, o->date_col, ct_ingest_date_names, 2, "date", "--date", err);
    if (jdate < 0) {
        return err->status;
    }
    long jq = opt_col(c, o->header, o->quantity_col, "quantity", "--quantity", err);
    long jp = opt_col(c, o->header, o->price_col, "unit price", "--price", err);
    long jo = opt_col(c, o->header, o->order_col, "order id", "--order", err);
    if (jq == -2 || jp == -2 || jo == -2) {
        return err->status;
    }
    P->has_amount = jq >= 0 || !(o->amount_col != NULL && strcmp(o->amount_col, "none") == 0);
    if (P->has_amount && jq < 0) {
        jamt = ct_ingest_resolve_col(c, o->header, o->amount_col, AMOUNT_NAMES, 3, "amount", "--amount",
                           err);
        if (jamt < 0) {
            return err->status;
        }
    }
    long all[6] = {jid, jdate, jamt, jq, jp, jo};
    long need = -1;
    for (int a = 0; a < 6; a++) {
        for (int b = 0; b < a; b++) {
            if (all[a] >= 0 && all[a] == all[b]) {
                return ct_fail_at(err, CT_EINVAL, c->path, 0, 0,
                                  "id, date, amount (or quantity and price) and order must be "
                                  "different columns (column %ld twice)",
                                  all[a] + 1);
            }
        }
        need = all[a] > need ? all[a] : need;
    }
    *cl = (cols){jid, jdate, jamt, jq, jp, jo, need, P->has_amount};
    return CT_OK;
}

/* The rows, parsed serially from the current one. */
static ct_status parse_serial(ct_csv *c, rowctx *x, parsed *P, ct_ingest_report *rep, int r,
                              ct_error *err)
{
    const ct_ingest_opts *o = x->o;
    uint32_t prev = NO_CUST;
    size_t tick = 0;
    for (; r == 1; r = ct_csv_next(c, err)) {
        prow row;
        int k = parse_row(x, c, &row, err);
        if (k < 0) {
            return err->status;
        }
        if (k == 0) {
            continue;
        }
        row_hash(P, &row);
        if (ct_ingest_append_row(P, x, c, &row, &prev, rep, err) != CT_OK) {
            return err->status;
        }
        if (o->progress != NULL && ++tick == (1u << 20)) {
            tick = 0;
            o->progress(o->progress_ctx, 0.8 * progress_share(c, c->pos));
        }
    }
    return r < 0 ? err->status : CT_OK;
}

/* Rows rejected as missing ids or bad rows. */
static uint64_t rejected_rows(const ct_ingest_report *k)
{
    return k->missing_id + k->bad_fields + k->bad_date + k->bad_number + k->bad_id +
           k->order_conflicts + k->bad_encoding;
}

/* CT_EDATA when more rows were rejected than --max-bad-rows allows. */
static ct_status check_rejected(const ct_ingest_opts *o, const char *where,
                                const ct_ingest_report *k, ct_error *err)
{
    uint64_t rejected = rejected_rows(k);
    double lim = o->max_bad_rows;
    double allowed = lim >= 1 ? lim : lim > 0 ? lim * (double)k->rows : (double)INFINITY;
    if ((double)rejected > allowed) {
        return ct_fail_at(err, CT_EDATA, where, 0, 0,
                          "%llu of %llu rows rejected (%llu missing ids, %llu bad rows), more "
                          "than --max-bad-rows %g allows",
                          (unsigned long long)rejected, (unsigned long long)k->rows,
                          (unsigned long long)k->missing_id,
                          (unsigned long long)(rejected - k->missing_id), lim);
    }
    return CT_OK;
}

/* One file of the log into P (the counts in x add up over the files); the
 * first file sizes the tables. */
static ct_status parse_file(ct_csv *c, rowctx *x, parsed *P, ct_ingest_report *rep, int first,
                            ct_error *err)
{
    const ct_ingest_opts *o = x->o;
    cols cl;
    int r;
    ct_status s;

    ct_csv_sniff(c);
    rep->delim = first ? c->delim : rep->delim;
    r = ct_csv_next(c, err);
    if (r < 0) {
        return err->status;
    }
    if (r == 0) {
        return ct_fail_at(err, CT_EDATA, c->path, 0, 0, "no rows (only blank lines)");
    }
    if (o->header && (s = ct_ingest_check_duplicates(c, err)) != CT_OK) {
        return s;
    }
    if ((s = resolve_cols(c, o, P, &cl, err)) != CT_OK) {
        return s;
    }
    if (first) { /* estimate the row count from the line length of the first 64 KiB */
        size_t from = c->pos, len = c->size - from < 65536 ? c->size - from : 65536, lines = 0;
        size_t total = ct_csv_size_hint(c);
        for (const char *q = c->data + from, *e = q + len;
             (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++) {
            lines++;
        }
        size_t line_len = lines > 0 ? len / lines : 32;
        size_t guess = total / (line_len > 8 ? line_len : 8) + 1024;
        /* with orders, a few lines make one transaction; customers are fewer
         * than rows: start smaller, grow (the id table doubles as needed) */
        size_t ntx = o->order_col != NULL ? guess / 3 + 1024 : guess;
        if (ct_idtab_init(&P->ids, guess / 8 + 1024) != 0 || ct_txlog_reserve(&P->tx, ntx) != 0 ||
            (o->order_col != NULL && ct_idtab_init(&P->orders, ntx) != 0)) {
            return ct_fail(err, CT_ENOMEM, "out of memory for about %zu rows", guess);
        }
    }
    if (o->header) {
        r = ct_csv_next(c, err);
    }
    if (r == 0) {
        return ct_fail_at(err, CT_EDATA, c->path, 0, 0, "header only: no data rows");
    }
    x->cl = &cl;
    s = CT_OK;
    /* Big files: parse in a second thread while this one interns (runs that
     * write rejected rows out stay serial: both threads find such rows, and
     * the file lists them in input order). */
    if (r == 1 && o->threads != 1 && x->bad == NULL &&
        ct_csv_size_hint(c) - c->pos > ((size_t)8 << 20)) {
        s = pipelined(c, x, P, rep, err);
        r = 0;
    }
    if (s == CT_OK) {
        s = parse_serial(c, x, P, rep, r, err);
    }
    x->cl = NULL;
    return s;
}

/* Every file of the log (any compression) into P, in the order given. */
static ct_status parse_log(const char *const *csv, size_t ncsv, const ct_ingest_opts *o,
                           ct_outfile *bad, parsed *P, ct_ingest_report *rep, ct_error *err)
{
    rowctx *x = calloc(1, sizeof *x);
    ct_status s = CT_OK;
    if (x == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    x->o = o;
    x->bad = bad;
    x->k = rep;
    ct_tz *tz = NULL;
    if (o->timezone != NULL && (s = ct_tz_load(o->timezone, &tz, err)) != CT_OK) {
        free(x);
        return s;
    }
    x->tz = tz;
    rep->first_day = INT32_MAX;
    rep->last_day = INT32_MIN;
    for (size_t i = 0; i < ncsv && s == CT_OK; i++) {
        ct_csv c;
        ct_dstream *ds;
        int fd, compression;
        s = ct_decompress_start(csv[i], &fd, &compression, &ds, err);
        if (s == CT_OK) {
            s = ct_csv_open_stream(&c, fd, csv[i], o->delim, ds, err);
        }
        if (s == CT_OK) {
            s = parse_file(&c, x, P, rep, i == 0, err);
            ct_error derr; /* corrupt data found by the decompressor comes first */
            ct_status d = ct_csv_finish(&c, &derr);
            if (d != CT_OK) {
                *err = derr;
                s = d;
            }
            ct_csv_close(&c);
        }
    }
    const char *where = ncsv == 1 ? csv[0] : "the input";
    if (s == CT_OK) {
        s = check_rejected(o, where, rep, err);
    }
    free(x);
    ct_tz_free(tz);
    if (s != CT_OK) {
        return s;
    }
    ct_ingest_finish_orders(P, o, rep);
    if (P->tx.n == 0) {
        uint64_t rej = rejected_rows(rep);
        return ct_fail_at(err, CT_EDATA, where, 0, 0,
                          "no transactions on or before the observation end (%llu rows read: "
                          "%llu returns left out (--returns keep keeps them), %llu orders of "
                          "amount <= 0, %llu rows rejected, %llu after the observation end)",
                          (unsigned long long)rep->rows, (unsigned long long)rep->returns_dropped,
                          (unsigned long long)rep->zero_orders, (unsigned long long)rej,
                          (unsigned long long)rep->after_observation);
    }
    return CT_OK;
}

/* ---- sorting and summarising ----------------------------------------------- */


static void sorted_free(sorted *S)
{
    free(S->day);
    free(S->amt);
    free(S->off);
    free(S->order);
    free(S->final);
    memset(S, 0, sizeof *S);
}

static ct_status sort_log(parsed *P, int32_t cal_end, sorted *S, ct_ingest_report *rep,
                          ct_error *err)
{
    size_t C = P->ids.n, N = P->tx.n;
    uint32_t *rank = NULL;
    txrow *tmp = NULL;
    size_t tmpcap = 0;

    memset(S, 0, sizeof *S);
    S->order = malloc(C * sizeof *S->order);
    rank = malloc(C * sizeof *rank);
    S->off = calloc(C + 1, sizeof *S->off);
    S->final = malloc(C * sizeof *S->final);
    if (S->order == NULL || rank == NULL || S->off == NULL || S->final == NULL) {
        free(rank);
        return ct_fail(err, CT_ENOMEM, "out of memory sorting %zu customers", C);
    }
    if (ct_order_ids(&P->ids, S->order) != 0) {
        free(rank);
        return ct_fail(err, CT_ENOMEM, "out of memory sorting %zu customers", C);
    }
    for (size_t r = 0; r < C; r++) {
        rank[S->order[r]] = (uint32_t)r;
    }
    /* Counting sort by customer rank (stable). */
    for (size_t i = 0; i < N; i++) {
        S->off[rank[P->tx.cust[i]] + 1]++;
    }
    for (size_t r = 0; r < C; r++) {
        S->off[r + 1] += S->off[r];
    }
    /* In-place permutation into customer buckets (American flag sort,
     * McIlroy, Bostic & McIlroy 1993): every row moves at most once and no
     * second copy of the log is needed. */
    {
        size_t *next = malloc((C > 0 ? C : 1) * sizeof *next);
        if (next == NULL) {
            free(rank);
            return ct_fail(err, CT_ENOMEM, "out of memory sorting");
        }
        memcpy(next, S->off, C * sizeof *next);
        uint32_t *cu = P->tx.cust;
        int32_t *dy = P->tx.day;
        double *am = P->tx.amt;
        for (size_t b = 0; b < C; b++) {
            while (next[b] < S->off[b + 1]) {
                size_t i = next[b];
                uint32_t k = rank[cu[i]];
                if (k == b) {
                    next[b]++;
                    continue;
                }
                size_t j = next[k]++;
                uint32_t tc = cu[i];
                cu[i] = cu[j];
                cu[j] = tc;
                int32_t td = dy[i];
                dy[i] = dy[j];
                dy[j] = td;
                double ta = am[i];
                am[i] = am[j];
                am[j] = ta;
            }
        }
        free(next);
    }
    free(rank);
    free(P->tx.cust);
    S->day = P->tx.day;
    S->amt = P->tx.amt;
    memset(&P->tx, 0, sizeof P->tx);
    /* Sort each customer's rows by (day, amount); leave customers born after
     * the calibration end out, compacting the arrays in place. */
    size_t w = 0, kept = 0;
    for (size_t r = 0; r < C; r++) {
        size_t a = S->off[r], b = S->off[r + 1], n = b - a;
        int ok = 1;
        for (size_t k = a + 1; k < b && ok; k++) {
            ok = S->day[k - 1] < S->day[k] ||
                 (S->day[k - 1] == S->day[k] && S->amt[k - 1] <= S->amt[k]);
        }
        if (!ok) {
            if (n > tmpcap) {
                txrow *t = realloc(tmp, n * sizeof *t);
                if (t == NULL) {
                    free(tmp);
                    return ct_fail(err, CT_ENOMEM, "out of memory sorting");
                }
                tmp = t;
                tmpcap = n;
            }
            for (size_t k = 0; k < n; k++) {
                tmp[k].day = S->day[a + k];
                tmp[k].amt = S->amt[a + k];
            }
            qsort(tmp, n, sizeof *tmp, cmp_txrow);
            for (size_t k = 0; k < n; k++) {
                S->day[a + k] = tmp[k].day;
                S->amt[a + k] = tmp[k].amt;
            }
        }
        if (n == 0) { /* only returns, or only rejected lines: not a customer */
            S->final[S->order[r]] = NO_CUST;
            continue;
        }
        if (cal_end != CT_NO_DAY && S->day[a] > cal_end) {
            S->final[S->order[r]] = NO_CUST;
            rep->late_customers++;
            rep->late_transactions += n;
            continue;
        }
        if (w != a) {
            memmove(S->day + w, S->day + a, n * sizeof *S->day);
            memmove(S->amt + w, S->amt + a, n * sizeof *S->amt);
        }
        S->final[S->order[r]] = (uint32_t)kept;
        S->order[kept] = S->order[r];
        S->off[kept] = w;
        w += n;
        kept++;
    }
    free(tmp);
    S->off[kept] = w;
    S->ncust = kept;
    S->ntx = w;
    return CT_OK;
}

/* ---- writing ----------------------------------------------------------- */

static ct_status write_transactions(ct_file *f, const sorted *S, ct_error *err)
{
    static const ct_colspec spec[3] = {
        {"customer", CT_INT64, 0}, {"day", CT_INT32, 0}, {"amount", CT_FLOAT64, 0}};
    ct_tw *w;
    ct_status s = ct_tw_create(&w, f, "/transactions", spec, 3, S->ntx, NULL, err);
    if (s != CT_OK) {
        return s;
    }
    /* The customer column is implicit in off[]: expand it block by block. */
    int64_t *cb = malloc(CT_CHUNK_ROWS * sizeof *cb);
    if (cb == NULL) {
        ct_tw_abort(w);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t cust = 0;
    for (size_t r0 = 0; r0 < S->ntx && s == CT_OK; r0 += CT_CHUNK_ROWS) {
        size_t n = S->ntx - r0 < CT_CHUNK_ROWS ? S->ntx - r0 : CT_CHUNK_ROWS;
        for (size_t k = 0; k < n; k++) {
            while (S->off[cust + 1] <= r0 + k) {
                cust++;
            }
            cb[k] = (int64_t)cust;
        }
        s = ct_tw_append(w, 0, cb, n, err);
    }
    free(cb);
    if (s == CT_OK) {
        s = ct_tw_append(w, 1, S->day, S->ntx, err);
    }
    if (s == CT_OK) {
        s = ct_tw_append(w, 2, S->amt, S->ntx, err);
    }
    if (s != CT_OK) {
        ct_tw_abort(w);
        return s;
    }
    return ct_tw_close(w, err);
}

static ct_status write_period_attrs(ct_file *f, const char *obj, ct_period p, int32_t cal_end,
                                    int32_t obs_end, int holdout, ct_error *err)
{
    char d[11];
    ct_status s;
    CT_TRY(ct_attr_set_str(f, obj, "period", ct_period_name(p), err));
    CT_TRY(ct_attr_set_f64(f, obj, "period_days", ct_period_days(p), err));
    ct_date_format(cal_end, d);
    CT_TRY(ct_attr_set_str(f, obj, "calibration_end", d, err));
    CT_TRY(ct_attr_set_i64(f, obj, "calibration_end_day", cal_end, err));
    ct_date_format(obs_end, d);
    CT_TRY(ct_attr_set_str(f, obj, "observation_end", d, err));
    CT_TRY(ct_attr_set_i64(f, obj, "observation_end_day", obs_end, err));
    if (holdout) {
        CT_TRY(ct_attr_set_f64(f, obj, "holdout_periods",
                               (double)(obs_end - cal_end) / ct_period_days(p), err));
    }
done:
    return s;
}

/* ---- features ---------------------------------------------------------- */

uint32_t ct_ingest_customer_row(const idtab *ids, const sorted *S, const ct_field *f,
                                const char **p, size_t *n)
{
    *p = f->p;
    *n = f->n;
    ct_ingest_trim(p, n);
    uint32_t orig = ct_idtab_find(ids, *p, *n);
    return orig == NO_CUST ? NO_CUST : S->final[orig];
}

/* A trimmed features cell that holds a value: neither empty nor NA. */
int ct_ingest_has_value(const char *p, size_t n)
{
    return n > 0 && !(n == 2 && strncasecmp(p, "NA", 2) == 0);
}

/* A features cell that holds a value that is not a number: its column is
 * text (a category). */
static int text_cell(const ct_field *f, size_t *len)
{
    const char *p = f->p;
    size_t n = f->n;
    double v;
    ct_ingest_trim(&p, &n);
    *len = n;
    return ct_ingest_has_value(p, n) && ct_parse_double(p, n, &v) != 0;
}

/* The first pass over the features file: which of its nf + 1 columns are
 * text (is_text[k]) and their longest value (width[k], bytes + 1). */
static ct_status scan_feature_types(const ct_ingest_opts *o, size_t ncols, unsigned char *is_text,
                                    size_t *width, ct_error *err)
{
    ct_csv c;
    CT_CHECK(ct_csv_open(&c, o->features_path, o->features_delim, err));
    ct_csv_sniff(&c);
    int r = ct_csv_next(&c, err); /* the header */
    while (r == 1 && (r = ct_csv_next(&c, err)) == 1) {
        for (size_t k = 0; k < c.nf && k < ncols; k++) {
            size_t len;
            is_text[k] |= (unsigned char)text_cell(&c.f[k], &len);
            width[k] = len + 1 > width[k] ? len + 1 : width[k];
        }
    }
    ct_csv_close(&c);
    return r < 0 ? err->status : CT_OK;
}

static ct_status join_features(ct_file *out, const ct_ingest_opts *o, const idtab *ids,
                               const sorted *S, const ct_customers *cust, ct_ingest_report *rep,
                               ct_error *err)
{
    ct_csv c;
    /* the features file has its own delimiter (sniffed unless given) */
    ct_status s = ct_csv_open(&c, o->features_path, o->features_delim, err);
    double *val = NULL;
    unsigned char *seen = NULL;
    ct_colspec *spec = NULL;
    char (*names)[128] = NULL;
    size_t nf = 0, jid = 0, eoff = 0;
    ct_tw *w = NULL;
    unsigned char *is_text = NULL; /* per file column: a text column (a category) */
    size_t *width = NULL;          /* its bytes per value */
    char **text = NULL;            /* its values, C x width[k] */
    size_t ncols = 0;              /* columns of the header */

    if (s != CT_OK) {
        return s;
    }
    ct_csv_sniff(&c);
    int r = ct_csv_next(&c, err);
    if (r <= 0) {
        ct_csv_close(&c);
        return r < 0 ? err->status
                     : ct_fail_at(err, CT_EDATA, o->features_path, 0, 0, "no header row");
    }
    if ((s = ct_ingest_check_duplicates(&c, err)) != CT_OK) {
        ct_csv_close(&c);
        return s;
    }
    long j = ct_ingest_resolve_col(&c, 1, o->features_id, ct_ingest_id_names, 1, "customer id", "--features-id", err);
    if (j < 0) {
        ct_csv_close(&c);
        return err->status;
    }
    jid = (size_t)j;
    nf = c.nf - 1;
    if (nf == 0) {
        ct_csv_close(&c);
        return ct_fail_at(err, CT_EDATA, o->features_path, 1, 0,
                          "no feature columns besides the id");
    }
    size_t C = S->ncust;
    val = malloc((C > 0 ? C : 1) * nf * sizeof *val);
    seen = calloc(C > 0 ? C : 1, 1);
    spec = calloc(nf + 1, sizeof *spec);
    names = calloc(nf + 1, sizeof *names);
    ncols = c.nf;
    if (nf > 1024) {
        s = ct_fail_at(err, CT_EDATA, o->features_path, 1, 0, "%zu feature columns (at most 1024)",
                       nf);
        goto done;
    }
    is_text = calloc(ncols, 1);
    width = calloc(ncols, sizeof *width);
    text = calloc(ncols, sizeof *text);
    if (val == NULL || seen == NULL || spec == NULL || names == NULL || is_text == NULL ||
        width == NULL || text == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for features");
        goto done;
    }
    /* text columns (categories) are kept as text: a first pass finds them */
    s = scan_feature_types(o, ncols, is_text, width, err);
    for (size_t k = 0; k < ncols && s == CT_OK; k++) {
        if (k != jid && is_text[k]) {
            text[k] = calloc((C > 0 ? C : 1), width[k]);
            s = text[k] != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory for features");
        }
    }
    if (s != CT_OK) {
        goto done;
    }
    for (size_t i = 0; i < C * nf; i++) {
        val[i] = (double)NAN;
    }
    snprintf(names[0], sizeof names[0], "id");
    for (size_t k = 0, q = 0; k < c.nf; k++) {
        if (k == jid) {
            continue;
        }
        ct_field_str(&c.f[k], names[q + 1], sizeof names[q + 1]);
        if (strcmp(names[q + 1], "id") == 0) {
            s = ct_fail_at(err, CT_EDATA, o->features_path, 1, (unsigned)k + 1,
                           "feature column may not be named 'id'");
            goto done;
        }
        q++;
    }
    while ((r = ct_csv_next(&c, err)) == 1) {
        rep->feature_rows++;
        if (c.nf != nf + 1) {
            s = ct_fail_at(err, CT_EPARSE, o->features_path, c.line, (unsigned)c.nf,
                           "row has %zu column(s), the header has %zu", c.nf, nf + 1);
            goto done;
        }
        const char *p;
        size_t n;
        uint32_t row = ct_ingest_customer_row(ids, S, &c.f[jid], &p, &n);
        if (row == NO_CUST) {
            rep->feature_unmatched++;
            size_t room = sizeof rep->feature_unmatched_examples - eoff;
            if (rep->feature_unmatched <= 5 && room > n + 4) {
                int k = snprintf(rep->feature_unmatched_examples + eoff, room, "%s%.*s",
                                 eoff ? ", " : "", (int)n, p);
                eoff += k > 0 ? (size_t)k : 0;
            }
            continue;
        }
        if (seen[row]) {
            char v[80];
            ct_field f = {p, n, 0};
            ct_field_str(&f, v, sizeof v);
            s = ct_fail_at(err, CT_EDATA, o->features_path, c.line, (unsigned)jid + 1,
                           "customer id '%s' appears twice", v);
            goto done;
        }
        seen[row] = 1;
        for (size_t k = 0, q = 0; k < c.nf; k++) {
            if (k == jid) {
                continue;
            }
            double v = (double)NAN;
            const char *fp = c.f[k].p;
            size_t fn = c.f[k].n;
            ct_ingest_trim(&fp, &fn);
            if (is_text[k]) { /* a category: its text ("" when missing) */
                if (ct_ingest_has_value(fp, fn)) {
                    memcpy(text[k] + (size_t)row * width[k], fp, fn < width[k] ? fn : width[k] - 1);
                }
                q++;
                continue;
            }
            if (ct_ingest_has_value(fp, fn) &&
                ct_parse_double(fp, fn, &v) != 0) {
                char t[80];
                ct_field f = {fp, fn, 0};
                ct_field_str(&f, t, sizeof t);
                s = ct_fail_at(err, CT_EPARSE, o->features_path, c.line, (unsigned)k + 1,
                               "feature '%s': cannot parse number '%s'", names[q + 1], t);
                goto done;
            }
            val[(size_t)row * nf + q] = v;
            q++;
        }
    }
    if (r < 0) {
        s = err->status;
        goto done;
    }
    for (size_t i = 0; i < C; i++) {
        rep->customers_without_features += !seen[i];
    }
    rep->feature_columns = nf;
    spec[0].name = "id";
    spec[0].type = CT_STRING;
    spec[0].width = cust->id_width;
    size_t kcol[1024];
    for (size_t k = 0, q = 0; k < ncols && q < nf; k++) {
        if (k != jid) {
            kcol[q++] = k; /* the file column of feature q */
        }
    }
    for (size_t q = 0; q < nf; q++) {
        size_t k = kcol[q];
        spec[q + 1].name = names[q + 1];
        spec[q + 1].type = is_text[k] ? CT_STRING : CT_FLOAT64;
        spec[q + 1].width = is_text[k] ? width[k] : 0;
    }
    s = ct_tw_create(&w, out, "/features", spec, nf + 1, C, "id", err);
    if (s != CT_OK) {
        goto done;
    }
    s = ct_tw_append(w, 0, cust->ids, C, err);
    {
        double *col = malloc((C > 0 ? C : 1) * sizeof *col);
        if (col == NULL && s == CT_OK) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t q = 0; q < nf && s == CT_OK; q++) {
            if (is_text[kcol[q]]) {
                s = ct_tw_append(w, q + 1, text[kcol[q]], C, err);
                continue;
            }
            for (size_t i = 0; i < C; i++) {
                col[i] = val[i * nf + q];
            }
            s = ct_tw_append(w, q + 1, col, C, err);
        }
        free(col);
    }
    if (s == CT_OK) {
        s = ct_tw_close(w, err);
    } else {
        ct_tw_abort(w);
    }
done:
    for (size_t k = 0; text != NULL && k < ncols; k++) {
        free(text[k]);
    }
    free(text);
    free(is_text);
    free(width);
    free(val);
    free(seen);
    free(spec);
    free(names);
    ct_csv_close(&c);
    return s;
}

typedef struct summ_job {
    const int32_t *day;
    const double *amt;
    const size_t *off;
    size_t n;
    ct_summary_opts so;
    int32_t ref_day;
    ct_summarize_fn summarize;
    ct_customers *out;
    ct_status st;
    ct_error err;
} summ_job;

static void *summ_run(void *arg)
{
    summ_job *j = arg;
    j->st = j->summarize(j->day, j->amt, j->off, j->n, &j->so, j->ref_day, j->out, &j->err);
    return NULL;
}

/* ---- entry point --------------------------------------------------------- */

/* Options that contradict each other, whatever set them. */
static ct_status check_opts(const ct_ingest_opts *o, const char *out, ct_error *err)
{
    if ((o->quantity_col == NULL) != (o->price_col == NULL)) {
        return ct_fail(err, CT_EINVAL, "--quantity and --price go together");
    }
    if (o->quantity_col != NULL && o->amount_col != NULL) {
        return ct_fail(err, CT_EINVAL, "give --amount or --quantity with --price, not both");
    }
    if (o->cancel_prefix != NULL && o->order_col == NULL) {
        return ct_fail(err, CT_EINVAL,
                       "--cancel-prefix needs --order (the column of the order ids)");
    }
    int bad = o->bad_rows_path != NULL ? ct_same_file(o->bad_rows_path, out) : 0;
    int dyn = o->dynamic_path != NULL ? ct_same_file(o->dynamic_path, out) : 0;
    if (bad < 0 || dyn < 0) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (bad) {
        return ct_fail(err, CT_EINVAL, "--bad-rows '%s' is also the output", o->bad_rows_path);
    }
    if (dyn) {
        return ct_fail(err, CT_EINVAL, "--dynamic-covariates '%s' is also the output",
                       o->dynamic_path);
    }
    return CT_OK;
}

/* What ingest counted, as attributes of /transactions (and of /customers,
 * prefixed ingest_, so that a run's result and its report carry them); for
 * the counts of what was left out, what that was. */
static const struct {
    const char *name, *left_out;
    size_t off;
} COUNTS[] = {
    {"rows_read", NULL, offsetof(ct_ingest_report, rows)},
    {"rows_missing_id", "rows without a customer id (guest sales)",
     offsetof(ct_ingest_report, missing_id)},
    {"rows_bad_fields", "rows with too few fields", offsetof(ct_ingest_report, bad_fields)},
    {"rows_bad_date", "rows with an unparseable date", offsetof(ct_ingest_report, bad_date)},
    {"rows_bad_number", "rows with an unparseable number", offsetof(ct_ingest_report, bad_number)},
    {"rows_bad_id", "rows with an empty or over-long id", offsetof(ct_ingest_report, bad_id)},
    {"rows_order_two_customers", "rows of orders with two customer ids",
     offsetof(ct_ingest_report, order_conflicts)},
    {"rows_bad_encoding", "rows with an id that is not UTF-8",
     offsetof(ct_ingest_report, bad_encoding)},
    {"rows_returns_dropped", "return or cancellation rows",
     offsetof(ct_ingest_report, returns_dropped)},
    {"rows_returns_kept", NULL, offsetof(ct_ingest_report, returns)},
    {"rows_returns_unmatched", "returns with no purchase to net against",
     offsetof(ct_ingest_report, returns_unmatched)},
    {"customers_net_zero", NULL, offsetof(ct_ingest_report, net_zero)},
    {"orders", NULL, offsetof(ct_ingest_report, orders)},
    {"orders_zero_amount", "orders (or line items) of amount 0 or less",
     offsetof(ct_ingest_report, zero_orders)},
};
#define NCOUNTS (sizeof COUNTS / sizeof COUNTS[0])

static ct_status write_counts(ct_file *f, const ct_ingest_report *rep, ct_error *err)
{
    ct_status s = CT_OK;
    for (size_t i = 0; i < NCOUNTS; i++) {
        int64_t v = (int64_t)ct_ingest_count_value(rep, i);
        char name[64];
        snprintf(name, sizeof name, "ingest_%s", COUNTS[i].name);
        CT_TRY(ct_attr_set_i64(f, "/transactions", COUNTS[i].name, v, err));
        CT_TRY(ct_attr_set_i64(f, "/customers", name, v, err));
    }
done:
    return s;
}

const char *ct_ingest_count_name(size_t i)
{
    return i < NCOUNTS ? COUNTS[i].name : NULL;
}

const char *ct_ingest_count_left_out(size_t i)
{
    return i < NCOUNTS ? COUNTS[i].left_out : NULL;
}

uint64_t ct_ingest_count_value(const ct_ingest_report *rep, size_t i)
{
    uint64_t v = 0;
    if (i < NCOUNTS) {
        memcpy(&v, (const char *)rep + COUNTS[i].off, sizeof v);
    }
    return v;
}

ct_status ct_ingest_log(const char *const *csv, size_t ncsv, const char *out,
                        const ct_ingest_opts *o, ct_summarize_fn summarize,
                        ct_ingest_report *rep_out, ct_error *err)
{
    ct_ingest_report rep;
    ct_error local;
    parsed P;
    sorted S;
    ct_customers cust;
    ct_file *f = NULL;
    ct_outfile *bad = NULL;
    ct_status s;
    char source[4096];

    if (err == NULL) {
        err = &local;
    }
    memset(&rep, 0, sizeof rep);
    memset(&P, 0, sizeof P);
    memset(&S, 0, sizeof S);
    memset(&cust, 0, sizeof cust);
    if (o->calibration_end != CT_NO_DAY && o->observation_end != CT_NO_DAY &&
        o->calibration_end > o->observation_end) {
        return ct_fail(err, CT_EINVAL, "calibration end is after the observation end");
    }
    if (ncsv == 0) {
        return ct_fail(err, CT_EINVAL, "no input log");
    }
    s = check_opts(o, out, err); /* for ingest, run and [ingest] alike */
    if (s != CT_OK) {
        return s;
    }
    /* every input readable, none an output, first */
    const char *outs[2] = {out, o->bad_rows_path};
    s = ct_paths_check(csv, ncsv, outs, 2, err);
    if (s != CT_OK) {
        return s;
    }
    source[0] = '\0';
    for (size_t i = 0; i < ncsv; i++) {
        size_t len = strlen(source);
        snprintf(source + len, sizeof source - len, "%s%s", i ? "," : "", csv[i]);
    }
    /* Create the (temp) output first: a bad -o fails before a long parse. */
    ct_create_opts co = {o->deflate, o->command, NULL};
    s = ct_file_create(&f, out, &co, err);
    if (s != CT_OK) {
        return s;
    }
    if (o->bad_rows_path != NULL) {
        s = ct_outfile_open(&bad, o->bad_rows_path, err);
        if (s != CT_OK) {
            goto done;
        }
        fputs("file,line,reason,row\n", ct_outfile_stream(bad));
    }
    s = parse_log(csv, ncsv, o, bad, &P, &rep, err);
    if (s != CT_OK) {
        goto done;
    }
    if (o->features_path == NULL && o->dynamic_path == NULL) {
        /* The hash index is only needed again to join features by id. */
        free(P.ids.slot);
        free(P.ids.hash);
        P.ids.slot = NULL;
        P.ids.hash = NULL;
    }
    int32_t obs_end = o->observation_end != CT_NO_DAY ? o->observation_end : rep.last_day;
    int holdout = o->calibration_end != CT_NO_DAY;
    int32_t cal_end = holdout ? o->calibration_end : obs_end;
    rep.calibration_end = cal_end;
    rep.observation_end = obs_end;
    rep.customers = P.ids.n;
    s = sort_log(&P, cal_end, &S, &rep, err);
    if (s != CT_OK) {
        goto done;
    }
    ct_ingest_net_returns(&P, &S, &rep);
    if (S.ncust == 0) {
        s = ct_fail_at(err, CT_EDATA, ncsv == 1 ? csv[0] : "the input", 0, 0,
                       "every customer first purchased after the calibration end");
        goto done;
    }
    if (o->progress != NULL) {
        o->progress(o->progress_ctx, 0.85);
    }
    rep.customers = S.ncust;
    rep.transactions = S.ntx;
    rep.id_width = ct_str_width(P.ids.maxlen);
    s = ct_customers_alloc(&cust, S.ncust, rep.id_width, holdout, 1, 0, err);
    if (s != CT_OK) {
        goto done;
    }
    for (size_t i = 0; i < S.ncust; i++) {
        uint32_t k = S.order[i];
        memcpy(cust.ids + i * cust.id_width, P.ids.arena + P.ids.off[k], P.ids.len[k]);
    }
    /* Summaries and RFM scores (numerics only) in a second thread while this
     * one writes /transactions (HDF5 stays on one thread). */
    summ_job sj = {S.day, P.has_amount ? S.amt : NULL, S.off, S.ncust,
                   {ct_period_days(o->period), cal_end, obs_end, holdout}, cal_end, summarize, &cust,
                   CT_OK, {0}};
    pthread_t sth;
    int threaded = pthread_create(&sth, NULL, summ_run, &sj) == 0;
    if (!threaded) {
        summ_run(&sj);
    }
    s = write_transactions(f, &S, err);
    if (s == CT_OK) {
        ct_file_writeback(f); /* to disk while the summaries finish */
    }
    if (threaded) {
        pthread_join(sth, NULL);
    }
    CT_TRY(s);
    if (sj.st == CT_EDATA && sj.err.row >= 1 && sj.err.row <= S.ncust && sj.err.file[0] == '\0') {
        size_t i = (size_t)sj.err.row - 1; /* name the customer, its file and column */
        int len = (int)strnlen(cust.ids + i * cust.id_width, cust.id_width);
        const char *msg = strchr(sj.err.msg, ':');
        CT_FAIL(err, CT_EDATA, "%s: column '%s': customer '%.*s'%s", source,
                o->amount_col != NULL ? o->amount_col : "amount", len > 200 ? 200 : len,
                cust.ids + i * cust.id_width, msg != NULL ? msg : "");
    }
    if (sj.st != CT_OK) {
        *err = sj.err;
        CT_TRY(sj.st);
    }
    CT_TRY(ct_customers_write(f, &cust, err));
    CT_TRY(write_period_attrs(f, "/customers", o->period, cal_end, obs_end, holdout, err));
    CT_TRY(ct_attr_set_str(f, "/customers", "source", source, err));
    CT_TRY(ct_attr_set_i64(f, "/customers", "customers_after_calibration",
                           (int64_t)rep.late_customers, err));
    CT_TRY(ct_attr_set_i64(f, "/transactions", "rows_after_observation",
                           (int64_t)rep.after_observation, err));
    CT_TRY(write_counts(f, &rep, err));
    if (o->features_path != NULL) {
        CT_TRY(join_features(f, o, &P.ids, &S, &cust, &rep, err));
    }
    if (o->dynamic_path != NULL) {
        CT_TRY(ct_ingest_dynamic(f, o, &P.ids, &S, &cust, cal_end, &rep, err));
    }
    s = ct_file_commit(f, err);
    f = NULL;
    if (s == CT_OK && bad != NULL) { /* the rejected rows beside the data they were left out of */
        s = ct_outfile_commit(bad, err);
        bad = NULL;
    }
done:
    if (bad != NULL) {
        ct_outfile_abort(bad);
    }
    ct_file_close(f);
    ct_customers_free(&cust);
    sorted_free(&S);
    ct_idtab_free(&P.ids);
    ct_idtab_free(&P.orders);
    free(P.ord_tx);
    free(P.ord_comp);
    free(P.ord_day);
    free(P.ret);
    txlog_free(&P.tx);
    if (rep_out != NULL) {
        *rep_out = rep;
    }
    return s;
}

/* ---- RFM summaries as input --------------------------------------------------- */

static long find_any(const ct_csv *c, const char *const *names)
{
    for (int nocase = 0; nocase <= 1; nocase++) {
        for (const char *const *d = names; *d != NULL; d++) {
            for (size_t j = 0; j < c->nf; j++) {
                if (field_is(&c->f[j], *d, nocase)) {
                    return (long)j;
                }
            }
        }
    }
    return -1;
}

ct_status ct_ingest_summary(const char *csv, const char *out, const ct_ingest_opts *o,
                            ct_ingest_report *rep_out, ct_error *err)
{
    static const char *const NX[] = {"x", "frequency", NULL};
    static const char *const NTX[] = {"t_x", "recency", NULL};
    static const char *const NT[] = {"T", "periods", "age", NULL};
    static const char *const NM[] = {"m", "monetary_value", "zbar", "monetary", NULL};
    static const char *const NW[] = {"weight", "weights", "count", NULL};
    static const char *const NID[] = {"id", "ID", "customer_id", "customer", NULL};
    ct_ingest_report rep;
    ct_csv c;
    ct_customers cust;
    ct_file *f = NULL;
    double *col[5] = {NULL, NULL, NULL, NULL, NULL};
    char *ids = NULL;
    size_t n = 0, cap = 0, idw = 0;
    long jc[5], jid;
    ct_status s;
    int r;
    ct_error local;

    if (err == NULL) {
        err = &local;
    }
    memset(&rep, 0, sizeof rep);
    memset(&cust, 0, sizeof cust);
    s = ct_csv_open(&c, csv, o->delim, err);
    if (s != CT_OK) {
        return s;
    }
    ct_csv_sniff(&c);
    r = ct_csv_next(&c, err);
    if (r <= 0) {
        ct_csv_close(&c);
        return r < 0 ? err->status : ct_fail_at(err, CT_EDATA, csv, 0, 0, "no header row");
    }
    if ((s = ct_ingest_check_duplicates(&c, err)) != CT_OK) {
        ct_csv_close(&c);
        return s;
    }
    const char *const *want[5] = {NX, NTX, NT, NM, NW};
    for (int k = 0; k < 5; k++) {
        jc[k] = find_any(&c, want[k]);
        if (k < 3 && jc[k] < 0) {
            char hdr[400];
            header_text(&c, hdr, sizeof hdr);
            ct_csv_close(&c);
            return ct_fail_at(err, CT_EFORMAT, csv, 1, 0,
                              "summary has no '%s' column (or '%s'); header: %s", want[k][0],
                              want[k][1], hdr);
        }
    }
    jid = find_any(&c, NID);
    /* First pass over the data: count rows and the longest id. */
    while ((r = ct_csv_next(&c, err)) == 1) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            for (int k = 0; k < 5; k++) {
                double *p = realloc(col[k], nc * sizeof *p);
                if (p == NULL) {
                    s = ct_fail(err, CT_ENOMEM, "out of memory");
                    goto done;
                }
                col[k] = p;
            }
            cap = nc;
        }
        for (int k = 0; k < 5; k++) {
            double v = k == 4 ? 1.0 : 0.0;
            if (jc[k] >= 0) {
                if ((size_t)jc[k] >= c.nf || ct_parse_double(c.f[jc[k]].p, c.f[jc[k]].n, &v) != 0) {
                    char t[80] = "";
                    if ((size_t)jc[k] < c.nf) {
                        ct_field_str(&c.f[jc[k]], t, sizeof t);
                    }
                    s = ct_fail_at(err, CT_EPARSE, csv, c.line, (unsigned)jc[k] + 1,
                                   "cannot parse %s '%s'", want[k][0], t);
                    goto done;
                }
            }
            col[k][n] = v;
        }
        if (jid >= 0 && (size_t)jid < c.nf) {
            idw = c.f[jid].n > idw ? c.f[jid].n : idw;
        }
        n++;
    }
    if (r < 0) {
        s = err->status;
        goto done;
    }
    if (n == 0) {
        s = ct_fail_at(err, CT_EDATA, csv, 0, 0, "header only: no data rows");
        goto done;
    }
    if (jid < 0) {
        idw = 20;
    }
    s = ct_customers_alloc(&cust, n, ct_str_width(idw), 0, 0, 1, err);
    if (s != CT_OK) {
        goto done;
    }
    /* Second pass for the ids (cheap: the file is mapped). */
    ct_csv_close(&c);
    s = ct_csv_open(&c, csv, o->delim, err);
    if (s != CT_OK) {
        goto done;
    }
    ct_csv_sniff(&c);
    r = ct_csv_next(&c, err); /* header */
    for (size_t i = 0; i < n && r == 1; i++) {
        r = ct_csv_next(&c, err);
        char *dst = cust.ids + i * cust.id_width;
        if (jid >= 0 && r == 1 && (size_t)jid < c.nf) {
            memcpy(dst, c.f[jid].p, c.f[jid].n);
        } else {
            snprintf(dst, cust.id_width, "%zu", i + 1);
        }
    }
    for (size_t i = 0; i < n; i++) {
        cust.x[i] = col[0][i];
        cust.t_x[i] = col[1][i];
        cust.T[i] = col[2][i];
        cust.m[i] = col[3][i];
        cust.weight[i] = col[4][i];
        cust.total[i] = col[3][i] * col[0][i];
        cust.ntx[i] = 0;
    }
    free(cust.total);
    cust.total = NULL;
    free(cust.ntx);
    cust.ntx = NULL;
    if (jc[3] < 0) {
        free(cust.m);
        cust.m = NULL;
    }
    s = ct_customers_validate(&cust, csv, err);
    if (s != CT_OK) {
        /* rows in the message are data rows; the file line is one more (header) */
        goto done;
    }
    ct_create_opts co = {o->deflate, o->command, NULL};
    rep.rows = n;
    rep.customers = n;
    rep.id_width = cust.id_width;
    CT_TRY(ct_file_create(&f, out, &co, err));
    CT_TRY(ct_customers_write(f, &cust, err));
    CT_TRY(ct_attr_set_str(f, "/customers", "period", ct_period_name(o->period), err));
    CT_TRY(ct_attr_set_f64(f, "/customers", "period_days", ct_period_days(o->period), err));
    CT_TRY(ct_attr_set_str(f, "/customers", "source", csv, err));
    s = ct_file_commit(f, err);
    f = NULL;
done:
    ct_file_close(f);
    ct_csv_close(&c);
    for (int k = 0; k < 5; k++) {
        free(col[k]);
    }
    free(ids);
    ct_customers_free(&cust);
    if (rep_out != NULL) {
        *rep_out = rep;
    }
    return s;
}
