/* kmeans_select.c - scores for choosing k.
 * Refs: Calinski & Harabasz (1974), Comm. in Statistics 3(1); Davies & Bouldin
 * (1979), IEEE PAMI 1(2); Rousseeuw (1987), J. Comput. Appl. Math. 20
 * (silhouettes; on a sample, as scikit-learn's sample_size). */
#include "clvtier/kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/par.h"
#include "clvtier/rng.h"
#include "numerics/kmeans/kmeans_dots.h"

static double dist2(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* The sampled rows sorted by cluster (stably: within a cluster in sample
 * order) and transposed, so that a row's distances to one cluster are one
 * contiguous, vectorisable loop; the sums per cluster then add the same
 * values in the same order as a pass over the sample in its own order. */
typedef struct sil_job {
    const double *X;
    const int32_t *lab;
    const size_t *idx;
    size_t m, d, k;
    const double *XT;    /* d x m: column j of the sorted rows */
    const size_t *start; /* k + 1: cluster c is sorted rows [start[c], start[c + 1]) */
    double *s;           /* per sampled row */
} sil_job;

static ct_status sil_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    sil_job *J = vctx;
    double *dist = malloc((J->m ? J->m : 1) * sizeof *dist);
    (void)b;
    if (dist == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t a = begin; a < end; a++) {
        const double *x = J->X + J->idx[a] * J->d;
        size_t own = (size_t)J->lab[J->idx[a]];
        double ai = 0, bi = (double)INFINITY;
        int alone = 0;
        for (size_t c = 0; c < J->k; c++) {
            size_t q0 = J->start[c], q1 = J->start[c + 1];
            /* its own row is among its cluster's: distance 0, not counted */
            size_t cnt = q1 - q0 - (c == own);
            if (cnt == 0) {
                alone |= c == own;
                continue;
            }
            km_dist_rows(x, J->XT, J->m, J->d, q0, q1, dist);
            double sum = 0;
            for (size_t q = 0; q < q1 - q0; q++) {
                sum += dist[q];
            }
            double mean = sum / (double)cnt;
            if (c == own) {
                ai = mean;
            } else if (mean < bi) {
                bi = mean;
            }
        }
        if (alone) {
            J->s[a] = 0; /* a singleton (in the sample) scores 0 */
            continue;
        }
        double mx = ai > bi ? ai : bi;
        J->s[a] = isfinite(bi) && mx > 0 ? (bi - ai) / mx : 0;
    }
    free(dist);
    return CT_OK;
}

/* The sample's rows sorted by cluster into J (XT, start: the caller frees). */
static ct_status sil_sort(sil_job *J, double **XT, size_t **start, ct_error *err)
{
    size_t m = J->m, d = J->d, k = J->k;
    *XT = malloc((m ? m : 1) * d * sizeof **XT);
    *start = calloc(k + 1, sizeof **start);
    size_t *at = calloc(k + 1, sizeof *at);
    if (*XT == NULL || *start == NULL || at == NULL) {
        free(at);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t a = 0; a < m; a++) {
        (*start)[(size_t)J->lab[J->idx[a]] + 1]++;
    }
    for (size_t c = 0; c < k; c++) {
        (*start)[c + 1] += (*start)[c];
        at[c] = (*start)[c];
    }
    for (size_t a = 0; a < m; a++) {
        size_t pos = at[(size_t)J->lab[J->idx[a]]]++;
        for (size_t j = 0; j < d; j++) {
            (*XT)[j * m + pos] = J->X[J->idx[a] * d + j];
        }
    }
    free(at);
    J->XT = *XT;
    J->start = *start;
    return CT_OK;
}

ct_status ct_kmeans_scores(const double *X, size_t n, size_t d, const double *w,
                           const ct_kmeans_result *r, size_t sample_max, uint64_t seed,
                           unsigned threads, ct_kscore *out, ct_error *err)
{
    size_t k = r->k;
    double W = 0, tot = 0;
    double *mean = calloc(d, sizeof *mean), *sdist = calloc(k, sizeof *sdist);
    if (mean == NULL || sdist == NULL) {
        free(mean);
        free(sdist);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    out->inertia = r->inertia;
    for (size_t i = 0; i < n; i++) {
        double wi = w != NULL ? w[i] : 1.0;
        for (size_t j = 0; j < d; j++) {
            mean[j] += wi * X[i * d + j];
        }
        tot += wi;
        sdist[r->labels[i]] += wi * sqrt(dist2(X + i * d, r->centroids + (size_t)r->labels[i] * d, d));
    }
    for (size_t j = 0; j < d; j++) {
        mean[j] /= tot;
    }
    double B = 0;
    size_t nonempty = 0;
    for (size_t c = 0; c < k; c++) {
        B += r->weight[c] * dist2(r->centroids + c * d, mean, d);
        nonempty += r->weight[c] > 0;
    }
    W = r->inertia;
    out->calinski_harabasz = k > 1 && W > 0 ? (B / (double)(k - 1)) / (W / (tot - (double)k))
                                            : (double)NAN;
    /* Davies-Bouldin over the non-empty clusters */
    double db = 0;
    for (size_t c = 0; c < k; c++) {
        if (r->weight[c] <= 0) {
            continue;
        }
        double sc = sdist[c] / r->weight[c], worst = 0;
        for (size_t e = 0; e < k; e++) {
            if (e == c || r->weight[e] <= 0) {
                continue;
            }
            double se = sdist[e] / r->weight[e];
            double dc = sqrt(dist2(r->centroids + c * d, r->centroids + e * d, d));
            double v = dc > 0 ? (sc + se) / dc : (sc + se > 0 ? (double)INFINITY : 0);
            worst = v > worst ? v : worst;
        }
        db += worst;
    }
    out->davies_bouldin = nonempty > 1 ? db / (double)nonempty : (double)NAN;
    free(mean);
    free(sdist);
    /* silhouette on a deterministic sample */
    size_t m = n <= sample_max ? n : sample_max;
    size_t *idx = malloc((m ? m : 1) * sizeof *idx);
    double *s = malloc((m ? m : 1) * sizeof *s);
    ct_status st = CT_OK;
    if (idx == NULL || s == NULL) {
        st = ct_fail(err, CT_ENOMEM, "out of memory");
    } else if (m == n) {
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
    } else {
        /* Floyd's sampling of m distinct rows, then sorted */
        ct_rng *g = ct_rng_new(seed, 0x51);
        unsigned char *in = calloc(n, 1);
        if (g == NULL || in == NULL) {
            st = ct_fail(err, CT_ENOMEM, "out of memory");
        } else {
            for (size_t j = n - m; j < n; j++) {
                size_t t = (size_t)ct_rng_below(g, j + 1);
                in[in[t] ? j : t] = 1;
            }
            size_t q = 0;
            for (size_t i = 0; i < n; i++) {
                if (in[i]) {
                    idx[q++] = i;
                }
            }
        }
        free(in);
        ct_rng_free(g);
    }
    if (st == CT_OK && k > 1) {
        (void)km_dots_isa(); /* once, before the threads */
        sil_job J = {X, r->labels, idx, m, d, k, NULL, NULL, s};
        double *XT = NULL;
        size_t *start = NULL;
        st = sil_sort(&J, &XT, &start, err);
        if (st == CT_OK) {
            st = ct_par_for(m, 64, threads, sil_block, &J, err);
        }
        free(XT);
        free(start);
        double sum = 0;
        for (size_t a = 0; a < m; a++) {
            sum += s[a];
        }
        out->silhouette = st == CT_OK ? sum / (double)m : (double)NAN;
    } else {
        out->silhouette = (double)NAN;
    }
    free(idx);
    free(s);
    return st;
}

size_t ct_kmeans_pick_k(const ct_kscore *scores, size_t m, size_t klo)
{
    size_t best = 0;
    for (size_t i = 1; i < m; i++) {
        if (isfinite(scores[i].silhouette) &&
            (!isfinite(scores[best].silhouette) || scores[i].silhouette > scores[best].silhouette)) {
            best = i;
        }
    }
    return klo + best;
}
