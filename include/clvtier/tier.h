/* tier.h - clusters onto a tier ladder (domain layer).
 *
 * Customers younger than the model's new-customer age (T < min_age) get the
 * separate "new" tier and take no part in ranking.  The other customers'
 * clusters are ranked by the weighted mean of the model's rank_by metric
 * (highest first, ties by lower cluster number) and mapped onto the ladder:
 *   clusters    the top ntiers-1 clusters one tier each, the rest the last tier;
 *   shares      a cluster goes to the tier whose share band (cumulative customer
 *               share, best first) holds the middle of the cluster's own band,
 *               so clusters are never split; but no rung is skipped: the best
 *               cluster heads the ladder and each next cluster is at most one
 *               tier below the previous (coarse clusters follow their ranks);
 *   thresholds  a cluster goes to the first tier whose threshold its mean
 *               metric reaches (the last tier otherwise).
 * Loyalty: P(alive) >= loyal -> 0, <= lost -> 2, else 1; with [loyalty]
 * metric = p_no_purchase the array holds P(no purchase in the next t
 * periods) and <= loyal -> 0, >= lost -> 2. */
#ifndef CLVTIER_TIER_H
#define CLVTIER_TIER_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/modelfile.h"
#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tiering {
    size_t n, k, ntiers;     /* tier codes 0..ntiers-1; ntiers = the new-customer tier */
    int8_t *tier;            /* per customer */
    int8_t *loyalty;         /* per customer: 0 loyal, 1 general, 2 lost */
    int32_t cluster_tier[1024]; /* per cluster (-1: no graded customer) */
    double cluster_mean[1024];  /* weighted mean rank metric per cluster */
    int32_t cluster_rank[1024]; /* clusters in rank order (best first) */
    double weight[CT_MAX_TIERS + 1]; /* customers per tier, new last */
} ct_tiering;

/* labels: cluster of each customer (0..k-1); metric: the rank_by value;
 * p_alive (the loyalty metric, see above) and age (T) per customer; w:
 * weights or NULL. k <= 1024. */
ct_status ct_tier_assign(const ct_tier_model *m, const int32_t *labels, size_t k,
                         const double *metric, const double *p_alive, const double *age,
                         const double *w, size_t n, ct_tiering *out, ct_error *err);
/* The same over a part of the customers split over comm's ranks
 * (collective): rows [row0, row0 + n) here (row0 a multiple of CT_SUM_BLOCK,
 * comm.h; it numbers rows in messages).  The cluster sums and the tiers'
 * weights are taken per CT_SUM_BLOCK rows and the blocks added in order, in
 * ct_tier_assign too, so every rank gets the serial ranking and weights;
 * tier and loyalty hold this part's rows.  comm NULL: ct_tier_assign. */
struct ct_comm;
ct_status ct_tier_assign_part(const ct_tier_model *m, const int32_t *labels, size_t k,
                              const double *metric, const double *p_alive, const double *age,
                              const double *w, size_t n, size_t row0, struct ct_comm *comm,
                              ct_tiering *out, ct_error *err);
void ct_tiering_free(ct_tiering *t);

/* Optimal assignment (Hungarian method, O(n^2 m)): assign[i] = the column of
 * row i, all distinct, minimising the total cost of the n x m (n <= m)
 * row-major matrix.  Ref: Kuhn (1955); Munkres (1957); the potentials form
 * of e.g. Jonker & Volgenant (1987). */
ct_status ct_hungarian(const double *cost, size_t n, size_t m, size_t *assign, ct_error *err);

/* Stable labels across runs: map[j] = the old label for new cluster j,
 * matching centroids (k x d, same scaling) by least total squared distance;
 * new clusters beyond the old count get the next free labels. */
ct_status ct_match_centroids(const double *old_c, size_t k_old, const double *new_c, size_t k_new,
                             size_t d, int32_t *map, ct_error *err);

/* Tier migration between two runs, joined by customer id (fixed-width id
 * arrays as in ct_customers): counts is (nt_old + 2) x (nt_new + 2),
 * row-major.  Rows/columns 0..nt-1 are the tiers, nt the new-customer tier,
 * nt+1 "not in that run": row nt_old + 1 counts customers only in the new
 * run, column nt_new + 1 those only in the old one. */
ct_status ct_tier_migration(const char *old_ids, size_t old_w, const int8_t *old_tier,
                            size_t n_old, size_t nt_old, const char *new_ids, size_t new_w,
                            const int8_t *new_tier, size_t n_new, size_t nt_new, double *counts,
                            ct_error *err);

/* The join behind ct_tier_migration: prev[i] = the old tier of new customer
 * i (by id), -1 when absent before; gone[t] (nt_old + 1 entries) = old
 * customers of tier t missing from the new run. */
ct_status ct_tier_join(const char *old_ids, size_t old_w, const int8_t *old_tier, size_t n_old,
                       size_t nt_old, const char *new_ids, size_t new_w, size_t n_new,
                       int8_t *prev, double *gone, ct_error *err);
/* The migration matrix (layout as ct_tier_migration) from a join. */
ct_status ct_tier_migration_counts(const int8_t *prev, const int8_t *new_tier, size_t n_new,
                                   size_t nt_old, size_t nt_new, const double *gone,
                                   double *counts, ct_error *err);

/* Hysteresis between two runs of the same ladder.  A graded customer whose
 * tier changed (value tier to value tier) keeps its old tier unless it is
 * clearly across: its distance to the nearest centroid of a cluster in the
 * new tier, times (1 + margin), is below its distance to the nearest centroid
 * of a cluster mapped to the old tier (Euclidean, in the scaled feature
 * space).  X: the ng graded customers' scaled rows, rows[g] their customer
 * rows; C: the k x d centroids; prev: per customer, from ct_tier_join.
 * Updates tg->tier and tg->weight (w: weights or NULL); returns the number
 * of customers kept in their old tier. */
size_t ct_tier_hysteresis(ct_tiering *tg, const int8_t *prev, const double *X, const size_t *rows,
                          size_t ng, const double *C, size_t d, const double *w, double margin);

#ifdef __cplusplus
}
#endif

#endif
