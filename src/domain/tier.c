/* tier.c - map clusters onto a tier ladder; loyalty classes (see tier.h). */
#include "clvtier/tier.h"

#include "clvtier/comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ct_tiering_free(ct_tiering *t)
{
    if (t == NULL) {
        return;
    }
    free(t->tier);
    free(t->loyalty);
    t->tier = NULL;
    t->loyalty = NULL;
}

ct_status ct_tier_assign(const ct_tier_model *m, const int32_t *labels, size_t k,
                         const double *metric, const double *p_alive, const double *age,
                         const double *w, size_t n, ct_tiering *out, ct_error *err)
{
    return ct_tier_assign_part(m, labels, k, metric, p_alive, age, w, n, 0, NULL, out, err);
}

ct_status ct_tier_assign_part(const ct_tier_model *m, const int32_t *labels, size_t k,
                              const double *metric, const double *p_alive, const double *age,
                              const double *w, size_t n, size_t row0, ct_comm *comm,
                              ct_tiering *out, ct_error *err)
{
    size_t nt = m->ntiers;
    memset(out, 0, sizeof *out);
    if (k == 0 || k > 1024 || nt == 0 || nt > CT_MAX_TIERS) {
        return ct_fail(err, CT_EINVAL, "tiering needs 1..1024 clusters and 1..%d tiers",
                       CT_MAX_TIERS);
    }
    out->n = n;
    out->k = k;
    out->ntiers = nt;
    out->tier = malloc((n ? n : 1) * sizeof *out->tier);
    out->loyalty = malloc((n ? n : 1) * sizeof *out->loyalty);
    /* per block of CT_SUM_BLOCK rows: cluster weights and metric sums and
     * the graded weight; then the tiers' weights */
    size_t nb = (n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK, mm = 2 * k + 1;
    size_t mp = mm > nt + 1 ? mm : nt + 1;
    double *part = calloc((nb ? nb : 1) * mp, sizeof *part), *tot = malloc(mm * sizeof *tot);
    ct_status s = out->tier && out->loyalty && part && tot
                      ? CT_OK
                      : ct_fail(err, CT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        double wi = w != NULL ? w[i] : 1.0, *p = part + i / CT_SUM_BLOCK * mm;
        if (m->loyalty_no_purchase) { /* p_alive holds P(no purchase in the next t) */
            double p0 = p_alive != NULL ? p_alive[i] : 0.0;
            out->loyalty[i] = (int8_t)(p0 <= m->loyal_min ? 0 : p0 >= m->lost_max ? 2 : 1);
        } else {
            double pa = p_alive != NULL ? p_alive[i] : 1.0;
            out->loyalty[i] = (int8_t)(pa >= m->loyal_min ? 0 : pa <= m->lost_max ? 2 : 1);
        }
        if (age != NULL && age[i] < m->new_min_age) {
            out->tier[i] = (int8_t)nt; /* too young to grade: no cluster needed */
            continue;
        }
        if (labels[i] < 0 || (size_t)labels[i] >= k) {
            s = ct_fail(err, CT_EDATA, "customer row %zu: cluster %d outside 0..%zu",
                        row0 + i + 1, labels[i], k - 1);
        } else if (!isfinite(metric[i])) {
            s = ct_fail(err, CT_EDATA, "customer row %zu: %s = %g is not a finite number",
                        row0 + i + 1, m->rank_by, metric[i]);
        } else {
            out->tier[i] = -1;
            p[labels[i]] += wi;
            p[k + (size_t)labels[i]] += wi * metric[i];
            p[2 * k] += wi;
        }
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_sum_blocks(comm, part, nb, mm, tot, err);
    }
    if (s != CT_OK) {
        free(part);
        free(tot);
        ct_tiering_free(out);
        return s;
    }
    const double *cw = tot, *cs = tot + k;
    double total = tot[2 * k];
    /* rank clusters: mean metric, highest first; empty clusters last */
    size_t nr = 0;
    for (size_t j = 0; j < k; j++) {
        out->cluster_mean[j] = cw[j] > 0 ? cs[j] / cw[j] : (double)NAN;
        out->cluster_tier[j] = -1;
        out->cluster_rank[nr++] = (int32_t)j;
    }
    for (size_t a = 1; a < k; a++) { /* insertion sort: k is small */
        int32_t v = out->cluster_rank[a];
        size_t b = a;
        while (b > 0) {
            int32_t u = out->cluster_rank[b - 1];
            double mu = out->cluster_mean[u], mv = out->cluster_mean[v];
            int before = isnan(mu) ? 0 : isnan(mv) ? 1 : mu > mv || (mu == mv && u < v);
            if (before) {
                break;
            }
            out->cluster_rank[b] = u;
            b--;
        }
        out->cluster_rank[b] = v;
    }
    double cum = 0;
    size_t rank_used = 0, prev = 0;
    for (size_t a = 0; a < k; a++) {
        int32_t j = out->cluster_rank[a];
        if (!(cw[j] > 0)) {
            continue;
        }
        size_t t = nt - 1;
        if (m->assign == CT_ASSIGN_CLUSTERS) {
            t = rank_used < nt - 1 ? rank_used : nt - 1;
        } else if (m->assign == CT_ASSIGN_SHARES) {
            double mid = (cum + cw[j] / 2) / total, band = 0;
            for (t = 0; t < nt - 1; t++) {
                band += m->shares[t];
                if (mid < band) {
                    break;
                }
            }
            /* no skipped rung: the best cluster heads the ladder, and each
             * next cluster is at most one tier below the previous one */
            size_t cap = rank_used == 0 ? 0 : prev + 1;
            t = t < cap ? t : cap;
            prev = t;
        } else {
            for (t = 0; t < nt - 1; t++) {
                if (out->cluster_mean[j] >= m->thresholds[t]) {
                    break;
                }
            }
        }
        out->cluster_tier[j] = (int32_t)t;
        cum += cw[j];
        rank_used++;
    }
    /* every customer's tier, and the tiers' weights (per block again) */
    memset(part, 0, (nb ? nb : 1) * mp * sizeof *part);
    for (size_t i = 0; i < n; i++) {
        if (out->tier[i] == -1) { /* (a cluster of weight 0 goes to the last tier) */
            int32_t t = out->cluster_tier[labels[i]];
            out->tier[i] = (int8_t)(t >= 0 ? t : (int32_t)nt - 1);
        }
        part[i / CT_SUM_BLOCK * (nt + 1) + (size_t)out->tier[i]] += w != NULL ? w[i] : 1.0;
    }
    s = ct_comm_sum_blocks(comm, part, nb, nt + 1, out->weight, err);
    free(part);
    free(tot);
    if (s != CT_OK) {
        ct_tiering_free(out);
    }
    return s;
}
