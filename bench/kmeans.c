/* kmeans.c (bench) - seconds per Lloyd iteration beside the machine floor.
 *   kmeans N D K f64|f32 THREADS
 * Data: blobs whose values are a hash of (row, column) - bench/kmeans_peer.py
 * builds the same matrix - and initial centroids = the first K rows.
 * Per-iteration time = (t(11 iterations) - t(1 iteration)) / (the iterations
 * the two ran apart: 10 unless the labels stopped changing), best of 6 up
 * to 2M rows and of 3 above, so that setup and the final exact inertia
 * cancel: for plain Lloyd steps (into labels and norms allocated and
 * touched once, so that no call pays for fresh memory; 6 and 1 iterations,
 * best of 3, until 2026-12-05, when a call's setup varied by 1-3 ms at 1M
 * rows) and for whole fits with Hamerly's bounds (as the peer times
 * sklearn).  Floor = max(bytes read per iteration / memory bandwidth,
 * 2 N D K flops / GEMM rate), and the same bound with the cores' FMA peak
 * for the GEMM rate, all measured here with THREADS threads; the bandwidth
 * between the timed Lloyd calls, best of 6. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clvtier/kmeans.h"
#include "clvtier/rng.h"
#include "numerics/kmeans/kmeans_bench.h"

void openblas_set_num_threads(int n);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double u01(uint64_t key)
{
    return (double)(ct_mix64(key) >> 11) * 0x1.0p-53;
}

typedef struct bw_job {
    const double *a;
    size_t n;
    double sum;
} bw_job;

/* A streaming sum in vectors of 4 doubles, 4 independent accumulators (16
 * doubles, two cache lines, an iteration): the adds keep up with memory, so
 * this measures the read bandwidth, not the latency of one add chain (a
 * scalar 4-chain sum read ~40 GB/s here, less than the k-means kernels'
 * own streaming read). */
typedef double bw_v4 __attribute__((vector_size(32)));

static void *bw_read(void *p)
{
    bw_job *j = p;
    bw_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 15 < j->n; i += 16) {
        bw_v4 a0, a1, a2, a3;
        memcpy(&a0, j->a + i, sizeof a0);
        memcpy(&a1, j->a + i + 4, sizeof a1);
        memcpy(&a2, j->a + i + 8, sizeof a2);
        memcpy(&a3, j->a + i + 12, sizeof a3);
        s0 += a0;
        s1 += a1;
        s2 += a2;
        s3 += a3;
    }
    bw_v4 t = s0 + s1 + s2 + s3;
    j->sum = t[0] + t[1] + t[2] + t[3];
    return NULL;
}

/* Bytes a second read by T threads from the 512 MiB at a (BW_DOUBLES), once. */
#define BW_DOUBLES ((size_t)64 << 20)
static double read_bw_once(int T, const double *a)
{
    size_t n = BW_DOUBLES;
    pthread_t th[64];
    bw_job jb[64];
    double t0 = now();
    for (int t = 0; t < T; t++) {
        jb[t].a = a + (size_t)t * (n / (size_t)T);
        jb[t].n = n / (size_t)T;
        pthread_create(&th[t], NULL, bw_read, &jb[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
    }
    return (double)(n * sizeof(double)) / (now() - t0);
}

/* The 512 MiB that read_bw_once reads, written once (NULL: out of memory). */
static double *bw_buffer(void)
{
    double *a = malloc(BW_DOUBLES * sizeof *a);
    for (size_t i = 0; a != NULL && i < BW_DOUBLES; i++) {
        a[i] = (double)i;
    }
    return a;
}

/* The best of bw and `times` more reads (read_bw_once): called between a
 * benchmark's timed calls, so that its floor sees the host as they did. */
static double read_bw_best(int T, const double *a, int times, double bw)
{
    for (int b = 0; b < times; b++) {
        double v = read_bw_once(T, a);
        bw = v > bw ? v : bw;
    }
    return bw;
}

typedef struct gemm_job {
    int f32;
    int reps;
} gemm_job;

static void *gemm_run(void *p)
{
    gemm_job *g = p;
    int m = 1024;
    if (g->f32) {
        float *A = calloc((size_t)m * (size_t)m, 4), *B = calloc((size_t)m * (size_t)m, 4), *C = calloc((size_t)m * (size_t)m, 4);
        for (int r = 0; r < g->reps; r++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, m, 1, A, m, B, m, 0, C, m);
        }
        free(A);
        free(B);
        free(C);
    } else {
        double *A = calloc((size_t)m * (size_t)m, 8), *B = calloc((size_t)m * (size_t)m, 8), *C = calloc((size_t)m * (size_t)m, 8);
        for (int r = 0; r < g->reps; r++) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, m, 1, A, m, B, m, 0, C, m);
        }
        free(A);
        free(B);
        free(C);
    }
    return NULL;
}

/* GEMM rate (flop/s) of T threads each running single-threaded 1024^3 GEMMs. */
static double gemm_rate(int T, int f32)
{
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t th[64];
        gemm_job g = {f32, 4};
        double t0 = now();
        for (int t = 0; t < T; t++) {
            pthread_create(&th[t], NULL, gemm_run, &g);
        }
        for (int t = 0; t < T; t++) {
            pthread_join(th[t], NULL);
        }
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    return (double)T * 4 * 2.0 * 1024.0 * 1024.0 * 1024.0 / best;
}

/* The cores' FMA peak: 12 independent chains of vector fused multiply-adds
 * (AVX-512 where the CPU has it, else AVX2 + FMA, else none measured), T
 * threads, best of 3.  OpenBLAS 0.3.21 runs its AVX2 (Haswell) GEMM kernel
 * on this AMD EPYC, at about half the AVX-512 FMA peak, and clvtier's
 * AVX-512 kernels exceed it; so each line also gives the bound by the FMA
 * peak (what the cores could do), beside the floor by the GEMM rate. */
#include <immintrin.h>
typedef struct fma_job {
    int f32;
    double flops;
} fma_job;

#define FMA_REPS 20000000L
/* 12 independent chains of a = a m + c in registers, FMA_REPS steps each,
 * then folded into one value (so none is optimised away). */
#define FMA_BODY(VT, LANES, SET1, FMADD, STORE)                                                    \
    VT m = SET1(0.999999), c = SET1(1e-9), a[12];                                                  \
    _Pragma("GCC unroll 12") for (int q = 0; q < 12; q++) {                                       \
        a[q] = SET1((double)q);                                                                    \
    }                                                                                              \
    for (long r = 0; r < FMA_REPS; r++) {                                                          \
        /* unrolled: the 12 chains stay in registers */                                            \
        _Pragma("GCC unroll 12") for (int q = 0; q < 12; q++) {                                   \
            a[q] = FMADD(a[q], m, c);                                                              \
        }                                                                                          \
    }                                                                                              \
    VT f = c;                                                                                      \
    _Pragma("GCC unroll 6") for (int q = 10; q >= 0; q -= 2) {                                    \
        f = FMADD(a[q], a[q + 1], f);                                                              \
    }                                                                                              \
    double o[LANES];                                                                               \
    STORE(o, f);                                                                                   \
    return o[0];

__attribute__((target("avx512f"))) static double fma_512(void)
{
    FMA_BODY(__m512d, 8, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd)
}

__attribute__((target("avx2,fma"))) static double fma_256(void)
{
    FMA_BODY(__m256d, 4, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd)
}

static void *fma_run(void *p)
{
    fma_job *j = p;
    __builtin_cpu_init();
    int lanes = __builtin_cpu_supports("avx512f") ? 8 : __builtin_cpu_supports("avx2") ? 4 : 0;
    volatile double sink = lanes == 8 ? fma_512() : lanes == 4 ? fma_256() : 0.0;
    (void)sink;
    /* 2 flops per lane per FMA; f32 lanes are twice as many */
    j->flops = 2.0 * (double)lanes * (j->f32 ? 2 : 1) * 12.0 * (double)FMA_REPS;
    return NULL;
}

static double fma_peak(int T, int f32)
{
    double best = 1e9, fl = 0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t th[64];
        fma_job jb[64];
        double t0 = now();
        for (int t = 0; t < T; t++) {
            jb[t].f32 = f32;
            pthread_create(&th[t], NULL, fma_run, &jb[t]);
        }
        fl = 0;
        for (int t = 0; t < T; t++) {
            pthread_join(th[t], NULL);
            fl += jb[t].flops;
        }
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    return fl / best;
}

/* Element (i, j) of the bench matrix: 16 true blobs, a hash of row and
 * column (bench/kmeans_peer.py builds the same). */
static double blob_value(size_t i, size_t j)
{
    return 10.0 * u01(1000003ULL * (i % 16) + j) + (u01(((uint64_t)i << 10) + j + 77) - 0.5) * 4.0;
}

/* kmeans seed N D K THREADS: seconds of the start alone (greedy k-means++
 * and k-means||, seed 1), best of 3, on the same matrix (f64).  Greedy
 * k-means++ beside the floor of its exact passes: the bytes they cannot
 * help reading (each measured row's d doubles, and each pass's D and near,
 * 12 bytes a row) over the read bandwidth, measured between the timed
 * calls (best of 6).  That is the floor of this algorithm (the rows its
 * triangle test keeps, counted), not of every way to seed. */
static int seeding(size_t n, size_t d, size_t k, int T)
{
    double *X = malloc(n * d * sizeof *X), *C = malloc(k * d * sizeof *C);
    double *bwa = bw_buffer(), bw = 0;
    if (X == NULL || C == NULL || bwa == NULL) {
        fprintf(stderr, "kmeans seed: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = blob_value(i, j);
        }
    }
    const ct_km_init how[2] = {CT_KM_INIT_KMEANSPP, CT_KM_INIT_PARALLEL};
    double best[2] = {1e9, 1e9};
    uint64_t measured = 0;
    for (int h = 0; h < 2; h++) {
        for (int rep = 0; rep < 3; rep++) {
            ct_kmeans_opts o;
            ct_error err;
            ct_kmeans_opts_init(&o);
            o.k = k;
            o.init = how[h];
            o.seed = 1;
            o.threads = (unsigned)T;
            bw = read_bw_best(T, bwa, h == 0 ? 2 : 0, bw);
            double t0 = now();
            if (ct_kmeans_seed(X, n, d, &o, C, h == 0 ? &measured : NULL, &err) != CT_OK) {
                fprintf(stderr, "kmeans seed: %s\n", err.msg);
                return 1;
            }
            double dt = now() - t0;
            best[h] = dt < best[h] ? dt : best[h];
        }
    }
    /* the first pass and k - 1 steps, each one pass over D and near */
    double bytes = (double)measured * (double)d * sizeof(double) + (double)k * (double)n * 12.0;
    double floor_s = bytes / bw;
    printf("seeding n=%zu d=%zu k=%zu threads=%d (best of 3): k-means++ (greedy) %.3f s "
           "(floor %.3f s: its passes measured %.0f %% of the rows a pass, %.1f GB with D and "
           "near, read at %.1f GB/s in the same run; ratio %.2f), k-means|| %.3f s\n",
           n, d, k, T, best[0], floor_s, 100.0 * (double)measured / ((double)n * (double)k),
           bytes / 1e9, bw / 1e9, best[0] / floor_s, best[1]);
    free(X);
    free(C);
    free(bwa);
    return 0;
}

/* Seconds per iteration of a bounded algorithm (whole fits from C0 with
 * max_iter 1 and 11, tol 0, best of 3 each: (t11 - t1) over the iterations
 * the two ran, as the peer is timed), its inertia and the mean share of
 * distances skipped in the passes after the first. */
static int bounded_per_iter(const double *X, const float *F, int f32, size_t n, size_t d,
                            size_t k, const double *C0, int T, ct_km_algo algo, double *per,
                            double *inertia, double *skip)
{
    double t1 = 1e9, t11 = 1e9;
    unsigned n1 = 0, n11 = 0;
    ct_error err;
    for (int rep = 0; rep < 3; rep++) {
        for (int it = 1; it <= 11; it += 10) {
            ct_kmeans_opts o;
            ct_kmeans_result r;
            ct_kmeans_opts_init(&o);
            o.k = k;
            o.init = CT_KM_INIT_GIVEN;
            o.centroids = C0;
            o.max_iter = (unsigned)it;
            o.tol = 0;
            o.threads = (unsigned)T;
            o.algorithm = algo;
            double t0 = now();
            ct_status st = f32 ? ct_kmeans_fit_f32(F, n, d, NULL, &o, &r, &err)
                               : ct_kmeans_fit(X, n, d, NULL, &o, &r, &err);
            if (st != CT_OK) {
                fprintf(stderr, "kmeans: %s\n", err.msg);
                return 1;
            }
            double dt = now() - t0;
            *inertia = r.inertia;
            if (it == 1) {
                n1 = r.iterations;
            } else {
                n11 = r.iterations;
            }
            if (it == 11 && r.npasses > 1) { /* passes 2..: the first assigns every row */
                *skip = 0;
                for (size_t q = 1; q < r.npasses; q++) {
                    *skip += r.skipped[q] / (double)(r.npasses - 1);
                }
            }
            ct_kmeans_result_free(&r);
            if (it == 1) {
                t1 = dt < t1 ? dt : t1;
            } else {
                t11 = dt < t11 ? dt : t11;
            }
        }
    }
    *per = (t11 - t1) / (n11 > n1 ? (double)(n11 - n1) : 1.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "seed") == 0) {
        openblas_set_num_threads(1);
        return seeding(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
                       strtoull(argv[4], NULL, 10), atoi(argv[5]));
    }
    if (argc != 6) {
        fprintf(stderr, "usage: kmeans N D K f64|f32 THREADS | kmeans seed N D K THREADS\n");
        return 64;
    }
    size_t n = strtoull(argv[1], NULL, 10), d = strtoull(argv[2], NULL, 10),
           k = strtoull(argv[3], NULL, 10);
    int f32 = strcmp(argv[4], "f32") == 0;
    int T = atoi(argv[5]);
    openblas_set_num_threads(1);
    double *X = NULL;
    float *F = NULL;
    if (f32) {
        F = malloc(n * d * sizeof *F);
    } else {
        X = malloc(n * d * sizeof *X);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            double v = blob_value(i, j);
            if (f32) {
                F[i * d + j] = (float)v;
            } else {
                X[i * d + j] = v;
            }
        }
    }
    double *C0 = malloc(k * d * sizeof *C0), *C = malloc(k * d * sizeof *C);
    for (size_t q = 0; q < k * d; q++) {
        C0[q] = f32 ? (double)F[q] : X[q];
    }
    double best1 = 1e9, best11 = 1e9, inertia = 0;
    unsigned ran1 = 1, ran11 = 11;
    ct_error err;
    /* labels and norms touched once, before the clock: each call's fresh
     * 8 MB (1M rows) had cost 20-80 ms of page faults, the noise of the
     * difference below */
    int32_t *lab = malloc(n * sizeof *lab);
    void *xn = malloc(n * (f32 ? sizeof(float) : sizeof(double)));
    if (lab == NULL || xn == NULL) {
        fprintf(stderr, "kmeans: out of memory\n");
        return 1;
    }
    memset(lab, 0, n * sizeof *lab);
    memset(xn, 0, n * (f32 ? sizeof(float) : sizeof(double)));
    /* the read bandwidth measured between the timed calls, best of 6, so
     * that the floor and the figure see the same state of a shared host
     * (measured apart, the bandwidth of one run ranged 24-42 GB/s) */
    double *bwa = bw_buffer(), bw = 0;
    if (bwa == NULL) {
        fprintf(stderr, "kmeans: out of memory\n");
        return 1;
    }
    int reps = n <= 2000000 ? 6 : 3;
    for (int rep = 0; rep < reps; rep++) {
        bw = read_bw_best(T, bwa, 6 / reps, bw);
        for (int it = 1; it <= 11; it += 10) {
            memcpy(C, C0, k * d * sizeof *C);
            unsigned ran = 0;
            double t0 = now();
            if (ct_kmeans_lloyd_steps_ws(X, F, n, d, NULL, C, k, (unsigned)it, (unsigned)T, lab,
                                         xn, &inertia, &ran, &err) != CT_OK) {
                fprintf(stderr, "kmeans: %s\n", err.msg);
                return 1;
            }
            double dt = now() - t0;
            if (it == 1) {
                best1 = dt < best1 ? dt : best1;
                ran1 = ran;
            } else {
                best11 = dt < best11 ? dt : best11;
                ran11 = ran;
            }
        }
    }
    /* over the iterations that ran: a fit whose labels stop changing stops
     * early (until 2026-12-03 this divided by 5 whatever ran, so a shape that
     * converged inside the six read as faster than it was) */
    double per = (best11 - best1) / (ran11 > ran1 ? (double)(ran11 - ran1) : 1.0);
    /* Hamerly's bounds, timed as the peer is: whole fits from the same start
     * with max_iter 1 and 11 (tol 0), best of 3; setup cancels. */
    double hper, hin, hskip = 0;
    if (bounded_per_iter(X, F, f32, n, d, k, C0, T, CT_KM_ALGO_HAMERLY, &hper, &hin, &hskip) != 0) {
        return 1;
    }
    /* Yinyang's group bounds where there are groups to skip (k / 10 of them) */
    double yper = 0, yin = 0, yskip = 0;
    if (k >= 64 &&
        bounded_per_iter(X, F, f32, n, d, k, C0, T, CT_KM_ALGO_YINYANG, &yper, &yin, &yskip) != 0) {
        return 1;
    }
    free(bwa);
    double gr = gemm_rate(T, f32), fp = fma_peak(T, f32);
    double bytes = (double)(n * d * (f32 ? 4 : 8));
    double fl = 2.0 * (double)n * (double)d * (double)k;
    double floor = bytes / bw > fl / gr ? bytes / bw : fl / gr;
    double peak = bytes / bw > fl / fp ? bytes / bw : fl / fp; /* with the FMA peak instead */
    printf("n=%zu d=%zu k=%zu %s threads=%d: %.4f s/iter  floor %.4f s (%s; read %.1f GB/s, GEMM "
           "%.1f GFLOP/s)  ratio %.2f  | bound by the FMA peak (%.1f GFLOP/s) %.4f s: ratio %.2f  "
           "inertia %.6g  | hamerly %.4f s/iter (ratio %.2f, inertia %.6g, %.0f%% of distances "
           "skipped)",
           n, d, k, f32 ? "f32" : "f64", T, per, floor, bytes / bw > fl / gr ? "bandwidth" : "GEMM",
           bw / 1e9, gr / 1e9, per / floor, fp / 1e9, peak, per / peak, inertia, hper,
           hper / floor, hin, 100 * hskip);
    if (k >= 64) {
        printf("  | yinyang %.4f s/iter (ratio %.2f / %.2f, inertia %.6g, %.0f%% of distances "
               "skipped)",
               yper, yper / floor, yper / peak, yin, 100 * yskip);
    }
    printf("\n");
    free(X);
    free(F);
    free(C0);
    free(lab);
    free(xn);
    free(C);
    return 0;
}
