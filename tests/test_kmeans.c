/* test_kmeans.c - k-means against scikit-learn's Lloyd (reference files made
 * by tests/kmeans_reference.py), determinism, known answers, edge cases,
 * weights, f32, scores and scaling. */
#include <math.h>

#include "numerics/kmeans/kmeans_bench.h"
#include "numerics/kmeans/kmeans_dots.h"
#include "testutil.h"

typedef struct refcase {
    size_t n, d, k;
    double tol;
    unsigned max_iter;
    int weighted;
    double *X, *w, *C0, *centers;
    int32_t *labels;
    double inertia;
    unsigned iters;
} refcase;

static void load_ref(const char *name, refcase *r)
{
    char path[600];
    snprintf(path, sizeof path, "tests/data/kmeans_%s.txt", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%zu %zu %zu %lf %u %d", &r->n, &r->d, &r->k, &r->tol, &r->max_iter,
                            &r->weighted),
                     6);
    r->X = malloc(r->n * r->d * sizeof(double));
    r->w = r->weighted ? malloc(r->n * sizeof(double)) : NULL;
    r->C0 = malloc(r->k * r->d * sizeof(double));
    r->centers = malloc(r->k * r->d * sizeof(double));
    r->labels = malloc(r->n * sizeof(int32_t));
    for (size_t i = 0; i < r->n * r->d; i++) {
        assert_int_equal(fscanf(f, "%lf", &r->X[i]), 1);
    }
    for (size_t i = 0; r->weighted && i < r->n; i++) {
        assert_int_equal(fscanf(f, "%lf", &r->w[i]), 1);
    }
    for (size_t i = 0; i < r->k * r->d; i++) {
        assert_int_equal(fscanf(f, "%lf", &r->C0[i]), 1);
    }
    for (size_t i = 0; i < r->n; i++) {
        assert_int_equal(fscanf(f, "%d", &r->labels[i]), 1);
    }
    for (size_t i = 0; i < r->k * r->d; i++) {
        assert_int_equal(fscanf(f, "%lf", &r->centers[i]), 1);
    }
    assert_int_equal(fscanf(f, "%lf %u", &r->inertia, &r->iters), 2);
    fclose(f);
}

static void free_ref(refcase *r)
{
    free(r->X);
    free(r->w);
    free(r->C0);
    free(r->centers);
    free(r->labels);
}

/* From the same initial centroids: the same iterations, labels, centroids
 * (1e-10 relative: sums in another order) and inertia (1e-9 relative). */
static void check_against_sklearn(const char *name, unsigned threads)
{
    refcase rc;
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result r;
    load_ref(name, &rc);
    ct_kmeans_opts_init(&o);
    o.k = rc.k;
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = rc.C0;
    o.tol = rc.tol;
    o.max_iter = rc.max_iter;
    o.threads = threads;
    assert_status(ct_kmeans_fit(rc.X, rc.n, rc.d, rc.w, &o, &r, &err), CT_OK);
    assert_int_equal(r.iterations, rc.iters);
    assert_memory_equal(r.labels, rc.labels, rc.n * sizeof(int32_t));
    for (size_t q = 0; q < rc.k * rc.d; q++) {
        assert_close(r.centroids[q], rc.centers[q], 1e-10 * (1 + fabs(rc.centers[q])));
    }
    assert_close(r.inertia, rc.inertia, 1e-9 * rc.inertia);
    assert_true(r.converged);
    ct_kmeans_result_free(&r);
    free_ref(&rc);
}

static void test_sklearn_reference(void **state)
{
    (void)state;
    const char *names[4] = {"blobs", "weighted", "noise8", "skewed"};
    for (int i = 0; i < 4; i++) {
        check_against_sklearn(names[i], 1);
        check_against_sklearn(names[i], 3);
    }
}

/* Blobs around well-separated centres; label = true blob. */
static double *blobs(size_t n, size_t d, size_t k, double spread, uint64_t seed, int32_t *truth)
{
    double *X = malloc(n * d * sizeof *X);
    ct_rng *g = ct_rng_new(seed, 0);
    double *cent = malloc(k * d * sizeof *cent);
    /* centres on a lattice: at least 20 apart along the first axis */
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < d; j++) {
            cent[c * d + j] = j == 0 ? 20.0 * (double)c : 10.0 * (double)((c + j) % 3);
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = i % k;
        if (truth != NULL) {
            truth[i] = (int32_t)c;
        }
        for (size_t j = 0; j < d; j++) {
            /* uniform noise is enough: what matters is separation */
            X[i * d + j] = cent[c * d + j] + spread * (ct_rng_uniform(g) - 0.5);
        }
    }
    ct_rng_free(g);
    free(cent);
    return X;
}

static void test_threads_and_seeds(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result a, b, c;
    (void)state;
    size_t n = 120000, d = 6;
    double *X = blobs(n, d, 12, 30.0, 3, NULL);
    const ct_km_init inits[3] = {CT_KM_INIT_KMEANSPP, CT_KM_INIT_PARALLEL, CT_KM_INIT_RANDOM};
    for (int t = 0; t < 3; t++) {
        ct_kmeans_opts_init(&o);
        o.k = 10;
        o.init = inits[t];
        o.n_init = 2;
        o.seed = 42;
        o.threads = 1;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &a, &err), CT_OK);
        o.threads = 3;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &b, &err), CT_OK);
        assert_memory_equal(a.centroids, b.centroids, o.k * d * sizeof(double));
        assert_memory_equal(a.labels, b.labels, n * sizeof(int32_t));
        assert_memory_equal(&a.inertia, &b.inertia, sizeof(double));
        o.seed = 43;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &c, &err), CT_OK);
        assert_memory_not_equal(a.centroids, c.centroids, o.k * d * sizeof(double));
        ct_kmeans_result_free(&a);
        ct_kmeans_result_free(&b);
        ct_kmeans_result_free(&c);
    }
    free(X);
}

/* Hamerly's bounds and Yinyang's group bounds change the work, not the
 * answer: from the same start, the same labels and iteration count as
 * Lloyd, centroids equal up to the rounding of running sums (1e-10
 * relative), inertia 1e-9; over overlapping blobs (many rows near
 * boundaries), weights, f32 data, a tolerance of 0 (run to a fixed point),
 * and duplicated starting centroids (empty clusters relocated); k 2 to 70
 * (Yinyang: 1 to 7 groups).  Bit-identical for 1 and 3 threads. */
static void bounded_equals_lloyd(ct_km_algo algo);

static void test_hamerly_equals_lloyd(void **state)
{
    for (int yy = 0; yy < 2; yy++) {
        bounded_equals_lloyd(yy ? CT_KM_ALGO_YINYANG : CT_KM_ALGO_HAMERLY);
    }
    (void)state;
}

static void bounded_equals_lloyd(ct_km_algo algo)
{
    ct_error err;
    size_t n = 30000, d = 4;
    double *X = blobs(n, d, 6, 1.2, 11, NULL), *w = malloc(n * sizeof *w);
    float *Xf = malloc(n * d * sizeof *Xf);
    for (size_t i = 0; i < n; i++) {
        w[i] = 0.5 + (double)(i % 7);
    }
    for (size_t q = 0; q < n * d; q++) {
        Xf[q] = (float)X[q];
    }
    const size_t K[5] = {2, 5, 17, 40, 70};
    for (int t = 0; t < 5; t++) {
        for (int var = 0; var < 4; var++) {
            ct_kmeans_opts o;
            ct_kmeans_result a, b, c;
            ct_kmeans_opts_init(&o);
            o.k = K[t];
            o.seed = 5 + (uint64_t)t;
            o.tol = var == 2 ? 0 : 1e-4;
            double *C0 = NULL;
            if (var == 3) { /* half the starting centres duplicated */
                C0 = malloc(o.k * d * sizeof *C0);
                for (size_t j = 0; j < o.k; j++) {
                    memcpy(C0 + j * d, X + (j / 2) * 97 * d, d * sizeof *C0);
                }
                o.init = CT_KM_INIT_GIVEN;
                o.centroids = C0;
            }
            const double *wv = var == 1 ? w : NULL;
            o.algorithm = CT_KM_ALGO_LLOYD;
            assert_status(var == 1 && t % 2 ? ct_kmeans_fit_f32(Xf, n, d, wv, &o, &a, &err)
                                            : ct_kmeans_fit(X, n, d, wv, &o, &a, &err),
                          CT_OK);
            o.algorithm = algo;
            o.threads = 1;
            assert_status(var == 1 && t % 2 ? ct_kmeans_fit_f32(Xf, n, d, wv, &o, &b, &err)
                                            : ct_kmeans_fit(X, n, d, wv, &o, &b, &err),
                          CT_OK);
            o.threads = 3;
            assert_status(var == 1 && t % 2 ? ct_kmeans_fit_f32(Xf, n, d, wv, &o, &c, &err)
                                            : ct_kmeans_fit(X, n, d, wv, &o, &c, &err),
                          CT_OK);
            assert_memory_equal(a.labels, b.labels, n * sizeof(int32_t));
            assert_int_equal(a.iterations, b.iterations);
            assert_int_equal(a.converged, b.converged);
            for (size_t q = 0; q < o.k * d; q++) {
                assert_close(b.centroids[q], a.centroids[q], 1e-10 * (1 + fabs(a.centroids[q])));
            }
            assert_close(b.inertia, a.inertia, 1e-9 * a.inertia);
            assert_memory_equal(b.labels, c.labels, n * sizeof(int32_t));
            assert_memory_equal(b.centroids, c.centroids, o.k * d * sizeof(double));
            assert_memory_equal(&b.inertia, &c.inertia, sizeof(double));
            /* the share of distances the bounds skipped: none in the first
             * pass, the same for any thread count, most once it settles */
            assert_null(a.skipped);
            assert_non_null(b.skipped);
            assert_int_equal(a.algorithm, CT_KM_ALGO_LLOYD);
            assert_true(b.algorithm == (int)algo || b.algorithm == CT_KM_ALGO_HAMERLY); /* no SIMD */
            assert_true(b.npasses >= b.iterations && b.npasses <= b.iterations + 1);
            assert_true(b.skipped[0] == 0);
            for (size_t q = 0; q < b.npasses; q++) {
                assert_true(b.skipped[q] >= 0 && b.skipped[q] < 1);
            }
            assert_true(b.npasses < 3 || b.skipped[b.npasses - 1] > 0.5);
            assert_int_equal(b.npasses, c.npasses);
            assert_memory_equal(b.skipped, c.skipped, b.npasses * sizeof *b.skipped);
            ct_kmeans_result_free(&a);
            ct_kmeans_result_free(&b);
            ct_kmeans_result_free(&c);
            free(C0);
        }
    }
    free(X);
    free(w);
    free(Xf);
}

/* Yinyang's vector steps (the own distances in a loop of their own, the
 * group bounds eight at a time, each group measured with its centres in
 * the lanes and the rows read where they are) at the column counts they
 * split differently (d = 8: whole vectors; 13: a whole vector and a tail;
 * 32: four) and more than 8 groups: the labels and iterations of Lloyd,
 * weighted or not, bit-identical for 1 and 3 threads.  On interleaved
 * blobs with more centres than blobs, so that rows sit near the borders
 * of centres of one blob and the groups are measured.  First the group
 * kernel alone against km_assign for every group size it takes (1 to 64
 * centres: 1 to 8 vectors, each with its rows in blocks and one at a time):
 * the same labels and values (a zero's sign aside). */
static void test_yinyang_kernels(void **state)
{
    ct_error err;
    (void)state;
    size_t groups = 0;
    const size_t DG[3] = {1, 13, 32};
    for (int t = 0; t < 3; t++) {
        size_t nr = 37, d = DG[t];
        double *X = blobs(nr, d, 3, 4.0, 300 + d, NULL), *C = blobs(64, d, 3, 4.0, 400 + d, NULL);
        double cn[64], P[8 * 8 * 33], v1[37], v2[37], r1[37], r2[37];
        const double *rows[37];
        int32_t lab[37], ref[37];
        for (size_t j = 0; j < 64; j++) {
            cn[j] = 0;
            for (size_t c = 0; c < d; c++) {
                cn[j] += C[j * d + c] * C[j * d + c];
            }
        }
        cn[5] = cn[4]; /* a tie within a group, when 4 and 5 measure alike */
        memcpy(C + 5 * d, C + 4 * d, d * sizeof *C);
        for (size_t r = 0; r < nr; r++) {
            rows[r] = X + (nr - 1 - r) * d; /* rows through pointers, in any order */
        }
        for (size_t kg = 1; kg <= 64; kg++) {
            if (km_group_pack_f64(C, cn, kg, d, P) != 0) {
                break; /* no AVX-512 here: the copies and km_assign measure the groups */
            }
            assert_true(km_group_packed(kg, d) <= sizeof P / sizeof *P);
            km_group_assign_f64(rows, nr, d, P, kg, lab, v1, v2);
            for (size_t r = 0; r < nr; r++) {
                assert_int_equal(km_assign_f64(rows[r], 1, d, C, cn, kg, ref + r, r1 + r, r2 + r),
                                 0);
            }
            for (size_t r = 0; r < nr; r++) {
                if (lab[r] != ref[r] || !(v1[r] == r1[r]) || !(v2[r] == r2[r])) {
                    fail_msg("d=%zu kg=%zu row %zu: group kernel %d %.17g %.17g, km_assign %d "
                             "%.17g %.17g", d, kg, r, lab[r], v1[r], v2[r], ref[r], r1[r], r2[r]);
                }
            }
            groups++;
        }
        /* the own distances: sqdist8's partial sums, combined in its order */
        uint32_t und[20];
        int32_t lb[37];
        double ud[20];
        for (size_t r = 0; r < nr; r++) {
            lb[r] = (int32_t)((r * 7) % 64);
        }
        for (size_t q = 0; q < 20; q++) {
            und[q] = (uint32_t)(q * 7 % 35 + 1);
        }
        if (km_own_dist_f64(X, d, 1, und, 20, lb, C, ud) == 0) {
            for (size_t q = 0; q < 20; q++) {
                size_t i = 1 + und[q];
                double p8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                for (size_t c = 0; c < d; c++) {
                    double e = X[i * d + c] - C[(size_t)lb[i] * d + c];
                    p8[c % 8] += e * e;
                }
                double ref8 = sqrt(((p8[0] + p8[4]) + (p8[1] + p8[5])) +
                                   ((p8[2] + p8[6]) + (p8[3] + p8[7])));
                assert_memory_equal(&ud[q], &ref8, sizeof ref8);
            }
        }
        /* the filter of the rows the global test left, 11 groups (two
         * vectors): against the scalar code's steps */
        {
            enum { NR = 40, NG = 11 };
            double u[NR], l[NR], gb[NR * NG], rlb[NR * NG], cum[3 * NG], fd[NR], fm[NR], fs[NR];
            uint32_t st[NR], rst[NR], fu[NR], grp[64];
            int32_t fl[NR];
            size_t out[NR];
            uint64_t omk[NR];
            for (size_t g = 0; g < 3 * NG; g++) {
                cum[g] = g < NG ? 0 : 0.013 * (double)(g % 7) + (g >= 2 * NG ? 0.02 : 0.0);
            }
            for (size_t j = 0; j < 64; j++) {
                grp[j] = (uint32_t)(j % NG);
            }
            for (size_t i = 0; i < NR; i++) {
                st[i] = rst[i] = (uint32_t)(i % 2);
                fl[i] = (int32_t)((i * 5) % 64);
                for (size_t g = 0; g < NG; g++) {
                    /* every third row's groups clear u; the others' not all */
                    gb[i * NG + g] = rlb[i * NG + g] =
                        (i % 3 == 0 ? 1.5 : 0.5) + 0.05 * (double)((i + 3 * g) % 9);
                }
            }
            for (size_t q = 0; q < 30; q++) {
                fu[q] = (uint32_t)(q + q / 3); /* rows 0..39, some left out */
                fd[q] = 0.6 + 0.02 * (double)(q % 11);
                fm[q] = q % 4 == 0 ? 2.0 : 0.5; /* a quarter cleared by m */
                fs[q] = 1e-9 * (double)(1 + q % 3);
            }
            km_yfilter_args fa = {0, NG, fu, fd, fm, fs, fl, grp, u, l, gb, st, cum, 2};
            long no = km_yfilter(&fa, 30, out, omk);
            if (no >= 0) {
                long nout = 0;
                for (size_t q = 0; q < 30; q++) {
                    size_t i = fu[q];
                    assert_memory_equal(&u[i], &fd[q], sizeof(double));
                    if (km_bound_clears(fd[q], fm[q], fs[q])) {
                        continue;
                    }
                    double glb = (double)INFINITY;
                    uint64_t mk = 0;
                    for (size_t g = 0; g < NG; g++) {
                        double *L = rlb + i * NG + g;
                        const double c0 = cum[rst[i] * NG + g], c1 = cum[2 * NG + g];
                        *L -= (c1 - c0) * (1 + 1e-12) + 1e-12 * c1;
                        glb = *L < glb ? *L : glb;
                        mk |= (uint64_t)!km_bound_clears(fd[q], *L, fs[q]) << g;
                    }
                    rst[i] = 2;
                    assert_memory_equal(&l[i], &glb, sizeof glb);
                    if (mk != 0) {
                        assert_true(nout < no && out[nout] == i);
                        assert_true(omk[nout] == (mk | (uint64_t)1 << grp[fl[i]]));
                        nout++;
                    }
                }
                assert_int_equal(nout, no);
                assert_true(no > 0 && no < 22); /* some rows out, some kept */
                assert_memory_equal(gb, rlb, sizeof gb);
                assert_memory_equal(st, rst, sizeof st);
            }
        }
        free(X);
        free(C);
    }
    if (groups == 0) {
        print_message("yinyang group kernel: no AVX-512 here (or CLVTIER_NO_SIMD): nothing to "
                      "compare\n");
    }
    const size_t D[3] = {8, 13, 32}, K[3] = {24, 64, 130};
    for (int t = 0; t < 3; t++) {
        for (int u = 0; u < 3; u++) {
            size_t n = 8000, d = D[t], k = K[u];
            double *X = blobs(n, d, 5, 3.0, 200 + (uint64_t)(3 * t + u), NULL);
            double *w = malloc(n * sizeof *w);
            for (size_t i = 0; i < n; i++) {
                w[i] = 0.25 + (double)(i % 5);
            }
            for (int weighted = 0; weighted < 2; weighted++) {
                const double *wv = weighted ? w : NULL;
                ct_kmeans_opts o;
                ct_kmeans_result a, b, c;
                ct_kmeans_opts_init(&o);
                o.k = k;
                o.seed = 9;
                o.tol = 0;
                o.max_iter = 12;
                o.algorithm = CT_KM_ALGO_LLOYD;
                assert_status(ct_kmeans_fit(X, n, d, wv, &o, &a, &err), CT_OK);
                o.algorithm = CT_KM_ALGO_YINYANG;
                o.threads = 1;
                assert_status(ct_kmeans_fit(X, n, d, wv, &o, &b, &err), CT_OK);
                o.threads = 3;
                assert_status(ct_kmeans_fit(X, n, d, wv, &o, &c, &err), CT_OK);
                if (memcmp(a.labels, b.labels, n * sizeof(int32_t)) != 0 ||
                    a.iterations != b.iterations) {
                    fail_msg("d=%zu k=%zu%s: Yinyang's labels or iterations (%u) differ from "
                             "Lloyd's (%u)",
                             d, k, weighted ? " weighted" : "", b.iterations, a.iterations);
                }
                assert_memory_equal(b.labels, c.labels, n * sizeof(int32_t));
                assert_memory_equal(b.centroids, c.centroids, k * d * sizeof(double));
                assert_memory_equal(&b.inertia, &c.inertia, sizeof(double));
                /* the groups were measured, not skipped wholesale */
                assert_true(b.npasses >= 3 && b.skipped[1] < 0.99);
                ct_kmeans_result_free(&a);
                ct_kmeans_result_free(&b);
                ct_kmeans_result_free(&c);
            }
            free(X);
            free(w);
        }
    }
}

/* A row source over an in-memory matrix, counting what it is asked for. */
typedef struct mem_src {
    const double *X, *w;
    size_t d, reads, max_rows;
} mem_src;

static ct_status mem_read(void *ctx, size_t row0, size_t nrows, double *X, double *w,
                          ct_error *err)
{
    mem_src *m = ctx;
    (void)err;
    memcpy(X, m->X + row0 * m->d, nrows * m->d * sizeof *X);
    if (w != NULL) {
        memcpy(w, m->w + row0, nrows * sizeof *w);
    }
    m->reads++;
    m->max_rows = nrows > m->max_rows ? nrows : m->max_rows;
    return CT_OK;
}

/* Out-of-core Lloyd from the same centroids is the in-memory Lloyd, bit for
 * bit (labels, centroids, inertia, iterations), in blocks smaller than the
 * data, with weights, relocations, 1 or 3 threads; never asks for more
 * than its block; a sampled init is deterministic; NaN names the row. */
static void test_stream_equals_memory(void **state)
{
    ct_error err;
    (void)state;
    size_t n = 50000, d = 3;
    double *X = blobs(n, d, 5, 1.5, 21, NULL), *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        w[i] = 1.0 + (double)(i % 3);
    }
    for (int var = 0; var < 3; var++) {
        ct_kmeans_opts o;
        ct_kmeans_result a, b;
        ct_kmeans_opts_init(&o);
        o.k = 7;
        double C0[7 * 3];
        for (size_t j = 0; j < 7; j++) {
            memcpy(C0 + j * d, X + (var == 2 ? j / 2 : j) * 1009 * d, d * sizeof *C0);
        }
        o.init = CT_KM_INIT_GIVEN;
        o.centroids = C0;
        o.algorithm = CT_KM_ALGO_LLOYD;
        const double *wv = var == 1 ? w : NULL;
        assert_status(ct_kmeans_fit(X, n, d, wv, &o, &a, &err), CT_OK);
        mem_src m = {X, w, d, 0, 0};
        ct_km_source src = {n, d, wv != NULL, NULL, mem_read, &m};
        o.threads = var == 0 ? 1 : 3;
        /* 20000 rounds down to one reduction block, 16384 rows */
        assert_status(ct_kmeans_fit_stream(&src, &o, 20000, 0, &b, &err), CT_OK);
        assert_memory_equal(a.labels, b.labels, n * sizeof(int32_t));
        assert_memory_equal(a.centroids, b.centroids, o.k * d * sizeof(double));
        assert_memory_equal(&a.inertia, &b.inertia, sizeof(double));
        assert_memory_equal(a.weight, b.weight, o.k * sizeof(double));
        assert_int_equal(a.iterations, b.iterations);
        assert_true(m.max_rows == 16384 && m.reads >= 3 * 4);
        ct_kmeans_result_free(&a);
        ct_kmeans_result_free(&b);
    }
    /* sampled init: deterministic, and a sound clustering */
    ct_kmeans_opts o;
    ct_kmeans_result a, b;
    ct_kmeans_opts_init(&o);
    o.k = 5;
    o.seed = 9;
    mem_src m = {X, w, d, 0, 0};
    ct_km_source src = {n, d, 0, NULL, mem_read, &m};
    assert_status(ct_kmeans_fit_stream(&src, &o, 4096, 5000, &a, &err), CT_OK);
    assert_status(ct_kmeans_fit_stream(&src, &o, 4096, 5000, &b, &err), CT_OK);
    assert_memory_equal(a.centroids, b.centroids, o.k * d * sizeof(double));
    ct_kmeans_result c;
    o.algorithm = CT_KM_ALGO_LLOYD;
    assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &c, &err), CT_OK);
    printf("  sampled init: inertia %.6g, in-memory fit %.6g\n", a.inertia, c.inertia);
    assert_true(a.inertia < 1.01 * c.inertia);
    ct_kmeans_result_free(&a);
    ct_kmeans_result_free(&b);
    ct_kmeans_result_free(&c);
    X[4321 * d + 2] = (double)NAN;
    assert_status(ct_kmeans_fit_stream(&src, &o, 4096, 5000, &a, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "row 4322, column 3"));
    free(X);
    free(w);
}

/* Every label is the nearest centre (up to rounding of nearly tied
 * distances), for shapes on both sides of the SIMD kernels' limits (d 3, 16,
 * 24, 40; k 2 to 70; f64 and f32): the final labels against a brute-force
 * search over the returned centroids in double. */
static void test_labels_are_nearest(void **state)
{
    ct_error err;
    (void)state;
    const size_t D[4] = {3, 16, 24, 40}, KK[4] = {2, 9, 33, 70};
    for (int t = 0; t < 4; t++) {
        size_t n = 6000, d = D[t], k = KK[t];
        double *X = blobs(n, d, 7, 2.0, 31 + (uint64_t)t, NULL);
        float *F = malloc(n * d * sizeof *F);
        for (size_t q = 0; q < n * d; q++) {
            F[q] = (float)X[q];
        }
        for (int f32 = 0; f32 < 2; f32++) {
            ct_kmeans_opts o;
            ct_kmeans_result r;
            ct_kmeans_opts_init(&o);
            o.k = k;
            o.max_iter = 3;
            o.seed = 2;
            assert_status(f32 ? ct_kmeans_fit_f32(F, n, d, NULL, &o, &r, &err)
                              : ct_kmeans_fit(X, n, d, NULL, &o, &r, &err),
                          CT_OK);
            double cmax = 0;
            for (size_t j = 0; j < k; j++) {
                double cn = 0;
                for (size_t c = 0; c < d; c++) {
                    cn += r.centroids[j * d + c] * r.centroids[j * d + c];
                }
                cmax = cn > cmax ? cn : cmax;
            }
            for (size_t i = 0; i < n; i++) {
                double best = (double)INFINITY, mine = 0, xn = 0;
                for (size_t j = 0; j < k; j++) {
                    double s2 = 0;
                    for (size_t c = 0; c < d; c++) {
                        double x = f32 ? (double)F[i * d + c] : X[i * d + c];
                        double e = x - r.centroids[j * d + c];
                        s2 += e * e;
                        xn += j == 0 ? x * x : 0.0;
                    }
                    best = s2 < best ? s2 : best;
                    if ((int32_t)j == r.labels[i]) {
                        mine = s2;
                    }
                }
                /* the engine compares |c|^2 - 2 x.c, which rounds at the scale of
                 * |x|^2 + |c|^2: 16 units in the last place of the precision */
                double tol = 16 * (f32 ? 0x1p-23 : 0x1p-52) * (xn + 2 * cmax);
                if (!(mine <= best + tol)) {
                    fail_msg("d=%zu k=%zu %s row %zu: label %d at %.12g, nearest %.12g", d, k,
                             f32 ? "f32" : "f64", i, r.labels[i], mine, best);
                }
            }
            ct_kmeans_result_free(&r);
        }
        free(X);
        free(F);
    }
}

/* The fused Lloyd pass (labels, moves and cluster sums in one read of the
 * rows, AVX-512 or AVX2) against the plain loops: the labels of the
 * expanded distances (one FMA chain per row and centre, ties to the lowest
 * index) and the sums in row order, bit for bit, for every column count
 * the kernels take (rows into lanes a block of columns at a time, partial
 * lane groups, padded sums, weights in the padding, the sums of few
 * centres held in registers, the centres in the lanes at k <= 8, f64) in
 * f64 and f32, unweighted and weighted.  Without the kernels (no SIMD, or
 * a shape left to GEMM) the step runs on the GEMM path: skipped here. */
static void test_fused_pass_is_plain_loop(void **state)
{
    ct_error err;
    (void)state;
    const size_t D[] = {1, 2, 3, 5, 8, 9, 13, 16, 17, 24, 31, 32}, KK[] = {1, 3, 8, 12, 16, 33, 70};
    size_t checked = 0;
    for (size_t t = 0; t < sizeof D / sizeof *D; t++) {
        for (size_t u = 0; u < sizeof KK / sizeof *KK; u++) {
            size_t d = D[t], k = KK[u], n = 1000 + 3 * d;
            if (km_dots_isa() == 0 || d > KM_DOTS_MAXD) {
                continue;
            }
            double *X = blobs(n, d, 5, 1.5, 100 + t * 7 + u, NULL);
            float *F = malloc(n * d * sizeof *F);
            double *C = malloc(k * d * sizeof *C), *ref = malloc(k * d * sizeof *ref);
            double *sums = malloc(k * d * sizeof *sums), *wk = malloc(k * sizeof *wk);
            double *w = malloc(n * sizeof *w);
            for (size_t q = 0; q < n * d; q++) {
                F[q] = (float)X[q];
            }
            for (size_t i = 0; i < n; i++) {
                w[i] = 0.3 + 0.1 * (double)(i % 11); /* not dyadic: each w x rounds */
            }
            for (int variant = 0; variant < 4; variant++) {
                int f32 = variant & 1, weighted = variant >> 1;
                memset(sums, 0, k * d * sizeof *sums);
                memset(wk, 0, k * sizeof *wk);
                for (size_t i = 0; i < n; i++) {
                    size_t best = 0;
                    double bv = (double)INFINITY;
                    float bvf = INFINITY;
                    for (size_t j = 0; j < k; j++) {
                        const double *c = X + (j * 17 % n) * d; /* the start: rows of X */
                        if (f32) {
                            float a = 0, cn = 0;
                            double cn2 = 0;
                            for (size_t q = 0; q < d; q++) {
                                a = fmaf(F[i * d + q], (float)c[q], a);
                                cn2 += (double)(float)c[q] * (double)(float)c[q];
                            }
                            cn = (float)cn2;
                            float v = cn - (a + a);
                            if (v < bvf) {
                                bvf = v;
                                best = j;
                            }
                        } else {
                            double a = 0, cn = 0;
                            for (size_t q = 0; q < d; q++) {
                                a = fma(X[i * d + q], c[q], a);
                                cn += c[q] * c[q];
                            }
                            double v = cn - (a + a);
                            if (v < bv) {
                                bv = v;
                                best = j;
                            }
                        }
                    }
                    double wi = weighted ? w[i] : 1.0;
                    for (size_t q = 0; q < d; q++) {
                        double x = f32 ? (double)F[i * d + q] : X[i * d + q];
                        sums[best * d + q] += weighted ? wi * x : x;
                    }
                    wk[best] += wi;
                }
                int empty = 0;
                for (size_t j = 0; j < k; j++) {
                    empty |= wk[j] == 0;
                    for (size_t q = 0; q < d; q++) {
                        C[j * d + q] = X[(j * 17 % n) * d + q];
                        ref[j * d + q] = sums[j * d + q] / wk[j];
                    }
                }
                if (empty) {
                    continue; /* a relocation would follow: not this test */
                }
                double inertia;
                unsigned ran = 0;
                assert_status(ct_kmeans_lloyd_steps(f32 ? NULL : X, f32 ? F : NULL, n, d,
                                                    weighted ? w : NULL, C, k, 1, 2, &inertia,
                                                    &ran, &err),
                              CT_OK);
                assert_int_equal(ran, 1);
                if (memcmp(C, ref, k * d * sizeof *C) != 0) {
                    fail_msg("d=%zu k=%zu %s%s: the fused pass's centres differ from the plain "
                             "loop's",
                             d, k, f32 ? "f32" : "f64", weighted ? ", weighted" : "");
                }
                checked++;
            }
            free(X);
            free(F);
            free(C);
            free(ref);
            free(sums);
            free(wk);
            free(w);
        }
    }
    if (km_dots_isa() == 0) {
        print_message("fused pass: no AVX2/AVX-512 here (or CLVTIER_NO_SIMD): nothing to compare\n");
    } else {
        assert_true(checked >= 80);
    }
}

/* The bench's seeding hook gives the start the fit uses: a fit from those
 * centroids (init given) is the fit with the init, bit for bit. */
static void test_seed_hook_is_fit_start(void **state)
{
    ct_error err;
    (void)state;
    size_t n = 20000, d = 5;
    double *X = blobs(n, d, 6, 1.0, 41, NULL);
    const ct_km_init how[3] = {CT_KM_INIT_KMEANSPP, CT_KM_INIT_PARALLEL, CT_KM_INIT_RANDOM};
    for (int h = 0; h < 3; h++) {
        ct_kmeans_opts o;
        ct_kmeans_result a, b;
        ct_kmeans_opts_init(&o);
        o.k = 6;
        o.seed = 9;
        o.n_init = 1;
        o.init = how[h];
        double C[30];
        assert_status(ct_kmeans_seed(X, n, d, &o, C, NULL, &err), CT_OK);
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &a, &err), CT_OK);
        o.init = CT_KM_INIT_GIVEN;
        o.centroids = C;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &b, &err), CT_OK);
        assert_memory_equal(a.centroids, b.centroids, 6 * d * sizeof(double));
        assert_memory_equal(a.labels, b.labels, n * sizeof(int32_t));
        ct_kmeans_result_free(&a);
        ct_kmeans_result_free(&b);
    }
    free(X);
}

/* Greedy k-means++ and k-means|| with pruned passes (triangle inequality)
 * make the choices of computing every row's distances
 * (CLVTIER_PP_NOPRUNE), bit for bit: weighted and not, f64 (through the
 * seeding hook) and f32 (through a one-iteration fit), across the kernels'
 * column counts, 1 and 3 threads, and with every row repeated 8 times
 * (d = 12: repeated candidates tie exactly, and the first index of a tie
 * must be kept).  k-means|| at k = 40 draws about 80 candidates a round,
 * so its first round splits (cand_min: 16 measured first, the others
 * pruned by them), ties included.  The last two sets are near uniform
 * (blobs wider than their spacing): long prefixes, so rows and whole tiles
 * measured against every candidate (cmin_tile), beside the chunked rows. */
static void test_pruned_plusplus_exact(void **state)
{
    ct_error err;
    (void)state;
    const size_t D[3] = {3, 12, 29};
    for (int t = 0; t < 8; t++) {
        size_t n = 30000, d = t < 6 ? D[t % 3] : D[t - 5], k = t < 3 ? 25 : 40;
        double *X = blobs(n, d, 9, t < 6 ? 1.5 : 200.0, 70 + (uint64_t)t, NULL);
        double *w = malloc(n * sizeof *w);
        float *F = malloc(n * d * sizeof *F);
        if (t == 4) {
            for (size_t q = 0; q < n * d; q++) {
                X[q] = X[(q / d / 8) * d + q % d];
            }
        }
        for (size_t i = 0; i < n; i++) {
            w[i] = 0.25 + (double)(i % 5);
        }
        for (size_t q = 0; q < n * d; q++) {
            F[q] = (float)X[q];
        }
        for (int v = 0; v < 2; v++) {
            double *C[3];
            uint64_t meas[3];
            ct_kmeans_result R[3];
            for (int mode = 0; mode < 3; mode++) { /* pruned, 3 threads, not pruned */
                ct_kmeans_opts o;
                ct_kmeans_opts_init(&o);
                o.k = k;
                o.init = t < 3 ? CT_KM_INIT_KMEANSPP : CT_KM_INIT_PARALLEL;
                o.seed = 4;
                o.n_init = 1;
                o.max_iter = 1;
                o.threads = mode == 1 ? 3 : 1;
                if (mode == 2) {
                    setenv("CLVTIER_PP_NOPRUNE", "1", 1);
                }
                C[mode] = malloc(k * d * sizeof(double));
                assert_status(ct_kmeans_seed(X, n, d, &o, C[mode], &meas[mode], &err), CT_OK);
                assert_status(ct_kmeans_fit_f32(F, n, d, v ? w : NULL, &o, &R[mode], &err), CT_OK);
                unsetenv("CLVTIER_PP_NOPRUNE");
            }
            for (int mode = 1; mode < 3; mode++) {
                assert_memory_equal(C[0], C[mode], k * d * sizeof(double));
                assert_memory_equal(R[0].centroids, R[mode].centroids, k * d * sizeof(double));
            }
            /* the rows measured (the bench's floor): greedy's unpruned passes
             * every row (the first pass and one a step, and more for the
             * blocks updated before a draw); pruned, the first pass and
             * fewer, the same for any thread count; without the kernels
             * (CLVTIER_NO_SIMD), the full passes: the first, then two a
             * step; none for k-means|| */
            if (t < 3 && km_dots_isa() != 0) {
                assert_true(meas[2] >= (uint64_t)n * k);
                assert_true(meas[0] >= n && meas[0] < meas[2] / 2);
                assert_true(meas[1] == meas[0]);
            } else if (t < 3) {
                assert_true(meas[0] == (uint64_t)n * (2 * k - 1));
                assert_true(meas[1] == meas[0] && meas[2] == meas[0]);
            } else {
                assert_true(meas[0] == 0 && meas[2] == 0);
            }
            for (int mode = 0; mode < 3; mode++) {
                free(C[mode]);
                ct_kmeans_result_free(&R[mode]);
            }
        }
        free(X);
        free(w);
        free(F);
    }
}

/* Greedy k-means++'s row kernel (km_pp_rows) against the scalar code it
 * replaced, lane by lane and bit for bit: the sums of w min(D, d2) over
 * the live columns, D and near lowered by column 0 where it is the last
 * centre or the one applied; rows the triangle test left out point at a
 * row of -inf and add w D.  Columns 1-8, f64 and f32, weighted or not,
 * with d2 below 0 before its clamp and ties of d2 with D. */
static void test_pp_rows_plain(void **state)
{
    (void)state;
    size_t nr = 300, checked = 0;
    uint64_t key = 5;
    for (size_t m = 1; m <= 8; m++) {
        for (int mode = 0; mode < 3; mode++) { /* potentials; pending centre; applying one */
            for (int f32 = 0; f32 < 2; f32++) {
                for (int weighted = 0; weighted < 2; weighted++) {
                    int pend = mode == 1 && m > 1, low0 = mode != 0 && (mode == 1 ? m > 1 : 1);
                    size_t mm = mode == 2 ? 1 : m;
                    double xn[300], zn[8], G[301 * 8], D[300], Dr[300], w[300], acc[8], ref[8];
                    float xf[300], zf[8], Gf[301 * 8];
                    int32_t near[300], nr_[300];
                    uint32_t at[300];
                    for (size_t t = 0; t < mm; t++) {
                        zn[t] = 20 * (double)(ct_mix64(key++) >> 11) * 0x1.0p-53;
                        zf[t] = (float)zn[t];
                        zn[t] = f32 ? (double)zf[t] : zn[t];
                        G[nr * mm + t] = -(double)INFINITY;
                        Gf[nr * mm + t] = -INFINITY;
                    }
                    size_t na = 0;
                    for (size_t r = 0; r < nr; r++) {
                        double u = (double)(ct_mix64(key++) >> 11) * 0x1.0p-53;
                        xn[r] = 20 * u;
                        xf[r] = (float)xn[r];
                        xn[r] = f32 ? (double)xf[r] : xn[r];
                        w[r] = 0.5 + (double)(r % 4);
                        near[r] = nr_[r] = (int32_t)(r % 5);
                        at[r] = r % 3 == 2 ? (uint32_t)nr : (uint32_t)na;
                        for (size_t t = 0; t < mm && at[r] != nr; t++) {
                            double g = 20 * ((double)(ct_mix64(key++) >> 11) * 0x1.0p-53 - 0.3);
                            Gf[na * mm + t] = (float)g;
                            G[na * mm + t] = f32 ? (double)Gf[na * mm + t] : g;
                        }
                        na += at[r] != nr;
                        /* some D equal to a d2 (ties), some far above */
                        double d2 = at[r] != nr ? xn[r] + zn[0] - 2.0 * G[at[r] * mm] : 1;
                        D[r] = Dr[r] = r % 7 == 0 ? (d2 > 0 ? d2 : 0.0) : 5 + 30 * u;
                    }
                    for (size_t t = 0; t < 8; t++) {
                        acc[t] = ref[t] = 0.25 * (double)t;
                    }
                    /* the scalar code (pp_row and the sums) */
                    for (size_t r = 0; r < nr; r++) {
                        double wi = weighted ? w[r] : 1.0, Di = Dr[r];
                        const double *g = G + at[r] * mm;
                        if (low0) {
                            double d2 = xn[r] + zn[0] - 2.0 * g[0];
                            d2 = d2 > 0 ? d2 : 0.0;
                            if (d2 < Di) {
                                Dr[r] = Di = d2;
                                nr_[r] = 7;
                            }
                        }
                        for (size_t t = (size_t)pend; t < mm; t++) {
                            double d2 = xn[r] + zn[t] - 2.0 * g[t];
                            d2 = d2 > 0 ? d2 : 0.0;
                            ref[t] += wi * (d2 < Di ? d2 : Di);
                        }
                    }
                    int rc = f32 ? km_pp_rows_f32(xf, zf, Gf, at, nr, mm, pend, low0, 7,
                                                  weighted ? w : NULL, D, near, acc)
                                 : km_pp_rows_f64(xn, zn, G, at, nr, mm, pend, low0, 7,
                                                  weighted ? w : NULL, D, near, acc);
                    if (rc != 0) {
                        assert_int_equal(km_dots_isa(), 0);
                        continue;
                    }
                    assert_memory_equal(acc + pend, ref + pend, (mm - (size_t)pend) * sizeof *acc);
                    assert_memory_equal(D, Dr, nr * sizeof *D);
                    assert_memory_equal(near, nr_, nr * sizeof *near);
                    checked++;
                }
            }
        }
    }
    if (km_dots_isa() == 0) {
        print_message("pp rows: no AVX2/AVX-512 here (or CLVTIER_NO_SIMD): nothing to compare\n");
    } else {
        assert_int_equal(checked, 8 * 3 * 2 * 2);
    }
}

static void test_blobs_recovered(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result r;
    (void)state;
    size_t n = 5000, d = 3, k = 7;
    int32_t *truth = malloc(n * sizeof *truth);
    double *X = blobs(n, d, k, 2.0, 9, truth);
    const ct_km_init inits[3] = {CT_KM_INIT_KMEANSPP, CT_KM_INIT_PARALLEL, CT_KM_INIT_RANDOM};
    for (int t = 0; t < 3; t++) {
        ct_kmeans_opts_init(&o);
        o.k = k;
        o.init = inits[t];
        o.n_init = 5;
        o.seed = 1;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &r, &err), CT_OK);
        /* each true blob is exactly one cluster */
        int32_t map[7];
        for (size_t c = 0; c < k; c++) {
            map[c] = r.labels[c];
        }
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(r.labels[i], map[truth[i]]);
        }
        for (size_t c = 0; c < k; c++) {
            for (size_t e = 0; e < c; e++) {
                assert_int_not_equal(map[c], map[e]);
            }
        }
        ct_kmeans_result_free(&r);
    }
    free(X);
    free(truth);
}

static void test_edge_cases(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result r;
    (void)state;
    double X[12] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4}; /* 6 rows x 2: rows 4, 5 duplicate 0, 1 */
    double w[6] = {1, 2, 3, 1, 1, 1};
    ct_kmeans_opts_init(&o);
    o.k = 1;
    assert_status(ct_kmeans_fit(X, 6, 2, w, &o, &r, &err), CT_OK);
    double mx = (1 * 1 + 2 * 3 + 3 * 5 + 7 + 1 + 3) / 9.0;
    assert_close(r.centroids[0], mx, 1e-12);
    assert_true(r.weight[0] == 9);
    ct_kmeans_result_free(&r);
    /* k = n: every row its own cluster... but there are only 4 distinct rows */
    o.k = 4;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_OK);
    assert_close(r.inertia, 0, 1e-12);
    ct_kmeans_result_free(&r);
    /* more clusters than distinct points: valid, zero inertia */
    o.k = 6;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_OK);
    assert_close(r.inertia, 0, 1e-12);
    ct_kmeans_result_free(&r);
    o.k = 7;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EINVAL);
    o.k = 0;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EINVAL);
    o.k = 2;
    X[5] = (double)NAN;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "row 3, column 2"));
    X[5] = (double)INFINITY;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EDATA);
    X[5] = 6;
    {
        /* the first value not finite in row order is the one named, whatever
         * the blocks and threads (the check runs a block a job); a finite
         * value whose square overflows is not one */
        size_t nb = 40000;
        double *B = malloc(nb * 2 * sizeof *B);
        assert_non_null(B);
        for (size_t i = 0; i < nb * 2; i++) {
            B[i] = (double)(i % 7);
        }
        B[30000 * 2 + 0] = (double)NAN;
        B[25000 * 2 + 1] = -(double)INFINITY;
        B[35000 * 2 + 0] = (double)NAN;
        B[100 * 2 + 1] = 1e300;
        for (unsigned t = 1; t <= 2; t++) {
            o.threads = t;
            assert_status(ct_kmeans_fit(B, nb, 2, NULL, &o, &r, &err), CT_EDATA);
            assert_int_equal(err.row, 25001);
            assert_int_equal(err.col, 2);
            assert_non_null(strstr(err.msg, "row 25001, column 2: -inf"));
        }
        o.threads = 0;
        free(B);
    }
    w[2] = -1;
    assert_status(ct_kmeans_fit(X, 6, 2, w, &o, &r, &err), CT_EDATA);
    w[2] = 3;
    /* options that cannot run: no rows, given start without centroids, bad
     * tolerance or iteration count, a start that is not finite */
    assert_status(ct_kmeans_fit(X, 0, 2, NULL, &o, &r, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "no data"));
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = NULL;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "needs centroids"));
    double C0[4] = {1, 2, (double)NAN, 4};
    o.centroids = C0;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "initial centroid 2, column 1"));
    C0[2] = 3;
    o.tol = -1;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EINVAL);
    o.tol = 1e-4;
    o.max_iter = 0;
    assert_status(ct_kmeans_fit(X, 6, 2, NULL, &o, &r, &err), CT_EINVAL);
    o.max_iter = 300;
    assert_status(ct_kmeans_fit(X, 6, 2, w, &o, &r, &err), CT_OK);
    ct_kmeans_result_free(&r);
}

/* Weighted k-means equals unweighted k-means on the rows repeated. */
static void test_weights_equal_repeats(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result a, b;
    (void)state;
    size_t n = 300, d = 2;
    double *X = blobs(n, d, 4, 10.0, 5, NULL);
    double *w = malloc(n * sizeof *w);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        w[i] = (double)(1 + i % 3);
        m += (size_t)w[i];
    }
    double *R = malloc(m * d * sizeof *R);
    for (size_t i = 0, q = 0; i < n; i++) {
        for (int t = 0; t < (int)w[i]; t++, q++) {
            memcpy(R + q * d, X + i * d, d * sizeof *R);
        }
    }
    double C0[8] = {X[0], X[1], X[2], X[3], X[4], X[5], X[6], X[7]};
    ct_kmeans_opts_init(&o);
    o.k = 4;
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = C0;
    /* tol = 0: the relative tolerance scales with the unweighted feature
     * variance (as scikit-learn), which repeating rows changes */
    o.tol = 0;
    assert_status(ct_kmeans_fit(X, n, d, w, &o, &a, &err), CT_OK);
    assert_status(ct_kmeans_fit(R, m, d, NULL, &o, &b, &err), CT_OK);
    for (size_t q = 0; q < 8; q++) {
        assert_close(a.centroids[q], b.centroids[q], 1e-10 * (1 + fabs(b.centroids[q])));
    }
    assert_close(a.inertia, b.inertia, 1e-9 * b.inertia);
    assert_int_equal(a.iterations, b.iterations);
    ct_kmeans_result_free(&a);
    ct_kmeans_result_free(&b);
    free(X);
    free(w);
    free(R);
}

static void test_f32_and_predict(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result a, b;
    (void)state;
    size_t n = 20000, d = 5;
    double *X = blobs(n, d, 6, 8.0, 11, NULL);
    float *F = malloc(n * d * sizeof *F);
    for (size_t q = 0; q < n * d; q++) {
        F[q] = (float)X[q];
    }
    ct_kmeans_opts_init(&o);
    o.k = 6;
    o.seed = 3;
    assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &a, &err), CT_OK);
    o.init = CT_KM_INIT_GIVEN;
    o.centroids = a.centroids;
    assert_status(ct_kmeans_fit_f32(F, n, d, NULL, &o, &b, &err), CT_OK);
    assert_memory_equal(a.labels, b.labels, n * sizeof(int32_t));
    assert_close(b.inertia, a.inertia, 1e-5 * a.inertia); /* float rounding of the data */
    int32_t *lab = malloc(n * sizeof *lab);
    double *d2 = malloc(n * sizeof *d2);
    assert_status(ct_kmeans_predict(X, n, d, a.centroids, 6, 0, lab, d2, &err), CT_OK);
    assert_memory_equal(lab, a.labels, n * sizeof(int32_t));
    double in = 0;
    for (size_t i = 0; i < n; i++) {
        in += d2[i];
    }
    assert_close(in, a.inertia, 1e-9 * a.inertia);
    ct_kmeans_result_free(&a);
    ct_kmeans_result_free(&b);
    free(X);
    free(F);
    free(lab);
    free(d2);
}

static void test_choose_k(void **state)
{
    ct_error err;
    ct_kmeans_opts o;
    ct_kmeans_result r;
    ct_kscore sc[7];
    (void)state;
    size_t n = 3000, d = 2;
    double *X = blobs(n, d, 5, 3.0, 21, NULL);
    for (size_t k = 2; k <= 8; k++) {
        ct_kmeans_opts_init(&o);
        o.k = k;
        o.n_init = 3;
        o.seed = 5;
        assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &r, &err), CT_OK);
        assert_status(ct_kmeans_scores(X, n, d, NULL, &r, 1000, 7, 0, &sc[k - 2], &err), CT_OK);
        assert_true(sc[k - 2].silhouette > -1 && sc[k - 2].silhouette <= 1);
        assert_true(sc[k - 2].calinski_harabasz > 0 && sc[k - 2].davies_bouldin > 0);
        if (k > 2) {
            assert_true(sc[k - 2].inertia <= sc[k - 3].inertia * 1.0000001);
        }
        ct_kmeans_result_free(&r);
    }
    assert_int_equal(ct_kmeans_pick_k(sc, 7, 2), 5);
    /* the silhouette (rows sorted by cluster, vector kernels) against the
     * plain definition over all 3000 rows, bit for bit: the same sums in
     * the same order */
    ct_kmeans_opts_init(&o);
    o.k = 4;
    o.seed = 5;
    assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &r, &err), CT_OK);
    assert_status(ct_kmeans_scores(X, n, d, NULL, &r, n, 7, 0, &sc[0], &err), CT_OK);
    double tot = 0;
    for (size_t i = 0; i < n; i++) {
        double sum[4] = {0}, cnt[4] = {0};
        for (size_t j = 0; j < n; j++) {
            if (j == i) {
                continue;
            }
            double s2 = 0;
            for (size_t c = 0; c < d; c++) {
                double t = X[i * d + c] - X[j * d + c];
                s2 += t * t;
            }
            sum[r.labels[j]] += sqrt(s2);
            cnt[r.labels[j]] += 1;
        }
        size_t own = (size_t)r.labels[i];
        double ai = sum[own] / cnt[own], bi = (double)INFINITY;
        for (size_t c = 0; c < 4; c++) {
            if (c != own && sum[c] / cnt[c] < bi) {
                bi = sum[c] / cnt[c];
            }
        }
        tot += (bi - ai) / (ai > bi ? ai : bi);
    }
    tot /= (double)n;
    if (memcmp(&tot, &sc[0].silhouette, sizeof tot) != 0) {
        fail_msg("silhouette %.17g, by the definition %.17g", sc[0].silhouette, tot);
    }
    ct_kmeans_result_free(&r);
    /* CH peaks and DB bottoms at the true k too */
    for (int i = 0; i < 7; i++) {
        if (i != 3) {
            assert_true(sc[3].calinski_harabasz > sc[i].calinski_harabasz);
            assert_true(sc[3].davies_bouldin < sc[i].davies_bouldin);
        }
    }
    free(X);
}

static void test_scaler(void **state)
{
    ct_error err;
    ct_scaler s;
    (void)state;
    double X[10] = {1, 5, 2, 5, 3, 5, 4, 5, 10, 5}; /* column 2 constant */
    double Y[10];
    memcpy(Y, X, sizeof X);
    assert_status(ct_scaler_fit_transform(&s, Y, 5, 2, NULL, CT_TF_NONE, CT_SC_ZSCORE, &err), CT_OK);
    double m = 0, v = 0;
    for (int i = 0; i < 5; i++) {
        m += Y[2 * i];
        v += Y[2 * i] * Y[2 * i];
        assert_true(Y[2 * i + 1] == 0); /* constant: centred, scale 1, no NaN */
    }
    assert_close(m, 0, 1e-12);
    assert_close(v / 5, 1, 1e-12);
    ct_scaler_invert(&s, Y, 5);
    for (int q = 0; q < 10; q++) {
        assert_close(Y[q], X[q], 1e-12);
    }
    ct_scaler_free(&s);
    memcpy(Y, X, sizeof X);
    assert_status(ct_scaler_fit_transform(&s, Y, 5, 2, NULL, CT_TF_LOG1P, CT_SC_ROBUST, &err), CT_OK);
    assert_close(s.center[0], log1p(3.0), 1e-12); /* median */
    assert_close(s.scale[0], log1p(4.0) - log1p(2.0), 1e-12); /* IQR */
    ct_scaler_invert(&s, Y, 5);
    for (int q = 0; q < 10; q++) {
        assert_close(Y[q], X[q], 1e-9);
    }
    double Z[2] = {3, 5};
    assert_status(ct_scaler_apply(&s, Z, 1, &err), CT_OK);
    assert_close(Z[0], 0, 1e-12);
    ct_scaler_free(&s);
    X[4] = -2;
    assert_status(ct_scaler_fit_transform(&s, X, 5, 2, NULL, CT_TF_LOG1P, CT_SC_NONE, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "row 3, column 1"));
}

/* The streamed scaler (blocks of rows from a source, as clvtier-mpi's
 * ranks read them) is the in-memory one bit for bit: both sum per
 * CT_SUM_BLOCK rows and add the blocks in order.  And the stream engine's
 * rank ranges tile the rows, each starting on a CT_SUM_BLOCK boundary. */
static void test_scaler_stream_equals_memory(void **state)
{
    (void)state;
    size_t n = 3 * CT_SUM_BLOCK + 1234, d = 3;
    double *X = malloc(n * d * sizeof *X), *Y = malloc(n * d * sizeof *Y), *w = malloc(n * sizeof *w);
    assert_non_null(X);
    assert_non_null(Y);
    assert_non_null(w);
    uint64_t z = 99;
    for (size_t i = 0; i < n * d; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        X[i] = (double)(z >> 11) * 0x1.0p-53 * 1000.0 * (double)(i % d + 1);
    }
    for (size_t i = 0; i < n; i++) {
        w[i] = (double)(1 + i % 3);
    }
    ct_error err;
    for (int weighted = 0; weighted < 2; weighted++) {
        ct_scaler a, b;
        memcpy(Y, X, n * d * sizeof *Y);
        assert_status(ct_scaler_fit_transform(&a, Y, n, d, weighted ? w : NULL, CT_TF_LOG1P,
                                              CT_SC_ZSCORE, &err),
                      CT_OK);
        mem_src m = {X, w, d, 0, 0};
        ct_km_source src = {n, d, weighted, NULL, mem_read, &m};
        assert_status(ct_scaler_fit_source(&b, &src, 0, n, 2 * CT_SUM_BLOCK, CT_TF_LOG1P,
                                           CT_SC_ZSCORE, &err),
                      CT_OK);
        for (size_t j = 0; j < d; j++) {
            assert_true(a.center[j] == b.center[j]);
            assert_true(a.scale[j] == b.scale[j]);
        }
        ct_scaler_free(&a);
        ct_scaler_free(&b);
    }
    ct_scaler c;
    mem_src m = {X, w, d, 0, 0};
    ct_km_source src = {n, d, 0, NULL, mem_read, &m};
    assert_status(ct_scaler_fit_source(&c, &src, 0, n, 1000, CT_TF_NONE, CT_SC_ZSCORE, &err),
                  CT_EINVAL); /* blocks must be whole CT_SUM_BLOCKs */
    assert_status(ct_scaler_fit_source(&c, &src, 0, n, CT_SUM_BLOCK, CT_TF_NONE, CT_SC_ROBUST, &err),
                  CT_EINVAL);
    size_t sizes[3] = {1000, 5000000, 300000000};
    for (int q = 0; q < 3; q++) {
        for (int P = 1; P <= 7; P++) {
            size_t prev = 0;
            for (int r = 0; r < P; r++) {
                size_t lo, hi;
                ct_kmeans_stream_rows(sizes[q], 8, 64, 100000, r, P, &lo, &hi);
                assert_int_equal(lo, prev);
                assert_true(lo <= hi && hi <= sizes[q]);
                assert_true(lo % CT_SUM_BLOCK == 0 || lo == sizes[q]);
                prev = hi;
            }
            assert_int_equal(prev, sizes[q]);
        }
    }
    free(X);
    free(Y);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sklearn_reference), cmocka_unit_test(test_threads_and_seeds),
        cmocka_unit_test(test_hamerly_equals_lloyd), cmocka_unit_test(test_yinyang_kernels),
        cmocka_unit_test(test_stream_equals_memory),
        cmocka_unit_test(test_labels_are_nearest),
        cmocka_unit_test(test_fused_pass_is_plain_loop),
        cmocka_unit_test(test_seed_hook_is_fit_start),
        cmocka_unit_test(test_pruned_plusplus_exact), cmocka_unit_test(test_pp_rows_plain),
        cmocka_unit_test(test_blobs_recovered),   cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_weights_equal_repeats), cmocka_unit_test(test_f32_and_predict),
        cmocka_unit_test(test_choose_k),          cmocka_unit_test(test_scaler),
        cmocka_unit_test(test_scaler_stream_equals_memory),
    };
    return cmocka_run_group_tests_name("kmeans", tests, NULL, NULL);
}
