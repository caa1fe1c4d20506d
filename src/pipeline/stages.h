/* stages.h - the pipeline's own shared pieces (not installed): the one
 * k-range loop and the model-driven k-means that `run` uses. */
#ifndef CLVTIER_PIPELINE_STAGES_H
#define CLVTIER_PIPELINE_STAGES_H

#include "clvtier/clv.h"
#include "clvtier/comm.h"
#include "clvtier/kmeans.h"
#include "clvtier/modelfile.h"
#include "clvtier/pipeline.h"
#include "clvtier/store.h"

/* Which k to try and how to score them. */
typedef struct ct_krange {
    size_t klo, khi;
    size_t sample_max;   /* rows of the silhouette sample */
    uint64_t score_seed; /* its seed */
    /* serial only: after each k is fitted and scored (k range), may be NULL */
    void (*on_k)(void *ctx, size_t k, const ct_kmeans_result *r, const ct_kscore *ks);
    void *ctx;
} ct_krange;

/* The one k-range loop (`clvtier cluster` and `run`): fit k = klo..khi on S
 * (ns x d; f64, or f32 in Sf when not NULL; weights sw or NULL), score each
 * when there is a range (ks[k - klo]; a single k gets its inertia and NaN
 * scores), and keep the k with the highest silhouette (ties: smaller k) in
 * *best (the caller frees it).  Serial: results no longer in the running are
 * freed as the loop goes.  Over ranks (comm), rank (k - klo) mod P fits k:
 * each fit is the same whatever rank runs it, so the choice is the serial
 * one; the scores go to every rank and the chosen k's centroids (best->k,
 * best->centroids: all that other ranks hold of it) from its rank.
 * Collective. */
ct_status ct_choose_k(ct_comm *comm, const ct_krange *kr, ct_kmeans_opts *ko, const double *S,
                      const float *Sf, size_t ns, size_t d, const double *sw, ct_kscore *ks,
                      ct_kmeans_result *best, ct_error *err);

/* `run`'s k-means over its ng graded customers X (scaled in place by scl),
 * on one process: k chosen on a sample (k range), then everyone fitted. */
ct_status ct_cluster_model_serial(const ct_tier_model *m, double *X, const double *w, size_t ng,
                                  unsigned threads, ct_scaler *scl, ct_kmeans_result *km,
                                  ct_kscore *ks, size_t *k_sample, ct_error *err);

/* The same over every rank's graded rows, bit for bit (see stage_cluster.c). */
ct_status ct_cluster_model_ranks(ct_comm *comm, const ct_tier_model *m, const double *X,
                                 const double *w, size_t ngl, size_t ng, size_t g0,
                                 unsigned threads, ct_scaler *scl, ct_kmeans_result *km,
                                 int32_t *mine_lab, ct_kscore *ks, size_t *k_sample, ct_error *err);

/* One CLV model fitted to the customers c (this rank's part when comm has
 * several ranks: the likelihood is summed over them), as `clvtier fit` and
 * `run` both fit.  The status is the same on every rank. */
ct_status ct_stage_fit_model(const ct_customers *c, ct_clv_model model, const char *source,
                             const ct_fit_opts *fo, ct_comm *comm, ct_fit *fit, ct_error *err);

/* Time-varying covariates: fit (Pareto/NBD; CT_ECONFIG for another model)
 * from *fit, the plain fit, over paths (ct_cov_paths) of c, this rank's
 * customers (comm: collective). */
ct_status ct_stage_fit_dyn(const ct_customers *c, const ct_clv_covariates *cv,
                           const ct_clv_paths *paths, const char *refs, const char *source,
                           const ct_fit_opts *fo, ct_comm *comm, ct_fit *fit, ct_error *err);
/* *fit (the model's plain fit to c) fitted again with the covariates cv
 * (refs: their reference levels), from there; the same on every rank. */
ct_status ct_stage_fit_cov(const ct_customers *c, const ct_clv_covariates *cv, const char *refs,
                           const char *source, const ct_fit_opts *fo, ct_comm *comm,
                           ct_fit *fit, ct_error *err);

/* `--model auto` and `[clv] purchase = auto`: every candidate purchase model
 * (ct_clv_candidates) fitted to c as ct_stage_fit_model does, its holdout
 * errors when c has x_star and t_star > 0, and the choice (ct_clv_choose).
 * A candidate that does not converge or refuses the data stays in the table
 * with its message; other failures stop.  Models in the bit mask exclude
 * (1u << model) are not candidates.  on_fit (may be NULL) after each
 * fit.  Collective; the same choice on every rank. */
ct_status ct_stage_choose(const ct_customers *c, double t_star, const char *source,
                          const ct_fit_opts *fo, unsigned exclude, ct_comm *comm,
                          ct_model_choice *ch,
                          void (*on_fit)(void *ctx, const ct_fit *f, double seconds), void *ctx,
                          ct_error *err);

/* Every fitted candidate as /fits/<model> with its holdout errors, and on
 * /fits the chosen model ("purchase") and the rule. */
ct_status ct_choice_write(ct_file *f, const ct_model_choice *ch, ct_error *err);

#endif
