/* modelfile.h - declarative tier models (models/NAME.ini, read with inih).
 *
 * A tier model says which purchase and spend models to fit, the CLV horizon
 * and discount, which features to cluster (transform, scaling, k or a k
 * range), the ordered tier ladder and how clusters map onto it, loyalty
 * classes from P(alive), the rule for customers too young to grade, per-tier
 * actions, and which protected columns may only be audited.  Every unknown
 * section or key, wrong type or inconsistent setting is CT_ECONFIG with
 * "FILE:LINE: ..." naming the key; a protected attribute used as a feature
 * is CT_EPROTECTED.  Lines are at most 200 bytes (inih's limit).
 *
 * Sections and keys (see models/default.ini for a commented example):
 *   [model]     name, description
 *   [data]      period = day|week|month, calibration_end, observation_end
 *   [clv]       purchase = auto|bgnbd|pareto|mbgnbd (auto: chosen on the data,
 *               ct_clv_choose), spend = gammagamma|none, covariates_purchase,
 *               covariates_dropout, covariates_same = columns of /features
 *               (static covariates; not with auto), covariates_reference =
 *               col=level,... (text columns' reference levels), penalty_cov,
 *               horizon (periods), discount (per period), penalty
 *   [features]  use = a, b, c; transform = none|log1p; scale = none|zscore|robust
 *   [kmeans]    k = K | k_range = LO:HI, n_init, seed
 *   [tiers]     names = top, ..., bottom (best first); rank_by = a feature or
 *               clv|p_alive|exp_purchases|exp_spend; assign = clusters|shares|thresholds;
 *               shares = s1, ... (sum 1); thresholds = t1, ... (decreasing, one
 *               fewer than tiers); hysteresis = margin (0..1); min_group
 *   [loyalty]   metric = p_alive | p_no_purchase, periods = t (p_no_purchase: P(no
 *               purchase in the next t periods)); loyal, lost = thresholds
 *               (p_alive: loyal >= loyal, lost <= lost; p_no_purchase: loyal
 *               <= loyal, lost >= lost); names = loyal, general, lost
 *   [new]       min_age = periods; tier = name
 *   [actions]   <tier name> = free text; review = free text
 *   [protected] audit = col, ...  (never clustered; reported per tier) */
#ifndef CLVTIER_MODELFILE_H
#define CLVTIER_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/dates.h"
#include "clvtier/status.h"
#include "clvtier/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_MAX_TIERS 16
#define CT_MAX_FEATURES 32
#define CT_MAX_AUDIT 8
#define CT_MAX_INGEST 24

typedef enum ct_assign { CT_ASSIGN_CLUSTERS, CT_ASSIGN_SHARES, CT_ASSIGN_THRESHOLDS } ct_assign;

typedef struct ct_tier_model {
    char path[512];
    char name[64], description[200];
    ct_period period;
    int32_t calibration_end, observation_end; /* CT_NO_DAY when absent */
    ct_clv_model purchase;
    int purchase_auto; /* 1: purchase = auto (the fit chooses; purchase unused) */
    int spend; /* 1: Gamma-Gamma */
    double horizon, discount, penalty;
    /* [clv] covariates_purchase, covariates_dropout, covariates_same
     * (comma-separated /features columns; "" none: pipeline.h's
     * ct_cov_spec; every customer graded needs them), penalty_cov */
    char cov_purchase[512], cov_dropout[512], cov_same[512], cov_reference[512];
    double penalty_cov;
    size_t nfeat;
    char features[CT_MAX_FEATURES][64];
    ct_transform transform;
    ct_scaling scale;
    size_t k_lo, k_hi;
    unsigned n_init;
    uint64_t seed;
    size_t ntiers;
    char tiers[CT_MAX_TIERS][64];
    char rank_by[64];
    ct_assign assign;
    double shares[CT_MAX_TIERS];
    double thresholds[CT_MAX_TIERS];
    double hysteresis;
    size_t min_group;
    double loyal_min, lost_max; /* the [loyalty] loyal and lost thresholds */
    int loyalty_no_purchase;    /* 0: P(alive); 1: P(no purchase in the next loyalty_periods) */
    double loyalty_periods;
    /* The review period in the model's periods, from [actions] review when
     * it starts with daily, weekly, biweekly, fortnightly, monthly,
     * quarterly, yearly or annually (else NaN): the loyalty fallback's
     * window when P(alive) carries no information (pipeline.c). */
    double review_periods;
    /* [tiers] stability = N (0: none), borderline = share below which a
     * customer's tier counts as borderline (default 0.8) */
    size_t stability;
    double borderline;
    /* Set by `run` (not read from the file) when it switched loyalty to
     * P(no purchase) because P(alive) carried no information: why. */
    char loyalty_note[240];
    char loyalty_names[3][64];
    double new_min_age;
    char new_tier[64];
    char actions[CT_MAX_TIERS][200];
    char review[200];
    size_t naudit;
    char audit[CT_MAX_AUDIT][64];
    /* [ingest]: options of a CSV log's format (ct_ingest_opt_set's names) */
    size_t ningest;
    char ingest_key[CT_MAX_INGEST][32];
    char ingest_val[CT_MAX_INGEST][200];
} ct_tier_model;

/* Defaults (a 3-tier high/mid/low value model on clv, x, t_x, m). */
void ct_tier_model_init(ct_tier_model *m);

/* Read and check a model file. */
ct_status ct_tier_model_load(const char *path, ct_tier_model *m, ct_error *err);

/* The protected-attribute guard: the matching entry of the documented list
 * when `name` (case-insensitive; words split at non-alphanumerics and at
 * camelCase capitals) names a
 * protected attribute, else NULL.  The list covers the GDPR art. 9 special
 * categories (racial or ethnic origin, political opinions, religious or
 * philosophical beliefs, trade-union membership, genetic, biometric and
 * health data, sex life, sexual orientation) and the usual grounds of
 * anti-discrimination law (sex/gender, age of the person, disability,
 * nationality, marital status, pregnancy). */
const char *ct_protected_attribute(const char *name);

#ifdef __cplusplus
}
#endif

#endif
