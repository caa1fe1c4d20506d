/* kmeans_dots.c - see kmeans_dots.h. */
#include "numerics/kmeans/kmeans_dots.h"

#include "core/simd_internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int km_dots_isa(void)
{
    return ct_simd_level();
}

/* The fused kernels' rows a few lane groups ahead (a pair 4, a lone group
 * 8): into L1 where a lane group is under 1 KB, else into L2 (at 32
 * columns, 16-18 KB ahead in L1 had crowded out the centres and the lanes:
 * in-process A/B of the two hints, Lloyd at d = 32, k = 8 and 64, f32 and
 * f64, 1 and 2 threads, 16 runs: 0.86-1.03, 8 of 8 single-thread runs
 * below 1 (0.91-0.99); at 8 columns L2 was 0.99-1.07, so L1 stays). */
#define KM_PF_L2(lane_bytes) ((lane_bytes) >= 1024)
#define KM_PREFETCH(p, lane_bytes)                                                                 \
    do {                                                                                           \
        if (KM_PF_L2(lane_bytes)) {                                                                \
            _mm_prefetch((p), _MM_HINT_T1);                                                        \
        } else {                                                                                   \
            _mm_prefetch((p), _MM_HINT_T0);                                                        \
        }                                                                                          \
    } while (0)

/* C (k x d) transposed into CT (d x kp), kp = k rounded up to `lanes`: into
 * buf (TRANSPOSE_BUF values, on the caller's stack) when it fits, so that
 * the few centres of k-means++'s trials need no allocation; else a new
 * array (NULL: out of memory). */
#define TRANSPOSE_BUF 2048
#define TRANSPOSE(T)                                                                               \
    static T *transpose_##T(const T *C, size_t k, size_t d, size_t lanes, size_t *kp, T *buf)      \
    {                                                                                              \
        *kp = (k + lanes - 1) / lanes * lanes;                                                     \
        T *CT = d * *kp <= TRANSPOSE_BUF ? buf : calloc(d * *kp, sizeof *CT);                      \
        if (CT == buf) {                                                                           \
            memset(buf, 0, d * *kp * sizeof *buf);                                                 \
        }                                                                                          \
        for (size_t j = 0; CT != NULL && j < k; j++) {                                             \
            for (size_t c = 0; c < d; c++) {                                                       \
                CT[c * *kp + j] = C[j * d + c];                                                    \
            }                                                                                      \
        }                                                                                          \
        return CT;                                                                                 \
    }
TRANSPOSE(double)
TRANSPOSE(float)

/* G = X . C^T, vectorised over the centres: four accumulators of LANES
 * centres, then single vectors, the last one stored under a mask.  Row r is
 * X + idx[r] d (idx NULL: X + r d).  Up to LANES centres, four rows at a
 * time (four FMA chains in flight); each element is the same chain. */
#define DOTS_ROW(r) (X + (idx != NULL ? idx[r] : (r)) * d)
#define DOTS_BODY(LANES, VT, SETZERO, SET1, LOAD, STORE, FMADD, TAIL_STORE)                        \
    size_t r = 0;                                                                                  \
    if (k <= LANES) {                                                                              \
        for (; r + 8 <= nr; r += 8) {                                                              \
            const T *x0 = DOTS_ROW(r), *x1 = DOTS_ROW(r + 1);                                      \
            const T *x2 = DOTS_ROW(r + 2), *x3 = DOTS_ROW(r + 3);                                  \
            const T *x4 = DOTS_ROW(r + 4), *x5 = DOTS_ROW(r + 5);                                  \
            const T *x6 = DOTS_ROW(r + 6), *x7 = DOTS_ROW(r + 7);                                  \
            for (size_t q = r + 16; idx != NULL && q < r + 24 && q < nr; q++) {                    \
                for (size_t c = 0; c < d; c += 64 / sizeof(T)) {                                   \
                    __builtin_prefetch(DOTS_ROW(q) + c);                                           \
                }                                                                                  \
            }                                                                                      \
            VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;      \
            for (size_t c = 0; c < d; c++) {                                                       \
                VT ct = LOAD(CT + c * kp);                                                         \
                a0 = FMADD(SET1(x0[c]), ct, a0);                                                   \
                a1 = FMADD(SET1(x1[c]), ct, a1);                                                   \
                a2 = FMADD(SET1(x2[c]), ct, a2);                                                   \
                a3 = FMADD(SET1(x3[c]), ct, a3);                                                   \
                a4 = FMADD(SET1(x4[c]), ct, a4);                                                   \
                a5 = FMADD(SET1(x5[c]), ct, a5);                                                   \
                a6 = FMADD(SET1(x6[c]), ct, a6);                                                   \
                a7 = FMADD(SET1(x7[c]), ct, a7);                                                   \
            }                                                                                      \
            TAIL_STORE(G + r * k, k, a0);                                                          \
            TAIL_STORE(G + (r + 1) * k, k, a1);                                                    \
            TAIL_STORE(G + (r + 2) * k, k, a2);                                                    \
            TAIL_STORE(G + (r + 3) * k, k, a3);                                                    \
            TAIL_STORE(G + (r + 4) * k, k, a4);                                                    \
            TAIL_STORE(G + (r + 5) * k, k, a5);                                                    \
            TAIL_STORE(G + (r + 6) * k, k, a6);                                                    \
            TAIL_STORE(G + (r + 7) * k, k, a7);                                                    \
        }                                                                                          \
        for (; r + 4 <= nr; r += 4) {                                                              \
            const T *x0 = DOTS_ROW(r), *x1 = DOTS_ROW(r + 1);                                      \
            const T *x2 = DOTS_ROW(r + 2), *x3 = DOTS_ROW(r + 3);                                  \
            VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0;                                          \
            for (size_t c = 0; c < d; c++) {                                                       \
                VT ct = LOAD(CT + c * kp);                                                         \
                a0 = FMADD(SET1(x0[c]), ct, a0);                                                   \
                a1 = FMADD(SET1(x1[c]), ct, a1);                                                   \
                a2 = FMADD(SET1(x2[c]), ct, a2);                                                   \
                a3 = FMADD(SET1(x3[c]), ct, a3);                                                   \
            }                                                                                      \
            TAIL_STORE(G + r * k, k, a0);                                                          \
            TAIL_STORE(G + (r + 1) * k, k, a1);                                                    \
            TAIL_STORE(G + (r + 2) * k, k, a2);                                                    \
            TAIL_STORE(G + (r + 3) * k, k, a3);                                                    \
        }                                                                                          \
    }                                                                                              \
    for (; r < nr; r++) {                                                                          \
        const T *x = DOTS_ROW(r);                                                                  \
        T *g = G + r * k;                                                                          \
        size_t j = 0;                                                                              \
        for (; j + 4 * LANES <= k; j += 4 * LANES) {                                               \
            VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0;                                          \
            for (size_t c = 0; c < d; c++) {                                                       \
                VT xb = SET1(x[c]);                                                                \
                const T *ct = CT + c * kp + j;                                                     \
                a0 = FMADD(xb, LOAD(ct), a0);                                                      \
                a1 = FMADD(xb, LOAD(ct + LANES), a1);                                              \
                a2 = FMADD(xb, LOAD(ct + 2 * LANES), a2);                                          \
                a3 = FMADD(xb, LOAD(ct + 3 * LANES), a3);                                          \
            }                                                                                      \
            STORE(g + j, a0);                                                                      \
            STORE(g + j + LANES, a1);                                                              \
            STORE(g + j + 2 * LANES, a2);                                                          \
            STORE(g + j + 3 * LANES, a3);                                                          \
        }                                                                                          \
        for (; j < k; j += LANES) {                                                                \
            VT a = SETZERO();                                                                      \
            for (size_t c = 0; c < d; c++) {                                                       \
                a = FMADD(SET1(x[c]), LOAD(CT + c * kp + j), a);                                   \
            }                                                                                      \
            TAIL_STORE(g + j, k - j, a);                                                           \
        }                                                                                          \
    }

/* the first `left` lanes of a (all of them when left >= LANES) */
#define TAIL512PD(p, left, a)                                                                      \
    _mm512_mask_storeu_pd(p, (__mmask8)((left) >= 8 ? 0xffu : (1u << (left)) - 1u), a)
#define TAIL512PS(p, left, a)                                                                      \
    _mm512_mask_storeu_ps(p, (__mmask16)((left) >= 16 ? 0xffffu : (1u << (left)) - 1u), a)
#define TAIL256PD(p, left, a)                                                                      \
    _mm256_maskstore_pd(p, tail_mask64(left), a)
#define TAIL256PS(p, left, a)                                                                      \
    _mm256_maskstore_ps(p, tail_mask32(left), a)

__attribute__((target("avx2"))) static __m256i tail_mask64(size_t left)
{
    return _mm256_set_epi64x(left > 3 ? -1 : 0, left > 2 ? -1 : 0, left > 1 ? -1 : 0, -1);
}

__attribute__((target("avx2"))) static __m256i tail_mask32(size_t left)
{
    int32_t l[8];
    for (size_t q = 0; q < 8; q++) {
        l[q] = q < left ? -1 : 0;
    }
    return _mm256_loadu_si256((const __m256i *)(const void *)l);
}

__attribute__((target("avx512f"))) static void dots_f64_512(const double *X, const size_t *idx,
                                                            size_t nr, size_t d, const double *CT,
                                                            size_t kp, size_t k, double *G)
{
    typedef double T;
    DOTS_BODY(8, __m512d, _mm512_setzero_pd, _mm512_set1_pd, _mm512_loadu_pd, _mm512_storeu_pd,
              _mm512_fmadd_pd, TAIL512PD)
}

__attribute__((target("avx2,fma"))) static void dots_f64_256(const double *X, const size_t *idx,
                                                             size_t nr, size_t d, const double *CT,
                                                             size_t kp, size_t k, double *G)
{
    typedef double T;
    DOTS_BODY(4, __m256d, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd,
              _mm256_fmadd_pd, TAIL256PD)
}

__attribute__((target("avx512f"))) static void dots_f32_512(const float *X, const size_t *idx,
                                                            size_t nr, size_t d, const float *CT,
                                                            size_t kp, size_t k, float *G)
{
    typedef float T;
    DOTS_BODY(16, __m512, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps,
              _mm512_fmadd_ps, TAIL512PS)
}

__attribute__((target("avx2,fma"))) static void dots_f32_256(const float *X, const size_t *idx,
                                                             size_t nr, size_t d, const float *CT,
                                                             size_t kp, size_t k, float *G)
{
    typedef float T;
    DOTS_BODY(8, __m256, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_fmadd_ps, TAIL256PS)
}

int km_dots_f64(const double *X, size_t nr, size_t d, const double *C, size_t k, double *G)
{
    return d <= 16 ? km_dots_chain_f64(X, NULL, nr, d, C, k, G) : -1;
}

int km_dots_chain_f64(const double *X, const size_t *idx, size_t nr, size_t d, const double *C,
                      size_t k, double *G)
{
    int isa = km_dots_isa();
    size_t kp;
    if (isa == 0 || d > KM_DOTS_MAXD) {
        return -1;
    }
    double buf[TRANSPOSE_BUF];
    double *CT = transpose_double(C, k, d, isa == 2 ? 8 : 4, &kp, buf);
    if (CT == NULL) {
        return -2;
    }
    if (isa == 2) {
        dots_f64_512(X, idx, nr, d, CT, kp, k, G);
    } else {
        dots_f64_256(X, idx, nr, d, CT, kp, k, G);
    }
    if (CT != buf) {
        free(CT);
    }
    return 0;
}

int km_dots_f32(const float *X, size_t nr, size_t d, const float *C, size_t k, float *G)
{
    return d <= 16 ? km_dots_chain_f32(X, NULL, nr, d, C, k, G) : -1;
}

int km_dots_chain_f32(const float *X, const size_t *idx, size_t nr, size_t d, const float *C,
                      size_t k, float *G)
{
    int isa = km_dots_isa();
    size_t kp;
    if (isa == 0 || d > KM_DOTS_MAXD) {
        return -1;
    }
    float buf[TRANSPOSE_BUF];
    float *CT = transpose_float(C, k, d, isa == 2 ? 16 : 8, &kp, buf);
    if (CT == NULL) {
        return -2;
    }
    if (isa == 2) {
        dots_f32_512(X, idx, nr, d, CT, kp, k, G);
    } else {
        dots_f32_256(X, idx, nr, d, CT, kp, k, G);
    }
    if (CT != buf) {
        free(CT);
    }
    return 0;
}

/* ---- fused distances and argmin ------------------------------------------------
 * v_j = |c_j|^2 - 2 x.c_j (x.c_j: the same FMA chain as above) for every
 * centre, and per row the first index of the smallest v, the smallest v and
 * the second smallest.  Vectorised over rows (a lane per row, the tile
 * transposed into lanes), so each lane scans the centres in order: the same
 * values and the same ties as the scalar argmin over G, with no work across
 * lanes. */

/* Centre m of the block of W centres at cj, column c: in C's rows
 * (CE_PLAIN), or packed by km_pack_SFX (CE_PACKED: a block's column c is its
 * W values in a row).  Packed, a block's broadcasts are constant offsets from
 * one pointer; in rows they took eight index registers, four of them
 * reloaded from the stack in every column of the pair's loop (Lloyd: 14 loads
 * a column for 16 FMAs, against 10).  In-process A/B with the spread
 * prefetch below, one thread: d = 32, k = 64, f32 0.90-0.94, f64 0.95-1.01;
 * same bits. */
#define CE_PLAIN(cj, W, m, c) (cj)[(m) * d + (c)]
#define CE_PACKED(cj, W, m, c) (cj)[(c) * (W) + (m)]
/* ASSIGN_PAIR's prefetch: pfs_ bytes of the pfn_ left at pf_ (the pair of
 * lane groups 8 groups on), issued at the start of each block of centres.
 * Asked all at once before the pair (64 lines at d = 32, f32), they filled
 * the line-fill buffers and the core waited on them: 13 % of Lloyd's samples
 * sat on the instruction after a prefetch (perf, 1M x 32, k = 64, f32).
 * Spread, in-process A/B, one thread: 1M x 32, k = 64, f32 0.85, f64 0.79;
 * 10M x 32, k = 64, f32 0.78; 2 threads, 10M: 0.85-0.89 at d = 32, level at
 * d = 8.  Without any prefetch it was 1.28x slower; 4 or 16 groups ahead,
 * or into L1, measured level (0.94-1.07). */
#define KM_PF_MIN_BYTES ((size_t)8192) /* how far ahead the rows are asked for, at least */
#define KM_PF_GROUPS(gb) ((gb) >= 2048 ? (size_t)4 : KM_PF_MIN_BYTES / (gb))
#define PAIR_PREFETCH(lane_bytes)                                                                  \
    do {                                                                                           \
        size_t nb_ = (pfn_ + 63) / 64 * 64;                                                        \
        nb_ = nb_ < pfs_ ? nb_ : pfs_;                                                             \
        if (KM_PF_L2(lane_bytes)) { /* KM_PREFETCH's hint, tested once */                         \
            for (size_t q_ = 0; q_ < nb_; q_ += 64) {                                              \
                _mm_prefetch(pf_ + q_, _MM_HINT_T1);                                               \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t q_ = 0; q_ < nb_; q_ += 64) {                                              \
                _mm_prefetch(pf_ + q_, _MM_HINT_T0);                                               \
            }                                                                                      \
        }                                                                                          \
        pf_ += nb_;                                                                                \
        pfn_ = pfn_ > nb_ ? pfn_ - nb_ : 0;                                                        \
    } while (0);
/* Two whole lane groups at once (rows r0 .. r0 + 2 LANES): sixteen FMA chains
 * and two argmin chains in flight, each centre value loaded once for both.
 * Eight chains of d FMAs left the two FMA pipes waiting on their latency
 * (AVX-512, one thread, rows in L2, against one group at a time: d = 32,
 * k = 64: f32 44.8 -> 36.6 ns a row, f64 88.9 -> 70.9; d = 8, k = 64, f32
 * 20.4 -> 16.0; d = 8, k = 8: f32 3.77 -> 3.36, f64 6.93 -> 5.79).  Each
 * lane's chains and steps are those of one group: the same bits.  The rows
 * 4 groups on are asked for a few lines per block of centres (PAIR_PREFETCH;
 * 8 groups on until 2026-12-04: whole iterations at 10M x 32, k = 8, f32,
 * alternated, best of 3, one thread 0.085 against 0.102-0.107 s, two
 * threads 0.045-0.047 against 0.053-0.057; k = 64 and d = 8 level), and
 * at least 8 KB on where a group is smaller (KM_PF_GROUPS: 4 groups of 8
 * float columns were 2 KB, too little in flight for DRAM while the tile's
 * grouping and sums ask for nothing; Lloyd iterations, 2 threads,
 * alternated, best of 5-6: 1M x 8, k = 8, f32 1.19-1.21 -> 1.07-1.15 ms,
 * 10M 14.2-16.4 -> 11.6-13.3 ms; k = 64 level; rows in L3, one thread,
 * 1.80 -> 1.83 ns a row).
 * r0 ends on the second group (its labels are stored from b1, b2, bi too);
 * the variable arguments: ASSIGN_OUT.  AVX2 has 16 registers, too few for
 * 16 accumulators: its pairs start with blocks of 4 centres (8 chains; this
 * CPU under AVX2, one thread: d = 4, k = 64, f64 68.7 -> 42.1 ns a row,
 * d = 8, k = 8, f32 14.1 -> 12.0, d = 32, k = 8 level; with blocks of 8 it
 * spilled, d = 32, k = 8, f64 1.11x slower).  CE: how a centre's value is
 * found (CE_PLAIN, CE_PACKED). */
#define ASSIGN_PAIR(LANES, SETZERO, SET1, ADD, LOAD, FMADD, FNMADD, MIN, CMPLT, BLEND, T,          \
                    TO_LANES, ASSIGN_STEP, CE, ...)                                                \
    const size_t pfd_ = KM_PF_GROUPS(LANES * d * sizeof(T));                                       \
    const char *pf_ = (const char *)(X + (r0 + pfd_ * LANES) * d);                                 \
    size_t pfn_ = r0 + (pfd_ + 2) * LANES <= npf ? 2 * LANES * d * sizeof(T) : 0;                  \
    size_t pfs_ = (pfn_ / 64 / ((k + 7) / 8) + 1) * 64;                                            \
    TO_LANES(XT, X + r0 * d, d, LANES);                                                            \
    TO_LANES(XU, X + (r0 + LANES) * d, d, LANES);                                                  \
    VT b1 = SET1((T)INFINITY), b2 = b1, bi = SETZERO(), e1 = b1, e2 = b1, ei = bi;                 \
    size_t j = 0;                                                                                  \
    for (; LANES * sizeof(T) == 64 && j + 8 <= k; j += 8) { /* AVX-512: 16 accumulators */         \
        PAIR_PREFETCH(LANES * d * sizeof(T));                                                      \
        VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;          \
        VT u0 = a0, u1 = a0, u2 = a0, u3 = a0, u4 = a0, u5 = a0, u6 = a0, u7 = a0;                 \
        const T *cj = C + j * d;                                                                   \
        for (size_t c = 0; c < d; c++) {                                                           \
            VT xc = LOAD(XT + c * LANES), yc = LOAD(XU + c * LANES), t_;                           \
            t_ = SET1(CE(cj, 8, 0, c));                                                            \
            a0 = FMADD(xc, t_, a0);                                                                \
            u0 = FMADD(yc, t_, u0);                                                                \
            t_ = SET1(CE(cj, 8, 1, c));                                                            \
            a1 = FMADD(xc, t_, a1);                                                                \
            u1 = FMADD(yc, t_, u1);                                                                \
            t_ = SET1(CE(cj, 8, 2, c));                                                            \
            a2 = FMADD(xc, t_, a2);                                                                \
            u2 = FMADD(yc, t_, u2);                                                                \
            t_ = SET1(CE(cj, 8, 3, c));                                                            \
            a3 = FMADD(xc, t_, a3);                                                                \
            u3 = FMADD(yc, t_, u3);                                                                \
            t_ = SET1(CE(cj, 8, 4, c));                                                            \
            a4 = FMADD(xc, t_, a4);                                                                \
            u4 = FMADD(yc, t_, u4);                                                                \
            t_ = SET1(CE(cj, 8, 5, c));                                                            \
            a5 = FMADD(xc, t_, a5);                                                                \
            u5 = FMADD(yc, t_, u5);                                                                \
            t_ = SET1(CE(cj, 8, 6, c));                                                            \
            a6 = FMADD(xc, t_, a6);                                                                \
            u6 = FMADD(yc, t_, u6);                                                                \
            t_ = SET1(CE(cj, 8, 7, c));                                                            \
            a7 = FMADD(xc, t_, a7);                                                                \
            u7 = FMADD(yc, t_, u7);                                                                \
        }                                                                                          \
        VT jb = SET1((T)j);                                                                        \
        ASSIGN_STEP(a0, j, jb, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                    \
        ASSIGN_STEP(u0, j, jb, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                    \
        VT j1 = ADD(jb, SET1((T)1));                                                               \
        ASSIGN_STEP(a1, j + 1, j1, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u1, j + 1, j1, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j2 = ADD(jb, SET1((T)2));                                                               \
        ASSIGN_STEP(a2, j + 2, j2, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u2, j + 2, j2, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j3 = ADD(jb, SET1((T)3));                                                               \
        ASSIGN_STEP(a3, j + 3, j3, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u3, j + 3, j3, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j4 = ADD(jb, SET1((T)4));                                                               \
        ASSIGN_STEP(a4, j + 4, j4, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u4, j + 4, j4, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j5 = ADD(jb, SET1((T)5));                                                               \
        ASSIGN_STEP(a5, j + 5, j5, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u5, j + 5, j5, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j6 = ADD(jb, SET1((T)6));                                                               \
        ASSIGN_STEP(a6, j + 6, j6, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u6, j + 6, j6, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j7 = ADD(jb, SET1((T)7));                                                               \
        ASSIGN_STEP(a7, j + 7, j7, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u7, j + 7, j7, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
    }                                                                                              \
    for (; j + 4 <= k; j += 4) {                                                                   \
        PAIR_PREFETCH(LANES * d * sizeof(T));                                                      \
        VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0, u0 = a0, u1 = a0, u2 = a0, u3 = a0;          \
        const T *cj = C + j * d;                                                                   \
        for (size_t c = 0; c < d; c++) {                                                           \
            VT xc = LOAD(XT + c * LANES), yc = LOAD(XU + c * LANES), t_;                           \
            t_ = SET1(CE(cj, 4, 0, c));                                                            \
            a0 = FMADD(xc, t_, a0);                                                                \
            u0 = FMADD(yc, t_, u0);                                                                \
            t_ = SET1(CE(cj, 4, 1, c));                                                            \
            a1 = FMADD(xc, t_, a1);                                                                \
            u1 = FMADD(yc, t_, u1);                                                                \
            t_ = SET1(CE(cj, 4, 2, c));                                                            \
            a2 = FMADD(xc, t_, a2);                                                                \
            u2 = FMADD(yc, t_, u2);                                                                \
            t_ = SET1(CE(cj, 4, 3, c));                                                            \
            a3 = FMADD(xc, t_, a3);                                                                \
            u3 = FMADD(yc, t_, u3);                                                                \
        }                                                                                          \
        VT jb = SET1((T)j);                                                                        \
        ASSIGN_STEP(a0, j, jb, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                    \
        ASSIGN_STEP(u0, j, jb, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                    \
        VT j1 = ADD(jb, SET1((T)1));                                                               \
        ASSIGN_STEP(a1, j + 1, j1, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u1, j + 1, j1, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j2 = ADD(jb, SET1((T)2));                                                               \
        ASSIGN_STEP(a2, j + 2, j2, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u2, j + 2, j2, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        VT j3 = ADD(jb, SET1((T)3));                                                               \
        ASSIGN_STEP(a3, j + 3, j3, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
        ASSIGN_STEP(u3, j + 3, j3, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
    }                                                                                              \
    for (; j < k; j++) {                                                                           \
        VT a = SETZERO(), u = a;                                                                   \
        for (size_t c = 0; c < d; c++) {                                                           \
            VT t_ = SET1(CE(C + j * d, 1, 0, c));                                                  \
            a = FMADD(LOAD(XT + c * LANES), t_, a);                                                \
            u = FMADD(LOAD(XU + c * LANES), t_, u);                                                \
        }                                                                                          \
        VT jv = SET1((T)j);                                                                        \
        ASSIGN_STEP(a, j, jv, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                     \
        ASSIGN_STEP(u, j, jv, e1, e2, ei, FNMADD, SET1, CMPLT, BLEND, MIN, T);                     \
    }                                                                                              \
    pfs_ = pfn_;                                                                                   \
    PAIR_PREFETCH(LANES * d * sizeof(T));                                                          \
    __VA_ARGS__                                                                                    \
    r0 += LANES;                                                                                   \
    b1 = e1;                                                                                       \
    b2 = e2;                                                                                       \
    bi = ei;                                                                                       \
    __VA_ARGS__

#define ASSIGN_BODY(LANES, SETZERO, SET1, ADD, LOAD, FMADD, FNMADD, MIN, CMPLT, BLEND, T,          \
                    TO_LANES, ASSIGN_STEP, CE, W8, ASSIGN_OUT)                                     \
    T XT[KM_DOTS_MAXD * LANES], XU[KM_DOTS_MAXD * LANES];                                          \
    for (size_t r0 = 0; r0 < nr; r0 += LANES) {                                                    \
        size_t m = nr - r0 < LANES ? nr - r0 : LANES;                                              \
        if (nr - r0 >= 2 * LANES) {                                                                \
            ASSIGN_PAIR(LANES, SETZERO, SET1, ADD, LOAD, FMADD, FNMADD, MIN, CMPLT, BLEND, T,      \
                        TO_LANES, ASSIGN_STEP, CE, ASSIGN_OUT)                                     \
            continue;                                                                              \
        }                                                                                          \
        /* the rows 8 lane groups on, of the npf >= nr there (d = 8, k = 8: 6.4 -> 5.7 ns a row) */ \
        for (size_t o_ = 0; r0 + 9 * LANES <= npf && o_ < LANES * d * sizeof(T); o_ += 64) {       \
            KM_PREFETCH((const char *)(X + (r0 + 8 * LANES) * d) + o_, LANES * d * sizeof(T));     \
        }                                                                                          \
        TO_LANES(XT, X + r0 * d, d, m);   /* rows into lanes; missing rows 0 */                    \
        VT b1 = SET1((T)INFINITY), b2 = b1, bi = SETZERO();                                        \
        size_t j = 0;                                                                              \
        /* eight centres at a time: eight independent FMA chains, as many as two FMA pipes         \
         * of latency 4 keep busy (Zen 5), then four */                                            \
        /* (W8: blocks of 8 here too; packed centres follow the pair's blocks) */              \
        for (; (W8) && j + 8 <= k; j += 8) {                                                       \
            VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;      \
            const T *cj = C + j * d;                                                               \
            for (size_t c = 0; c < d; c++) {                                                       \
                VT xc = LOAD(XT + c * LANES);                                                      \
                a0 = FMADD(xc, SET1(CE(cj, 8, 0, c)), a0);                                         \
                a1 = FMADD(xc, SET1(CE(cj, 8, 1, c)), a1);                                         \
                a2 = FMADD(xc, SET1(CE(cj, 8, 2, c)), a2);                                         \
                a3 = FMADD(xc, SET1(CE(cj, 8, 3, c)), a3);                                         \
                a4 = FMADD(xc, SET1(CE(cj, 8, 4, c)), a4);                                         \
                a5 = FMADD(xc, SET1(CE(cj, 8, 5, c)), a5);                                         \
                a6 = FMADD(xc, SET1(CE(cj, 8, 6, c)), a6);                                         \
                a7 = FMADD(xc, SET1(CE(cj, 8, 7, c)), a7);                                         \
            }                                                                                      \
            VT jb = SET1((T)j); /* the index vectors: one conversion, then adds of constants */    \
            ASSIGN_STEP(a0, j, jb, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
            ASSIGN_STEP(a1, j + 1, ADD(jb, SET1((T)1)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a2, j + 2, ADD(jb, SET1((T)2)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a3, j + 3, ADD(jb, SET1((T)3)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a4, j + 4, ADD(jb, SET1((T)4)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a5, j + 5, ADD(jb, SET1((T)5)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a6, j + 6, ADD(jb, SET1((T)6)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a7, j + 7, ADD(jb, SET1((T)7)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
        }                                                                                          \
        for (; j + 4 <= k; j += 4) {                                                               \
            VT a0 = SETZERO(), a1 = a0, a2 = a0, a3 = a0;                                          \
            const T *cj = C + j * d;                                                               \
            for (size_t c = 0; c < d; c++) {                                                       \
                VT xc = LOAD(XT + c * LANES);                                                      \
                a0 = FMADD(xc, SET1(CE(cj, 4, 0, c)), a0);                                         \
                a1 = FMADD(xc, SET1(CE(cj, 4, 1, c)), a1);                                         \
                a2 = FMADD(xc, SET1(CE(cj, 4, 2, c)), a2);                                         \
                a3 = FMADD(xc, SET1(CE(cj, 4, 3, c)), a3);                                         \
            }                                                                                      \
            VT jb = SET1((T)j);                                                                    \
            ASSIGN_STEP(a0, j, jb, b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);                \
            ASSIGN_STEP(a1, j + 1, ADD(jb, SET1((T)1)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a2, j + 2, ADD(jb, SET1((T)2)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
            ASSIGN_STEP(a3, j + 3, ADD(jb, SET1((T)3)), b1, b2, bi, FNMADD, SET1,                  \
                        CMPLT, BLEND, MIN, T);                                                     \
        }                                                                                          \
        for (; j < k; j++) {                                                                       \
            VT a = SETZERO();                                                                      \
            for (size_t c = 0; c < d; c++) {                                                       \
                a = FMADD(LOAD(XT + c * LANES), SET1(CE(C + j * d, 1, 0, c)), a);                  \
            }                                                                                      \
            ASSIGN_STEP(a, j, SET1((T)j), b1, b2, bi, FNMADD, SET1, CMPLT, BLEND, MIN, T);         \
        }                                                                                          \
        ASSIGN_OUT                                                                                 \
    }

/* the centre in a (its dot products with the lanes' rows) against the best so
 * far; JV: its index, as a vector */
#define ASSIGN_STEP2(a, jj, JV, B1, B2, BI, FNMADD, SET1, CMPLT, BLEND, MIN, T)                    \
    do {                                                                                           \
        VT v_ = FNMADD(a, SET1((T)2), SET1(cn[jj])); /* cn - 2a rounded once: 2a is exact */       \
        MT lt_ = CMPLT(v_, B1);                                                                    \
        B2 = BLEND(lt_, MIN(B2, v_), B1);                                                          \
        B1 = MIN(v_, B1); /* the blend under lt_: see ASSIGN_STEP1 */                              \
        BI = BLEND(lt_, BI, JV);                                                                   \
    } while (0)
/* the same without the second best (labels only: Lloyd).  B1 = MIN(v, B1)
 * is the blend under v < B1 (min returns its second operand unless the
 * first is less, NaN included): the chain from one centre to the next is
 * the min's latency, with the compare off it (km_lloyd_f32 alone,
 * 131,072 rows, one thread, alternated, best of 6: d = 8, k = 8 1.99 ->
 * 1.82 ns a row, d = 8, k = 64 7.52 -> 6.98, d = 32, k = 8 6.75 -> 6.21,
 * d = 32, k = 64 26.8 -> 24.4, d = 13, k = 16 5.32 -> 4.85; same bits). */
#define ASSIGN_STEP1(a, jj, JV, B1, B2, BI, FNMADD, SET1, CMPLT, BLEND, MIN, T)                    \
    do {                                                                                           \
        VT v_ = FNMADD(a, SET1((T)2), SET1(cn[jj]));                                               \
        MT lt_ = CMPLT(v_, B1);                                                                    \
        B1 = MIN(v_, B1);                                                                          \
        BI = BLEND(lt_, BI, JV);                                                                   \
    } while (0)

/* km_assign: labels, best and second best */
#define ASSIGN_OUT_LABELS(STORE, LANES, T)                                                         \
    {                                                                                              \
        T B1[LANES], B2[LANES], BI[LANES];                                                         \
        STORE(BI, bi);                                                                             \
        if (v1 != NULL) {                                                                          \
            STORE(B1, b1);                                                                         \
            STORE(B2, b2);                                                                         \
        }                                                                                          \
        for (size_t l = 0; l < m; l++) {                                                           \
            lab[r0 + l] = (int32_t)BI[l];                                                          \
            if (v1 != NULL) {                                                                      \
                v1[r0 + l] = B1[l];                                                                \
            }                                                                                      \
            if (v2 != NULL) {                                                                      \
                v2[r0 + l] = B2[l];                                                                \
            }                                                                                      \
        }                                                                                          \
    }

/* Lloyd's labels: the lane vector converted and stored whole, LANES labels
 * at lab + r0 whatever m (the caller's tile has room), no per-lane loop */
#define ASSIGN_OUT_VEC(STOREI)                                                                     \
    STOREI(lab + r0, bi);                                                                          \
    (void)b2; /* no second best kept */
#define STI512PD(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvttpd_epi32(v))
#define STI256PD(p, v) _mm_storeu_si128((__m128i *)(void *)(p), _mm256_cvttpd_epi32(v))
#define STI512PS(p, v) _mm512_storeu_si512((void *)(p), _mm512_cvttps_epi32(v))
/* to_lanes2_f32_512's lanes (l: row 2l, l + 8: row 2l + 1) back in row order */
#define STI512PS_ROWS2(p, v)                                                                       \
    STI512PS(p, ROWS2_F32(d, m) ? _mm512_permutexvar_ps(_mm512_set_epi32(15, 7, 14, 6, 13, 5, 12,  \
                                                                         4, 11, 3, 10, 2, 9, 1, 8, \
                                                                         0),                       \
                                                        v)                                         \
                                : (v))
#define STI256PS(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm256_cvttps_epi32(v))

#define LT512PD(a, b) _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ)
#define LT512PS(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define LT256PD(a, b) _mm256_cmp_pd(a, b, _CMP_LT_OQ)
#define LT256PS(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define BL256PD(m, a, b) _mm256_blendv_pd(a, b, m)
#define BL256PS(m, a, b) _mm256_blendv_ps(a, b, m)

/* Rows x0 .. x0 + (m - 1) d (m <= lanes) transposed into lanes: XT[c * lanes
 * + l] = x0[l * d + c], lanes past m zero.  In registers, a block of
 * columns at a time (masked loads never touch bytes past a row or the rows
 * that are not there): a transpose through memory (scalar stores, vector
 * loads) stalls on store forwarding, and gathers are slow on some CPUs. */
/* Row l (of 8 at x0, stride d) columns c0..: a plain load when every lane
 * has a row and the block of columns is whole (`full`), else under mask mk,
 * zero past m rows.  The plain load matters: with masked loads throughout,
 * Lloyd at d = 8, k = 8 ran 2.7x slower on Zen 4 (19.5 against 7.2 ns a
 * row, one thread; masked loads stall the loop). */
#define LANE_ROW(LOADU, LOADZ, ZERO, l)                                                            \
    (full ? LOADU(x0 + (l) * d + c0) : (l) < m ? LOADZ(mk, x0 + (l) * d + c0) : ZERO())
#define LANE_ROWS8(VT, LOADU, LOADZ, ZERO)                                                         \
    VT r0 = LANE_ROW(LOADU, LOADZ, ZERO, 0), r1 = LANE_ROW(LOADU, LOADZ, ZERO, 1);                 \
    VT r2 = LANE_ROW(LOADU, LOADZ, ZERO, 2), r3 = LANE_ROW(LOADU, LOADZ, ZERO, 3);                 \
    VT r4 = LANE_ROW(LOADU, LOADZ, ZERO, 4), r5 = LANE_ROW(LOADU, LOADZ, ZERO, 5);                 \
    VT r6 = LANE_ROW(LOADU, LOADZ, ZERO, 6), r7 = LANE_ROW(LOADU, LOADZ, ZERO, 7)

/* The first two of an 8 x 8 transposition's three stages (doubles): u0..u7
 * from the rows r0..r7; u_a with u_(a + 4) under ic, then id, gives the
 * columns (to_lanes_f64_512, cl_labels8).  ia, ib: the caller's. */
#define TR8_PD_U(r0, r1, r2, r3, r4, r5, r6, r7)                                                   \
    __m512d t0 = _mm512_unpacklo_pd(r0, r1), t1 = _mm512_unpackhi_pd(r0, r1);                      \
    __m512d t2 = _mm512_unpacklo_pd(r2, r3), t3 = _mm512_unpackhi_pd(r2, r3);                      \
    __m512d t4 = _mm512_unpacklo_pd(r4, r5), t5 = _mm512_unpackhi_pd(r4, r5);                      \
    __m512d t6 = _mm512_unpacklo_pd(r6, r7), t7 = _mm512_unpackhi_pd(r6, r7);                      \
    __m512d u0 = _mm512_permutex2var_pd(t0, ia, t2), u1 = _mm512_permutex2var_pd(t0, ib, t2);      \
    __m512d u2 = _mm512_permutex2var_pd(t1, ia, t3), u3 = _mm512_permutex2var_pd(t1, ib, t3);      \
    __m512d u4 = _mm512_permutex2var_pd(t4, ia, t6), u5 = _mm512_permutex2var_pd(t4, ib, t6);      \
    __m512d u6 = _mm512_permutex2var_pd(t5, ia, t7), u7 = _mm512_permutex2var_pd(t5, ib, t7)

/* All 8 transposed columns are stored (XT holds KM_DOTS_MAXD columns and
 * c0 + 8 <= KM_DOTS_MAXD): columns past d come out zero and are never read,
 * and no column array goes through the stack. */
__attribute__((target("avx512f"))) static inline void to_lanes_f64_512(double *XT, const double *x0,
                                                                       size_t d, size_t m)
{
    const __m512i ia = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i ib = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    const __m512i ic = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
    const __m512i id = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
    for (size_t c0 = 0; c0 < d; c0 += 8) {
        __mmask8 mk = (__mmask8)(d - c0 >= 8 ? 0xffu : (1u << (d - c0)) - 1u);
        const int full = m == 8 && d - c0 >= 8;
        LANE_ROWS8(__m512d, _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_setzero_pd);
        TR8_PD_U(r0, r1, r2, r3, r4, r5, r6, r7);
        double *o = XT + c0 * 8;
        _mm512_storeu_pd(o, _mm512_permutex2var_pd(u0, ic, u4));
        _mm512_storeu_pd(o + 8, _mm512_permutex2var_pd(u2, ic, u6));
        _mm512_storeu_pd(o + 16, _mm512_permutex2var_pd(u1, ic, u5));
        _mm512_storeu_pd(o + 24, _mm512_permutex2var_pd(u3, ic, u7));
        _mm512_storeu_pd(o + 32, _mm512_permutex2var_pd(u0, id, u4));
        _mm512_storeu_pd(o + 40, _mm512_permutex2var_pd(u2, id, u6));
        _mm512_storeu_pd(o + 48, _mm512_permutex2var_pd(u1, id, u5));
        _mm512_storeu_pd(o + 56, _mm512_permutex2var_pd(u3, id, u7));
    }
}

/* 16 rows of floats: rows l and l + 8 share a register (low and high
 * half), then two 8 x 8 transposes side by side. */
__attribute__((target("avx512f"))) static inline __m512 two_rows_f32(const float *x0, size_t d,
                                                                     size_t c0, size_t l,
                                                                     size_t m, __mmask16 mk)
{
    if (m == 16 && d - c0 >= 8) { /* plain loads (see LANE_ROW) */
        __m512d lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(x0 + l * d + c0)));
        return _mm512_castpd_ps(
            _mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(x0 + (l + 8) * d + c0)), 1));
    }
    __m512 a = l < m ? _mm512_maskz_loadu_ps(mk, x0 + l * d + c0) : _mm512_setzero_ps();
    __m512 b = l + 8 < m ? _mm512_maskz_loadu_ps(mk, x0 + (l + 8) * d + c0) : _mm512_setzero_ps();
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(a),
                                               _mm256_castps_pd(_mm512_castps512_ps256(b)), 1));
}

/* Eight registers of two 8-column half rows each into 16 lanes of 8
 * columns at o: half h of register l goes to lane l + 8 h. */
__attribute__((target("avx512f"))) static inline void lanes_f32_512(float *o, __m512 r0, __m512 r1,
                                                                    __m512 r2, __m512 r3,
                                                                    __m512 r4, __m512 r5,
                                                                    __m512 r6, __m512 r7)
{
    const __m512i lo = _mm512_set_epi32(27, 26, 25, 24, 11, 10, 9, 8, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i hi = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 23, 22, 21, 20, 7, 6, 5, 4);
    __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpackhi_ps(r0, r1);
    __m512 t2 = _mm512_unpacklo_ps(r2, r3), t3 = _mm512_unpackhi_ps(r2, r3);
    __m512 t4 = _mm512_unpacklo_ps(r4, r5), t5 = _mm512_unpackhi_ps(r4, r5);
    __m512 t6 = _mm512_unpacklo_ps(r6, r7), t7 = _mm512_unpackhi_ps(r6, r7);
    __m512 s0 = _mm512_shuffle_ps(t0, t2, 0x44), s1 = _mm512_shuffle_ps(t0, t2, 0xee);
    __m512 s2 = _mm512_shuffle_ps(t1, t3, 0x44), s3 = _mm512_shuffle_ps(t1, t3, 0xee);
    __m512 s4 = _mm512_shuffle_ps(t4, t6, 0x44), s5 = _mm512_shuffle_ps(t4, t6, 0xee);
    __m512 s6 = _mm512_shuffle_ps(t5, t7, 0x44), s7 = _mm512_shuffle_ps(t5, t7, 0xee);
    _mm512_storeu_ps(o, _mm512_permutex2var_ps(s0, lo, s4));
    _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(s1, lo, s5));
    _mm512_storeu_ps(o + 32, _mm512_permutex2var_ps(s2, lo, s6));
    _mm512_storeu_ps(o + 48, _mm512_permutex2var_ps(s3, lo, s7));
    _mm512_storeu_ps(o + 64, _mm512_permutex2var_ps(s0, hi, s4));
    _mm512_storeu_ps(o + 80, _mm512_permutex2var_ps(s1, hi, s5));
    _mm512_storeu_ps(o + 96, _mm512_permutex2var_ps(s2, hi, s6));
    _mm512_storeu_ps(o + 112, _mm512_permutex2var_ps(s3, hi, s7));
}

__attribute__((target("avx512f"))) static inline void to_lanes_f32_512(float *XT, const float *x0,
                                                                       size_t d, size_t m)
{
    for (size_t c0 = 0; c0 < d; c0 += 8) {
        __mmask16 mk = (__mmask16)(d - c0 >= 8 ? 0xffu : (1u << (d - c0)) - 1u);
        lanes_f32_512(XT + c0 * 16, two_rows_f32(x0, d, c0, 0, m, mk),
                      two_rows_f32(x0, d, c0, 1, m, mk), two_rows_f32(x0, d, c0, 2, m, mk),
                      two_rows_f32(x0, d, c0, 3, m, mk), two_rows_f32(x0, d, c0, 4, m, mk),
                      two_rows_f32(x0, d, c0, 5, m, mk), two_rows_f32(x0, d, c0, 6, m, mk),
                      two_rows_f32(x0, d, c0, 7, m, mk));
    }
}

/* Lloyd's labels (labels_f32_512) at 8 columns and 16 rows: rows 2l and
 * 2l + 1 are one plain 64-byte load, lane l and lane l + 8 (no halves put
 * together), and STI512PS_ROWS2 puts the labels back in row order. */
#define ROWS2_F32(d, m) ((d) == 8 && (m) == 16)
__attribute__((target("avx512f"))) static inline void to_lanes2_f32_512(float *XT, const float *x0,
                                                                        size_t d, size_t m)
{
    if (!ROWS2_F32(d, m)) {
        to_lanes_f32_512(XT, x0, d, m);
        return;
    }
    lanes_f32_512(XT, _mm512_loadu_ps(x0), _mm512_loadu_ps(x0 + 16), _mm512_loadu_ps(x0 + 32),
                  _mm512_loadu_ps(x0 + 48), _mm512_loadu_ps(x0 + 64), _mm512_loadu_ps(x0 + 80),
                  _mm512_loadu_ps(x0 + 96), _mm512_loadu_ps(x0 + 112));
}

#define MASKLOAD256PD(mk, p) _mm256_maskload_pd(p, mk)
#define MASKLOAD256PS(mk, p) _mm256_maskload_ps(p, mk)

__attribute__((target("avx2,fma"))) static inline void
to_lanes_f64_256(double *XT, const double *x0, size_t d, size_t m)
{
    for (size_t c0 = 0; c0 < d; c0 += 4) {
        __m256i mk = tail_mask64(d - c0);
        const int full = m == 4 && d - c0 >= 4;
        __m256d r0 = LANE_ROW(_mm256_loadu_pd, MASKLOAD256PD, _mm256_setzero_pd, 0);
        __m256d r1 = LANE_ROW(_mm256_loadu_pd, MASKLOAD256PD, _mm256_setzero_pd, 1);
        __m256d r2 = LANE_ROW(_mm256_loadu_pd, MASKLOAD256PD, _mm256_setzero_pd, 2);
        __m256d r3 = LANE_ROW(_mm256_loadu_pd, MASKLOAD256PD, _mm256_setzero_pd, 3);
        __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
        double *o = XT + c0 * 4;
        _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(o + 4, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(o + 8, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm256_storeu_pd(o + 12, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
}

__attribute__((target("avx2,fma"))) static inline void to_lanes_f32_256(float *XT, const float *x0,
                                                                        size_t d, size_t m)
{
    for (size_t c0 = 0; c0 < d; c0 += 8) {
        __m256i mk = tail_mask32(d - c0);
        const int full = m == 8 && d - c0 >= 8;
        LANE_ROWS8(__m256, _mm256_loadu_ps, MASKLOAD256PS, _mm256_setzero_ps);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
        __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
        __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
        __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
        __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
        float *o = XT + c0 * 8;
        _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
        _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(s1, s5, 0x20));
        _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(s2, s6, 0x20));
        _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(s3, s7, 0x20));
        _mm256_storeu_ps(o + 32, _mm256_permute2f128_ps(s0, s4, 0x31));
        _mm256_storeu_ps(o + 40, _mm256_permute2f128_ps(s1, s5, 0x31));
        _mm256_storeu_ps(o + 48, _mm256_permute2f128_ps(s2, s6, 0x31));
        _mm256_storeu_ps(o + 56, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
}

/* One row's contribution to its centre's sums: s[c] += wi * x[c] (no
 * multiply when unweighted: wi = 1 gives the same bits), d <= KM_DOTS_MAXD.
 * s is padded to whole vectors, so its loads and stores are never masked:
 * a masked store does not forward to the next row's load of the same
 * centre, and the stall costs more than the arithmetic. */
__attribute__((target("avx2,fma"))) static inline void acc_f64_256(const double *x, double wi,
                                                                   int weighted, double *s,
                                                                   size_t d)
{
    for (size_t c = 0; c < d; c += 4) {
        __m256d v = d - c >= 4 ? _mm256_loadu_pd(x + c) : _mm256_maskload_pd(x + c, tail_mask64(d - c));
        v = weighted ? _mm256_mul_pd(_mm256_set1_pd(wi), v) : v;
        _mm256_storeu_pd(s + c, _mm256_add_pd(_mm256_loadu_pd(s + c), v));
    }
}

__attribute__((target("avx2,fma"))) static inline void acc_f32_256(const float *x, double wi,
                                                                   int weighted, double *s,
                                                                   size_t d)
{
    for (size_t c = 0; c < d; c += 4) {
        size_t left = d - c;
        __m128i mk = _mm_set_epi32(left > 3 ? -1 : 0, left > 2 ? -1 : 0, left > 1 ? -1 : 0, -1);
        __m256d v = _mm256_cvtps_pd(left >= 4 ? _mm_loadu_ps(x + c) : _mm_maskload_ps(x + c, mk));
        v = weighted ? _mm256_mul_pd(_mm256_set1_pd(wi), v) : v;
        _mm256_storeu_pd(s + c, _mm256_add_pd(_mm256_loadu_pd(s + c), v));
    }
}

/* km_lloyd: a tile of rows is assigned (labels only), then its moves are
 * counted and each row is added to its centre's sums, rows in order (the
 * bits of the plain loop: no fused multiply-add).  The tile (at most
 * LLOYD_TILE_BYTES of X) is still in L1 for the second loop, and that loop
 * is short: the load-add-store chains of different centres overlap, where
 * inside the long assignment loop one row's chain waited for the last
 * (f32, d = 8, k = 8, one thread: 6.5 against 4.0 ns a row). */
#define LLOYD_TILE_BYTES 16384
#define LLOYD_TILE 512

/* assign_SFX (labels, best, second best) and lloyd_SFX (labels, moves,
 * cluster sums) for one instruction set and type. */
#define ASSIGN_FNS(SFX, TGT, T, VT_, MT_, LANES, SETZERO, SET1, ADD, LOAD, STORE, FMADD,           \
                   FNMADD, MIN, CMPLT, BLEND, LABLANES, STOREI, ACCTILE, CLFN)                     \
    __attribute__((target(TGT))) static void assign_##SFX(const T *X, size_t nr, size_t npf,       \
                                                          size_t d,                                \
                                                          const T *C, const T *cn, size_t k,       \
                                                          int32_t *lab, T *v1, T *v2)              \
    {                                                                                              \
        typedef VT_ VT;                                                                            \
        typedef MT_ MT;                                                                            \
        ASSIGN_BODY(LANES, SETZERO, SET1, ADD, LOAD, FMADD, FNMADD, MIN, CMPLT, BLEND, T,          \
                    to_lanes_##SFX, ASSIGN_STEP2, CE_PLAIN, 1, ASSIGN_OUT_LABELS(STORE, LANES, T)) \
    }                                                                                              \
    /* labels only, LANES at a time: lab has room for nr rounded up to LANES */                    \
    __attribute__((target(TGT))) static void labels_##SFX(const T *X, size_t nr, size_t npf,       \
                                                          size_t d, const T *C, const T *cn,       \
                                                          size_t k, int32_t *lab)                  \
    {                                                                                              \
        typedef VT_ VT;                                                                            \
        typedef MT_ MT;                                                                            \
        ASSIGN_BODY(LANES, SETZERO, SET1, ADD, LOAD, FMADD, FNMADD, MIN, CMPLT, BLEND, T,          \
                    LABLANES, ASSIGN_STEP1, CE_PACKED, LANES * sizeof(T) == 64,                    \
                    ASSIGN_OUT_VEC(STOREI))                                                        \
    }                                                                                              \
    __attribute__((target(TGT))) static void lloyd_##SFX(                                          \
        const T *X, size_t nr, size_t d, const T *C, const T *cn, size_t k, const double *w,       \
        int32_t *lab, double *sums, size_t dp, double *wk, uint64_t *cnt, double *moved)           \
    {                                                                                              \
        int32_t tl[LLOYD_TILE];                                                                    \
        size_t nmoved = 0, tile = LLOYD_TILE_BYTES / (d * sizeof(T)) / LANES * LANES;              \
        tile = tile < LANES ? LANES : tile > LLOYD_TILE ? LLOYD_TILE : tile;                       \
        for (size_t t0 = 0; t0 < nr; t0 += tile) {                                                 \
            size_t tn = nr - t0 < tile ? nr - t0 : tile;                                           \
            const T *xt = X + t0 * d;                                                              \
            if (!CLFN(xt, tn, nr - t0, d, C, cn, k, tl)) {                                         \
                labels_##SFX(xt, tn, nr - t0, d, C, cn, k, tl);                                    \
            }                                                                                      \
            if (lab != NULL) {                                                                     \
                nmoved += km_moves(lab + t0, tl, tn);                                              \
            }                                                                                      \
            ACCTILE(xt, tn, nr - t0, tl, w != NULL ? w + t0 : NULL, sums, dp, wk, cnt, d, k);      \
        }                                                                                          \
        *moved += (double)nmoved;                                                                  \
    }

/* How many of lt[0..n) differ from tl[0..n), and lt = tl: 8 labels a
 * compare (a scalar loop was a sixth of Lloyd's time at d = 8, k = 8). */
typedef int32_t km_v8i __attribute__((vector_size(32)));
static inline size_t km_moves(int32_t *lt, const int32_t *tl, size_t n)
{
    km_v8i acc = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t r = 0, moved = 0;
    for (; r + 8 <= n; r += 8) {
        km_v8i a, b;
        memcpy(&a, lt + r, sizeof a);
        memcpy(&b, tl + r, sizeof b);
        acc -= a != b; /* -1 where they differ */
    }
    for (size_t l = 0; l < 8; l++) {
        moved += (size_t)(uint32_t)acc[l];
    }
    for (; r < n; r++) {
        moved += lt[r] != tl[r];
    }
    memcpy(lt, tl, n * sizeof *lt);
    return moved;
}

/* The rows of a tile added to their centres' sums (rows of dp, padded) and
 * weights, rows in order. */
#define ACC_ROWS(ACCROW)                                                                           \
    for (size_t r = 0; r < tn; r++) {                                                              \
        double wi = w != NULL ? w[r] : 1.0;                                                        \
        ACCROW(xt + r * d, wi, w != NULL, sums + (size_t)tl[r] * dp, d);                           \
        wk[tl[r]] += wi;                                                                           \
    }
#define ACC_TILE(SFX, T, ACCROW)                                                                   \
    static inline void acctile_##SFX(const T *xt, size_t tn, size_t left, const int32_t *tl,       \
                                     const double *w, double *sums, size_t dp, double *wk,         \
                                     uint64_t *cnt, size_t d, size_t k)                            \
    {                                                                                              \
        (void)left;                                                                                \
        (void)cnt;                                                                                 \
        (void)k;                                                                                   \
        ACC_ROWS(ACCROW)                                                                           \
    }
ACC_TILE(f64_256, double, acc_f64_256)
ACC_TILE(f32_256, float, acc_f32_256)

/* One row into its sums s (padded to whole vectors, never masked): V for
 * each whole 8 of its values (c), VT for the rest under tm (zeros past d). */
#define ACC8_ADD(c_, V) _mm512_storeu_pd(s + (c_), _mm512_add_pd(_mm512_loadu_pd(s + (c_)), V))
#define ACC8_ROW(V, VT)                                                                            \
    for (size_t c = 0; c < full; c += 8) {                                                         \
        ACC8_ADD(c, V);                                                                            \
    }                                                                                              \
    if (tm != 0) {                                                                                 \
        ACC8_ADD(full, VT);                                                                        \
    }
/* The rows of a tile (tn <= LLOYD_TILE) grouped by label, rows in order
 * within a group: ord[st[j] .. st[j + 1]) are centre j's (row numbers in
 * the tile, 16 bits).  Each centre's rows are found by a compare of labels
 * and their numbers compressed in: nothing branches on a label.  With
 * AVX512-VBMI2 the labels are narrowed to 16 bits once and 32 go through
 * each compare and compress; without it, 16 at a time, each compressed
 * vector narrowed as it is stored.  Same order either way (the compress
 * was most of the grouping's time: 512 labels, k = 8, one thread, 0.82-0.87
 * -> 0.37-0.38 ns a row).  ord has room for tn + 32. */
#define KM_GROUP_MAXK 16
#define KM_GROUP_PAYS(k, d) ((k) <= 8 || ((k) <= KM_GROUP_MAXK && (d) > 8))
__attribute__((target("avx512f,popcnt"), noinline)) static void
km_group_rows32(const int32_t *tl, size_t tn, size_t k, uint16_t *ord, uint32_t *st)
{
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    uint32_t pos = 0;
    for (size_t j = 0; j < k; j++) {
        const __m512i jv = _mm512_set1_epi32((int32_t)j);
        st[j] = pos;
        for (size_t r = 0; r < tn; r += 16) {
            __mmask16 m;
            if (tn - r >= 16) {
                m = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512((const void *)(tl + r)), jv);
            } else {
                __mmask16 v = (__mmask16)((1u << (tn - r)) - 1u);
                m = _mm512_mask_cmpeq_epi32_mask(v, _mm512_maskz_loadu_epi32(v, tl + r), jv);
            }
            __m512i ix = _mm512_add_epi32(iota, _mm512_set1_epi32((int32_t)r));
            _mm256_storeu_si256((__m256i *)(void *)(ord + pos),
                                _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(m, ix)));
            pos += (uint32_t)__builtin_popcount(m);
        }
    }
    st[k] = pos;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"), noinline)) static void
km_group_rows16(const int32_t *tl, size_t tn, size_t k, uint16_t *ord, uint32_t *st)
{
    uint16_t l16[LLOYD_TILE + 32];
    for (size_t r = 0; r < tn; r += 16) {
        __mmask16 v = (__mmask16)(tn - r >= 16 ? 0xffffu : (1u << (tn - r)) - 1u);
        _mm256_storeu_si256((__m256i *)(void *)(l16 + r),
                            _mm512_cvtepi32_epi16(_mm512_maskz_loadu_epi32(v, tl + r)));
    }
    const __m512i iota = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
                                          17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2,
                                          1, 0);
    const __m512i step = _mm512_set1_epi16(32);
    uint32_t pos = 0;
    for (size_t j = 0; j < k; j++) {
        const __m512i jv = _mm512_set1_epi16((short)j);
        __m512i ix = iota;
        st[j] = pos;
        for (size_t r = 0; r < tn; r += 32) {
            __mmask32 live = (__mmask32)(tn - r >= 32 ? 0xffffffffu : (1u << (tn - r)) - 1u);
            __mmask32 m =
                _mm512_mask_cmpeq_epi16_mask(live, _mm512_maskz_loadu_epi16(live, l16 + r), jv);
            _mm512_storeu_si512((void *)(ord + pos), _mm512_maskz_compress_epi16(m, ix));
            ix = _mm512_add_epi16(ix, step);
            pos += (uint32_t)__builtin_popcount(m);
        }
    }
    st[k] = pos;
}

static void km_group_rows(const int32_t *tl, size_t tn, size_t k, uint16_t *ord, uint32_t *st)
{
    if (ct_simd_vbmi2()) {
        km_group_rows16(tl, tn, k, ord, st);
    } else {
        km_group_rows32(tl, tn, k, ord, st);
    }
}

/* ACC_GROUP_LOOP's adds for NV whole vectors of 8 values a row (TAIL: and
 * one more of d - full under tm), each in its register: a loop per shape,
 * with no test on d inside. */
#define ACC_GV(v, a, NV, TAIL, WMUL, LOAD8, ROW8)                                                  \
    if ((v) < (NV)) {                                                                              \
        a = _mm512_add_pd(a, WMUL(ROW8(x + 8 * (v))));                                             \
    } else if ((TAIL) && (v) == (NV)) {                                                            \
        a = _mm512_add_pd(a, WMUL(LOAD8(x + full, r < safe, tm)));                                 \
    }
/* One row (row number R in the tile) into the accumulators A0..A3, its
 * weight into WS; without a tail, d is 8 NV (a constant: the row's address
 * a shift, not a multiply). */
#define ACC_ROW(T, R, A0, A1, A2, A3, WS, NV, TAIL, WMUL, WADD, LOAD8, ROW8)                      \
    do {                                                                                           \
        size_t r = (size_t)(R);                                                                    \
        const T *x = xt + r * ((TAIL) ? d : 8 * (size_t)(NV));                                     \
        double wi = w != NULL ? w[r] : 1.0;                                                        \
        (void)wi;                                                                                  \
        ACC_GV(0, A0, NV, TAIL, WMUL, LOAD8, ROW8)                                                 \
        ACC_GV(1, A1, NV, TAIL, WMUL, LOAD8, ROW8)                                                 \
        ACC_GV(2, A2, NV, TAIL, WMUL, LOAD8, ROW8)                                                 \
        ACC_GV(3, A3, NV, TAIL, WMUL, LOAD8, ROW8)                                                 \
        WADD(WS);                                                                                  \
    } while (0)
/* A lane of the grouped sums: a centre (jL; k: none left), its rows oL[0 ..
 * nL) still to add, its sums in L0..L3 and its weight in wL.  START takes
 * the next centre with rows (nxt on), FINISH stores the lane's centre (an
 * unweighted centre's weight gains its row count at once: integers, the
 * bits of adding 1.0 a row). */
#define ACC_LANE_START(L)                                                                          \
    while (nxt < k && st[nxt + 1] == st[nxt]) {                                                    \
        nxt++;                                                                                     \
    }                                                                                              \
    if (nxt < k) {                                                                                 \
        j##L = nxt++;                                                                              \
        o##L = ord + st[j##L];                                                                     \
        n##L = st[j##L + 1] - st[j##L];                                                            \
        ACC_LOAD_SUMS(sums + j##L * dp, L##0, L##1, L##2, L##3);                                   \
        w##L = wk[j##L];                                                                           \
    } else {                                                                                       \
        j##L = k;                                                                                  \
        n##L = 0;                                                                                  \
    }
#define ACC_LANE_FINISH(L)                                                                         \
    do {                                                                                           \
        ACC_STORE_SUMS(sums + j##L * dp, L##0, L##1, L##2, L##3);                                  \
        wk[j##L] = w == NULL ? w##L + (double)(st[j##L + 1] - st[j##L]) : w##L;                    \
    } while (0)
/* A lane's last centre, if any, its rest alone (no centre left to pair it) */
#define ACC_LANE_DRAIN(L, T, NV, TAIL, WMUL, WADD, LOAD8, ROW8)                                    \
    if (j##L < k) {                                                                                \
        for (uint32_t i = 0; i < n##L; i++) {                                                      \
            ACC_ROW(T, o##L[i], L##0, L##1, L##2, L##3, w##L, NV, TAIL, WMUL, WADD, LOAD8, ROW8);  \
        }                                                                                          \
        ACC_LANE_FINISH(L);                                                                        \
    }
/* The tile's grouped rows, two lanes at once: a row of each in turn, one
 * counter for both, while both have rows; a lane whose centre is done
 * stores it and takes the next.  Each centre's rows go in order into its
 * own sums (the bits of the row-by-row loop); two chains of adds in flight
 * where one row had waited for the last add.  Centres had been taken in
 * fixed pairs (j, j + 1), the larger one's rest in a chain of its own:
 * with the bench's clusters, a third of the sums' samples sat in those
 * single chains. */
#define ACC_GROUP_ROWS(T, NV, TAIL, WMUL, WADD, LOAD8, ROW8)                                       \
    {                                                                                              \
        size_t nxt = 0, jA = k, jB = k;                                                            \
        const uint16_t *oA = ord, *oB = ord;                                                       \
        uint32_t nA = 0, nB = 0;                                                                   \
        __m512d A0 = _mm512_setzero_pd(), A1 = A0, A2 = A0, A3 = A0;                               \
        __m512d B0 = A0, B1 = A0, B2 = A0, B3 = A0;                                                \
        double wA = 0, wB = 0;                                                                     \
        ACC_LANE_START(A)                                                                          \
        ACC_LANE_START(B)                                                                          \
        while (jA < k && jB < k) {                                                                 \
            uint32_t m = nA < nB ? nA : nB;                                                        \
            for (uint32_t i = 0; i < m; i++) {                                                     \
                ACC_ROW(T, oA[i], A0, A1, A2, A3, wA, NV, TAIL, WMUL, WADD, LOAD8, ROW8);          \
                ACC_ROW(T, oB[i], B0, B1, B2, B3, wB, NV, TAIL, WMUL, WADD, LOAD8, ROW8);          \
            }                                                                                      \
            oA += m;                                                                               \
            oB += m;                                                                               \
            nA -= m;                                                                               \
            nB -= m;                                                                               \
            if (nA == 0) {                                                                         \
                ACC_LANE_FINISH(A);                                                                \
                ACC_LANE_START(A)                                                                  \
            }                                                                                      \
            if (nB == 0) {                                                                         \
                ACC_LANE_FINISH(B);                                                                \
                ACC_LANE_START(B)                                                                  \
            }                                                                                      \
        }                                                                                          \
        ACC_LANE_DRAIN(A, T, NV, TAIL, WMUL, WADD, LOAD8, ROW8)                                    \
        ACC_LANE_DRAIN(B, T, NV, TAIL, WMUL, WADD, LOAD8, ROW8)                                    \
    }
#define ACC_GROUP_LOOP(T, WMUL, WADD, LOAD8, ROW8)                                                 \
    if (tm != 0) {                                                                                 \
        switch (full / 8) {                                                                        \
        case 0: ACC_GROUP_ROWS(T, 0, 1, WMUL, WADD, LOAD8, ROW8) break;                            \
        case 1: ACC_GROUP_ROWS(T, 1, 1, WMUL, WADD, LOAD8, ROW8) break;                            \
        case 2: ACC_GROUP_ROWS(T, 2, 1, WMUL, WADD, LOAD8, ROW8) break;                            \
        default: ACC_GROUP_ROWS(T, 3, 1, WMUL, WADD, LOAD8, ROW8) break;                           \
        }                                                                                          \
    } else {                                                                                       \
        switch (full / 8) {                                                                        \
        case 1: ACC_GROUP_ROWS(T, 1, 0, WMUL, WADD, LOAD8, ROW8) break;                            \
        case 2: ACC_GROUP_ROWS(T, 2, 0, WMUL, WADD, LOAD8, ROW8) break;                            \
        case 3: ACC_GROUP_ROWS(T, 3, 0, WMUL, WADD, LOAD8, ROW8) break;                            \
        default: ACC_GROUP_ROWS(T, 4, 0, WMUL, WADD, LOAD8, ROW8) break;                           \
        }                                                                                          \
    }
#define WMUL_NONE(v) (v)
#define WMUL_W(v) _mm512_mul_pd(_mm512_set1_pd(wi), v)
#define WADD_NONE(ws) ((void)0)
#define WADD_W(ws) ((ws) += wi)
/* A centre's sums (dp values at s) into a0..a3 (zeros past dp), and back. */
#define ACC_LOAD_SUMS(s, a0, a1, a2, a3)                                                           \
    do {                                                                                           \
        a0 = _mm512_loadu_pd(s);                                                                   \
        a1 = dp > 8 ? _mm512_loadu_pd((s) + 8) : _mm512_setzero_pd();                              \
        a2 = dp > 16 ? _mm512_loadu_pd((s) + 16) : _mm512_setzero_pd();                            \
        a3 = dp > 24 ? _mm512_loadu_pd((s) + 24) : _mm512_setzero_pd();                            \
    } while (0)
#define ACC_STORE_SUMS(s, a0, a1, a2, a3)                                                          \
    do {                                                                                           \
        _mm512_storeu_pd(s, a0);                                                                   \
        if (dp > 8) {                                                                              \
            _mm512_storeu_pd((s) + 8, a1);                                                         \
        }                                                                                          \
        if (dp > 16) {                                                                             \
            _mm512_storeu_pd((s) + 16, a2);                                                        \
        }                                                                                          \
        if (dp > 24) {                                                                             \
            _mm512_storeu_pd((s) + 24, a3);                                                        \
        }                                                                                          \
    } while (0)
/* The sums of a tile under AVX-512 for few centres: the rows grouped by
 * label (km_group_rows), then the sums of two centres at a time held in
 * registers while their rows are added (ACC_GROUP_ROWS' lanes), each
 * centre's rows in order (the bits of the row-by-row loop).  Row by row
 * through memory, each row's load of its centre's sums waited for the
 * store before it: 58 % of Lloyd's samples at 10M x 32, k = 8, f32 sat
 * on that store.  Unweighted, a centre's weight gains its row count at
 * once (integers below 2^53: the bits of adding 1.0 a row). */
#define ACC_GROUPED(T, LOAD8, ROW8)                                                                \
    uint16_t ord[LLOYD_TILE + 32];                                                                 \
    uint32_t st[KM_GROUP_MAXK + 1];                                                                \
    km_group_rows(tl, tn, k, ord, st);                                                             \
    const size_t full = d >= 8 ? d / 8 * 8 : 0;                                                    \
    const __mmask8 tm = (__mmask8)((1u << (d - full)) - 1u);                                       \
    size_t safe = left * d >= full + 8 ? (left * d - full - 8) / d + 1 : 0;                        \
    safe = safe < tn ? safe : tn;                                                                  \
    if (w == NULL) {                                                                               \
        ACC_GROUP_LOOP(T, WMUL_NONE, WADD_NONE, LOAD8, ROW8)                                       \
    } else {                                                                                       \
        ACC_GROUP_LOOP(T, WMUL_W, WADD_W, LOAD8, ROW8)                                             \
    }

/* The sums of a tile under AVX-512.  d > 8: a row's whole 8s, then its rest
 * under a mask, the weight tested once a row (a loop of masked chunks with
 * the test inside took a fifth of Lloyd's time at d = 32, k = 64, f32,
 * rows in L2; in-process A/B, one thread, same bits: that shape 0.92-0.93,
 * 10M x 32, k = 8, f32 0.78-0.95, f64 0.85-0.88; 1M x 13, k = 7, 0.78-0.96;
 * 1M x 21, k = 64, f32 0.89-0.94, weighted or not).  d <= 8
 * (dp = 8): one vector add a row.  With d < 8 the row's weight rides in lane
 * d (the padding), so that add also sums the weights (km_lloyd_* takes them
 * from there); with d = 8, unweighted, the rows are counted (integers,
 * exact: the bits of adding 1.0 a row) and each is one plain load.  A tail
 * of values is read with a plain load (a masked one stalls) where 8 values
 * past it are still X's (left: the rows from xt on), and under a mask at the
 * end. */
#define ACC_TILE8(SFX, T, LOAD8, ROW8)                                                             \
    __attribute__((target("avx512f"))) static inline void acctile_##SFX(                           \
        const T *xt, size_t tn, size_t left, const int32_t *tl, const double *w, double *sums,     \
        size_t dp, double *wk, uint64_t *cnt, size_t d, size_t k)                                  \
    {                                                                                              \
        if (KM_GROUP_PAYS(k, d)) {                                                                 \
            ACC_GROUPED(T, LOAD8, ROW8);                                                           \
            return;                                                                                \
        }                                                                                          \
        if (d > 8) {                                                                               \
            const size_t full = d / 8 * 8;                                                         \
            const __mmask8 tm = (__mmask8)((1u << (d - full)) - 1u);                               \
            size_t safe = left * d >= full + 8 ? (left * d - full - 8) / d + 1 : 0;                \
            for (size_t r = 0; r < tn; r++) {                                                      \
                double *s = sums + (size_t)tl[r] * dp, wi = w != NULL ? w[r] : 1.0;                \
                const T *x = xt + r * d;                                                           \
                if (w != NULL) {                                                                   \
                    const __m512d wv = _mm512_set1_pd(wi);                                         \
                    ACC8_ROW(_mm512_mul_pd(wv, ROW8(x + c)),                                       \
                             _mm512_mul_pd(wv, LOAD8(x + full, r < safe, tm)));                    \
                } else {                                                                           \
                    ACC8_ROW(ROW8(x + c), LOAD8(x + full, r < safe, tm));                          \
                }                                                                                  \
                wk[tl[r]] += wi;                                                                   \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (d == 8 && w == NULL) { /* every row a whole vector: no mask, no weight lane */         \
            for (size_t r = 0; r < tn; r++) {                                                      \
                double *s = sums + (size_t)tl[r] * 8;                                              \
                _mm512_storeu_pd(s, _mm512_add_pd(_mm512_loadu_pd(s), ROW8(xt + r * 8)));          \
                cnt[tl[r]]++;                                                                      \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        const __mmask8 dm = (__mmask8)((1u << d) - 1u), wl = (__mmask8)(d < 8 ? 1u << d : 0u);     \
        size_t safe = left * d >= 8 ? (left * d - 8) / d + 1 : 0; /* rows r < safe: plain */       \
        safe = safe < tn ? safe : tn;                                                              \
        if (w == NULL) {                                                                           \
            const __m512d one = _mm512_set1_pd(1.0);                                               \
            for (size_t r = 0; r < tn; r++) {                                                      \
                double *s = sums + (size_t)tl[r] * 8;                                              \
                __m512d v = _mm512_mask_mov_pd(LOAD8(xt + r * d, r < safe, dm), wl, one);          \
                _mm512_storeu_pd(s, _mm512_add_pd(_mm512_loadu_pd(s), v));                         \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t r = 0; r < tn; r++) {                                                      \
                double *s = sums + (size_t)tl[r] * 8;                                              \
                __m512d wi = _mm512_set1_pd(w[r]);                                                 \
                __m512d v = _mm512_mask_mov_pd(_mm512_mul_pd(wi, LOAD8(xt + r * d, r < safe, dm)), \
                                               wl, wi);                                            \
                _mm512_storeu_pd(s, _mm512_add_pd(_mm512_loadu_pd(s), v));                         \
                if (d == 8) {                                                                      \
                    wk[tl[r]] += w[r];                                                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
#define LOAD8PD(p, plain, dm) ((plain) ? _mm512_maskz_mov_pd(dm, _mm512_loadu_pd(p))               \
                                       : _mm512_maskz_loadu_pd(dm, p))
#define LOAD8PS(p, plain, dm)                                                                      \
    ((plain) ? _mm512_maskz_cvtps_pd(dm, _mm256_loadu_ps(p))                                       \
             : _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)(dm), p))))
#define ROW8PD(p) _mm512_loadu_pd(p)
#define ROW8PS(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
ACC_TILE8(f64_512, double, LOAD8PD, ROW8PD)
ACC_TILE8(f32_512, float, LOAD8PS, ROW8PS)

/* ---- Lloyd's labels with the centres in the lanes (f64, k <= 8) -------------
 * The lanes kernels above put rows in the lanes, which costs a transposition
 * of every row (at d = 32, f64, 12 shuffles a row, a sixth of Lloyd's time
 * with the rows in L2).  With at most eight centres, a vector of doubles
 * holds them all (lanes past k zero): each row's dot products are its FMA
 * chain over the columns in order, a_r = fma(x_r[c], C[.][c], a_r) with
 * x_r[c] broadcast, lane j the chain of the lanes kernels for centre j (the
 * same bits); then eight rows' vectors are transposed (3 shuffles a row,
 * whatever d) and the argmin runs as there (ASSIGN_STEP1), centres 0..k-1 in
 * order in each row's lane.  In-process micro-benchmark of km_lloyd_f64,
 * 2,048 rows (in L2), one thread, min of 5 alternated runs against the lanes
 * kernel: k = 8, d = 32 0.78, 24 0.79, 16 0.81, 13 0.80, 8 0.83, 4 0.79,
 * 1 0.78; k = 7, d = 32 0.67-0.73, d = 6 0.87; k = 4, d = 32 0.89, d = 6
 * 0.91; k = 5, d = 8 0.93; k = 2, d = 3 0.79. */
#define CL_NONE(xt, tn, npf, d, C, cn, k, tl) 0
#define CL_APPLIES(k) ((k) <= 8)
/* Eight rows' labels from their vectors v0..v7 (lane j: centre j): an
 * 8 x 8 transposition (lane r: row r), then the lanes kernels' argmin */
__attribute__((target("avx512f"))) static inline void cl_labels8(__m512d v0, __m512d v1,
                                                                 __m512d v2, __m512d v3,
                                                                 __m512d v4, __m512d v5,
                                                                 __m512d v6, __m512d v7,
                                                                 const double *cn, size_t k,
                                                                 int32_t *lab)
{
    typedef __m512d VT;
    typedef __mmask8 MT;
    const __m512i ia = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i ib = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    const __m512i ic = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
    const __m512i id = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
    TR8_PD_U(v0, v1, v2, v3, v4, v5, v6, v7);
    VT b1 = _mm512_set1_pd((double)INFINITY), b2 = b1, bi = _mm512_setzero_pd();
#define CL_STEP(j, u, w, IDX)                                                                      \
    if ((j) < k) {                                                                                 \
        ASSIGN_STEP1(_mm512_permutex2var_pd(u, IDX, w), j, _mm512_set1_pd((double)(j)), b1, b2,    \
                     bi, _mm512_fnmadd_pd, _mm512_set1_pd, LT512PD, _mm512_mask_blend_pd,          \
                     _mm512_min_pd, double);                                                       \
    }
    CL_STEP(0, u0, u4, ic) /* the centres 0..k-1 in order */
    CL_STEP(1, u2, u6, ic)
    CL_STEP(2, u1, u5, ic)
    CL_STEP(3, u3, u7, ic)
    CL_STEP(4, u0, u4, id)
    CL_STEP(5, u2, u6, id)
    CL_STEP(6, u1, u5, id)
    CL_STEP(7, u3, u7, id)
#undef CL_STEP
    (void)b2;
    STI512PD(lab, bi);
}
/* Sixteen rows at x (row stride d) against the centres in the lanes (Q:
 * column c is Q + 8c, lanes past k zero): their labels at lab; the 16 rows
 * 32 on asked for into L1 where pf is not NULL (2d lines, two a column). */
__attribute__((target("avx512f"), always_inline)) static inline void
cl_block16(const double *x, size_t d, const double *Q, const double *cn, size_t k, const char *pf,
           int32_t *lab)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0;
    __m512d a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0;
    __m512d a15 = a0;
    const double *x8 = x + 8 * d;
    for (size_t c = 0; c < d; c++) {
        if (pf != NULL) {
            _mm_prefetch(pf + 128 * c, _MM_HINT_T0);
            _mm_prefetch(pf + 128 * c + 64, _MM_HINT_T0);
        }
        const __m512d q = _mm512_loadu_pd(Q + 8 * c);
#define CL_FMA(i, a, xb) a = _mm512_fmadd_pd(_mm512_set1_pd((xb)[(i) * d + c]), q, a)
        CL_FMA(0, a0, x);
        CL_FMA(1, a1, x);
        CL_FMA(2, a2, x);
        CL_FMA(3, a3, x);
        CL_FMA(4, a4, x);
        CL_FMA(5, a5, x);
        CL_FMA(6, a6, x);
        CL_FMA(7, a7, x);
        CL_FMA(0, a8, x8);
        CL_FMA(1, a9, x8);
        CL_FMA(2, a10, x8);
        CL_FMA(3, a11, x8);
        CL_FMA(4, a12, x8);
        CL_FMA(5, a13, x8);
        CL_FMA(6, a14, x8);
        CL_FMA(7, a15, x8);
#undef CL_FMA
    }
    cl_labels8(a0, a1, a2, a3, a4, a5, a6, a7, cn, k, lab);
    cl_labels8(a8, a9, a10, a11, a12, a13, a14, a15, cn, k, lab + 8);
}
/* rows on to ask for: 32, or KM_PF_MIN_BYTES of rows where 32 are less
 * (as KM_PF_GROUPS; 2 KB at 8 columns.  Lloyd iterations, 2 threads,
 * alternated, best of 3-5: 1M x 8, k = 8 2.53 -> 1.93 ms, 10M 28.2 ->
 * 21.1 ms, 1M x 13, k = 7 3.75 -> 3.41, 1M x 16, k = 8 4.16 -> 3.97,
 * 1M x 3, k = 4 level (1.04-1.26 -> 1.02-1.08); rows in L3, one thread,
 * 0.425 -> 0.439 ms) */
#define KM_CL_AHEAD(d)                                                                             \
    ((d) >= 32 ? (size_t)32 : (KM_PF_MIN_BYTES / sizeof(double) / (d) + 15) / 16 * 16)
/* rows 0..nr of a tile, 16 at a time, the last few through a zeroed
 * buffer of 16 rows (each row's chains are its own: the same bits); C
 * packed by km_pack8_*; 0 where it does not apply (k > 8, other CPUs). */
__attribute__((target("avx512f"))) static int labels_cl_f64_512(const double *X, size_t nr,
                                                                size_t npf, size_t d,
                                                                const double *C, const double *cn,
                                                                size_t k, int32_t *lab)
{
    if (!CL_APPLIES(k)) {
        return 0;
    }
    size_t r0 = 0, ahead = KM_CL_AHEAD(d);
    for (; r0 + 16 <= nr; r0 += 16) {
        /* the rows ahead (KM_CL_AHEAD) into L1.  At 32 rows on, 10M x 32,
         * k = 8, alternated, best of 3:
         * one thread 0.112-0.113 s an iteration against 0.138-0.169 for
         * 64 rows on into L2 (24 rows 0.120, 48 0.120-0.133; into L2 at 32
         * rows 0.121-0.126), two threads 0.063-0.064 against 0.079; no
         * prefetch 0.179-0.188. */
        const char *pf = r0 + ahead + 16 <= npf ? (const char *)(X + (r0 + ahead) * d) : NULL;
        if (k == 8) { /* a constant: no test a step (k = 8 was 1.02-1.05x slower with them) */
            cl_block16(X + r0 * d, d, C, cn, 8, pf, lab + r0);
        } else {
            cl_block16(X + r0 * d, d, C, cn, k, pf, lab + r0);
        }
    }
    if (r0 < nr) {
        double xb[16 * KM_DOTS_MAXD];
        int32_t lb[16];
        memset(xb, 0, 16 * d * sizeof *xb);
        memcpy(xb, X + r0 * d, (nr - r0) * d * sizeof *xb);
        cl_block16(xb, d, C, cn, k, NULL, lb);
        memcpy(lab + r0, lb, (nr - r0) * sizeof *lab);
    }
    return 1;
}

/* ---- Yinyang's groups with the centres in the lanes (f64, up to 64) --------
 * The centre-lane idea above for the few centres of a Yinyang group
 * (km_group_assign_f64): V = ceil(kg / 8) vectors of centres a column
 * (km_packw_f64: column c's vectors at P + 8 (c V + q), then the |c|^2 padded
 * with +inf to V vectors), R rows at once with R V accumulators (24 or fewer
 * of the 32 registers), each column V vector loads and R broadcasts for
 * R V FMAs, and the rows read where they are (no copy, no transposition).
 * Lane m of vector q, row r, is the FMA chain over the columns in order of
 * x_r . c_(8q + m): the lanes kernels' bits.  The label is then found across
 * the lanes: v = cn - 2a (one rounding, as ASSIGN_STEP2), the least v
 * (min(v, best): a NaN never wins, as in the scan), and the first index
 * whose v equals it (-0 equals +0, as the scan's <); none (every v NaN)
 * gives 0, as the scan does.  (The same kernel over all of Lloyd's centres,
 * 8 < k <= 64, measured level with the lanes kernel's pairs: 1M x 32,
 * k = 64, 0.027-0.029 s an iteration both; 1M x 8, k = 64 and 1M x 16,
 * k = 24 level; so Lloyd keeps the lanes kernel.) */
#define CLG_MAXV 8
#define CLG_ROWS(V) ((V) <= 2 ? 12 : (V) == 3 ? 8 : (V) == 4 ? 6 : (V) <= 6 ? 4 : 3)
/* Yinyang's measure of a group (km_group_assign_f64): R rows through their
 * pointers against the group's V vectors of centres (km_packw_f64's
 * layout), per row the first index of the least value (lab), that value
 * (v1) and the least of the others (v2; +inf where kg = 1): the values
 * and ties of km_assign's scan over the group (ASSIGN_STEP2's second best
 * is the least value after the first best's, which a repeated least value
 * also gives here). */
__attribute__((target("avx512f"), always_inline)) static inline void
clg_block(const double *const *xr, size_t d, const double *P, const double *cnp, size_t kg,
          size_t R, size_t V, int32_t *lab, double *v1, double *v2)
{
    __m512d a[24];
    _Pragma("GCC unroll 24") for (size_t i = 0; i < R * V; i++)
    {
        a[i] = _mm512_setzero_pd();
    }
    for (size_t c = 0; c < d; c++) {
        __m512d xb[12];
        _Pragma("GCC unroll 12") for (size_t r = 0; r < R; r++)
        {
            xb[r] = _mm512_set1_pd(xr[r][c]);
        }
        _Pragma("GCC unroll 8") for (size_t q = 0; q < V; q++)
        {
            __m512d cq = _mm512_loadu_pd(P + 8 * (c * V + q));
            __asm__("" : "+v"(cq)); /* one load, in a register for the R rows (folded into
                                     * each FMA, it was R loads: twice the time at V = 8) */
            _Pragma("GCC unroll 12") for (size_t r = 0; r < R; r++)
            {
                a[r * V + q] = _mm512_fmadd_pd(xb[r], cq, a[r * V + q]);
            }
        }
    }
    const uint64_t km = kg >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << kg) - 1;
    const __m512d two = _mm512_set1_pd(2.0), inf = _mm512_set1_pd((double)INFINITY);
    _Pragma("GCC unroll 12") for (size_t r = 0; r < R; r++)
    {
        __m512d v[CLG_MAXV], best = inf;
        _Pragma("GCC unroll 8") for (size_t q = 0; q < V; q++)
        {
            v[q] = _mm512_fnmadd_pd(a[r * V + q], two, _mm512_loadu_pd(cnp + 8 * q));
            best = _mm512_min_pd(v[q], best);
        }
        const double m1 = _mm512_reduce_min_pd(best);
        const __m512d m = _mm512_set1_pd(m1);
        uint64_t bits = 0;
        _Pragma("GCC unroll 8") for (size_t q = 0; q < V; q++)
        {
            bits |= (uint64_t)_mm512_cmp_pd_mask(v[q], m, _CMP_EQ_OQ) << (8 * q);
        }
        bits &= km;
        const size_t j = bits != 0 ? (size_t)__builtin_ctzll(bits) : 0;
        __m512d b2 = inf;
        _Pragma("GCC unroll 8") for (size_t q = 0; q < V; q++)
        {
            __mmask8 self = (__mmask8)(q == j / 8 ? 1u << (j % 8) : 0u);
            b2 = _mm512_min_pd(_mm512_mask_mov_pd(v[q], self, inf), b2);
        }
        lab[r] = (int32_t)j;
        v1[r] = bits != 0 ? m1 : (double)INFINITY;
        v2[r] = _mm512_reduce_min_pd(b2);
    }
}
#define CLG_CASE(VV)                                                                               \
    case VV: {                                                                                     \
        const size_t R = CLG_ROWS(VV);                                                             \
        for (; r0 + R <= nr; r0 += R) {                                                            \
            clg_block(xr + r0, d, P, cnp, kg, R, VV, lab + r0, v1 + r0, v2 + r0);                  \
        }                                                                                          \
        for (; r0 < nr; r0++) {                                                                    \
            clg_block(xr + r0, d, P, cnp, kg, 1, VV, lab + r0, v1 + r0, v2 + r0);                  \
        }                                                                                          \
        break;                                                                                     \
    }
__attribute__((target("avx512f"))) static void clg_f64_512(const double *const *xr, size_t nr,
                                                          size_t d, const double *P, size_t kg,
                                                          int32_t *lab, double *v1, double *v2)
{
    const size_t V = (kg + 7) / 8;
    const double *cnp = P + 8 * V * d;
    size_t r0 = 0;
    switch (V) {
        CLG_CASE(1)
        CLG_CASE(2)
        CLG_CASE(3)
        CLG_CASE(4)
        CLG_CASE(5)
        CLG_CASE(6)
        CLG_CASE(7)
        CLG_CASE(8)
    default: break;
    }
}
#undef CLG_CASE

ASSIGN_FNS(f64_512, "avx512f", double, __m512d, __mmask8, 8, _mm512_setzero_pd, _mm512_set1_pd,
           _mm512_add_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd,
           _mm512_min_pd, LT512PD, _mm512_mask_blend_pd, to_lanes_f64_512, STI512PD,
           acctile_f64_512, labels_cl_f64_512)
ASSIGN_FNS(f64_256, "avx2,fma", double, __m256d, __m256d, 4, _mm256_setzero_pd, _mm256_set1_pd,
           _mm256_add_pd, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd,
           _mm256_min_pd, LT256PD, BL256PD, to_lanes_f64_256, STI256PD, acctile_f64_256, CL_NONE)
ASSIGN_FNS(f32_512, "avx512f", float, __m512, __mmask16, 16, _mm512_setzero_ps, _mm512_set1_ps,
           _mm512_add_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps,
           _mm512_min_ps, LT512PS, _mm512_mask_blend_ps, to_lanes2_f32_512, STI512PS_ROWS2,
           acctile_f32_512, CL_NONE)
ASSIGN_FNS(f32_256, "avx2,fma", float, __m256, __m256, 8, _mm256_setzero_ps, _mm256_set1_ps,
           _mm256_add_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps,
           _mm256_min_ps, LT256PS, BL256PS, to_lanes_f32_256, STI256PS, acctile_f32_256, CL_NONE)

/* Where the fused kernel beats GEMM + scalar argmin (bench/kmeans, 1M rows,
 * 2 threads): every k up to KM_DOTS_MAXD columns (d = 32, k = 8: 0.0054
 * against 0.0152 s per iteration; k = 64: 0.032 against 0.046). */
static int km_assign_pays(size_t d, size_t k)
{
    return k <= KM_ASSIGN_MAXK && d <= KM_DOTS_MAXD;
}

int km_assign_f64(const double *X, size_t nr, size_t d, const double *C, const double *cn, size_t k,
                  int32_t *lab, double *v1, double *v2)
{
    int isa = km_dots_isa();
    if (isa == 0 || !km_assign_pays(d, k)) {
        return -1;
    }
    if (isa == 2) {
        assign_f64_512(X, nr, nr, d, C, cn, k, lab, v1, v2);
    } else {
        assign_f64_256(X, nr, nr, d, C, cn, k, lab, v1, v2);
    }
    return 0;
}

int km_assign_f32(const float *X, size_t nr, size_t d, const float *C, const float *cn, size_t k,
                  int32_t *lab, float *v1, float *v2)
{
    int isa = km_dots_isa();
    if (isa == 0 || !km_assign_pays(d, k)) {
        return -1;
    }
    if (isa == 2) {
        assign_f32_512(X, nr, nr, d, C, cn, k, lab, v1, v2);
    } else {
        assign_f32_256(X, nr, nr, d, C, cn, k, lab, v1, v2);
    }
    return 0;
}

/* C's rows packed for CE_PACKED: blocks of 8 centres (w8) while 8 are left,
 * then of 4, then single, as the fused kernels take them; a block's column c
 * is its W values in a row */
#define KM_PACK_BUF 4096
#define KM_PACK(T, SFX)                                                                            \
    static void km_pack_##SFX(const T *C, size_t k, size_t d, int w8, T *P)                        \
    {                                                                                              \
        size_t j = 0;                                                                              \
        while (j < k) {                                                                            \
            size_t W = w8 && j + 8 <= k ? 8 : j + 4 <= k ? 4 : 1;                                  \
            for (size_t m = 0; m < W; m++) {                                                       \
                for (size_t c = 0; c < d; c++) {                                                   \
                    P[j * d + c * W + m] = C[(j + m) * d + c];                                     \
                }                                                                                  \
            }                                                                                      \
            j += W;                                                                                \
        }                                                                                          \
    }                                                                                              \
    /* the centre-lane kernel's (k <= 8): column c is P + 8c, zeros past k */                      \
    static void km_pack8_##SFX(const T *C, size_t k, size_t d, T *P)                               \
    {                                                                                              \
        for (size_t c = 0; c < d; c++) {                                                           \
            for (size_t m = 0; m < 8; m++) {                                                       \
                P[c * 8 + m] = m < k ? C[m * d + c] : (T)0;                                        \
            }                                                                                      \
        }                                                                                          \
    }
KM_PACK(double, f64)
KM_PACK(float, f32)

/* Yinyang's group kernel's (clg_block, up to 64 centres): V = ceil(k / 8)
 * vectors a column, column c's vector q at P + 8 (c V + q), zeros past k;
 * then |c|^2 (V vectors, +inf past k) */
static void km_packw_f64(const double *C, const double *cn, size_t k, size_t d, double *P)
{
    size_t V = (k + 7) / 8;
    for (size_t c = 0; c < d; c++) {
        for (size_t m = 0; m < 8 * V; m++) {
            P[c * 8 * V + m] = m < k ? C[m * d + c] : 0.0;
        }
    }
    for (size_t m = 0; m < 8 * V; m++) {
        P[8 * V * d + m] = m < k ? cn[m] : (double)INFINITY;
    }
}

/* The sums go to a zeroed copy padded to whole vectors (acc_*), and the
 * weights of the AVX-512 d <= 8 path to its lane d or to counts, all added to
 * the caller's afterwards: where those are zero, as k-means passes them, the
 * bits are the plain loop's. */
#define LLOYD_DISPATCH(T, SFX)                                                                     \
    int km_lloyd_##SFX(const T *X, size_t nr, size_t d, const T *C, const T *cn, size_t k,         \
                       const double *w, int32_t *lab, double *sums, double *wk, double *moved)     \
    {                                                                                              \
        int isa = km_dots_isa();                                                                   \
        if (isa == 0 || !km_assign_pays(d, k)) {                                                   \
            return -1;                                                                             \
        }                                                                                          \
        size_t dp = isa == 2 ? (d + 7) / 8 * 8 : (d + 3) / 4 * 4;                                  \
        double buf[TRANSPOSE_BUF]; /* on the stack up to 2,048 sums (k x d = 64 x 32) */           \
        double *sp = k * dp <= TRANSPOSE_BUF ? buf : calloc(k * dp, sizeof *sp);                   \
        if (sp == NULL) {                                                                          \
            return -1; /* the caller's plain path, the same bits */                                \
        }                                                                                          \
        if (sp == buf) {                                                                           \
            memset(buf, 0, k * dp * sizeof *buf);                                                  \
        }                                                                                          \
        uint64_t cnt[KM_ASSIGN_MAXK]; /* unweighted, d = 8 (acctile_*_512) */                      \
        int counted = isa == 2 && d == 8 && w == NULL;                                             \
        if (counted) {                                                                             \
            memset(cnt, 0, k * sizeof *cnt);                                                       \
        }                                                                                          \
        T pbuf[KM_PACK_BUF];                                                                       \
        /* f64 with k <= 8: the centre-lane kernel's columns of 8 (labels_cl_f64_512) */           \
        const int cl_ = isa == 2 && sizeof(T) == sizeof(double) && CL_APPLIES(k);                  \
        const size_t np_ = (cl_ ? 8 : k) * d;                                                      \
        T *P = np_ <= KM_PACK_BUF ? pbuf : malloc(np_ * sizeof *P);                                \
        if (P == NULL) {                                                                           \
            if (sp != buf) {                                                                       \
                free(sp);                                                                          \
            }                                                                                      \
            return -1;                                                                             \
        }                                                                                          \
        if (cl_) {                                                                                 \
            km_pack8_##SFX(C, k, d, P);                                                            \
        } else {                                                                                   \
            km_pack_##SFX(C, k, d, isa == 2, P);                                                   \
        }                                                                                          \
        if (isa == 2) {                                                                            \
            lloyd_##SFX##_512(X, nr, d, P, cn, k, w, lab, sp, dp, wk, cnt, moved);                 \
        } else {                                                                                   \
            lloyd_##SFX##_256(X, nr, d, P, cn, k, w, lab, sp, dp, wk, cnt, moved);                 \
        }                                                                                          \
        if (P != pbuf) {                                                                           \
            free(P);                                                                               \
        }                                                                                          \
        for (size_t j = 0; j < k; j++) {                                                           \
            for (size_t c = 0; c < d; c++) {                                                       \
                sums[j * d + c] += sp[j * dp + c];                                                 \
            }                                                                                      \
            if (isa == 2 && d < 8) {                                                               \
                wk[j] += sp[j * dp + d]; /* the weights, in lane d (acctile_*_512) */              \
            } else if (counted) {                                                                  \
                wk[j] += (double)cnt[j];                                                           \
            }                                                                                      \
        }                                                                                          \
        if (sp != buf) {                                                                           \
            free(sp);                                                                              \
        }                                                                                          \
        return 0;                                                                                  \
    }
LLOYD_DISPATCH(double, f64)
LLOYD_DISPATCH(float, f32)

size_t km_group_packed(size_t kg, size_t d)
{
    return 8 * ((kg + 7) / 8) * (d + 1);
}

int km_group_pack_f64(const double *C, const double *cn, size_t kg, size_t d, double *P)
{
    if (km_dots_isa() != 2 || kg == 0 || kg > 8 * CLG_MAXV || d > KM_DOTS_MAXD) {
        return -1;
    }
    km_packw_f64(C, cn, kg, d, P);
    return 0;
}

void km_group_assign_f64(const double *const *xr, size_t nr, size_t d, const double *P, size_t kg,
                         int32_t *lab, double *v1, double *v2)
{
    clg_f64_512(xr, nr, d, P, kg, lab, v1, v2);
}

/* ---- Hamerly's bound test --------------------------------------------------- */

/* The undecided lanes of one vector (bit clear in `done`) into und/um/us. */
static long ham_undecided(unsigned done, unsigned lanes, size_t i0, const double *M,
                          const double *S, uint32_t *und, double *um, double *us, long nu)
{
    unsigned left = ~done & ((1u << lanes) - 1u);
    while (left != 0) {
        unsigned b = (unsigned)__builtin_ctz(left);
        und[nu] = (uint32_t)(i0 + b);
        um[nu] = M[b];
        us[nu++] = S[b];
        left &= left - 1;
    }
    return nu;
}

/* xn as doubles: LOADXN(i) */
#define HAM_XN512_f64(i) _mm512_loadu_pd(xn + (i))
#define HAM_XN512_f32(i) _mm512_cvtps_pd(_mm256_loadu_ps(xn + (i)))
#define HAM_XN256_f64(i) _mm256_loadu_pd(xn + (i))
#define HAM_XN256_f32(i) _mm256_cvtps_pd(_mm_loadu_ps(xn + (i)))

#define HAM_SCALAR_ROW(i)                                                                          \
    do {                                                                                           \
        size_t a_ = (size_t)lab[i];                                                                \
        double uu_ = u[i] + p[a_];                                                                 \
        double ll_ = l[i] - (lab[i] == jmax ? pmax2 : pmax);                                       \
        double m_ = s[a_] > ll_ ? s[a_] : ll_;                                                     \
        double xe_ = eps * ((double)xn[i] + cnmax);                                                \
        l[i] = ll_;                                                                                \
        u[i] = uu_;                                                                                \
        if (!km_bound_clears(uu_, m_, xe_)) {                                                      \
            und[nu] = (uint32_t)(i);                                                               \
            um[nu] = m_;                                                                           \
            us[nu++] = xe_;                                                                        \
        }                                                                                          \
    } while (0)

#define HAM_FNS(SFX, XT)                                                                           \
    __attribute__((target("avx512f"))) static long ham512_##SFX(                                   \
        const int32_t *lab, double *u, double *l, const XT *xn, size_t n, const double *p,         \
        const double *s, int32_t jmax, double pmax, double pmax2, double cnmax, double eps,        \
        uint32_t *und, double *um, double *us)                                                     \
    {                                                                                              \
        long nu = 0;                                                                               \
        size_t i = 0;                                                                              \
        const __m256i vj = _mm256_set1_epi32(jmax);                                                \
        const __m512d vpm = _mm512_set1_pd(pmax), vpm2 = _mm512_set1_pd(pmax2);                    \
        const __m512d vcn = _mm512_set1_pd(cnmax), veps = _mm512_set1_pd(eps);                     \
        const __m512d vzero = _mm512_setzero_pd();                                                 \
        double M[8], S[8];                                                                         \
        for (; i + 8 <= n; i += 8) {                                                               \
            __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(lab + i));              \
            __m512d uu = _mm512_add_pd(_mm512_loadu_pd(u + i), _mm512_i32gather_pd(a, p, 8));      \
            __mmask8 isj = _mm512_cmpeq_epi64_mask(_mm512_cvtepi32_epi64(a),                       \
                                                   _mm512_cvtepi32_epi64(vj));                     \
            __m512d ll = _mm512_sub_pd(_mm512_loadu_pd(l + i), _mm512_mask_blend_pd(isj, vpm, vpm2)); \
            __m512d sa = _mm512_i32gather_pd(a, s, 8);                                             \
            __m512d m = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(sa, ll, _CMP_GT_OQ), ll, sa);      \
            __m512d xe = _mm512_mul_pd(veps, _mm512_add_pd(HAM_XN512_##SFX(i), vcn));              \
            _mm512_storeu_pd(l + i, ll);                                                           \
            _mm512_storeu_pd(u + i, uu);                                                           \
            unsigned done = _mm512_cmp_pd_mask(m, vzero, _CMP_GT_OQ) &                             \
                            _mm512_cmp_pd_mask(_mm512_add_pd(_mm512_mul_pd(uu, m), xe),            \
                                               _mm512_mul_pd(m, m), _CMP_LE_OQ);                   \
            if (done != 0xffu) {                                                                   \
                _mm512_storeu_pd(M, m);                                                            \
                _mm512_storeu_pd(S, xe);                                                           \
                nu = ham_undecided(done, 8, i, M, S, und, um, us, nu);                             \
            }                                                                                      \
        }                                                                                          \
        for (; i < n; i++) {                                                                       \
            HAM_SCALAR_ROW(i);                                                                     \
        }                                                                                          \
        return nu;                                                                                 \
    }                                                                                              \
    __attribute__((target("avx2"))) static long ham256_##SFX(                                      \
        const int32_t *lab, double *u, double *l, const XT *xn, size_t n, const double *p,         \
        const double *s, int32_t jmax, double pmax, double pmax2, double cnmax, double eps,        \
        uint32_t *und, double *um, double *us)                                                     \
    {                                                                                              \
        long nu = 0;                                                                               \
        size_t i = 0;                                                                              \
        const __m128i vj = _mm_set1_epi32(jmax);                                                   \
        const __m256d vpm = _mm256_set1_pd(pmax), vpm2 = _mm256_set1_pd(pmax2);                    \
        const __m256d vcn = _mm256_set1_pd(cnmax), veps = _mm256_set1_pd(eps);                     \
        const __m256d vzero = _mm256_setzero_pd();                                                 \
        double M[4], S[4];                                                                         \
        for (; i + 4 <= n; i += 4) {                                                               \
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(lab + i));                 \
            __m256d uu = _mm256_add_pd(_mm256_loadu_pd(u + i), _mm256_i32gather_pd(p, a, 8));      \
            __m256d isj = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_cmpeq_epi32(a, vj)));      \
            __m256d ll = _mm256_sub_pd(_mm256_loadu_pd(l + i), _mm256_blendv_pd(vpm, vpm2, isj));  \
            __m256d sa = _mm256_i32gather_pd(s, a, 8);                                             \
            __m256d m = _mm256_blendv_pd(ll, sa, _mm256_cmp_pd(sa, ll, _CMP_GT_OQ));               \
            __m256d xe = _mm256_mul_pd(veps, _mm256_add_pd(HAM_XN256_##SFX(i), vcn));              \
            _mm256_storeu_pd(l + i, ll);                                                           \
            _mm256_storeu_pd(u + i, uu);                                                           \
            unsigned done = (unsigned)_mm256_movemask_pd(_mm256_and_pd(                            \
                _mm256_cmp_pd(m, vzero, _CMP_GT_OQ),                                               \
                _mm256_cmp_pd(_mm256_add_pd(_mm256_mul_pd(uu, m), xe), _mm256_mul_pd(m, m),        \
                              _CMP_LE_OQ)));                                                       \
            if (done != 0xfu) {                                                                    \
                _mm256_storeu_pd(M, m);                                                            \
                _mm256_storeu_pd(S, xe);                                                           \
                nu = ham_undecided(done, 4, i, M, S, und, um, us, nu);                             \
            }                                                                                      \
        }                                                                                          \
        for (; i < n; i++) {                                                                       \
            HAM_SCALAR_ROW(i);                                                                     \
        }                                                                                          \
        return nu;                                                                                 \
    }                                                                                              \
    long km_hamerly_test_##SFX(const int32_t *lab, double *u, double *l, const XT *xn, size_t n,   \
                               const double *p, const double *s, int32_t jmax, double pmax,        \
                               double pmax2, double cnmax, double eps, uint32_t *und, double *um,  \
                               double *us)                                                         \
    {                                                                                              \
        int isa = km_dots_isa();                                                                   \
        if (isa == 2) {                                                                            \
            return ham512_##SFX(lab, u, l, xn, n, p, s, jmax, pmax, pmax2, cnmax, eps, und, um,    \
                                us);                                                               \
        }                                                                                          \
        if (isa == 1) {                                                                            \
            return ham256_##SFX(lab, u, l, xn, n, p, s, jmax, pmax, pmax2, cnmax, eps, und, um,    \
                                us);                                                               \
        }                                                                                          \
        long nu = 0;                                                                               \
        for (size_t i = 0; i < n; i++) {                                                           \
            HAM_SCALAR_ROW(i);                                                                     \
        }                                                                                          \
        return nu;                                                                                 \
    }
HAM_FNS(f64, double)
HAM_FNS(f32, float)

/* ---- the own distances of the rows the bound test left ------------------------
 * One row at a time, the bits of sqdist8 (kmeans_impl.h): lane q of the
 * accumulator is its partial sum s[q] (each 8 columns' squared differences,
 * a multiply and then an add, no fused multiply-add; a tail under a mask
 * adds zeros to the lanes past d), then ((s0 + s4) + (s1 + s5)) + ((s2 +
 * s6) + (s3 + s7)) and the square root.  In a loop of their own, with no
 * branch on a row's distance (Hamerly's and Yinyang's passes had taken
 * each row's distance, its square root and its bound test in turn: a
 * mispredicted test held up the next rows' loads, and the distances of
 * Yinyang's pass were 30 % of its samples at 1M x 32, k = 64, one thread);
 * the rows OWN_AHEAD on are asked for. */
#define OWN_AHEAD 16
#define OWN_FNS(SFX, XT, LOADX, MLOADX)                                                            \
    __attribute__((target("avx512f"))) static void own512_##SFX(                                   \
        const XT *X, size_t d, size_t i0, const uint32_t *und, long nq, const int32_t *lab,        \
        const double *C, double *ud)                                                               \
    {                                                                                              \
        const size_t full = d / 8 * 8, lines = (d * sizeof(XT) + 63) / 64;                         \
        const __mmask8 tm = (__mmask8)((1u << (d - full)) - 1u);                                   \
        for (long q = 0; q < nq; q++) {                                                            \
            if (q + OWN_AHEAD < nq) {                                                              \
                const char *pf = (const char *)(X + (i0 + und[q + OWN_AHEAD]) * d);                \
                for (size_t l_ = 0; l_ <= lines; l_++) {                                           \
                    _mm_prefetch(pf + 64 * l_, _MM_HINT_T0);                                       \
                }                                                                                  \
            }                                                                                      \
            size_t i = i0 + und[q];                                                                \
            const XT *x = X + i * d;                                                               \
            const double *c = C + (size_t)lab[i] * d;                                              \
            __m512d acc = _mm512_setzero_pd();                                                     \
            for (size_t j = 0; j < full; j += 8) {                                                 \
                __m512d t = _mm512_sub_pd(LOADX(x + j), _mm512_loadu_pd(c + j));                   \
                acc = _mm512_add_pd(acc, _mm512_mul_pd(t, t));                                     \
            }                                                                                      \
            if (tm != 0) {                                                                         \
                __m512d t = _mm512_sub_pd(MLOADX(tm, x + full), _mm512_maskz_loadu_pd(tm, c + full)); \
                acc = _mm512_add_pd(acc, _mm512_mul_pd(t, t));                                     \
            }                                                                                      \
            __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(acc), _mm512_extractf64x4_pd(acc, 1)); \
            __m128d lo = _mm256_castpd256_pd128(h), hi = _mm256_extractf128_pd(h, 1);              \
            __m128d pr = _mm_add_pd(_mm_unpacklo_pd(lo, hi), _mm_unpackhi_pd(lo, hi));             \
            ud[q] = sqrt(_mm_cvtsd_f64(_mm_add_sd(pr, _mm_unpackhi_pd(pr, pr))));                  \
        }                                                                                          \
    }                                                                                              \
    int km_own_dist_##SFX(const XT *X, size_t d, size_t i0, const uint32_t *und, long nq,          \
                          const int32_t *lab, const double *C, double *ud)                         \
    {                                                                                              \
        if (km_dots_isa() != 2) {                                                                  \
            return -1;                                                                             \
        }                                                                                          \
        own512_##SFX(X, d, i0, und, nq, lab, C, ud);                                               \
        return 0;                                                                                  \
    }
#define OWN_LOAD_f64(p) _mm512_loadu_pd(p)
#define OWN_MLOAD_f64(m, p) _mm512_maskz_loadu_pd(m, p)
#define OWN_LOAD_f32(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define OWN_MLOAD_f32(m, p) _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)(m), p)))
OWN_FNS(f64, double, OWN_LOAD_f64, OWN_MLOAD_f64)
OWN_FNS(f32, float, OWN_LOAD_f32, OWN_MLOAD_f32)

/* ---- Yinyang's group bounds of one row --------------------------------------
 * Eight groups a vector, each lane the scalar code's operations (ymeasure,
 * kmeans_impl.h): L -= (c1 - c0)(1 + 1e-12) + 1e-12 c1, then the test of
 * km_bound_clears (L > 0 and u L + xe <= L L) as a mask, no branch a group. */
__attribute__((target("avx512f"))) static uint64_t yg512(double *L, const double *c0,
                                                         const double *c1, size_t ng, double u,
                                                         double xe)
{
    const __m512d one = _mm512_set1_pd(1 + 1e-12), tiny = _mm512_set1_pd(1e-12);
    const __m512d vu = _mm512_set1_pd(u), vx = _mm512_set1_pd(xe), zero = _mm512_setzero_pd();
    uint64_t mk = 0;
    for (size_t g = 0; g < ng; g += 8) {
        __mmask8 lm = (__mmask8)(ng - g >= 8 ? 0xffu : (1u << (ng - g)) - 1u);
        __m512d a = _mm512_maskz_loadu_pd(lm, c0 + g), b = _mm512_maskz_loadu_pd(lm, c1 + g);
        __m512d f = _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(b, a), one), _mm512_mul_pd(tiny, b));
        __m512d l = _mm512_sub_pd(_mm512_maskz_loadu_pd(lm, L + g), f);
        _mm512_mask_storeu_pd(L + g, lm, l);
        __mmask8 clr = _mm512_cmp_pd_mask(l, zero, _CMP_GT_OQ) &
                       _mm512_cmp_pd_mask(_mm512_add_pd(_mm512_mul_pd(vu, l), vx),
                                          _mm512_mul_pd(l, l), _CMP_LE_OQ);
        mk |= (uint64_t)(uint8_t)(~clr & lm) << g;
    }
    return mk;
}

/* ymeasure's filter (kmeans_impl.h) over a chunk's undecided rows, in one
 * call: the group bounds of each row eight to a vector (yg512), the least
 * of them in group order as the scalar code takes it */
__attribute__((target("avx512f"))) static long yfilter512(const km_yfilter_args *a, long nq,
                                                          size_t *out, uint64_t *omk)
{
    const size_t ng = a->ng;
    const double *c1 = a->cum + (size_t)a->pass * ng;
    long no = 0;
    for (long q = 0; q < nq; q++) {
        size_t i = a->i0 + a->und[q];
        double u = a->ud[q], xe = a->us[q];
        a->u[i] = u;
        if (km_bound_clears(u, a->um[q], xe)) {
            continue;
        }
        double *L = a->lb + i * ng, glb = (double)INFINITY;
        uint64_t mk = yg512(L, a->cum + (size_t)a->stamp[i] * ng, c1, ng, u, xe);
        for (size_t g = 0; g < ng; g++) {
            glb = L[g] < glb ? L[g] : glb;
        }
        a->stamp[i] = a->pass;
        a->l[i] = glb;
        if (mk != 0) {
            out[no] = i;
            omk[no++] = mk | (uint64_t)1 << a->grp[a->lab[i]];
        }
    }
    return no;
}

long km_yfilter(const km_yfilter_args *a, long nq, size_t *out, uint64_t *omk)
{
    if (km_dots_isa() != 2) {
        return -1;
    }
    return yfilter512(a, nq, out, omk);
}

/* ---- greedy k-means++'s sums ------------------------------------------------ */

/* Row r's D after lane 0's d2 (d0), where low0: D[r] and near[r] lowered
 * by it. */
static inline double pp_lane0(double *D, int32_t *near, size_t r, int low0, double d0,
                              int32_t newj)
{
    double Di = D[r];
    if (low0 && d0 < Di) {
        D[r] = Di = d0;
        near[r] = newj;
    }
    return Di;
}

/* One row r of km_pp_rows: d2 = max(xn + zn - 2 g, 0) per lane; lane 0
 * lowers D (and sets near) first where it is the last centre or the one
 * being applied; then v = min(d2, D) and acc += w v in the live lanes. */
#define PP_ROW512(XN, G)                                                                           \
    do {                                                                                           \
        __m512d d2_ = _mm512_sub_pd(_mm512_add_pd(_mm512_set1_pd(XN), znv),                        \
                                    _mm512_mul_pd(two, G));                                        \
        d2_ = _mm512_max_pd(d2_, zero);                                                            \
        double Di_ = pp_lane0(D, near, r, low0, _mm512_cvtsd_f64(d2_), newj);                      \
        __m512d v_ = _mm512_mul_pd(_mm512_set1_pd(w != NULL ? w[r] : 1.0),                         \
                                   _mm512_min_pd(d2_, _mm512_set1_pd(Di_)));                       \
        a = _mm512_mask_add_pd(a, live, a, v_);                                                    \
    } while (0)

/* m values at p (T) as doubles in the lanes of one vector, the rest 0 */
#define PP_LOAD512_f64(p) _mm512_maskz_loadu_pd(mm, p)
#define PP_LOAD512_f32(p) _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(mm, p)))

#define PP_FNS512(SFX, T)                                                                          \
    __attribute__((target("avx512f"))) static void pp_rows_##SFX##_512(                            \
        const T *xn, const T *zn, const T *G, const uint32_t *at, size_t nr, size_t m, int pend,   \
        int low0, int32_t newj, const double *w, double *D, int32_t *near, double *acc)            \
    {                                                                                              \
        __mmask8 mm = (__mmask8)((1u << m) - 1u);                                                  \
        __mmask8 live = (__mmask8)(mm & ~((1u << pend) - 1u));                                     \
        const __m512d znv = PP_LOAD512_##SFX(zn), two = _mm512_set1_pd(2.0);                       \
        const __m512d zero = _mm512_setzero_pd();                                                  \
        __m512d a = _mm512_loadu_pd(acc);                                                          \
        for (size_t r = 0; r < nr; r++) {                                                          \
            __m512d g = PP_LOAD512_##SFX(G + (size_t)at[r] * m);                                   \
            PP_ROW512((double)xn[r], g);                                                           \
        }                                                                                          \
        _mm512_storeu_pd(acc, a);                                                                  \
    }
PP_FNS512(f64, double)
PP_FNS512(f32, float)

/* The same in two halves of four lanes (AVX2). */
#define PP_ROW256(XN, G0, G1)                                                                      \
    do {                                                                                           \
        __m256d x_ = _mm256_set1_pd(XN);                                                           \
        __m256d e0_ = _mm256_max_pd(                                                               \
            _mm256_sub_pd(_mm256_add_pd(x_, zn0), _mm256_mul_pd(two, G0)), zero);                  \
        __m256d e1_ = _mm256_max_pd(                                                               \
            _mm256_sub_pd(_mm256_add_pd(x_, zn1), _mm256_mul_pd(two, G1)), zero);                  \
        double Di_ = pp_lane0(D, near, r, low0, _mm256_cvtsd_f64(e0_), newj);                      \
        __m256d dv_ = _mm256_set1_pd(Di_), wv_ = _mm256_set1_pd(w != NULL ? w[r] : 1.0);           \
        a0 = _mm256_blendv_pd(a0, _mm256_add_pd(a0, _mm256_mul_pd(wv_, _mm256_min_pd(e0_, dv_))),  \
                              live0);                                                              \
        a1 = _mm256_blendv_pd(a1, _mm256_add_pd(a1, _mm256_mul_pd(wv_, _mm256_min_pd(e1_, dv_))),  \
                              live1);                                                              \
    } while (0)

#define PP_MASKS256                                                                                \
    int64_t mk_[8], lv_[8];                                                                        \
    for (size_t t = 0; t < 8; t++) {                                                               \
        mk_[t] = t < m ? -1 : 0;                                                                   \
        lv_[t] = t < m && t >= (size_t)pend ? -1 : 0;                                              \
    }                                                                                              \
    const __m256i m0 = _mm256_loadu_si256((const __m256i *)(const void *)mk_);                     \
    const __m256i m1 = _mm256_loadu_si256((const __m256i *)(const void *)(mk_ + 4));               \
    const __m256d live0 = _mm256_castsi256_pd(                                                     \
        _mm256_loadu_si256((const __m256i *)(const void *)lv_));                                   \
    const __m256d live1 = _mm256_castsi256_pd(                                                     \
        _mm256_loadu_si256((const __m256i *)(const void *)(lv_ + 4)));                             \
    const __m256d two = _mm256_set1_pd(2.0), zero = _mm256_setzero_pd();                           \
    __m256d a0 = _mm256_loadu_pd(acc), a1 = _mm256_loadu_pd(acc + 4)

/* m values at p (T) as doubles in two halves of four lanes, the rest 0 */
#define PP_LOAD256_f64(p, h) _mm256_maskload_pd((p) + 4 * (h), (h) ? m1 : m0)
#define PP_LOAD256_f32(p, h) _mm256_cvtps_pd(_mm_maskload_ps((p) + 4 * (h), (h) ? k1 : k0))

#define PP_FNS256(SFX, T)                                                                          \
    __attribute__((target("avx2"))) static void pp_rows_##SFX##_256(                               \
        const T *xn, const T *zn, const T *G, const uint32_t *at, size_t nr, size_t m, int pend,   \
        int low0, int32_t newj, const double *w, double *D, int32_t *near, double *acc)            \
    {                                                                                              \
        PP_MASKS256;                                                                               \
        int32_t k32_[8];                                                                           \
        for (size_t t = 0; t < 8; t++) {                                                           \
            k32_[t] = t < m ? -1 : 0;                                                              \
        }                                                                                          \
        const __m128i k0 = _mm_loadu_si128((const __m128i *)(const void *)k32_);                   \
        const __m128i k1 = _mm_loadu_si128((const __m128i *)(const void *)(k32_ + 4));             \
        (void)m0, (void)m1, (void)k0, (void)k1;                                                    \
        const __m256d zn0 = PP_LOAD256_##SFX(zn, 0), zn1 = PP_LOAD256_##SFX(zn, 1);                \
        for (size_t r = 0; r < nr; r++) {                                                          \
            const T *g = G + (size_t)at[r] * m;                                                    \
            __m256d g0 = PP_LOAD256_##SFX(g, 0), g1 = PP_LOAD256_##SFX(g, 1);                      \
            PP_ROW256((double)xn[r], g0, g1);                                                      \
        }                                                                                          \
        _mm256_storeu_pd(acc, a0);                                                                 \
        _mm256_storeu_pd(acc + 4, a1);                                                             \
    }
PP_FNS256(f64, double)
PP_FNS256(f32, float)

#define PP_DISPATCH(T, SFX)                                                                        \
    int km_pp_rows_##SFX(const T *xn, const T *zn, const T *G, const uint32_t *at, size_t nr,      \
                         size_t m, int pend, int low0, int32_t newj, const double *w, double *D,   \
                         int32_t *near, double *acc)                                               \
    {                                                                                              \
        int isa = km_dots_isa();                                                                   \
        if (m < 1 || m > 8 || isa == 0) {                                                          \
            return -1;                                                                             \
        }                                                                                          \
        if (isa == 2) {                                                                            \
            pp_rows_##SFX##_512(xn, zn, G, at, nr, m, pend, low0, newj, w, D, near, acc);          \
        } else {                                                                                   \
            pp_rows_##SFX##_256(xn, zn, G, at, nr, m, pend, low0, newj, w, D, near, acc);          \
        }                                                                                          \
        return 0;                                                                                  \
    }
PP_DISPATCH(double, f64)
PP_DISPATCH(float, f32)

/* ---- k-means||'s pruned rounds: rows against chunks of candidates ---------- */

size_t km_chunk_lanes(size_t size)
{
    int isa = km_dots_isa();
    return isa == 0 ? 0 : (isa == 2 ? 64 : 32) / size;
}

/* Two halves at a time: eight FMA chains in flight (two pipes of latency
 * 4), each column one load of each half's chunk and eight broadcasts of
 * the rows' values (a chunk an item, each column two loads an FMA, was
 * 2.3x slower at 32 columns with the chunks in L2); an odd last half runs
 * beside itself.  Per item the least lane value, then the least index among
 * the lanes that hold it (EQBITS: their mask as bits). */
#define CHUNKS_BODY(LANES, VT, SETZERO, SET1, LOAD, FMADD, FNMADD, T, REDMIN, EQBITS)              \
    for (size_t h = 0; h < nh; h += 2) {                                                           \
        size_t h1 = h + 1 < nh ? h + 1 : h, q0 = 4 * h, q1 = 4 * h1;                               \
        const T *za = z[h], *zb = z[h1];                                                           \
        const T *x0 = x[q0], *x1 = x[q0 + 1], *x2 = x[q0 + 2], *x3 = x[q0 + 3];                    \
        const T *x4 = x[q1], *x5 = x[q1 + 1], *x6 = x[q1 + 2], *x7 = x[q1 + 3];                    \
        VT a[8] = {SETZERO(), SETZERO(), SETZERO(), SETZERO(),                                     \
                   SETZERO(), SETZERO(), SETZERO(), SETZERO()};                                    \
        for (size_t c = 0; c < d; c++) {                                                           \
            VT ca = LOAD(za + c * LANES), cb = LOAD(zb + c * LANES);                               \
            a[0] = FMADD(SET1(x0[c]), ca, a[0]);                                                   \
            a[1] = FMADD(SET1(x1[c]), ca, a[1]);                                                   \
            a[2] = FMADD(SET1(x2[c]), ca, a[2]);                                                   \
            a[3] = FMADD(SET1(x3[c]), ca, a[3]);                                                   \
            a[4] = FMADD(SET1(x4[c]), cb, a[4]);                                                   \
            a[5] = FMADD(SET1(x5[c]), cb, a[5]);                                                   \
            a[6] = FMADD(SET1(x6[c]), cb, a[6]);                                                   \
            a[7] = FMADD(SET1(x7[c]), cb, a[7]);                                                   \
        }                                                                                          \
        for (size_t e = 0; e < (h1 > h ? 8u : 4u); e++) {                                          \
            const T *zq = e < 4 ? za : zb;                                                         \
            VT vq = FNMADD(a[e], SET1((T)2), LOAD(zq + d * LANES)); /* cn - 2a, as km_assign */   \
            T mn = REDMIN(vq);                                                                     \
            unsigned bits = EQBITS(vq, SET1(mn));                                                  \
            const uint32_t *id = (const uint32_t *)(const void *)(zq + (d + 1) * LANES);           \
            uint32_t best = bits != 0 ? id[__builtin_ctz(bits)] : UINT32_MAX; /* 0: NaN */         \
            for (bits &= bits - 1; bits != 0; bits &= bits - 1) { /* a tie: the least index */    \
                uint32_t o = id[__builtin_ctz(bits)];                                              \
                best = o < best ? o : best;                                                        \
            }                                                                                      \
            v[q0 + e] = mn; /* e >= 4: q1 + e - 4 = q0 + e */                                      \
            t[q0 + e] = best;                                                                      \
        }                                                                                          \
    }

__attribute__((target("avx2,fma"))) static inline double hmin_pd_256(__m256d v)
{
    __m128d m = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_min_sd(m, _mm_unpackhi_pd(m, m)));
}

__attribute__((target("avx2,fma"))) static inline float hmin_ps_256(__m256 v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}

#define EQ512PD(a, b) (unsigned)_mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ)
#define EQ512PS(a, b) (unsigned)_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define EQ256PD(a, b) (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_EQ_OQ))
#define EQ256PS(a, b) (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ))

#define CHUNKS_FN(SFX, TGT, T, VT_, LANES, SETZERO, SET1, LOAD, FMADD, FNMADD, REDMIN, EQBITS)     \
    __attribute__((target(TGT))) static void chunks_##SFX(const T *const *x, const T *const *z,    \
                                                          size_t nh, size_t d, T *v, uint32_t *t)\
    {                                                                                              \
        typedef VT_ VT;                                                                            \
        CHUNKS_BODY(LANES, VT, SETZERO, SET1, LOAD, FMADD, FNMADD, T, REDMIN, EQBITS)              \
    }
CHUNKS_FN(f64_512, "avx512f", double, __m512d, 8, _mm512_setzero_pd, _mm512_set1_pd,
          _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd, _mm512_reduce_min_pd, EQ512PD)
CHUNKS_FN(f32_512, "avx512f", float, __m512, 16, _mm512_setzero_ps, _mm512_set1_ps,
          _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_reduce_min_ps, EQ512PS)
CHUNKS_FN(f64_256, "avx2,fma", double, __m256d, 4, _mm256_setzero_pd, _mm256_set1_pd,
          _mm256_loadu_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd, hmin_pd_256, EQ256PD)
CHUNKS_FN(f32_256, "avx2,fma", float, __m256, 8, _mm256_setzero_ps, _mm256_set1_ps,
          _mm256_loadu_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, hmin_ps_256, EQ256PS)

/* A chunk from nv rows of C (nv <= LANES; the rest of the lanes 0, +inf,
 * UINT32_MAX): the rows copied together, then transposed (to_lanes writes
 * whole groups of columns, so into XT first). */
#define CHUNK_BUILD_FN(SFX, TGT, T, LANES, TOLANES)                                                \
    __attribute__((target(TGT))) static void chunk_build_##SFX(T *z, const T *C, const T *cn,      \
                                                               const uint32_t *ord, size_t nv,     \
                                                               size_t d)                           \
    {                                                                                              \
        T xb[16 * KM_DOTS_MAXD], XT[16 * KM_DOTS_MAXD];                                            \
        for (size_t l = 0; l < nv; l++) {                                                          \
            memcpy(xb + l * d, C + (size_t)ord[l] * d, d * sizeof *xb);                            \
        }                                                                                          \
        TOLANES(XT, xb, d, nv);                                                                    \
        memcpy(z, XT, d * LANES * sizeof *z);                                                      \
        uint32_t *id = (uint32_t *)(void *)(z + (d + 1) * LANES);                                  \
        for (size_t l = 0; l < LANES; l++) {                                                       \
            z[d * LANES + l] = l < nv ? cn[ord[l]] : (T)INFINITY;                                  \
            id[l] = l < nv ? ord[l] : UINT32_MAX;                                                  \
        }                                                                                          \
    }
CHUNK_BUILD_FN(f64_512, "avx512f", double, 8, to_lanes_f64_512)
CHUNK_BUILD_FN(f32_512, "avx512f", float, 16, to_lanes_f32_512)
CHUNK_BUILD_FN(f64_256, "avx2,fma", double, 4, to_lanes_f64_256)
CHUNK_BUILD_FN(f32_256, "avx2,fma", float, 8, to_lanes_f32_256)

int km_chunk_build_f64(double *z, const double *C, const double *cn, const uint32_t *ord,
                       size_t nv, size_t d)
{
    int isa = km_dots_isa();
    if (isa == 0 || d > KM_DOTS_MAXD) {
        return -1;
    }
    if (isa == 2) {
        chunk_build_f64_512(z, C, cn, ord, nv, d);
    } else {
        chunk_build_f64_256(z, C, cn, ord, nv, d);
    }
    return 0;
}

int km_chunk_build_f32(float *z, const float *C, const float *cn, const uint32_t *ord, size_t nv,
                       size_t d)
{
    int isa = km_dots_isa();
    if (isa == 0 || d > KM_DOTS_MAXD) {
        return -1;
    }
    if (isa == 2) {
        chunk_build_f32_512(z, C, cn, ord, nv, d);
    } else {
        chunk_build_f32_256(z, C, cn, ord, nv, d);
    }
    return 0;
}

int km_chunks_f64(const double *const *x, const double *const *z, size_t nh, size_t d, double *v,
                  uint32_t *t)
{
    int isa = km_dots_isa();
    if (isa == 2) {
        chunks_f64_512(x, z, nh, d, v, t);
    } else if (isa == 1) {
        chunks_f64_256(x, z, nh, d, v, t);
    }
    return isa == 0 ? -1 : 0;
}

int km_chunks_f32(const float *const *x, const float *const *z, size_t nh, size_t d, float *v,
                  uint32_t *t)
{
    int isa = km_dots_isa();
    if (isa == 2) {
        chunks_f32_512(x, z, nh, d, v, t);
    } else if (isa == 1) {
        chunks_f32_256(x, z, nh, d, v, t);
    }
    return isa == 0 ? -1 : 0;
}

/* ---- distances for silhouettes --------------------------------------------- */

static void dist_rows_c(const double *x, const double *XT, size_t ld, size_t d, size_t q0,
                        size_t q1, double *out)
{
    for (size_t q = q0; q < q1; q++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            double t = x[j] - XT[j * ld + q];
            s += t * t;
        }
        out[q - q0] = sqrt(s);
    }
}

__attribute__((target("avx512f"))) static void dist_rows_512(const double *x, const double *XT,
                                                             size_t ld, size_t d, size_t q0,
                                                             size_t q1, double *out)
{
    size_t q = q0;
    for (; q + 8 <= q1; q += 8) {
        __m512d acc = _mm512_setzero_pd();
        for (size_t j = 0; j < d; j++) {
            __m512d t = _mm512_sub_pd(_mm512_set1_pd(x[j]), _mm512_loadu_pd(XT + j * ld + q));
            acc = _mm512_add_pd(acc, _mm512_mul_pd(t, t));
        }
        _mm512_storeu_pd(out + (q - q0), _mm512_sqrt_pd(acc));
    }
    dist_rows_c(x, XT, ld, d, q, q1, out + (q - q0));
}

__attribute__((target("avx2"))) static void dist_rows_256(const double *x, const double *XT,
                                                          size_t ld, size_t d, size_t q0,
                                                          size_t q1, double *out)
{
    size_t q = q0;
    for (; q + 4 <= q1; q += 4) {
        __m256d acc = _mm256_setzero_pd();
        for (size_t j = 0; j < d; j++) {
            __m256d t = _mm256_sub_pd(_mm256_set1_pd(x[j]), _mm256_loadu_pd(XT + j * ld + q));
            acc = _mm256_add_pd(acc, _mm256_mul_pd(t, t));
        }
        _mm256_storeu_pd(out + (q - q0), _mm256_sqrt_pd(acc));
    }
    dist_rows_c(x, XT, ld, d, q, q1, out + (q - q0));
}

void km_dist_rows(const double *x, const double *XT, size_t ld, size_t d, size_t q0, size_t q1,
                  double *out)
{
    int isa = km_dots_isa();
    if (isa == 2) {
        dist_rows_512(x, XT, ld, d, q0, q1, out);
    } else if (isa == 1) {
        dist_rows_256(x, XT, ld, d, q0, q1, out);
    } else {
        dist_rows_c(x, XT, ld, d, q0, q1, out);
    }
}
