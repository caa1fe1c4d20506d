/* schema.h - the HDF5 layout of a clvtier file (data layer): one reader and
 * one writer for each group, so that every stage and subcommand that writes
 * /customers, /fits, /scores or /clusters writes it with the same code.
 *   /customers   schema_customers.c      /fits/<model>  schema_fits.c
 *   /scores      schema_scores.c         /clusters, /clusters_k  schema_clusters.c
 * The structs are core's (customers.h, types.h); the file is store.h's. */
#ifndef CLVTIER_SCHEMA_H
#define CLVTIER_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/customers.h"
#include "clvtier/modelfile.h"
#include "clvtier/status.h"
#include "clvtier/store.h"
#include "clvtier/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- /customers ------------------------------------------------------------- */
/* Write `c` as table /customers (ids as the index column).  Extra attributes
 * (period, dates) are the caller's. */
ct_status ct_customers_write(ct_file *f, const ct_customers *c, ct_error *err);

/* Read /customers (or another table with columns x, t_x, T and optionally
 * m, weight, x_star, m_star, id) from f.  Missing x/t_x/T is CT_EFORMAT. */
ct_status ct_customers_read(const ct_file *f, const char *group, ct_customers *c,
                            ct_error *err);

#define CT_READ_NO_IDS 1u   /* leave ids out (fitting does not need them) */
#define CT_READ_NO_HOLDOUT 2u /* leave the holdout columns x_star and m_star out */
/* As ct_customers_read, with CT_READ_* flags. */
ct_status ct_customers_read_flags(const ct_file *f, const char *group, unsigned flags,
                                  ct_customers *c, ct_error *err);

/* Part `part` of `nparts` contiguous parts of the rows: a rank's share
 * under MPI.  The parts are cut at whole chunks of column x when its chunk
 * is a multiple of CT_SUM_BLOCK (comm.h), else at CT_SUM_BLOCK rows, as
 * evenly as those units allow (some parts may be empty); c->row0 is the
 * part's first row. */
ct_status ct_customers_read_part(const ct_file *f, const char *group, unsigned flags,
                                 size_t part, size_t nparts, ct_customers *c, ct_error *err);
/* The rows of that part, [*row0, *row0 + *n), and the table's *total. */
ct_status ct_customers_part_rows(const ct_file *f, const char *group, size_t part,
                                 size_t nparts, size_t *row0, size_t *n, size_t *total,
                                 ct_error *err);

/* ---- /fits/<model> ------------------------------------------------------------ */
/* Store / load a fit as attributes of group /fits/<model>. */
ct_status ct_fit_write(ct_file *f, const ct_fit *fit, ct_error *err);
/* A candidate's holdout errors on /fits/<model> (after ct_fit_write):
 * holdout_mse, holdout_mse_se, holdout_mae and holdout_agg_error (v[0..3]). */
ct_status ct_fit_write_holdout(ct_file *f, ct_clv_model model, const double *v, ct_error *err);
/* The purchase model chosen among several fits (`fit --model auto`) and the
 * rule, as /fits attributes "purchase" and "choice_rule". */
ct_status ct_fits_write_choice(ct_file *f, ct_clv_model chosen, const char *rule, ct_error *err);
/* The chosen purchase model's name into buf ("" when the file records no
 * choice). */
void ct_fits_read_choice(const ct_file *f, char *buf, size_t cap);
/* model_name NULL: the only (or first) fit in the file. */
ct_status ct_fit_read(const ct_file *f, const char *model_name, ct_fit *fit,
                      ct_error *err);

/* ---- /scores ------------------------------------------------------------------ */
typedef struct ct_scores_meta {
    double horizon, discount;
    const char *model;       /* purchase model name, or NULL (not recorded) */
    const char *spend_model; /* "gammagamma" / "observed m", or NULL */
    const char *customers;   /* the file scored, or NULL */
} ct_scores_meta;

/* Table /scores (this rank's sc->n rows on a parallel file) and its attributes. */
ct_status ct_scores_write(ct_file *f, const ct_scores *sc, const ct_scores_meta *meta,
                          ct_error *err);
/* /scores written in blocks (a serial file): its columns those of `shape`
 * (its non-NULL arrays), total rows in all; each block's rows appended in
 * turn; then the attributes (from shape and meta).  ct_scores_end frees tw
 * whatever happens; after a failure before it, the caller aborts tw
 * (ct_tw_abort) and abandons the file. */
ct_status ct_scores_begin(ct_file *f, const ct_scores *shape, size_t total, ct_tw **tw,
                          ct_error *err);
ct_status ct_scores_append(ct_tw *tw, const ct_scores *block, ct_error *err);
ct_status ct_scores_end(ct_file *f, ct_tw *tw, const ct_scores *shape,
                        const ct_scores_meta *meta, ct_error *err);

/* Rows [row0, row0 + n) of the four /scores columns (malloc'ed; free with
 * ct_scores_free); CT_EFORMAT unless /scores has `total` rows. */
ct_status ct_scores_read(const ct_file *f, size_t row0, size_t n, size_t total, ct_scores *sc,
                         ct_error *err);

/* ---- /clusters, /clusters_k -------------------------------------------------- */
/* What /clusters records beside the labels and centroids. */
typedef struct ct_clusters_meta {
    const char *features;              /* comma-separated feature names */
    ct_transform transform;
    ct_scaling scaling;                /* attribute "scaling" (read by the reports) */
    const double *centroids_original;  /* k x d in original units, or NULL */
    const double *feature_means;       /* k x d per-cluster feature means, or NULL */
    int fit_details;                   /* 1: iterations, converged, seed, k_rule, weight */
    uint64_t seed;
    size_t nk;                         /* values of k tried */
    int64_t graded;                    /* customers clustered; < 0: not recorded */
    int64_t k_chosen_on_rows;          /* rows k was chosen on; < 0: not recorded */
} ct_clusters_meta;

/* /clusters: table `label` (n rows, aligned with /customers; -1 allowed for
 * customers left out), centroids (k x d, scaled units), the scaler, k,
 * inertia and meta.  The one writer of /clusters: `clvtier cluster` and
 * `run` both call it. */
ct_status ct_clusters_write(ct_file *f, const int32_t *labels, size_t n,
                            const ct_kmeans_result *r, const ct_scaler *scl,
                            const ct_clusters_meta *meta, ct_error *err);

/* Rows [row0, row0 + n) of /clusters/label; CT_EFORMAT unless the table
 * has a label for each of `total` customers. */
ct_status ct_clusters_read_labels(const ct_file *f, size_t row0, size_t n, size_t total,
                                  int32_t *labels, ct_error *err);

/* The scaling of /clusters (scale_center, scale_scale; at most cap each):
 * *d of them. */
ct_status ct_clusters_read_scaling(const ct_file *f, double *center, double *scale, size_t cap,
                                   size_t *d, ct_error *err);

/* /clusters_k: columns k (klo ..), inertia, calinski_harabasz,
 * davies_bouldin, silhouette, one row per k. */
ct_status ct_kscores_write(ct_file *f, const ct_kscore *ks, size_t nk, size_t klo,
                           ct_error *err);

/* ---- /tiers, /migration, /audit ------------------------------------------- */

/* /tiers: tier and loyalty codes per customer (n rows here; p0, the
 * P(no purchase) behind the loyalty classes, when not NULL) and the tier
 * model's names, actions and settings. */
ct_status ct_tiers_write(ct_file *out, const ct_tier_model *m, const int8_t *tier,
                         const int8_t *loyalty, const double *p0, const double *stability,
                         size_t n, ct_error *err);

/* Tier stability ([tiers] stability = N): the column /tiers/stability (per
 * customer the share of N parameter draws in which it keeps its tier) goes
 * with ct_tiers_write; these are its attributes, after it: stability_draws,
 * stability_borderline, and per tier stability_mean and
 * stability_borderline_customers (ntiers values each). */
typedef struct ct_stability_meta {
    size_t draws;
    double borderline;
    const double *tier_mean, *tier_borderline; /* ntiers each */
    size_t ntiers;
} ct_stability_meta;
ct_status ct_tiers_write_stability(ct_file *out, const ct_stability_meta *meta, ct_error *err);

typedef struct ct_migration_meta {
    const double *counts; /* rows x cols: previous tiers x these tiers */
    size_t rows, cols;
    const char *previous, *previous_names;
    int labels_matched;
    size_t hysteresis_kept;
} ct_migration_meta;

/* /migration: the counts and where they come from. */
ct_status ct_migration_write(ct_file *out, const ct_migration_meta *mg, ct_error *err);

/* A fairness audit of one protected column (computed in the domain layer,
 * audit.h), stored as /audit/<column>. */
#define CT_AUDIT_MAX_DISTINCT 12
#define CT_AUDIT_MAX_GROUPS (CT_AUDIT_MAX_DISTINCT + 1)
#define CT_AUDIT_PROXY_ETA2 0.10

typedef struct ct_audit {
    char column[64];
    size_t ngroups, ntiers; /* ntiers includes the new-customer tier */
    char group[CT_AUDIT_MAX_GROUPS][48];
    double count[CT_AUDIT_MAX_GROUPS][CT_MAX_TIERS + 1];
    double cramers_v;
    size_t nfeat;
    double eta2[CT_MAX_FEATURES];
} ct_audit;

ct_status ct_audit_write(ct_file *out, const ct_audit *a, const ct_tier_model *m, ct_error *err);

/* ---- /dynamic_covariates (ingest --dynamic-covariates) -----------------------
 * Customers' covariate paths as clv.h's ct_clv_paths wants them: segments
 * (consecutive periods with equal values merged) starting at t0 periods
 * after the customer's first purchase, each with one value per
 * coefficient; end[i] where customer i's last period ends; zsum the
 * values summed over its repeat purchases. */
typedef struct ct_dyncov {
    size_t n, ncoef;
    size_t *off; /* n + 1 */
    double *t0, *end, *z, *zsum;
} ct_dyncov;
/* Bit j set when cols[j] (j < 32) is a column of the data file's
 * /dynamic_covariates: a time-varying covariate (the file opened once). */
unsigned ct_dyncov_mask(const char *path, const char *const *cols, size_t K);
/* The paths of c's customers (c->row0.. of /customers; first_day, T and x
 * needed) for coefficients on cols[0..ncoef): a column of
 * /dynamic_covariates is time-varying, any other takes zstatic[i * ncoef
 * + j] (constant; zstatic may be NULL when every column is time-varying).
 * Each path must reach T + horizon periods (fit: horizon 0); CT_EDATA
 * names the customer and the dates otherwise. */
ct_status ct_dyncov_read(const char *path, const ct_customers *c, double period_days,
                         const char *const *cols, const double *zstatic, size_t ncoef,
                         double horizon, ct_dyncov *out, ct_error *err);
void ct_dyncov_free(ct_dyncov *d);

/* Columns cols[0..ncols) of path's /features for the rows of c (c->row0
 * on): *z is c->n x ncols, row-major (the caller frees it).  A name
 * "col=level" of a text column (a category) reads its dummy: 1 where the
 * value is level, 0 elsewhere, NaN where it is empty; with refs ("col=level,
 * ..." the reference levels) a value that is neither the reference nor a
 * level among cols is an error naming the row (a level the fit did not
 * know).  CT_EFORMAT naming the column when /features or a column is
 * missing, or a text column is given without a level. */
ct_status ct_features_read(const char *path, const ct_customers *c, const char *const *cols,
                           size_t ncols, const char *refs, double **z, ct_error *err);

/* The covariates of fit f (its coefficients' columns, with its reference
 * levels) for the rows of c: ct_features_read. */
ct_status ct_features_read_fit(const char *path, const ct_customers *c, const ct_fit *f,
                               double **z, ct_error *err);

/* The levels of column col of path's /features when it is text (*is_text =
 * 1): its distinct non-empty values over all rows, sorted bytewise, at most
 * max (CT_EDATA beyond: not a category). */
#define CT_LEVEL_MAX 64
ct_status ct_features_levels(const char *path, const char *col, int *is_text,
                             char (*levels)[CT_LEVEL_MAX], size_t max, size_t *nlev,
                             ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
