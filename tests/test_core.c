/* test_core.c - status, par, rng, comm, dates, CSV tokenizer, sorting, RFM. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "data/csv_internal.h"
#include "core/sort_internal.h"

static void test_status_messages(void **state)
{
    ct_error err;
    (void)state;
    assert_int_equal(ct_fail_at(&err, CT_EPARSE, "tx.csv", 17, 3, "bad '%s'", "x"), CT_EPARSE);
    assert_string_equal(err.msg, "tx.csv:17:3: bad 'x'");
    assert_int_equal(err.row, 17);
    assert_int_equal(err.col, 3);
    assert_string_equal(err.file, "tx.csv");
    ct_fail_at(&err, CT_EIO, "o.h5", 0, 0, "disk full");
    assert_string_equal(err.msg, "o.h5: disk full");
    ct_fail(&err, CT_EDIM, "k=%d > n=%d", 5, 3);
    assert_string_equal(err.msg, "k=5 > n=3");
    assert_int_equal(err.file[0], '\0');
    assert_int_equal(ct_fail(NULL, CT_ENOMEM, "x"), CT_ENOMEM);
    for (int s = CT_OK; s <= CT_EINTERNAL; s++) {
        assert_non_null(ct_strerror((ct_status)s));
        assert_string_not_equal(ct_strerror((ct_status)s), "unknown status");
    }
}

typedef struct sumctx {
    const double *x;
    double *part;
} sumctx;

static ct_status sum_block(void *ctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    sumctx *c = ctx;
    double s = 0;
    (void)err;
    for (size_t i = begin; i < end; i++) {
        s += c->x[i];
    }
    c->part[b] = s;
    return CT_OK;
}

static double par_sum(const double *x, size_t n, unsigned threads)
{
    size_t nb = ct_par_nblocks(n, 1000);
    double *part = calloc(nb, sizeof *part), s = 0;
    sumctx c = {x, part};
    ct_error err;
    assert_status(ct_par_for(n, 1000, threads, sum_block, &c, &err), CT_OK);
    for (size_t b = 0; b < nb; b++) {
        s += part[b];
    }
    free(part);
    return s;
}

static void test_par_bit_identical(void **state)
{
    (void)state;
    size_t n = 100003;
    double *x = malloc(n * sizeof *x);
    ct_rng *g = ct_rng_new(7, 0);
    for (size_t i = 0; i < n; i++) {
        x[i] = ct_rng_gamma(g, 0.5, 1e3) * (i % 2 ? 1 : -1);
    }
    double s1 = par_sum(x, n, 1), s2 = par_sum(x, n, 2), s7 = par_sum(x, n, 7);
    assert_memory_equal(&s1, &s2, sizeof s1);
    assert_memory_equal(&s1, &s7, sizeof s1);
    ct_rng_free(g);
    free(x);
    assert_int_equal(ct_par_nblocks(0, 10), 0);
    assert_int_equal(ct_par_nblocks(10, 10), 1);
    assert_int_equal(ct_par_nblocks(11, 10), 2);
}

static ct_status fail_some(void *ctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    (void)ctx;
    (void)begin;
    (void)end;
    if (b == 3 || b == 5) {
        return ct_fail(err, CT_EDATA, "block %zu failed", b);
    }
    return CT_OK;
}

static void test_par_first_error_wins(void **state)
{
    ct_error err;
    (void)state;
    assert_status(ct_par_for(100, 10, 4, fail_some, NULL, &err), CT_EDATA);
    assert_string_equal(err.msg, "block 3 failed");
    assert_status(ct_par_for(100, 0, 4, fail_some, NULL, &err), CT_EINVAL);
}

/* ---- the pool of workers: every block once, whatever the calls' shapes ---- */
typedef struct {
    atomic_uint *runs; /* per block: how many times it ran */
    pthread_t caller;
    atomic_int bad_mask; /* a block on a pooled worker found SIGINT unblocked */
    int nest;            /* blocks call ct_par_for themselves */
} poolctx;

static ct_status count_block(void *ctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    poolctx *c = ctx;
    (void)begin;
    (void)end;
    atomic_fetch_add(&c->runs[b], 1);
    if (!pthread_equal(pthread_self(), c->caller)) {
        sigset_t cur;
        pthread_sigmask(SIG_BLOCK, NULL, &cur);
        if (!sigismember(&cur, SIGINT)) {
            atomic_store(&c->bad_mask, 1);
        }
    }
    if (c->nest) { /* the pool is owned: this call starts threads of its own */
        double x[50], part[5];
        for (size_t i = 0; i < 50; i++) {
            x[i] = (double)(i + b);
        }
        sumctx sc = {x, part};
        ct_status s = ct_par_for(50, 10, 3, sum_block, &sc, err);
        if (s != CT_OK || part[4] != 10 * (double)b + 445) {
            return ct_fail(err, CT_EINTERNAL, "nested call: block sum %g", part[4]);
        }
    }
    return CT_OK;
}

/* calls of every thread count and block count, each block run exactly once;
 * *arg: a seed in (it varies the shapes), 1 out when every call was right */
static void *pool_calls(void *arg)
{
    int *ok = arg, seed = *ok;
    *ok = 1;
    for (int it = 0; it < 300 && *ok; it++) {
        size_t nb = (size_t)(1 + (it * 7 + seed) % 23);
        unsigned threads = (unsigned)(1 + (it + seed) % 6);
        atomic_uint runs[23];
        for (size_t b = 0; b < 23; b++) {
            atomic_init(&runs[b], 0);
        }
        poolctx c = {runs, pthread_self(), 0, it % 17 == 0};
        atomic_init(&c.bad_mask, 0);
        ct_error err;
        if (ct_par_for(nb * 5 - 2, 5, threads, count_block, &c, &err) != CT_OK ||
            atomic_load(&c.bad_mask)) {
            *ok = 0;
        }
        for (size_t b = 0; b < nb; b++) {
            *ok &= atomic_load(&runs[b]) == 1;
        }
    }
    return NULL;
}

static void test_par_pool(void **state)
{
    (void)state;
    alarm(120); /* a lost job hangs: fail instead */
    int ok = 0;
    pool_calls(&ok);
    assert_true(ok);
    /* two callers at once: one owns the pool, the other starts threads */
    pthread_t t;
    int ok1 = 1, ok2 = 2;
    assert_int_equal(pthread_create(&t, NULL, pool_calls, &ok1), 0);
    pool_calls(&ok2);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(ok1 && ok2);
    /* a child of fork has no workers: the pool starts again there */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int okc = 3;
        pool_calls(&okc);
        _exit(okc ? 0 : 1);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    alarm(0);
}

static void test_rng_streams(void **state)
{
    (void)state;
    ct_rng *a = ct_rng_new(42, 1), *b = ct_rng_new(42, 1), *c = ct_rng_new(42, 2),
           *d = ct_rng_new(43, 1);
    int same_c = 1, same_d = 1;
    for (int i = 0; i < 100; i++) {
        double va = ct_rng_uniform(a), vb = ct_rng_uniform(b), vc = ct_rng_uniform(c),
               vd = ct_rng_uniform(d);
        assert_true(va == vb);
        same_c &= va == vc;
        same_d &= va == vd;
        assert_true(va >= 0 && va < 1);
    }
    assert_false(same_c);
    assert_false(same_d);
    for (int i = 0; i < 1000; i++) {
        assert_true(ct_rng_below(a, 7) < 7);
        assert_true(ct_rng_below(a, (uint64_t)1 << 40) < ((uint64_t)1 << 40));
    }
    ct_rng_reset(b, 42, 1);
    ct_rng_reset(a, 42, 1);
    assert_true(ct_rng_uniform(a) == ct_rng_uniform(b));
    ct_rng_free(a);
    ct_rng_free(b);
    ct_rng_free(c);
    ct_rng_free(d);
    ct_rng_free(NULL);
}

static void test_comm_serial(void **state)
{
    ct_error err;
    double v[3] = {1, 2, 3};
    (void)state;
    ct_comm *c = ct_comm_world();
    assert_int_equal(ct_comm_rank(c), 0);
    assert_int_equal(ct_comm_size(c), 1);
    assert_status(ct_comm_allreduce_sum(c, v, 3, &err), CT_OK);
    assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3);
    assert_status(ct_comm_bcast(c, v, sizeof v, 0, &err), CT_OK);
    assert_status(ct_comm_bcast(c, v, sizeof v, 1, &err), CT_EINVAL);
    assert_status(ct_comm_allreduce_sum(c, NULL, 3, &err), CT_EINVAL);
}

/* A TZif file (RFC 8536, version 2) written by hand: +01:00 standard time,
 * +02:00 from 2021-03-28 01:00 UTC to 2021-10-31 01:00 UTC. */
static void write_tzif(const char *path)
{
    unsigned char b[512];
    size_t n = 0;
    const int64_t at[2] = {1616893200, 1635642000};
    const unsigned char idx[2] = {1, 0};
    for (int pass = 0; pass < 2; pass++) {
        int tsz = pass == 0 ? 4 : 8;
        memcpy(b + n, "TZif2", 5);
        memset(b + n + 5, 0, 15);
        n += 20;
        const uint32_t cnt[6] = {0, 0, 0, 2, 2, 8}; /* isut isstd leap time type char */
        for (int i = 0; i < 6; i++) {
            for (int k = 3; k >= 0; k--) {
                b[n++] = (unsigned char)(cnt[i] >> (8 * k));
            }
        }
        for (int t = 0; t < 2; t++) {
            for (int k = tsz - 1; k >= 0; k--) {
                b[n++] = (unsigned char)((uint64_t)at[t] >> (8 * k));
            }
        }
        memcpy(b + n, idx, 2);
        n += 2;
        const int32_t off[2] = {3600, 7200};
        for (int t = 0; t < 2; t++) {
            for (int k = 3; k >= 0; k--) {
                b[n++] = (unsigned char)((uint32_t)off[t] >> (8 * k));
            }
            b[n++] = (unsigned char)t; /* isdst */
            b[n++] = (unsigned char)(4 * t);
        }
        memcpy(b + n, "STD\0DST\0", 8);
        n += 8;
    }
    const char *footer = "\nSTD-1DST,M3.5.0,M10.5.0/3\n";
    memcpy(b + n, footer, strlen(footer));
    n += strlen(footer);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static int32_t tz_day(const char *text, const char *fmt, const ct_tz *tz)
{
    int32_t d = CT_NO_DAY;
    assert_int_equal(ct_date_parse_tz(text, strlen(text), fmt, tz, &d), 0);
    return d;
}

/* Timestamps with offsets as local dates of a zone, across its DST change. */
static void test_timezone(void **state)
{
    char dir[512], path[600];
    ct_tz *tz;
    ct_error err;
    (void)state;
    tu_path(dir, sizeof dir, "zoneinfo");
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/Test", dir);
    write_tzif(path);
    setenv("TZDIR", dir, 1);
    assert_status(ct_tz_load("Test", &tz, &err), CT_OK);
    assert_int_equal(ct_tz_offset(tz, 0), 3600);
    assert_int_equal(ct_tz_offset(tz, 1616893199), 3600);
    assert_int_equal(ct_tz_offset(tz, 1616893200), 7200);
    assert_int_equal(ct_tz_offset(tz, 1635642000), 3600);
    /* 23:30 UTC is after midnight in the zone: +1 h in March before the change */
    assert_int_equal(tz_day("2021-03-27T23:30:00Z", NULL, tz), ct_days_from_civil(2021, 3, 28));
    assert_int_equal(tz_day("2021-03-27T23:30:00Z", NULL, NULL), ct_days_from_civil(2021, 3, 27));
    /* 22:30 UTC: 23:30 at +1 (same day) in winter, 00:30 at +2 in summer */
    assert_int_equal(tz_day("2021-03-28T00:59:59Z", NULL, tz), ct_days_from_civil(2021, 3, 28));
    assert_int_equal(tz_day("2021-03-28T22:30:00Z", NULL, tz), ct_days_from_civil(2021, 3, 29));
    assert_int_equal(tz_day("2021-10-31T22:30:00Z", NULL, tz), ct_days_from_civil(2021, 10, 31));
    assert_int_equal(tz_day("2021-06-30T22:30:00-01:00", NULL, tz),
                     ct_days_from_civil(2021, 7, 1));
    assert_int_equal(tz_day("27/03/2021 23:30+0000", "%d/%m/%Y %H:%M%z", tz),
                     ct_days_from_civil(2021, 3, 28));
    /* no offset: a local time already, its own date */
    assert_int_equal(tz_day("2021-06-30 23:30:00", NULL, tz), ct_days_from_civil(2021, 6, 30));
    assert_int_equal(tz_day("2021-06-30", NULL, tz), ct_days_from_civil(2021, 6, 30));
    /* before the first transition: the first type (+1 h); before 1970 too */
    assert_int_equal(tz_day("1969-12-31T23:30:00Z", NULL, tz), 0);
    assert_int_equal(tz_day("1969-12-30T22:00:00Z", NULL, tz), -2);
    ct_tz_free(tz);
    /* not a zone */
    assert_status(ct_tz_load("Nowhere/City", &tz, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "Nowhere/City"));
    assert_status(ct_tz_load("../Test", &tz, &err), CT_EINVAL);
    assert_status(ct_tz_load("/etc/passwd", &tz, &err), CT_EINVAL);
    snprintf(path, sizeof path, "%s/Bad", dir);
    tu_write(path, "TZif2 but not really");
    assert_status(ct_tz_load("Bad", &tz, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "TZif"));
    unsetenv("TZDIR");
    /* the system's tzdata, when installed */
    if (ct_tz_load("Europe/Berlin", &tz, &err) == CT_OK) {
        assert_int_equal(tz_day("2021-03-28T22:30:00Z", NULL, tz), ct_days_from_civil(2021, 3, 29));
        assert_int_equal(tz_day("2021-12-01T22:30:00Z", NULL, tz), ct_days_from_civil(2021, 12, 1));
        ct_tz_free(tz);
    } else {
        fprintf(stderr, "test_timezone: SKIPPED the system zone check (no tzdata: %s)\n", err.msg);
    }
}

static void test_dates(void **state)
{
    int32_t d;
    int y, m, dd;
    (void)state;
    assert_int_equal(ct_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(ct_days_from_civil(1997, 1, 1), 9862);
    assert_int_equal(ct_days_from_civil(2000, 3, 1), 11017);
    for (int32_t k = -800000; k < 3000000; k += 997) {
        ct_civil_from_days(k, &y, &m, &dd);
        assert_int_equal(ct_days_from_civil(y, m, dd), k);
    }
    assert_int_equal(ct_date_parse("19970101", 8, NULL, &d), 0);
    assert_int_equal(d, 9862);
    assert_int_equal(ct_date_parse("1997-01-01", 10, NULL, &d), 0);
    assert_int_equal(d, 9862);
    assert_int_equal(ct_date_parse("1997-01-01 23:59:59", 19, NULL, &d), 0);
    assert_int_equal(d, 9862);
    assert_int_equal(ct_date_parse("1997-01-01T00:00:00", 19, NULL, &d), 0);
    assert_int_equal(ct_date_parse("2000-02-29", 10, NULL, &d), 0);
    assert_int_equal(ct_date_parse("1900-02-29", 10, NULL, &d), -1);
    assert_int_equal(ct_date_parse("1997-13-01", 10, NULL, &d), -1);
    assert_int_equal(ct_date_parse("1997-04-31", 10, NULL, &d), -1);
    assert_int_equal(ct_date_parse("1997-01-01 24:00:00", 19, NULL, &d), -1);
    assert_int_equal(ct_date_parse("97-1-1", 6, NULL, &d), -1);
    assert_int_equal(ct_date_parse("", 0, NULL, &d), -1);
    assert_int_equal(ct_date_parse("31/12/1999", 10, "%d/%m/%Y", &d), 0);
    assert_int_equal(d, ct_days_from_civil(1999, 12, 31));
    assert_int_equal(ct_date_parse("1/2/1999", 8, "%d/%m/%Y", &d), 0);
    assert_int_equal(d, ct_days_from_civil(1999, 2, 1));
    assert_int_equal(ct_date_parse("1999-12-31x", 11, "%Y-%m-%d", &d), -1);
    /* shop exports (issue 12): one-digit month, day and hour; month names;
     * two-digit years; 12-hour clocks; ISO 8601 with T, fractions and offsets */
    int32_t dec1 = ct_days_from_civil(2010, 12, 1);
#define DP(str, fmt) ct_date_parse(str, strlen(str), fmt, &d)
    assert_int_equal(DP("12/1/2010 8:26", "%m/%d/%Y %H:%M"), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("1-Dec-10", "%d-%b-%y"), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("01 December 2010", "%d %B %Y"), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("1 Dezember 2010", "%d %B %Y"), -1);
    assert_int_equal(DP("12/1/69", "%m/%d/%y"), 0);
    assert_int_equal(d, ct_days_from_civil(1969, 12, 1));
    assert_int_equal(DP("12/1/2010 12:30 AM", "%m/%d/%Y %I:%M %p"), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("12/1/2010 13:30 PM", "%m/%d/%Y %I:%M %p"), -1);
    assert_int_equal(DP("2010-12-01T08:26:00.123Z", NULL), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("2010-12-01 08:26", NULL), 0);
    assert_int_equal(d, dec1);
    /* the UTC date: 23:30 at -02:00 is 01:30 the next day; 00:30 at +01:00 the day before */
    assert_int_equal(DP("2010-11-30T23:30:00-02:00", NULL), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("2010-12-02T00:30:00+0100", NULL), 0);
    assert_int_equal(d, dec1);
    assert_int_equal(DP("2010-12-01T08:26:00+25:00", NULL), -1);
    assert_int_equal(DP("2010-12-01T08:26:00 junk", NULL), -1);
    assert_int_equal(DP("2010-12-01 08:26:00.5+05:30", "%Y-%m-%d %H:%M:%S%z"), 0);
    assert_int_equal(d, dec1);
#undef DP
    char buf[11];
    ct_date_format(9862, buf);
    assert_string_equal(buf, "1997-01-01");
    ct_period p;
    assert_int_equal(ct_period_parse("week", &p), 0);
    assert_true(ct_period_days(p) == 7.0);
    assert_int_equal(ct_period_parse("fortnight", &p), -1);
}

static void csv_rows(const char *text, int delim, char out[][8][32], size_t *nrows,
                     size_t *nf, uint64_t *lines)
{
    char path[512];
    ct_csv c;
    ct_error err;
    tu_path(path, sizeof path, "tok.csv");
    tu_write(path, text);
    assert_status(ct_csv_open(&c, path, delim, &err), CT_OK);
    ct_csv_sniff(&c);
    *nrows = 0;
    while (ct_csv_next(&c, &err) == 1) {
        nf[*nrows] = c.nf;
        lines[*nrows] = c.line;
        for (size_t j = 0; j < c.nf && j < 8; j++) {
            ct_field_str(&c.f[j], out[*nrows][j], 32);
        }
        (*nrows)++;
    }
    ct_csv_close(&c);
}

static void test_csv_tokenizer(void **state)
{
    char out[8][8][32];
    size_t n, nf[8];
    uint64_t line[8];
    (void)state;
    csv_rows("a,b,c\r\n\r\n\"x,1\",\"he said \"\"hi\"\"\",3\n\"multi\nline\",,\n", 0, out, &n, nf,
             line);
    assert_int_equal(n, 3);
    assert_int_equal(nf[1], 3);
    assert_string_equal(out[1][0], "x,1");
    assert_string_equal(out[1][1], "he said \"hi\"");
    assert_int_equal(line[1], 3);
    assert_string_equal(out[2][0], "multi\nline");
    assert_int_equal(nf[2], 3);
    assert_string_equal(out[2][1], "");
    assert_string_equal(out[2][2], "");
    assert_int_equal(line[2], 4);
    /* blank runs, leading blanks, no trailing newline */
    csv_rows("  00001 19970101  1   11.77\r\n \t\n 00002\t19970112 1 12.00", 0, out, &n, nf,
             line);
    assert_int_equal(n, 2);
    assert_int_equal(nf[0], 4);
    assert_string_equal(out[0][0], "00001");
    assert_string_equal(out[0][3], "11.77");
    assert_string_equal(out[1][1], "19970112");
    assert_int_equal(line[1], 3);
    csv_rows("a\tb\n1\t2\n", 0, out, &n, nf, line);
    assert_int_equal(nf[0], 2);
}

static void test_csv_errors(void **state)
{
    char path[512];
    ct_csv c;
    ct_error err;
    (void)state;
    tu_path(path, sizeof path, "bad.csv");
    tu_write(path, "a,b\n\"open,2\n");
    assert_status(ct_csv_open(&c, path, ',', &err), CT_OK);
    assert_int_equal(ct_csv_next(&c, &err), 1);
    assert_int_equal(ct_csv_next(&c, &err), -1);
    assert_int_equal(err.status, CT_EPARSE);
    assert_non_null(strstr(err.msg, "unterminated"));
    ct_csv_close(&c);
    tu_write(path, "");
    assert_status(ct_csv_open(&c, path, ',', &err), CT_EDATA);
    assert_status(ct_csv_open(&c, "/nonexistent/x.csv", ',', &err), CT_ENOENT);
}

static void test_parse_double(void **state)
{
    double v;
    (void)state;
    assert_int_equal(ct_parse_double("11.77", 5, &v), 0);
    assert_true(v == 11.77);
    assert_int_equal(ct_parse_double(" -0.5 ", 6, &v), 0);
    assert_true(v == -0.5);
    assert_int_equal(ct_parse_double("1e3", 3, &v), 0);
    assert_true(v == 1000);
    assert_int_equal(ct_parse_double("", 0, &v), -1);
    assert_int_equal(ct_parse_double("-", 1, &v), -1);
    assert_int_equal(ct_parse_double(".", 1, &v), -1);
    assert_int_equal(ct_parse_double("1.2.3", 5, &v), -1);
    assert_int_equal(ct_parse_double("12abc", 5, &v), -1);
    /* The fast path must agree with strtod bit for bit. */
    ct_rng *g = ct_rng_new(3, 0);
    for (int i = 0; i < 200000; i++) {
        char buf[64];
        int digits = 1 + (int)ct_rng_below(g, 15);
        uint64_t m = ct_rng_below(g, 1000000000000000ULL);
        int k = snprintf(buf, sizeof buf, "%llu", (unsigned long long)m);
        int point = (int)ct_rng_below(g, (uint64_t)(digits + 1));
        if (point < k) {
            memmove(buf + k - point + 1, buf + k - point, (size_t)point + 1);
            buf[k - point] = '.';
            k++;
        }
        assert_int_equal(ct_parse_double(buf, (size_t)k, &v), 0);
        double ref = strtod(buf, NULL);
        assert_memory_equal(&v, &ref, sizeof v);
    }
    ct_rng_free(g);
}

static void test_radix_sort(void **state)
{
    (void)state;
    size_t n = 50000;
    uint64_t *k = malloc(n * sizeof *k);
    uint32_t *ix = malloc(n * sizeof *ix);
    double *v = malloc(n * sizeof *v);
    ct_rng *g = ct_rng_new(5, 0);
    for (size_t i = 0; i < n; i++) {
        v[i] = (ct_rng_uniform(g) - 0.5) * pow(10, (double)ct_rng_below(g, 20) - 10.0);
        if (i % 100 == 0) {
            v[i] = 0.0;
        }
        if (i % 101 == 0) {
            v[i] = -0.0;
        }
        k[i] = ct_double_key(v[i]);
        ix[i] = (uint32_t)i;
    }
    assert_int_equal(ct_radix_sort_u64(k, ix, n), 0);
    for (size_t i = 1; i < n; i++) {
        assert_true(v[ix[i - 1]] <= v[ix[i]]);
        if (v[ix[i - 1]] == v[ix[i]]) {
            assert_true(ix[i - 1] < ix[i]); /* stable */
        }
    }
    ct_rng_free(g);
    free(k);
    free(ix);
    free(v);
}

static void test_quintiles(void **state)
{
    ct_error err;
    int8_t s[10];
    double v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    (void)state;
    assert_status(ct_quintiles(v, 10, s, &err), CT_OK);
    const int8_t want[10] = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
    assert_memory_equal(s, want, 10);
    double tie[6] = {5, 1, 5, 5, 2, 5};
    assert_status(ct_quintiles(tie, 6, s, &err), CT_OK);
    /* ranks: 1 -> 0, 2 -> 1, the four 5s share rank 2 -> 1 + 10/6 = 2 */
    const int8_t want2[6] = {2, 1, 2, 2, 1, 2};
    assert_memory_equal(s, want2, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_messages), cmocka_unit_test(test_par_bit_identical),
        cmocka_unit_test(test_par_first_error_wins), cmocka_unit_test(test_par_pool),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_comm_serial),     cmocka_unit_test(test_dates), cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_csv_tokenizer),   cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_parse_double),    cmocka_unit_test(test_radix_sort),
        cmocka_unit_test(test_quintiles),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
