/* test_nomem.c - out of memory on every path: each allocation the library
 * makes (malloc, calloc, realloc, posix_memalign; linked with -Wl,--wrap, see
 * the Makefile) is made to fail in turn, and the operation must return
 * CT_ENOMEM with a message, write no output and leave no temp file (under
 * `make asan` also: no leak, no invalid access).  Allocations inside HDF5,
 * GSL and libc are not wrapped.  One thread, so that the n-th allocation is
 * the same one every run; threads the library starts itself (ingest's
 * summaries beside its writes) allocate without failing, so that the
 * count stays deterministic. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

static long nm_count;   /* allocations so far */
static long nm_fail_at; /* the one to fail (1-based); 0: not counting; -1: none */
static int nm_failed;   /* it came (nm_disarm checks) */

static pthread_t nm_thread; /* the test's: only its allocations count */

static int nm_fail(void)
{
    if (nm_fail_at == 0 || !pthread_equal(pthread_self(), nm_thread)) {
        return 0;
    }
    long c = __atomic_add_fetch(&nm_count, 1, __ATOMIC_RELAXED);
    if (nm_fail_at > 0 && c == nm_fail_at) {
        nm_failed = 1;
        if (getenv("NM_TRACE") != NULL) { /* where it failed: addr2line -f -e THIS ADDRESSES */
            void *bt[12];
            int nb = backtrace(bt, 12);
            for (int i = 2; i < nb; i++) {
                fprintf(stderr, " %p", bt[i]);
            }
            fprintf(stderr, "\n");
        }
        errno = ENOMEM; /* as malloc sets it */
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return nm_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return nm_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return nm_fail() ? NULL : __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return nm_fail() ? ENOMEM : __real_posix_memalign(p, align, n);
}

static int nm_bad; /* failures reported, the test fails at its end */

static void nm_report(const char *what, long at, long total, ct_status s, const ct_error *err)
{
    if (s != CT_ENOMEM) {
        if (nm_bad++ < 40) {
            print_error("%s: allocation %ld of %ld failed: status %d, want CT_ENOMEM (%s)\n", what,
                        at, total, (int)s, s == CT_OK ? "no error" : err->msg);
        }
    } else if (err->msg[0] == '\0') {
        nm_bad++;
        print_error("%s: allocation %ld of %ld: CT_ENOMEM without a message\n", what, at, total);
    }
}

static void nm_arm(long at)
{
    nm_thread = pthread_self();
    nm_count = 0;
    nm_fail_at = at;
    nm_failed = 0;
}

/* After an armed call: stop failing; the allocation it was armed for must
 * have been made (else the count differs from the counting run's and the
 * point tested nothing). */
static void nm_disarm(const char *what, long at)
{
    int fired = nm_failed;
    nm_arm(0);
    if (!fired) {
        nm_bad++;
        print_error("%s: allocation %ld was never made\n", what, at);
    }
}

/* The failure points of an operation that made `total` allocations: every
 * one of the first nm_dense, then about nm_spread spread evenly over the rest. */
static long nm_dense = 32, nm_spread = 96;

static long nm_next(long at, long total)
{
    if (at < nm_dense) {
        return at + 1;
    }
    long step = (total - nm_dense) / nm_spread;
    return at + (step > 1 ? step : 1);
}

/* Entries of directory `dir` other than `keep`. */
static int nm_others(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strcmp(e->d_name, keep) != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A whole run of models/vip4.ini (ingest of a CSV log, the fits and model
 * choice, scores, k range, tiers, stability, the result file): each failing
 * allocation gives CT_ENOMEM, no output and no temp file beside it (or,
 * where the library can do without it, the same tiers, inertia and CLV). */
static void test_run_out_of_memory(void **state)
{
    (void)state;
    nm_bad = 0;
    char dir[256], in[300], out[300];
    tu_path(dir, sizeof dir, "nomem_run");
    mkdir(dir, 0777);
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/r.h5", dir);
    ct_error err;
    ct_synth_opts so;
    ct_synth_opts_init(&so);
    so.n = 400;
    so.seed = 3;
    assert_status(ct_synth_csv(&so, in, NULL, &err), CT_OK);
    ct_tier_model m;
    assert_status(ct_tier_model_load("models/vip4.ini", &m, &err), CT_OK);
    ct_run_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.stability = -1;
    ro.threads = 1;
    ct_run_summary sum;
    ct_run_summary rsum;
    nm_arm(-1); /* count, fail none */
    assert_status(ct_run(&m, in, out, &ro, &rsum, &err), CT_OK);
    long total = nm_count;
    assert_true(total > 100);
    assert_int_equal(unlink(out), 0);
    long tried = 0;
    for (long at = 1; at <= total; at = nm_next(at, total)) {
        nm_arm(at);
        ct_status s = ct_run(&m, in, out, &ro, &sum, &err);
        nm_disarm("run", at);
        if (s == CT_OK && sum.customers == rsum.customers && sum.k == rsum.k &&
            sum.inertia == rsum.inertia && sum.total_clv == rsum.total_clv &&
            memcmp(sum.tier_weight, rsum.tier_weight, sizeof sum.tier_weight) == 0) {
            /* ct_par_for without its thread table runs on fewer threads:
             * allowed, the result is the same */
            assert_int_equal(unlink(out), 0);
            continue;
        }
        nm_report("run", at, total, s, &err);
        if (nm_others(dir, "in.csv") != 0) {
            fail_msg("allocation %ld of %ld failed: an output or temp file is left", at, total);
        }
        tried++;
    }
    print_message("  %ld of the run's %ld allocations failed in turn\n", tried, total);
    assert_int_equal(nm_bad, 0);
}

/* k-means: greedy k-means++ and k-means|| starts, Lloyd, Hamerly and Yinyang,
 * n_init 2.
 * A fused kernel whose scratch cannot be had leaves the pass to the plain
 * path: allowed when the result is the same, bit for bit. */
static void test_kmeans_out_of_memory(void **state)
{
    (void)state;
    nm_bad = 0;
    enum { N = 1000, D = 4 };
    double *X = malloc(N * D * sizeof *X);
    assert_non_null(X);
    for (size_t i = 0; i < N * D; i++) {
        X[i] = (double)((i * 2654435761u) % 1000) / 100.0 + (double)(i / D % 5);
    }
    const ct_km_init inits[2] = {CT_KM_INIT_KMEANSPP, CT_KM_INIT_PARALLEL};
    const ct_km_algo algos[3] = {CT_KM_ALGO_LLOYD, CT_KM_ALGO_HAMERLY, CT_KM_ALGO_YINYANG};
    for (int c = 0; c < 6; c++) {
        ct_kmeans_opts o;
        ct_kmeans_opts_init(&o);
        o.k = 6;
        o.n_init = 2;
        o.seed = 5;
        o.threads = 1;
        o.init = inits[c & 1];
        o.algorithm = algos[c >> 1];
        ct_kmeans_result ref, r;
        ct_error err;
        nm_arm(-1);
        assert_status(ct_kmeans_fit(X, N, D, NULL, &o, &ref, &err), CT_OK);
        long total = nm_count;
        for (long at = 1; at <= total; at = nm_next(at, total)) {
            nm_arm(at);
            ct_status s = ct_kmeans_fit(X, N, D, NULL, &o, &r, &err);
            nm_disarm("k-means", at);
            if (s == CT_OK) { /* a kernel's scratch failed and the plain path took over: */
                int same = memcmp(r.centroids, ref.centroids, 6 * D * sizeof(double)) == 0 &&
                           memcmp(r.labels, ref.labels, N * sizeof(int32_t)) == 0;
                ct_kmeans_result_free(&r);
                if (same) { /* allowed where it gives the same bits */
                    continue;
                }
            }
            nm_report(c & 1 ? "k-means||" : "k-means++", at, total, s, &err);
        }
        ct_kmeans_result_free(&ref);
    }
    free(X);
    assert_int_equal(nm_bad, 0);
}

/* The rows of model m, then its fit (one thread). */
static ct_status fit_one(const ct_customers *c, ct_clv_model m, ct_fit *f, ct_error *err)
{
    ct_clv_data *d = NULL;
    ct_status s = ct_clv_data_new(&d, m, c, "cdnow", err);
    if (s == CT_OK) {
        ct_fit_opts o;
        ct_fit_opts_init(&o);
        o.threads = 1;
        s = ct_clv_fit(d, &o, f, err);
    }
    ct_clv_data_free(d);
    return s;
}

static ct_status scores(const ct_fit *f, const ct_fit *gg, const ct_customers *c, int boot,
                        ct_scores *sc, ct_error *err)
{
    return boot ? ct_clv_score_bootstrap(f, gg, c, 4, 0.01, 0.9, 20, 7, 1, 1, sc, err)
                : ct_clv_score_intervals(f, gg, c, 4, 0.01, 0.9, 1, sc, err);
}

/* Fits and scores with intervals (delta and bootstrap) of each purchase
 * model with Gamma-Gamma spend, on CDNOW's sample. */
static void test_clv_out_of_memory(void **state)
{
    (void)state;
    nm_bad = 0;
    char path[300];
    tu_data(path, sizeof path, "CDNOW_sample.txt");
    ct_error err;
    ct_customers c;
    double pd;
    char h5[300];
    tu_path(h5, sizeof h5, "nomem_cdnow.h5");
    ct_ingest_opts io;
    ct_ingest_opts_init(&io);
    assert_status(ct_ingest_opt_set(&io, "header", "no", &err), CT_OK);
    assert_status(ct_ingest_opt_set(&io, "id", "2", &err), CT_OK);
    assert_status(ct_ingest_opt_set(&io, "date", "3", &err), CT_OK);
    assert_status(ct_ingest_opt_set(&io, "amount", "5", &err), CT_OK);
    assert_status(ct_ingest_csv(path, h5, &io, NULL, &err), CT_OK);
    assert_status(ct_stage_read_customers(h5, "customers", 0, NULL, &c, &pd, &err), CT_OK);
    size_t n_all = c.n;
    c.n = 400; /* the first 400 customers, and fewer points per sweep (18 sweeps) */
    nm_dense = 16;
    nm_spread = 40;
    const ct_clv_model models[3] = {CT_BGNBD, CT_PARETO, CT_MBGNBD};
    for (int q = 0; q < 3; q++) {
        ct_fit f, gg, tmp;
        nm_arm(-1);
        assert_status(fit_one(&c, models[q], &f, &err), CT_OK);
        long total = nm_count;
        for (long at = 1; at <= total; at = nm_next(at, total)) {
            nm_arm(at);
            ct_status s = fit_one(&c, models[q], &tmp, &err);
            nm_disarm("fit", at);
            nm_report("fit", at, total, s, &err);
        }
        assert_status(fit_one(&c, CT_GAMMAGAMMA, &gg, &err), CT_OK);
        for (int boot = 0; boot < 2; boot++) {
            ct_scores sc;
            nm_arm(-1);
            assert_status(scores(&f, &gg, &c, boot, &sc, &err), CT_OK);
            ct_scores_free(&sc);
            total = nm_count;
            for (long at = 1; at <= total; at = nm_next(at, total)) {
                nm_arm(at);
                ct_status s = scores(&f, &gg, &c, boot, &sc, &err);
                nm_disarm("scores", at);
                nm_report(boot ? "bootstrap scores" : "delta scores", at, total, s, &err);
            }
        }
    }
    c.n = n_all;
    nm_dense = 32;
    nm_spread = 96;
    ct_customers_free(&c);
    assert_int_equal(nm_bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_out_of_memory),
        cmocka_unit_test(test_kmeans_out_of_memory),
        cmocka_unit_test(test_clv_out_of_memory),
    };
    return cmocka_run_group_tests_name("nomem", tests, NULL, NULL);
}
