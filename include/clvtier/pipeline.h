/* pipeline.h - a tier model end to end: ingest (CSV input) -> summaries ->
 * purchase (and spend) model fit -> scores -> k-means over the graded
 * customers -> tiers and loyalty classes -> one result file.
 *
 * The result holds /customers, /fits/<model>, /scores, /clusters (label per
 * customer, -1 for customers too young to grade; centroids), /clusters_k
 * (with a k range), and /tiers (tier and loyalty codes per customer; the
 * names, the model, the rank metric, loyalty names, actions and review as
 * attributes); with a previous result /migration (old x new tier counts),
 * and per protected column declared `audit` /audit/<column> (audit.h).
 * Clustering features and audit columns other than the summary and score
 * columns come from the input's /features table (`ingest --features`).  Rows of every table
 * align with /customers.  With a k range, k is chosen (highest silhouette) on
 * a deterministic sample of about 50,000 graded customers (a seeded hash of
 * the row decides), then that k is fitted on all of them. */
#ifndef CLVTIER_PIPELINE_H
#define CLVTIER_PIPELINE_H

#include <stddef.h>

#include "clvtier/clv.h"
#include "clvtier/comm.h"
#include "clvtier/customers.h"
#include "clvtier/kmeans.h"
#include "clvtier/ingest.h"
#include "clvtier/modelfile.h"
#include "clvtier/publish.h"
#include "clvtier/report.h"
#include "clvtier/schema.h"
#include "clvtier/status.h"
#include "clvtier/store.h"
#include "clvtier/synth.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ct_comm;

/* ---- stages ----------------------------------------------------------------- */

/* The ingest stage's numbers: ct_summarize, then RFM scores against ref_day
 * (a ct_summarize_fn, ingest.h). */
ct_status ct_stage_summarize(const int32_t *day, const double *amount, const size_t *off,
                             size_t n, const ct_summary_opts *o, int32_t ref_day,
                             ct_customers *out, ct_error *err);

/* Ingest transaction log `csv` into a new HDF5 file `out` (atomic):
 * /transactions, /customers (summaries and RFM scores), /features.  rep may
 * be NULL.  `clvtier ingest` and `clvtier run` on a CSV both call this. */
ct_status ct_ingest_csv(const char *csv, const char *out, const ct_ingest_opts *o,
                        ct_ingest_report *rep, ct_error *err);

/* The ingest stage (`clvtier ingest`): a transaction log in csv[0..ncsv)
 * (ct_ingest_log), or an RFM summary csv[0] when summary != 0
 * (ct_ingest_summary, ingest.h). */
ct_status ct_stage_ingest(const char *const *csv, size_t ncsv, int summary, const char *out,
                          const ct_ingest_opts *o, ct_ingest_report *rep, ct_error *err);

/* Simulated customers' transactions (synth.h) as CSV "id,date,amount" at
 * `path` (atomic), dates at day resolution, amounts rounded to cents.
 * *ntx receives the number of rows written (may be NULL). */
ct_status ct_synth_csv(const ct_synth_opts *o, const char *path, uint64_t *ntx, ct_error *err);
/* The simulated customers' covariates as CSV (id, one column each; 0/1
 * columns as 0/1), for `ingest --features`. */
ct_status ct_synth_features_csv(const ct_synth_opts *o, const char *path, ct_error *err);
/* Their time-varying covariates as CSV "id,date,NAME,..." (ct_synth_dyn_log),
 * for ingest --dynamic-covariates. */
ct_status ct_synth_dynamic_csv(const ct_synth_opts *o, const char *path, ct_error *err);

/* Rows of `table` of the file at `path` (this rank's part when comm has
 * more than one rank; NULL: all) and its period_days attribute (0 if none). */
ct_status ct_stage_read_customers(const char *path, const char *table, unsigned flags,
                                  struct ct_comm *comm, ct_customers *cust, double *period_days,
                                  ct_error *err);

/* The fits stored at `path`: *purchase its first purchase model (purchase
 * may be NULL: not wanted; else a file without one is CT_EFORMAT), *gg its
 * gammagamma fit when it has one (*has_gg = 1). */
ct_status ct_stage_load_fits(const char *path, ct_fit *purchase, ct_fit *gg, int *has_gg,
                             ct_error *err);

/* A purchase model chosen on the data (`fit --model auto`): the candidates,
 * the chosen one (best) and whether the holdout decided (else BIC). */
typedef struct ct_model_choice {
    ct_clv_candidate cand[CT_CLV_CANDIDATES];
    size_t n, best;
    int holdout;
    double t_star; /* holdout length in periods (0: none) */
} ct_model_choice;

/* The fit stage (`clvtier fit`): models[0..nmodels) fitted to `table` of
 * `data`, written to `output` as /fits/<model> (rank 0 writes).  With
 * choice != NULL the purchase model is chosen first (ct_model_choice,
 * fits[0] gets the chosen fit and fits[1..] the models given), and every
 * candidate fitted is written. */
/* Static covariates of the purchase fits (clv.h): columns of the data
 * file's /features, by name. */
typedef struct ct_cov_spec {
    const char *purchase, *dropout; /* comma-separated column names, or NULL */
    const char *same;    /* of those, the ones with one coefficient in both processes */
    const char *reference; /* "col=level,...": reference levels of text columns (else the
                            * first level in sorted order) */
    int drop_missing;    /* customers with a missing covariate leave the fit (else an error
                          * naming the customer and the column) */
} ct_cov_spec;

/* 1 when spec (may be NULL) names no covariate. */
int ct_cov_spec_empty(const ct_cov_spec *spec);
/* The coefficients of spec into cv (the purchase columns, then the drop-out
 * ones; a `same` column once, in both processes); cv->col points into
 * names.  CT_EPROTECTED for a protected attribute (the guard: a covariate
 * changes every customer's CLV, so their tier), CT_ECONFIG for a bad list. */
ct_status ct_cov_coefs(const ct_cov_spec *spec, ct_clv_covariates *cv, char (*names)[64],
                       ct_error *err);
/* Text columns (categories) among cv's into dummies: each level but the
 * reference becomes a coefficient "col=level" in the column's processes
 * (names holds them); refs gets the reference levels ("col=level,...").
 * CT_EDATA for a text column with one level or more than 50, CT_ECONFIG
 * for a reference that is not a level. */
ct_status ct_cov_expand(const char *path, const ct_cov_spec *spec, ct_clv_covariates *cv,
                        char (*names)[64], char *refs, size_t refcap, ct_error *err);
/* cv's columns for c's rows (c->row0 on) from /features of the HDF5 file
 * `path`: *z is c->n x cv->ncoef (the caller frees it).  CT_EFORMAT when a
 * column is missing or not numeric; the message names path. */
ct_status ct_cov_read(const char *path, const ct_customers *c, const ct_clv_covariates *cv,
                      const char *refs, double **z, ct_error *err);
/* The same for a fit with covariates (scoring, validation): its columns. */
ct_status ct_cov_read_fit(const char *path, const ct_customers *c, const ct_fit *f, double **z,
                          ct_error *err);
/* Time-varying covariates: a column of the data file's /dynamic_covariates
 * (ingest --dynamic-covariates; schema.h's ct_dyncov_mask tells which) has
 * a value per customer and period.
 * ct_cov_read and ct_cov_read_fit leave such columns NaN; ct_cov_paths
 * reads every customer's path (static columns constant from z, which
 * may then be NULL when there are none) into dc, and view shows it as
 * clv.h wants it; the paths must reach T + horizon. */
ct_status ct_cov_paths(const char *path, const ct_customers *c, double period_days,
                       const char *const *cols, size_t K, const double *z, double horizon,
                       ct_dyncov *dc, ct_clv_paths *view, ct_error *err);

typedef struct ct_fit_stage {
    const char *data, *table, *output, *command;
    const ct_clv_model *models;
    size_t nmodels;
    ct_fit_opts fit;
    struct ct_comm *comm; /* clvtier-mpi: the likelihood summed over its ranks; NULL: serial */
    void (*on_fit)(void *ctx, const ct_fit *f, double seconds); /* after each fit; may be NULL */
    void *ctx;
    ct_model_choice *choice; /* NULL, or choose the purchase model into it */
    const ct_cov_spec *cov;  /* NULL, or covariates of the purchase models (not with choice) */
    size_t cov_dropped;      /* out: customers left out for a missing covariate */
} ct_fit_stage;
ct_status ct_stage_fit(ct_fit_stage *o, ct_fit *fits, ct_error *err);

/* The score stage (`clvtier score`): every customer of `data` scored under
 * the purchase fit of `fit` and the gammagamma fit of `spend_fit` (or of
 * `fit`, or the customer's own m), written to `output` as /scores. */
typedef struct ct_score_stage {
    const char *data, *fit, *spend_fit, *output, *command;
    double horizon, discount;
    unsigned threads;
    int deflate;
    struct ct_comm *comm; /* clvtier-mpi: each rank scores and writes its share; NULL: serial */
    double level;         /* 0, or delta-method intervals at this level (ct_clv_score_intervals) */
    double dert;          /* 0, or DERT at this continuous rate per period (ct_clv_dert) */
    size_t nat;           /* P(alive at T + at[j]), j < nat <= CT_MAX_ALIVE_AT */
    const double *at;
    size_t draws;         /* with level: 0 the delta method, else bootstrap draws */
    uint64_t seed;        /* their seed */
} ct_score_stage;
typedef struct ct_score_summary {
    ct_clv_model model;
    int has_gg;
    size_t n;
    double sum_p_alive, exp_purchases, total_clv;
    double seconds; /* scoring alone */
} ct_score_summary;
ct_status ct_stage_score(const ct_score_stage *o, ct_score_summary *sum, ct_error *err);

/* The validate stage (`clvtier validate`): expected vs observed customers
 * by repeat purchases 0..jmax-2, jmax-1+; the holdout table when the data
 * has one (tstar < 0: the data's holdout_periods); E[X(t)] for t = 1..curve. */
#define CT_VALIDATE_MAX 1001
#define CT_CALIB_BINS 10
typedef struct ct_validation {
    ct_fit fit;
    size_t jmax, curve;
    double expected[CT_VALIDATE_MAX], observed[CT_VALIDATE_MAX];
    int has_holdout;
    double holdout_periods;
    double count[CT_VALIDATE_MAX], actual[CT_VALIDATE_MAX], predicted[CT_VALIDATE_MAX];
    double *expected_new; /* curve values (malloc'ed; free() it) */
    /* with a holdout (not BG/BB): P(purchase in the holdout) by decile */
    int has_calib;
    double cal_n[CT_CALIB_BINS], cal_pred[CT_CALIB_BINS], cal_obs[CT_CALIB_BINS], brier;
} ct_validation;
ct_status ct_stage_validate(const char *data, const char *fit, size_t jmax, double tstar,
                            size_t curve, ct_validation *v, ct_error *err);

/* Simulated customers' exact continuous-time summaries as /customers of a
 * new HDF5 file `out` (atomic), with the true parameters as attributes. */
ct_status ct_synth_h5(const ct_synth_opts *o, const char *out, const char *command,
                      ct_error *err);

/* `clvtier inspect`: file() once, then for the root group and every group
 * and dataset in walk order node(), attr() for each of its attributes and
 * node_end(); root is 1 for the root group. */
typedef struct ct_inspect_fns {
    void (*file)(void *ctx, const char *path, int is_clvtier);
    void (*node)(void *ctx, const ct_node_info *n, int root);
    ct_attr_fn attr;
    void (*node_end)(void *ctx, const ct_node_info *n, int root);
} ct_inspect_fns;
ct_status ct_stage_inspect(const char *path, const ct_inspect_fns *fns, void *ctx, ct_error *err);

/* The cluster stage (`clvtier cluster`): k-means over feature columns of
 * `data`, looked up in its /customers, /features and /scores (and /scores of
 * `scores`), rows weighted by /customers/weight when present; k fixed, from
 * init_file, or chosen from klo..khi by silhouette; in memory, or streamed
 * from the file (stream, or always over ranks); /clusters and /clusters_k
 * written to `output`. */
#define CT_CLUSTER_MAXF 64
typedef struct ct_cluster_stage {
    const char *data, *scores, *output, *command;
    const char *features;     /* the names as given (recorded) */
    const char (*names)[64];  /* d parsed names */
    size_t d;
    ct_transform transform;
    ct_scaling scaling;
    ct_kmeans_opts km;        /* all but k */
    size_t klo, khi;          /* 0: from init_file */
    const char *init_file;    /* centroids in original units, or NULL */
    int f32, stream;
    size_t block_rows, sample;
    struct ct_comm *comm;     /* clvtier-mpi: the rows split over its ranks; NULL: serial */
    /* in memory with a k range: after each k, may be NULL */
    void (*on_k)(void *ctx, size_t k, const ct_kmeans_result *r, const ct_kscore *ks);
    void *ctx;
} ct_cluster_stage;
typedef struct ct_cluster_summary {
    size_t k, d, nk, klo;
    double inertia;
    unsigned iterations;
    int converged;
    double seconds;      /* the k-means alone */
    double *weight;      /* k: weight per cluster */
    double *mean;        /* k x d: feature means per cluster, original units */
    ct_kscore *ks;       /* nk: scores of k = klo.. */
    int usage_error;     /* the options contradict the input (init file vs -k) */
    double *skipped;     /* Hamerly's or Yinyang's bounds: share of distances skipped per
                          * pass, else NULL */
    size_t npasses;
    int algorithm;       /* the ct_km_algo that ran */
} ct_cluster_summary;
ct_status ct_stage_cluster(const ct_cluster_stage *o, ct_cluster_summary *sum, ct_error *err);
void ct_cluster_summary_free(ct_cluster_summary *s);

/* The report stage: report.html, summary.json, report.md and tiers.csv of
 * a `run` or `tier` result, as o asks (`clvtier report`, and `run` and
 * `tier` with their report options). */
ct_status ct_stage_report(const char *result, const ct_report_opts *o, ct_error *err);

/* ---- a tier model end to end -------------------------------------------------- */

typedef struct ct_run_opts {
    const char *command;  /* recorded in the result */
    const char *features; /* CSV input only: extra per-customer columns joined by id (may be NULL) */
    const char *dynamic;  /* CSV input only: time-varying covariates (ingest --dynamic-covariates) */
    /* CSV input only: options of the log's format as name/value pairs
     * (ingest_opts[2i], ingest_opts[2i+1]; ct_ingest_opt_set's names), applied
     * after the model's [ingest] section, so the command line wins. */
    const char *const *ingest_opts;
    size_t ningest_opts;
    const char *previous; /* an earlier result of the same model (may be NULL): cluster
                           * labels are matched to its centroids (Hungarian, when k is
                           * unchanged) and /migration counts old x new tiers */
    unsigned threads;     /* 0 = default */
    long stability;       /* run --stability N (>= 0) overrides [tiers] stability; -1: the model's */
    void (*stage)(void *ctx, const char *stage, double seconds); /* may be NULL */
    void *stage_ctx;
    /* clvtier-mpi (ct_run only): every rank of comm calls ct_run together.
     * Rank 0 ingests a CSV; each rank reads its part of the customers; the
     * fits sum the likelihood over the ranks; each rank scores its part;
     * the k-means (scaler, sample, k range, Lloyd) runs over every rank's
     * graded rows and gives the serial run's result bit for bit from the
     * same scores; the tier ranking uses block-ordered sums over the ranks;
     * every rank writes its customers into the one result (parallel HDF5).
     * With `previous` or audit columns rank 0 gathers every customer and
     * does the tier stage and the output alone.  Robust scaling is refused
     * (it needs every value on one machine).  NULL: serial. */
    struct ct_comm *comm;
} ct_run_opts;

typedef struct ct_run_summary {
    size_t customers, k;
    double tier_weight[CT_MAX_TIERS + 1]; /* last: the new-customer tier */
    double loyalty_weight[3];
    double inertia, total_clv;
    double purchase_params[4], spend_params[3];
    double ll;
    size_t k_sample; /* rows k was chosen on (k range), else 0 */
    int has_migration, labels_matched;
    int hysteresis_applied;  /* a margin was set and the previous run has the same ladder */
    size_t hysteresis_kept;  /* customers kept in their old tier by the margin */
    size_t naudit;           /* protected columns audited (/audit/<column>) */
    size_t assigned_nearest; /* ct_retier: customers the input left ungraded, now graded
                              * by the nearest centroid */
    size_t mig_rows, mig_cols;
    double migration[(CT_MAX_TIERS + 2) * (CT_MAX_TIERS + 2)]; /* old x new, see ct_tier_migration */
    /* a CSV input with --features: feature rows whose id has no transaction
     * (not joined), as ingest counts them, and a few of those ids */
    uint64_t feature_unmatched;
    char feature_unmatched_examples[256];
} ct_run_summary;

/* input: a transaction CSV (ingested with the model's [data] settings) or a
 * clvtier HDF5 file with /customers. */
ct_status ct_run(const ct_tier_model *m, const char *input, const char *output,
                 const ct_run_opts *o, ct_run_summary *sum, ct_error *err);

/* Re-tier an existing result (`clvtier tier`): the input's clusters and
 * scores under model m's ladder, loyalty and new-customer rules, without
 * refitting or reclustering.  The output holds /tiers (+ /migration with
 * o->previous, + /audit) and external links to the input's /customers,
 * /fits, /scores, /clusters and /clusters_k, so nothing large is copied.
 * When m clusters on the same features as the input, customers the input
 * left ungraded (too young for its model) but old enough for m's go to the
 * nearest centroid (in the input's scaling), and the hysteresis margin
 * applies; otherwise they stay in the new-customer tier. */
ct_status ct_retier(const ct_tier_model *m, const char *input, const char *output,
                    const ct_run_opts *o, ct_run_summary *sum, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
