/* types.h - the plain structs and enums that more than one layer uses (core):
 * model identifiers and their parameter names, a fitted model, per-customer
 * scores, a k-means result, a feature scaler and the scores of a choice of k.
 * The numerics fill them, the data layer reads and writes them (schema_*.c),
 * the domain and the pipeline pass them on; none of them owns a file. */
#ifndef CLVTIER_TYPES_H
#define CLVTIER_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CLV models ------------------------------------------------------------ */
typedef enum ct_clv_model {
    CT_BGNBD,
    CT_PARETO,
    CT_MBGNBD,
    CT_BGBB,
    CT_GAMMAGAMMA
} ct_clv_model;

/* Static covariates (clv.h): at most CT_CLV_MAXCOEF coefficients after a
 * model's base parameters. */
#define CT_CLV_MAXCOEF 16
#define CT_CLV_MAXPAR (4 + CT_CLV_MAXCOEF)

/* The process a covariate coefficient acts on (bits). */
#define CT_COV_PURCHASE 1u
#define CT_COV_DROPOUT 2u

const char *ct_clv_model_name(ct_clv_model m); /* "bgnbd", "pareto", ... */
int ct_clv_model_parse(const char *s, ct_clv_model *m); /* 0 ok, -1 unknown */
size_t ct_clv_nparams(ct_clv_model m);
/* "r", "alpha", "a", "b" (BG/NBD); "r", "alpha", "s", "beta" (Pareto/NBD);
 * "alpha", "beta", "gamma", "delta" (BG/BB); "p", "q", "v" (Gamma-Gamma). */
const char *ct_clv_param_name(ct_clv_model m, size_t j);

typedef struct ct_fit {
    ct_clv_model model;
    size_t k;                   /* number of parameters */
    double par[CT_CLV_MAXPAR];  /* estimates */
    double se[CT_CLV_MAXPAR];   /* standard errors (NaN if the Hessian is not positive definite) */
    double cov[CT_CLV_MAXPAR * CT_CLV_MAXPAR];
    double ll;                  /* log-likelihood at the estimate (without penalty) */
    double aic, bic;
    double nobs;                /* customers (sum of weights) */
    size_t ndistinct;           /* distinct rows fitted */
    unsigned iterations;        /* of the best start */
    size_t nevals;              /* passes over all rows (lnL, gradient, Hessian) */
    size_t sub_evals;           /* passes over the start's subsample (0: none) */
    size_t sub_rows;            /* distinct rows of that subsample (0: none) */
    int fallback;               /* the subsample's optimum did not converge on all rows */
    int converged;
    double grad_norm;           /* final |gradient| of -LL/N in log-parameters */
    double penalty;
    double period_days;         /* period unit of the data (0 if unknown) */
    double corr_xm;             /* Gamma-Gamma: correlation of x and m among repeaters */
    /* static covariates: par[nbase .. nbase + ncoef) are coefficients gamma
     * (nbase = ct_clv_nparams(model)); coefficient j multiplies the column
     * coef_col[j] in the processes coef_proc[j] (CT_COV_* bits; both: one
     * coefficient constrained equal in the two processes).  Names follow
     * CLVTools: trans.<col>, life.<col>, constr.<col>. */
    size_t ncoef;
    char coef_name[CT_CLV_MAXCOEF][72];
    char coef_col[CT_CLV_MAXCOEF][64];
    unsigned coef_proc[CT_CLV_MAXCOEF];
    /* text columns enter as dummies "col=level"; their reference levels,
     * "col=level,..." ("" none) */
    char coef_ref[512];
    double penalty_cov;         /* L2 penalty on the coefficients */
    /* the likelihood-ratio test against the same model without covariates
     * (NaN when not computed): 2 (ll - ll0) ~ chi2(ncoef) */
    double ll0, lr, lr_p;
    /* 1: the covariates are time-varying (Pareto/NBD, clv.h's
     * ct_clv_paths): each customer's values per period, not one value */
    int dynamic;
} ct_fit;

/* Parameter j's name: the base names, then the coefficients'. */
const char *ct_fit_param_name(const ct_fit *f, size_t j);
/* f->coef_name[j] from f->coef_col[j] and f->coef_proc[j] (j < ncoef):
 * trans.<col>, life.<col> or constr.<col>. */
void ct_fit_name_coefs(ct_fit *f);

#define CT_MAX_ALIVE_AT 8

typedef struct ct_scores {
    size_t n;
    double *p_alive, *exp_purchases, *exp_spend, *clv;
    /* score --intervals: lower and upper bounds (NULL when not computed) */
    double *p_alive_lo, *p_alive_hi, *exp_purchases_lo, *exp_purchases_hi, *clv_lo, *clv_hi;
    double level; /* their confidence level (0 when none) */
    size_t draws; /* 0: the delta method; else a parametric bootstrap of this many draws */
    /* and the predictive interval of the purchases in the horizon (NULL for BG/BB) */
    double *purchases_lo, *purchases_hi;
    /* score --dert: DERT at rate dert_delta and dert x expected spend (or NULL) */
    double *dert, *clv_dert, dert_delta;
    /* score --alive-at: P(alive at T + at[j]) (nat columns, or none) */
    size_t nat;
    double at[CT_MAX_ALIVE_AT];
    double *alive_at[CT_MAX_ALIVE_AT];
} ct_scores;

void ct_scores_free(ct_scores *s);

/* ---- k-means ------------------------------------------------------------------ */
typedef enum ct_km_init {
    CT_KM_INIT_AUTO,     /* k-means++ up to 100k rows, k-means|| above */
    CT_KM_INIT_KMEANSPP, /* greedy k-means++, 2 + ln k trials per centre */
    CT_KM_INIT_PARALLEL, /* k-means||: 5 rounds of oversampling (l = 2k), then k-means++ */
    CT_KM_INIT_RANDOM,   /* k distinct rows, uniformly */
    CT_KM_INIT_GIVEN     /* opts.centroids */
} ct_km_init;

typedef struct ct_kmeans_result {
    size_t n, d, k;
    double *centroids; /* k x d */
    int32_t *labels;   /* n */
    double *weight;    /* k: total sample weight per cluster */
    double inertia;    /* sum of w * squared distance to the own centroid */
    unsigned iterations, best_run;
    int converged;
    /* Hamerly's bounds (NULL for Lloyd): per assignment pass of the best run
     * (iterations + the final one when it ran), the share of the n k
     * row-centre distances that the bounds made unnecessary. */
    double *skipped;
    size_t npasses;
    int algorithm; /* the ct_km_algo that ran (AUTO resolved) */
} ct_kmeans_result;

void ct_kmeans_result_free(ct_kmeans_result *r);

typedef struct ct_kscore {
    double inertia;
    double calinski_harabasz; /* between / within dispersion, (n-k)/(k-1) scaled; higher is better */
    double davies_bouldin;    /* mean worst similarity of clusters; lower is better */
    double silhouette;        /* mean silhouette on a sample (exact up to sample_max rows) */
} ct_kscore;

typedef enum ct_transform { CT_TF_NONE, CT_TF_LOG1P } ct_transform;
typedef enum ct_scaling { CT_SC_NONE, CT_SC_ZSCORE, CT_SC_ROBUST } ct_scaling;
const char *ct_transform_name(ct_transform t); /* "none", "log1p" */
const char *ct_scaling_name(ct_scaling s);     /* "none", "zscore", "robust" */

/* Per feature j: y = (t(x) - center[j]) / scale[j], t = identity or log1p.
 * zscore: weighted mean and standard deviation; robust: median and IQR.
 * A constant feature gets scale 1 (it then contributes nothing). */
typedef struct ct_scaler {
    size_t d;
    ct_transform transform;
    ct_scaling scaling;
    double *center, *scale;
} ct_scaler;

void ct_scaler_free(ct_scaler *s);

#ifdef __cplusplus
}
#endif

#endif
