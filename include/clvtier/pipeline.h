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
 * a deterministic sample of about 200,000 graded customers (a seeded hash of
 * the row decides), then that k is fitted on all of them. */
#ifndef CLVTIER_PIPELINE_H
#define CLVTIER_PIPELINE_H

#include <stddef.h>

#include "clvtier/customers.h"
#include "clvtier/ingest.h"
#include "clvtier/modelfile.h"
#include "clvtier/status.h"
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

/* Simulated customers' transactions (synth.h) as CSV "id,date,amount" at
 * `path` (atomic), dates at day resolution, amounts rounded to cents.
 * *ntx receives the number of rows written (may be NULL). */
ct_status ct_synth_csv(const ct_synth_opts *o, const char *path, uint64_t *ntx, ct_error *err);

/* ---- a tier model end to end -------------------------------------------------- */

typedef struct ct_run_opts {
    const char *command;  /* recorded in the result */
    const char *features; /* CSV input only: extra per-customer columns joined by id (may be NULL) */
    const char *previous; /* an earlier result of the same model (may be NULL): cluster
                           * labels are matched to its centroids (Hungarian, when k is
                           * unchanged) and /migration counts old x new tiers */
    unsigned threads;     /* 0 = default */
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
