/* kmeans_dots.h - X . C^T for few columns without GEMM (internal).
 *
 * For small d, GEMM spends its time packing: k-means' distance tiles are
 * nr x k products over only d terms.  These kernels compute each G[r][j] as
 * one fused multiply-add chain over the columns in order, vectorised over the
 * centres (AVX-512 or AVX2+FMA, chosen at run time).  Every lane runs the
 * same chain, so both instruction sets give the same bits.  They return -1
 * (and the caller uses GEMM) on CPUs with neither, or where GEMM is faster:
 * more than 16 columns (the fused argmin: more than KM_DOTS_MAXD). */
#ifndef CLVTIER_KMEANS_DOTS_H
#define CLVTIER_KMEANS_DOTS_H

#include <stddef.h>
#include <stdint.h>

#define KM_DOTS_MAXD 32

/* ct_simd_level (core/simd_internal.h): 2 AVX-512, 1 AVX2 + FMA, 0 neither;
 * call once before threads start. */
int km_dots_isa(void);

int km_dots_f64(const double *X, size_t nr, size_t d, const double *C, size_t k, double *G);
int km_dots_f32(const float *X, size_t nr, size_t d, const float *C, size_t k, float *G);
/* The same for any d up to KM_DOTS_MAXD (where GEMM would be faster), for
 * the rows X + idx[r] d (idx NULL: all nr rows): each G[r][j] the FMA chain
 * over the columns in order, whatever the rows and centres around it
 * (k-means++'s pruned passes compute a row's distances alone or in any tile
 * and need the same bits).  -1: no kernel for this d or CPU; -2: out of
 * memory (more than 2,048 transposed values: k x d beyond k-means++'s trials). */
int km_dots_chain_f64(const double *X, const size_t *idx, size_t nr, size_t d, const double *C,
                      size_t k, double *G);
int km_dots_chain_f32(const float *X, const size_t *idx, size_t nr, size_t d, const float *C,
                      size_t k, float *G);

/* Fused with the argmin (k up to KM_ASSIGN_MAXK): per row the first index of
 * the smallest |c_j|^2 - 2 x.c_j (lab), that value (v1) and the second
 * smallest (v2, may be NULL; +inf when k = 1). */
#define KM_ASSIGN_MAXK 4096
int km_assign_f64(const double *X, size_t nr, size_t d, const double *C, const double *cn, size_t k,
                  int32_t *lab, double *v1, double *v2);
int km_assign_f32(const float *X, size_t nr, size_t d, const float *C, const float *cn, size_t k,
                  int32_t *lab, float *v1, float *v2);

/* One Lloyd pass over rows 0..nr with the same labels as km_assign: per row
 * *moved += (lab[r] changes), lab[r] = the new label, sums[lab[r]] (k x d)
 * += w[r] x_r and wk[lab[r]] += w[r] (w NULL: 1), rows in order and in
 * double.  With sums and wk zero on entry (as k-means passes them), they are
 * those of the plain loop, bit for bit (the pass adds into zeroed copies).
 * lab NULL: the sums and weights only (no labels kept, no moves counted),
 * and no label array read or written. */
int km_lloyd_f64(const double *X, size_t nr, size_t d, const double *C, const double *cn, size_t k,
                 const double *w, int32_t *lab, double *sums, double *wk, double *moved);
int km_lloyd_f32(const float *X, size_t nr, size_t d, const float *C, const float *cn, size_t k,
                 const double *w, int32_t *lab, double *sums, double *wk, double *moved);

/* Hamerly's and Yinyang's test that a lower bound m on the distance to the
 * other centres clears an upper bound u on the row's own: u + xe / m <= m
 * (xe: the expanded distances' rounding, in squared units), without a
 * division. */
static inline int km_bound_clears(double u, double m, double xe)
{
    return m > 0 && u * m + xe <= m * m;
}

/* Hamerly's bound test for rows 0..n (kmeans_impl.h, hpass_block), a
 * vector of rows at a time, each lane the scalar code's operations: with
 * a = lab[i],
 *   u' = u[i] + p[a],  l' = l[i] - (a == jmax ? pmax2 : pmax),
 *   m = s[a] > l' ? s[a] : l',  xe = eps (xn[i] + cnmax);
 * l[i] = l' and u[i] = u' (the caller overwrites u of the rows it then
 * measures); a row is decided when m > 0 and u' m + xe <= m^2 (u' + xe / m
 * <= m without a division: a vector division of doubles held the test to
 * one row every two cycles), else its index goes to und[] and its m and xe
 * to um[], us[], in row order.  Returns the number undecided; without
 * AVX2 or AVX-512, the same test row by row. */
long km_hamerly_test_f64(const int32_t *lab, double *u, double *l, const double *xn, size_t n,
                         const double *p, const double *s, int32_t jmax, double pmax, double pmax2,
                         double cnmax, double eps, uint32_t *und, double *um, double *us);
long km_hamerly_test_f32(const int32_t *lab, double *u, double *l, const float *xn, size_t n,
                         const double *p, const double *s, int32_t jmax, double pmax, double pmax2,
                         double cnmax, double eps, uint32_t *und, double *um, double *us);

/* The own distances of the rows the bound test left (und[0..nq), rows i0 +
 * und[q] of X): ud[q] = the square root of sqdist8's sum (kmeans_impl.h)
 * between the row and its centre C + lab[i0 + und[q]] d, the same bits.
 * -1 without AVX-512 (the caller's loop). */
int km_own_dist_f64(const double *X, size_t d, size_t i0, const uint32_t *und, long nq,
                    const int32_t *lab, const double *C, double *ud);
int km_own_dist_f32(const float *X, size_t d, size_t i0, const uint32_t *und, long nq,
                    const int32_t *lab, const double *C, double *ud);

/* Yinyang's measure of a group of kg centres, rows through pointers (no
 * copy): km_group_pack_f64 lays the group's centres C (kg x d) and their
 * |c|^2 out in km_group_packed(kg, d) values at P, the centres in the
 * lanes (-1: no AVX-512, kg > 64 or d > KM_DOTS_MAXD; then the caller
 * measures with km_assign); km_group_assign_f64 then gives, for each row
 * xr[r], what km_assign gives over C: the first index of the least
 * |c|^2 - 2 x.c (each x.c the FMA chain over the columns in order), that
 * value and the second least (+inf where kg = 1); up to a zero's sign
 * in v1 and v2, which the callers add to |x|^2. */
size_t km_group_packed(size_t kg, size_t d);
int km_group_pack_f64(const double *C, const double *cn, size_t kg, size_t d, double *P);
void km_group_assign_f64(const double *const *xr, size_t nr, size_t d, const double *P, size_t kg,
                         int32_t *lab, double *v1, double *v2);

/* Yinyang's filter (ymeasure, kmeans_impl.h) over the rows i = i0 + und[q]
 * that failed the global test, q < nq, with their own distances ud[q] and
 * the test's m and slack (um, us): u[i] = ud[q]; where m still does not
 * clear it, the row's group bounds L = lb + i ng are brought to this pass,
 * L[g] -= (c1[g] - c0[g]) (1 + 1e-12) + 1e-12 c1[g] (c0 = cum + stamp[i] ng,
 * c1 = cum + pass ng), l[i] = their least, stamp[i] = pass, and where some
 * group's bound does not clear u (km_bound_clears with the slack) the row
 * goes to out[] with those groups and its own (grp[lab[i]]) in omk[], in
 * row order.  The scalar code's operations lane by lane; returns the rows
 * out, -1 without AVX-512 (the caller's loop). */
typedef struct km_yfilter_args {
    size_t i0, ng;
    const uint32_t *und;
    const double *ud, *um, *us;
    const int32_t *lab;
    const uint32_t *grp;
    double *u, *l, *lb;
    uint32_t *stamp;
    const double *cum;
    uint32_t pass;
} km_yfilter_args;
long km_yfilter(const km_yfilter_args *a, long nq, size_t *out, uint64_t *omk);

/* Greedy k-means++'s sums over rows 0..nr in order (kmeans_impl.h,
 * pp_block), m (1..8) values per row in G + at[r] m (a row of -inf for a
 * row the triangle test left out: it then adds w D, as the scalar code
 * did): d2_t = max(xn[r] + zn[t] - 2 g_t, 0); where low0, lane 0 lowers
 * D[r] first (near[r] = newj); then acc[t] += w[r] min(d2_t, D[r]) for
 * t = pend.. m (w NULL: 1), the scalar code's operations lane by lane.
 * -1 without AVX2 or AVX-512, or m > 8. */
int km_pp_rows_f64(const double *xn, const double *zn, const double *G, const uint32_t *at,
                   size_t nr, size_t m, int pend, int low0, int32_t newj, const double *w,
                   double *D, int32_t *near, double *acc);
int km_pp_rows_f32(const float *xn, const float *zn, const float *G, const uint32_t *at,
                   size_t nr, size_t m, int pend, int low0, int32_t newj, const double *w,
                   double *D, int32_t *near, double *acc);

/* k-means||'s pruned rounds: nh halves of four items, item q the row
 * x[q] (d values) against the chunk z[q / 4] of L = km_chunk_lanes(sizeof
 * value) candidates, laid out as d x L values (column by column), their
 * |z|^2 (L values; +inf in a lane without a candidate) and their indices
 * (L uint32_t, in the space of L values).  v[q]: the least |z|^2 - 2 x.z
 * over the lanes, each x.z the FMA chain over the columns in order and the
 * rest km_assign's operations (the same bits); t[q]: the least index among
 * the lanes at v[q].  km_chunk_lanes is 0 and km_chunks -1 without AVX2 or
 * AVX-512. */
size_t km_chunk_lanes(size_t size);
/* Chunk z (that layout) of the rows ord[0..nv) of C (k x d) and their
 * |c|^2 cn[ord[l]], nv <= L; the other lanes 0, +inf, UINT32_MAX. */
int km_chunk_build_f64(double *z, const double *C, const double *cn, const uint32_t *ord,
                       size_t nv, size_t d);
int km_chunk_build_f32(float *z, const float *C, const float *cn, const uint32_t *ord, size_t nv,
                       size_t d);
int km_chunks_f64(const double *const *x, const double *const *z, size_t nh, size_t d, double *v,
                  uint32_t *t);
int km_chunks_f32(const float *const *x, const float *const *z, size_t nh, size_t d, float *v,
                  uint32_t *t);

/* Euclidean distances (not squared) from x (d values) to the rows q0..q1 of
 * a transposed table XT (d x ld): out[q - q0].  Each as sqrt of the
 * squared differences added over the columns in order, no fused
 * multiply-add: every instruction set gives the bits of the plain loop. */
void km_dist_rows(const double *x, const double *XT, size_t ld, size_t d, size_t q0, size_t q1,
                  double *out);

#endif
