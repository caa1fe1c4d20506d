/* clv_vmath.c - vector kernels of the CLV scores (clv_internal.h): the
 * delta method's 8 Chebyshev series at once, and the Pareto/NBD pmf's
 * quadrature nodes with exp and log1p from glibc's vector math library
 * (libmvec) where it has them.
 *
 * The Pareto/NBD predictive pmf weighs 33 quadrature nodes per customer,
 * each with one exp and two log1p: about 0.7 us of scalar libm calls a
 * customer, the largest single cost of `score --intervals` for Pareto/NBD.
 * libmvec (glibc >= 2.35 for log1p) evaluates 8 (AVX-512) or 4 (AVX2)
 * lanes per call, within 4 ulp of the correctly rounded result, as libm's
 * own scalar functions are within 1 ulp: far below what a pmf weight needs.
 * The lanes are independent, so the results do not depend on how the rows
 * are split over threads or ranks; they can differ in the last bits between
 * machines with different vector units (as libm itself can between
 * releases).  Elsewhere (no x86-64 glibc 2.35, no AVX2 + FMA, or
 * CLVTIER_NO_SIMD set: ct_simd_level, as for k-means) the scalar libm loop.
 * Not a hand-written approximation: libmvec is glibc's maintained, tested
 * implementation (Debian's libc6-dev ships it). */
#include "numerics/clv/clv_internal.h"

#include "core/simd_internal.h"

#include <float.h>
#include <math.h>

#if defined(__x86_64__) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
#define CLV_MVEC 1
#include <immintrin.h>

/* libmvec's vector ABI: the arguments in vector registers of the target's
 * width (declared with the target, or clang refuses the call) */
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_exp(__m512d x);
__attribute__((target("avx512f"))) __m512d _ZGVeN8v_log1p(__m512d x);
__attribute__((target("avx2"))) __m256d _ZGVdN4v_exp(__m256d x);
__attribute__((target("avx2"))) __m256d _ZGVdN4v_log1p(__m256d x);

/* clv_pareto_nodes and clv_pareto_pmf_step on vectors of 8 (AVX-512) or
 * 4 x 2 (AVX2): each lane the scalar expression's operations in the same
 * order, without FMA (gcc does not contract ISO C), so the three paths
 * differ only through libmvec against libm. */
#define PN_BODY(VT, W, LOAD, STORE, SET1, ADD, SUB, MUL, DIV, LOG1P, EXP)                        \
    const VT vib2 = SET1(ib2), vic = SET1(ic), vc = SET1(c), vls = SET1(ls), vs = SET1(s);         \
    const VT vk0 = SET1(k0);                                                                       \
    for (size_t i = 0; i < nd->np; i += W) {                                                       \
        VT u = LOAD(nd->u + i), in = LOAD(nd->inner + i);                                          \
        STORE(om + i, DIV(u, ADD(vc, u)));                                                         \
        VT l1 = LOG1P(MUL(u, vib2)), l2 = LOG1P(MUL(u, vic));                                      \
        VT e = SUB(SUB(MUL(in, vls), MUL(ADD(vs, in), l1)), MUL(vk0, l2));                         \
        STORE(nb + i, MUL(EXP(e), LOAD(nd->w + i)));                                               \
    }

__attribute__((target("avx512f"))) static void pareto_nodes_512(const clv_nodes *nd, double s,
                                                                double ls, double ib2,
                                                                double ic, double c, double k0,
                                                                double *nb, double *om)
{
    PN_BODY(__m512d, 8, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_add_pd,
            _mm512_sub_pd, _mm512_mul_pd, _mm512_div_pd, _ZGVeN8v_log1p, _ZGVeN8v_exp)
}

__attribute__((target("avx2"))) static void pareto_nodes_256(const clv_nodes *nd, double s,
                                                             double ls, double ib2, double ic,
                                                             double c, double k0, double *nb,
                                                             double *om)
{
    PN_BODY(__m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_add_pd,
            _mm256_sub_pd, _mm256_mul_pd, _mm256_div_pd, _ZGVdN4v_log1p, _ZGVdN4v_exp)
}

/* 8 partial sums (lane l: entries l, l + 8, ...), then added in one fixed order */
__attribute__((target("avx512f"))) static double pmf_step_512(double *nb, const double *om,
                                                              size_t np, double f)
{
    __m512d acc = _mm512_setzero_pd(), vf = _mm512_set1_pd(f);
    for (size_t i = 0; i < np; i += 8) {
        __m512d v = _mm512_loadu_pd(nb + i);
        acc = _mm512_add_pd(acc, v);
        _mm512_storeu_pd(nb + i, _mm512_mul_pd(v, _mm512_mul_pd(vf, _mm512_loadu_pd(om + i))));
    }
    double a[8];
    _mm512_storeu_pd(a, acc);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

__attribute__((target("avx2"))) static double pmf_step_256(double *nb, const double *om,
                                                           size_t np, double f)
{
    __m256d lo = _mm256_setzero_pd(), hi = lo, vf = _mm256_set1_pd(f);
    for (size_t i = 0; i < np; i += 8) {
        __m256d v0 = _mm256_loadu_pd(nb + i), v1 = _mm256_loadu_pd(nb + i + 4);
        lo = _mm256_add_pd(lo, v0);
        hi = _mm256_add_pd(hi, v1);
        _mm256_storeu_pd(nb + i, _mm256_mul_pd(v0, _mm256_mul_pd(vf, _mm256_loadu_pd(om + i))));
        _mm256_storeu_pd(nb + i + 4,
                         _mm256_mul_pd(v1, _mm256_mul_pd(vf, _mm256_loadu_pd(om + i + 4))));
    }
    double a[8];
    _mm256_storeu_pd(a, lo);
    _mm256_storeu_pd(a + 4, hi);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* b0 = c_j + y2 b1 - b2, lanes = series */
__attribute__((target("avx512f"))) static void clenshaw8_512(const double *c, int n, double y,
                                                             double out[8])
{
    __m512d b1 = _mm512_setzero_pd(), b2 = b1, vy2 = _mm512_set1_pd(2 * y);
    for (size_t j = (size_t)n; j-- > 1;) {
        __m512d b0 = _mm512_sub_pd(
            _mm512_add_pd(_mm512_loadu_pd(c + j * 8), _mm512_mul_pd(vy2, b1)), b2);
        b2 = b1;
        b1 = b0;
    }
    __m512d r = _mm512_sub_pd(
        _mm512_add_pd(_mm512_loadu_pd(c), _mm512_mul_pd(_mm512_set1_pd(y), b1)), b2);
    _mm512_storeu_pd(out, r);
}

/* Two recurrences, the longer one alone until the other starts (its b's
 * are 0 before: the same bits as starting it there). */
__attribute__((target("avx512f"))) static void clenshaw8x2_512(const double *ca, int na,
                                                               double ya, const double *cb,
                                                               int nb, double yb, double *oa,
                                                               double *ob)
{
    __m512d a1 = _mm512_setzero_pd(), a2 = a1, b1 = a1, b2 = a1;
    __m512d ay2 = _mm512_set1_pd(2 * ya), by2 = _mm512_set1_pd(2 * yb);
    size_t n = (size_t)(na > nb ? na : nb);
    for (size_t j = n; j-- > 1;) {
        if (j < (size_t)na) {
            __m512d a0 = _mm512_sub_pd(
                _mm512_add_pd(_mm512_loadu_pd(ca + j * 8), _mm512_mul_pd(ay2, a1)), a2);
            a2 = a1;
            a1 = a0;
        }
        if (j < (size_t)nb) {
            __m512d b0 = _mm512_sub_pd(
                _mm512_add_pd(_mm512_loadu_pd(cb + j * 8), _mm512_mul_pd(by2, b1)), b2);
            b2 = b1;
            b1 = b0;
        }
    }
    _mm512_storeu_pd(oa, _mm512_sub_pd(_mm512_add_pd(_mm512_loadu_pd(ca),
                                                     _mm512_mul_pd(_mm512_set1_pd(ya), a1)),
                                       a2));
    _mm512_storeu_pd(ob, _mm512_sub_pd(_mm512_add_pd(_mm512_loadu_pd(cb),
                                                     _mm512_mul_pd(_mm512_set1_pd(yb), b1)),
                                       b2));
}

__attribute__((target("avx2"))) static void clenshaw8_256(const double *c, int n, double y,
                                                          double out[8])
{
    __m256d b1 = _mm256_setzero_pd(), b2 = b1, e1 = b1, e2 = b1, vy2 = _mm256_set1_pd(2 * y);
    for (size_t j = (size_t)n; j-- > 1;) {
        const double *cj = c + j * 8;
        __m256d b0 = _mm256_sub_pd(_mm256_add_pd(_mm256_loadu_pd(cj), _mm256_mul_pd(vy2, b1)), b2);
        __m256d e0 =
            _mm256_sub_pd(_mm256_add_pd(_mm256_loadu_pd(cj + 4), _mm256_mul_pd(vy2, e1)), e2);
        b2 = b1;
        b1 = b0;
        e2 = e1;
        e1 = e0;
    }
    __m256d vy = _mm256_set1_pd(y);
    _mm256_storeu_pd(out, _mm256_sub_pd(_mm256_add_pd(_mm256_loadu_pd(c), _mm256_mul_pd(vy, b1)), b2));
    _mm256_storeu_pd(out + 4,
                     _mm256_sub_pd(_mm256_add_pd(_mm256_loadu_pd(c + 4), _mm256_mul_pd(vy, e1)), e2));
}

/* clv_hyp2f1_lanes: lane k runs clv_hyp2f1's loop on z[k] (term *= r z,
 * sum += term, stop when |term| <= 1e-16 |sum| after n > 2, NaN when the
 * sum is not finite or 100000 terms pass); a lane that stops keeps its
 * values (masked), so each lane's bits are the scalar function's. */
__attribute__((target("avx512f"))) static void hyp_lanes_512(double a, double b, double c,
                                                             const double *z, double *out)
{
    __m512d zv[2], term[2], sum[2], o[2];
    __mmask8 act[2];
    const __m512d one = _mm512_set1_pd(1.0), eps = _mm512_set1_pd(1e-16);
    for (int h = 0; h < 2; h++) {
        zv[h] = _mm512_loadu_pd(z + 8 * h);
        term[h] = sum[h] = one;
        act[h] = _mm512_cmp_pd_mask(zv[h], _mm512_setzero_pd(), _CMP_NEQ_UQ);
        o[h] = _mm512_mask_mov_pd(one, act[h], _mm512_set1_pd(CT_NAN));
    }
    for (int n = 0; n < 100000 && (act[0] | act[1]) != 0; n++) {
        __m512d vr = _mm512_set1_pd((a + n) * (b + n) / ((c + n) * (n + 1)));
        for (int h = 0; h < 2; h++) {
            term[h] = _mm512_mask_mul_pd(term[h], act[h], term[h], _mm512_mul_pd(vr, zv[h]));
            sum[h] = _mm512_mask_add_pd(sum[h], act[h], sum[h], term[h]);
            __m512d at = _mm512_abs_pd(term[h]), as = _mm512_abs_pd(sum[h]);
            __mmask8 conv = n > 2 ? _mm512_mask_cmp_pd_mask(act[h], at, _mm512_mul_pd(eps, as),
                                                            _CMP_LE_OQ)
                                  : 0;
            __mmask8 fin = _mm512_cmp_pd_mask(as, _mm512_set1_pd(DBL_MAX), _CMP_LE_OQ);
            o[h] = _mm512_mask_mov_pd(o[h], conv, sum[h]);
            act[h] &= (__mmask8)(~conv & fin);
        }
    }
    _mm512_storeu_pd(out, o[0]);
    _mm512_storeu_pd(out + 8, o[1]);
}

__attribute__((target("avx2"))) static void hyp_lanes_256(double a, double b, double c,
                                                          const double *z, double *out)
{
    __m256d zv[4], term[4], sum[4], o[4], act[4];
    const __m256d one = _mm256_set1_pd(1.0), eps = _mm256_set1_pd(1e-16), zero = _mm256_setzero_pd();
    const __m256d absm = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
    const __m256d big = _mm256_set1_pd(DBL_MAX);
    for (int h = 0; h < 4; h++) {
        zv[h] = _mm256_loadu_pd(z + 4 * h);
        term[h] = sum[h] = one;
        act[h] = _mm256_cmp_pd(zv[h], zero, _CMP_NEQ_UQ);
        o[h] = _mm256_blendv_pd(one, _mm256_set1_pd(CT_NAN), act[h]);
    }
    for (int n = 0; n < 100000; n++) {
        __m256d any = _mm256_or_pd(_mm256_or_pd(act[0], act[1]), _mm256_or_pd(act[2], act[3]));
        if (_mm256_movemask_pd(any) == 0) {
            break;
        }
        __m256d vr = _mm256_set1_pd((a + n) * (b + n) / ((c + n) * (n + 1)));
        for (int h = 0; h < 4; h++) {
            __m256d t = _mm256_mul_pd(term[h], _mm256_mul_pd(vr, zv[h]));
            term[h] = _mm256_blendv_pd(term[h], t, act[h]);
            sum[h] = _mm256_blendv_pd(sum[h], _mm256_add_pd(sum[h], term[h]), act[h]);
            __m256d at = _mm256_and_pd(term[h], absm), as = _mm256_and_pd(sum[h], absm);
            __m256d conv = n > 2 ? _mm256_and_pd(act[h], _mm256_cmp_pd(at, _mm256_mul_pd(eps, as),
                                                                       _CMP_LE_OQ))
                                 : zero;
            __m256d fin = _mm256_cmp_pd(as, big, _CMP_LE_OQ);
            o[h] = _mm256_blendv_pd(o[h], sum[h], conv);
            act[h] = _mm256_and_pd(_mm256_andnot_pd(conv, act[h]), fin);
        }
    }
    for (int h = 0; h < 4; h++) {
        _mm256_storeu_pd(out + 4 * h, o[h]);
    }
}
#endif

void clv_hyp2f1_lanes(double a, double b, double c, const double z[CLV_HYP_LANES],
                      double out[CLV_HYP_LANES])
{
#ifdef CLV_MVEC
    int v = ct_simd_level();
    if (v == 2) {
        hyp_lanes_512(a, b, c, z, out);
        return;
    }
    if (v == 1) {
        hyp_lanes_256(a, b, c, z, out);
        return;
    }
#endif
    for (size_t k = 0; k < CLV_HYP_LANES; k++) { /* the scalar series, by definition */
        out[k] = clv_hyp2f1(a, b, c, z[k]);
    }
}

void clv_clenshaw8(const double *c, int n, double y, double out[8])
{
#ifdef CLV_MVEC
    int v = ct_simd_level();
    if (v == 2) {
        clenshaw8_512(c, n, y, out);
        return;
    }
    if (v == 1) {
        clenshaw8_256(c, n, y, out);
        return;
    }
#endif
    double y2 = 2 * y, b1[8] = {0}, b2[8] = {0};
    for (size_t j = (size_t)n; j-- > 1;) {
        for (size_t q = 0; q < 8; q++) {
            double b0 = c[j * 8 + q] + y2 * b1[q] - b2[q];
            b2[q] = b1[q];
            b1[q] = b0;
        }
    }
    for (int q = 0; q < 8; q++) {
        out[q] = c[q] + y * b1[q] - b2[q];
    }
}

void clv_clenshaw8x2(const double *ca, int na, double ya, const double *cb, int nb, double yb,
                     double outa[8], double outb[8])
{
#ifdef CLV_MVEC
    if (ct_simd_level() == 2) {
        clenshaw8x2_512(ca, na, ya, cb, nb, yb, outa, outb);
        return;
    }
#endif
    clv_clenshaw8(ca, na, ya, outa);
    clv_clenshaw8(cb, nb, yb, outb);
}

void clv_pareto_nodes(const clv_nodes *nd, double s, double b2, double c, double k0, double *nb,
                      double *om)
{
    double ls = log(s / b2), ib2 = 1 / b2, ic = 1 / c;
#ifdef CLV_MVEC
    int v = ct_simd_level();
    if (v == 2) {
        pareto_nodes_512(nd, s, ls, ib2, ic, c, k0, nb, om);
        return;
    }
    if (v == 1) {
        pareto_nodes_256(nd, s, ls, ib2, ic, c, k0, nb, om);
        return;
    }
#endif
    for (size_t i = 0; i < nd->np; i++) {
        double u = nd->u[i], in = nd->inner[i];
        om[i] = u / (c + u);
        double e = in * ls - (s + in) * log1p(u * ib2) - k0 * log1p(u * ic);
        nb[i] = exp(e) * nd->w[i];
    }
}

double clv_pareto_pmf_step(double *nb, const double *om, size_t np, double f)
{
#ifdef CLV_MVEC
    int v = ct_simd_level();
    if (v == 2) {
        return pmf_step_512(nb, om, np, f);
    }
    if (v == 1) {
        return pmf_step_256(nb, om, np, f);
    }
#endif
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < np; i++) {
        a[i % 8] += nb[i];
        nb[i] *= f * om[i];
    }
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
