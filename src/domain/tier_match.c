/* tier_match.c - stable labels and tier migration between runs.
 * Ref: H. W. Kuhn (1955), "The Hungarian method for the assignment problem",
 * Naval Research Logistics Quarterly 2; J. Munkres (1957), J. SIAM 5(1);
 * shortest augmenting paths with potentials as in Jonker & Volgenant (1987). */
#include "clvtier/tier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/rng.h"

ct_status ct_hungarian(const double *cost, size_t n, size_t m, size_t *assign, ct_error *err)
{
    if (n > m) {
        return ct_fail(err, CT_EINVAL, "assignment needs rows <= columns (%zu > %zu)", n, m);
    }
    if (n == 0) {
        return CT_OK;
    }
    for (size_t q = 0; q < n * m; q++) {
        if (!isfinite(cost[q])) {
            return ct_fail(err, CT_EINVAL, "assignment cost %zu is not finite", q);
        }
    }
    /* 1-based arrays: u (rows), v (columns), p[j] = row matched to column j */
    double *u = calloc(n + 1, sizeof *u), *v = calloc(m + 1, sizeof *v),
           *minv = malloc((m + 1) * sizeof *minv);
    size_t *p = calloc(m + 1, sizeof *p), *way = calloc(m + 1, sizeof *way);
    char *used = malloc(m + 1);
    if (!u || !v || !minv || !p || !way || !used) {
        free(u);
        free(v);
        free(minv);
        free(p);
        free(way);
        free(used);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 1; i <= n; i++) {
        p[0] = i;
        size_t j0 = 0;
        for (size_t j = 0; j <= m; j++) {
            minv[j] = (double)INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            size_t i0 = p[j0], j1 = 0;
            double delta = (double)INFINITY;
            for (size_t j = 1; j <= m; j++) {
                if (!used[j]) {
                    double cur = cost[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) { /* ties: the lowest column */
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for (size_t j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            size_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    for (size_t j = 1; j <= m; j++) {
        if (p[j] != 0) {
            assign[p[j] - 1] = j - 1;
        }
    }
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return CT_OK;
}

ct_status ct_match_centroids(const double *old_c, size_t k_old, const double *new_c, size_t k_new,
                             size_t d, int32_t *map, ct_error *err)
{
    /* rows = the smaller side, so the assignment is defined */
    int new_rows = k_new <= k_old;
    size_t n = new_rows ? k_new : k_old, m = new_rows ? k_old : k_new;
    size_t nm = n * m;
    double *cost = malloc((nm > 0 ? nm : 1) * sizeof *cost);
    size_t *as = malloc((n ? n : 1) * sizeof *as);
    if (cost == NULL || as == NULL) {
        free(cost);
        free(as);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m; j++) {
            const double *a = new_rows ? new_c + i * d : new_c + j * d;
            const double *b = new_rows ? old_c + j * d : old_c + i * d;
            double s = 0;
            for (size_t c = 0; c < d; c++) {
                s += (a[c] - b[c]) * (a[c] - b[c]);
            }
            cost[i * m + j] = s;
        }
    }
    ct_status st = ct_hungarian(cost, n, m, as, err);
    if (st == CT_OK) {
        for (size_t j = 0; j < k_new; j++) {
            map[j] = -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (new_rows) {
                map[i] = (int32_t)as[i];
            } else {
                map[as[i]] = (int32_t)i;
            }
        }
        int32_t next = (int32_t)k_old; /* unmatched new clusters: fresh labels, in order */
        for (size_t j = 0; j < k_new; j++) {
            if (map[j] < 0) {
                map[j] = next++;
            }
        }
    }
    free(cost);
    free(as);
    return st;
}

static uint64_t id_hash(const char *p, size_t w)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < w && p[i] != '\0'; i++) {
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    }
    return ct_mix64(h);
}

static int id_eq(const char *a, size_t aw, const char *b, size_t bw)
{
    size_t la = strnlen(a, aw), lb = strnlen(b, bw);
    return la == lb && memcmp(a, b, la) == 0;
}

ct_status ct_tier_join(const char *old_ids, size_t old_w, const int8_t *old_tier, size_t n_old,
                       size_t nt_old, const char *new_ids, size_t new_w, size_t n_new,
                       int8_t *prev, double *gone, ct_error *err)
{
    size_t cap = 16;
    while (cap < 2 * n_old) {
        cap *= 2;
    }
    uint32_t *slot = calloc(cap, sizeof *slot); /* old row + 1 */
    unsigned char *seen = calloc(n_old ? n_old : 1, 1);
    if (slot == NULL || seen == NULL) {
        free(slot);
        free(seen);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    memset(gone, 0, (nt_old + 1) * sizeof *gone);
    ct_status s = CT_OK;
    for (size_t i = 0; i < n_old && s == CT_OK; i++) {
        const char *id = old_ids + i * old_w;
        if (old_tier[i] < 0 || (size_t)old_tier[i] > nt_old) {
            s = ct_fail(err, CT_EDATA, "old run, customer row %zu: tier %d out of range", i + 1,
                        old_tier[i]);
            break;
        }
        size_t k = id_hash(id, old_w) & (cap - 1);
        while (slot[k] != 0) {
            if (id_eq(old_ids + (slot[k] - 1) * old_w, old_w, id, old_w)) {
                s = ct_fail(err, CT_EDATA, "old run: customer id '%.*s' appears twice",
                            (int)strnlen(id, old_w), id);
                break;
            }
            k = (k + 1) & (cap - 1);
        }
        slot[k] = (uint32_t)i + 1;
    }
    for (size_t i = 0; i < n_new && s == CT_OK; i++) {
        const char *id = new_ids + i * new_w;
        size_t k = id_hash(id, new_w) & (cap - 1);
        prev[i] = -1; /* absent before */
        while (slot[k] != 0) {
            size_t o = slot[k] - 1;
            if (id_eq(old_ids + o * old_w, old_w, id, new_w)) {
                prev[i] = old_tier[o];
                seen[o] = 1;
                break;
            }
            k = (k + 1) & (cap - 1);
        }
    }
    for (size_t o = 0; o < n_old && s == CT_OK; o++) {
        if (!seen[o]) {
            gone[old_tier[o]] += 1;
        }
    }
    free(slot);
    free(seen);
    return s;
}

ct_status ct_tier_migration_counts(const int8_t *prev, const int8_t *new_tier, size_t n_new,
                                   size_t nt_old, size_t nt_new, const double *gone,
                                   double *counts, ct_error *err)
{
    size_t C = nt_new + 2;
    memset(counts, 0, (nt_old + 2) * C * sizeof *counts);
    for (size_t i = 0; i < n_new; i++) {
        if (new_tier[i] < 0 || (size_t)new_tier[i] > nt_new) {
            return ct_fail(err, CT_EDATA, "new run, customer row %zu: tier %d out of range", i + 1,
                           new_tier[i]);
        }
        size_t row = prev[i] < 0 ? nt_old + 1 : (size_t)prev[i];
        counts[row * C + (size_t)new_tier[i]] += 1;
    }
    for (size_t t = 0; t <= nt_old; t++) {
        counts[t * C + nt_new + 1] = gone[t];
    }
    return CT_OK;
}

ct_status ct_tier_migration(const char *old_ids, size_t old_w, const int8_t *old_tier,
                            size_t n_old, size_t nt_old, const char *new_ids, size_t new_w,
                            const int8_t *new_tier, size_t n_new, size_t nt_new, double *counts,
                            ct_error *err)
{
    int8_t *prev = malloc((n_new ? n_new : 1) * sizeof *prev);
    double gone[CT_MAX_TIERS + 1];
    if (prev == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (nt_old > CT_MAX_TIERS) {
        free(prev);
        return ct_fail(err, CT_EINVAL, "old run: %zu tiers", nt_old);
    }
    ct_status s = ct_tier_join(old_ids, old_w, old_tier, n_old, nt_old, new_ids, new_w, n_new,
                               prev, gone, err);
    if (s == CT_OK) {
        s = ct_tier_migration_counts(prev, new_tier, n_new, nt_old, nt_new, gone, counts, err);
    }
    free(prev);
    return s;
}

size_t ct_tier_hysteresis(ct_tiering *tg, const int8_t *prev, const double *X, const size_t *rows,
                          size_t ng, const double *C, size_t d, const double *w, double margin)
{
    size_t kept = 0, k = tg->k;
    for (size_t g = 0; g < ng; g++) {
        size_t i = rows[g];
        int8_t now = tg->tier[i], old = prev[i];
        if (old < 0 || old == now || (size_t)old >= tg->ntiers || now < 0 ||
            (size_t)now >= tg->ntiers) {
            continue; /* unchanged, absent before, or new-customer tier on either side */
        }
        double dnow = (double)INFINITY, dold = (double)INFINITY;
        for (size_t j = 0; j < k; j++) {
            int32_t t = tg->cluster_tier[j];
            if (t != now && t != old) {
                continue;
            }
            double s2 = 0;
            for (size_t q = 0; q < d; q++) {
                double e = X[g * d + q] - C[j * d + q];
                s2 += e * e;
            }
            if (t == now) {
                dnow = fmin(dnow, s2);
            } else {
                dold = fmin(dold, s2);
            }
        }
        if (isfinite(dold) && sqrt(dold) <= (1.0 + margin) * sqrt(dnow)) {
            tg->tier[i] = old; /* not clearly across: stays */
            tg->weight[now] -= w != NULL ? w[i] : 1.0;
            tg->weight[old] += w != NULL ? w[i] : 1.0;
            kept++;
        }
    }
    return kept;
}
