/* kmeans_dots.c - see kmeans_dots.h. */
#include "numerics/kmeans/kmeans_dots.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int isa_level = -1;

int km_dots_isa(void)
{
    int v = __atomic_load_n(&isa_level, __ATOMIC_ACQUIRE);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512f")                                      ? 2
            : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                                  : 0;
        if (getenv("CLVTIER_NO_SIMD") != NULL) {
            v = 0; /* for tests and benchmarks of the GEMM path */
        }
        const char *e = getenv("CLVTIER_SIMD"); /* "avx2": the AVX2 kernels on an AVX-512 CPU */
        if (e != NULL && strcmp(e, "avx2") == 0 && v == 2) {
            v = 1;
        }
        __atomic_store_n(&isa_level, v, __ATOMIC_RELEASE);
    }
    return v;
}

/* C (k x d) transposed into CT (d x kp), kp = k rounded up to `lanes`. */
#define TRANSPOSE(T)                                                                               \
    static T *transpose_##T(const T *C, size_t k, size_t d, size_t lanes, size_t *kp)              \
    {                                                                                              \
        *kp = (k + lanes - 1) / lanes * lanes;                                                     \
        T *CT = calloc(d * *kp, sizeof *CT);                                                       \
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
 * centres, then single vectors, the last one stored under a mask. */
#define DOTS_BODY(LANES, VT, SETZERO, SET1, LOAD, STORE, FMADD, TAIL_STORE)                         \
    for (size_t r = 0; r < nr; r++) {                                                              \
        const T *x = X + r * d;                                                                    \
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

__attribute__((target("avx512f"))) static void dots_f64_512(const double *X, size_t nr, size_t d,
                                                             const double *CT, size_t kp, size_t k,
                                                             double *G)
{
    typedef double T;
    DOTS_BODY(8, __m512d, _mm512_setzero_pd, _mm512_set1_pd, _mm512_loadu_pd, _mm512_storeu_pd,
              _mm512_fmadd_pd, TAIL512PD)
}

__attribute__((target("avx2,fma"))) static void dots_f64_256(const double *X, size_t nr, size_t d,
                                                              const double *CT, size_t kp,
                                                              size_t k, double *G)
{
    typedef double T;
    DOTS_BODY(4, __m256d, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd,
              _mm256_fmadd_pd, TAIL256PD)
}

__attribute__((target("avx512f"))) static void dots_f32_512(const float *X, size_t nr, size_t d,
                                                             const float *CT, size_t kp, size_t k,
                                                             float *G)
{
    typedef float T;
    DOTS_BODY(16, __m512, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps,
              _mm512_fmadd_ps, TAIL512PS)
}

__attribute__((target("avx2,fma"))) static void dots_f32_256(const float *X, size_t nr, size_t d,
                                                              const float *CT, size_t kp, size_t k,
                                                              float *G)
{
    typedef float T;
    DOTS_BODY(8, __m256, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
              _mm256_fmadd_ps, TAIL256PS)
}

int km_dots_f64(const double *X, size_t nr, size_t d, const double *C, size_t k, double *G)
{
    int isa = km_dots_isa();
    size_t kp;
    if (isa == 0 || d > 16) {
        return -1;
    }
    double *CT = transpose_double(C, k, d, isa == 2 ? 8 : 4, &kp);
    if (CT == NULL) {
        return -1;
    }
    if (isa == 2) {
        dots_f64_512(X, nr, d, CT, kp, k, G);
    } else {
        dots_f64_256(X, nr, d, CT, kp, k, G);
    }
    free(CT);
    return 0;
}

int km_dots_f32(const float *X, size_t nr, size_t d, const float *C, size_t k, float *G)
{
    int isa = km_dots_isa();
    size_t kp;
    if (isa == 0 || d > 16) {
        return -1;
    }
    float *CT = transpose_float(C, k, d, isa == 2 ? 16 : 8, &kp);
    if (CT == NULL) {
        return -1;
    }
    if (isa == 2) {
        dots_f32_512(X, nr, d, CT, kp, k, G);
    } else {
        dots_f32_256(X, nr, d, CT, kp, k, G);
    }
    free(CT);
    return 0;
}

/* ---- fused distances and argmin ------------------------------------------------
 * v_j = |c_j|^2 - 2 x.c_j (x.c_j: the same FMA chain as above) for every
 * centre, and per row the first index of the smallest v, the smallest v and
 * the second smallest.  Vectorised over rows (a lane per row, the tile
 * transposed into lanes), so each lane scans the centres in order: the same
 * values and the same ties as the scalar argmin over G, with no work across
 * lanes. */

#define ASSIGN_BODY(LANES, SETZERO, SET1, LOAD, STORE, FMADD, ADD, SUB, MIN, CMPLT, BLEND, T)      \
    T XT[KM_DOTS_MAXD * LANES], B1[LANES], B2[LANES], BI[LANES];                                    \
    for (size_t r0 = 0; r0 < nr; r0 += LANES) {                                                    \
        size_t m = nr - r0 < LANES ? nr - r0 : LANES;                                              \
        for (size_t l = 0; l < LANES; l++) { /* rows into lanes; missing rows 0 */                \
            const T *xr = X + (r0 + l) * d;                                                        \
            for (size_t c = 0; c < d; c++) {                                                       \
                XT[c * LANES + l] = l < m ? xr[c] : (T)0;                                          \
            }                                                                                      \
        }                                                                                          \
        VT b1 = SET1((T)INFINITY), b2 = b1, bi = SETZERO();                                        \
        for (size_t j = 0; j < k; j++) {                                                           \
            VT a = SETZERO();                                                                      \
            for (size_t c = 0; c < d; c++) {                                                       \
                a = FMADD(LOAD(XT + c * LANES), SET1(C[j * d + c]), a);                            \
            }                                                                                      \
            VT v = SUB(SET1(cn[j]), ADD(a, a));                                                    \
            MT lt = CMPLT(v, b1);                                                                  \
            b2 = BLEND(lt, MIN(b2, v), b1);                                                        \
            b1 = BLEND(lt, b1, v);                                                                 \
            bi = BLEND(lt, bi, SET1((T)j));                                                        \
        }                                                                                          \
        STORE(B1, b1);                                                                             \
        STORE(B2, b2);                                                                             \
        STORE(BI, bi);                                                                             \
        for (size_t l = 0; l < m; l++) {                                                           \
            lab[r0 + l] = (int32_t)BI[l];                                                          \
            v1[r0 + l] = B1[l];                                                                    \
            if (v2 != NULL) {                                                                      \
                v2[r0 + l] = B2[l];                                                                \
            }                                                                                      \
        }                                                                                          \
    }

#define LT512PD(a, b) _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ)
#define LT512PS(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define LT256PD(a, b) _mm256_cmp_pd(a, b, _CMP_LT_OQ)
#define LT256PS(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define BL256PD(m, a, b) _mm256_blendv_pd(a, b, m)
#define BL256PS(m, a, b) _mm256_blendv_ps(a, b, m)

__attribute__((target("avx512f"))) static void assign_f64_512(const double *X, size_t nr, size_t d,
                                                               const double *C, const double *cn,
                                                               size_t k, int32_t *lab, double *v1,
                                                               double *v2)
{
    typedef __m512d VT;
    typedef __mmask8 MT;
    ASSIGN_BODY(8, _mm512_setzero_pd, _mm512_set1_pd, _mm512_loadu_pd, _mm512_storeu_pd,
                _mm512_fmadd_pd, _mm512_add_pd, _mm512_sub_pd, _mm512_min_pd, LT512PD,
                _mm512_mask_blend_pd, double)
}

__attribute__((target("avx2,fma"))) static void assign_f64_256(const double *X, size_t nr, size_t d,
                                                                const double *C, const double *cn,
                                                                size_t k, int32_t *lab, double *v1,
                                                                double *v2)
{
    typedef __m256d VT;
    typedef __m256d MT;
    ASSIGN_BODY(4, _mm256_setzero_pd, _mm256_set1_pd, _mm256_loadu_pd, _mm256_storeu_pd,
                _mm256_fmadd_pd, _mm256_add_pd, _mm256_sub_pd, _mm256_min_pd, LT256PD, BL256PD,
                double)
}

__attribute__((target("avx512f"))) static void assign_f32_512(const float *X, size_t nr, size_t d,
                                                               const float *C, const float *cn,
                                                               size_t k, int32_t *lab, float *v1,
                                                               float *v2)
{
    typedef __m512 VT;
    typedef __mmask16 MT;
    ASSIGN_BODY(16, _mm512_setzero_ps, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps,
                _mm512_fmadd_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_min_ps, LT512PS,
                _mm512_mask_blend_ps, float)
}

__attribute__((target("avx2,fma"))) static void assign_f32_256(const float *X, size_t nr, size_t d,
                                                                const float *C, const float *cn,
                                                                size_t k, int32_t *lab, float *v1,
                                                                float *v2)
{
    typedef __m256 VT;
    typedef __m256 MT;
    ASSIGN_BODY(8, _mm256_setzero_ps, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps,
                _mm256_fmadd_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_min_ps, LT256PS, BL256PS,
                float)
}

/* Where the fused kernel beats GEMM + scalar argmin (bench/kmeans, 1M rows,
 * 2 threads): every k up to 16 columns; at 17-32 columns only from k = 32
 * (d = 32, k = 64: 0.085 against 0.096 s per iteration; k = 8: 0.030
 * against 0.027). */
static int km_assign_pays(size_t d, size_t k)
{
    return k <= KM_ASSIGN_MAXK && (d <= 16 || (d <= KM_DOTS_MAXD && k >= 32));
}

int km_assign_f64(const double *X, size_t nr, size_t d, const double *C, const double *cn, size_t k,
                  int32_t *lab, double *v1, double *v2)
{
    int isa = km_dots_isa();
    if (isa == 0 || !km_assign_pays(d, k)) {
        return -1;
    }
    if (isa == 2) {
        assign_f64_512(X, nr, d, C, cn, k, lab, v1, v2);
    } else {
        assign_f64_256(X, nr, d, C, cn, k, lab, v1, v2);
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
        assign_f32_512(X, nr, d, C, cn, k, lab, v1, v2);
    } else {
        assign_f32_256(X, nr, d, C, cn, k, lab, v1, v2);
    }
    return 0;
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
