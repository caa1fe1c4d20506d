/* synth.h - simulated customers from BG/NBD or Pareto/NBD purchase processes
 * with Gamma-Gamma spend, for tests, benchmarks and parameter recovery.
 *
 * Customer i is born (first purchase) at time b_i, uniform in [0, cohort)
 * periods (b_i = 0 when cohort = 0), and observed until T periods, so
 * T_i = T - b_i.  Purchase times and amounts follow the model exactly in
 * continuous time.  Block k of 4096 customers draws from random stream
 * (seed, k), so results are identical for any thread count. */
#ifndef CLVTIER_SYNTH_H
#define CLVTIER_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/customers.h"
#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_SYNTH_MAXCOV 8

typedef enum ct_synth_model { CT_SYNTH_BGNBD, CT_SYNTH_PARETO, CT_SYNTH_MBGNBD } ct_synth_model;

typedef struct ct_synth_opts {
    ct_synth_model model;
    /* BG/NBD: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b) (Fader, Hardie & Lee 2005);
     * MBG/NBD: the same, and the drop-out coin is also tossed right after the
     * first purchase (Batislam, Denizel & Filiztekin 2007).
     * Pareto/NBD: lambda ~ Gamma(r, rate alpha), mu ~ Gamma(s, rate beta)
     * (Schmittlein, Morrison & Colombo 1987); s and beta are stored in a and b. */
    double r, alpha, a, b;
    /* Gamma-Gamma spend: nu ~ Gamma(q, rate gamma), z ~ Gamma(p, rate nu)
     * (Fader, Hardie & Lee 2005, "RFM and CLV"). */
    double p, q, gamma;
    size_t n;           /* customers */
    double T;           /* observation length, periods */
    double cohort;      /* births spread over [0, cohort) periods, 0 <= cohort < T */
    double period_days; /* days per period (for dates) */
    int32_t start_day;  /* day of time 0 (days since 1970-01-01) */
    uint64_t seed;
    unsigned threads; /* 0 = default */
    /* Static covariates (clv.h's parametrisation): column j is 0/1 with
     * probability 1/2 (cov_kind 'b') or standard normal ('n'); customer i's
     * alpha_i = alpha exp(-cov_trans' z_i), and a_i = a exp(cov_life' z_i),
     * b_i = b exp(cov_life' z_i) (BG/NBD, MBG/NBD) or beta_i = beta
     * exp(-cov_life' z_i) (Pareto/NBD).  Drawn first for each customer, so
     * ncov = 0 gives the customers it always gave. */
    size_t ncov;
    char cov_name[CT_SYNTH_MAXCOV][32];
    char cov_kind[CT_SYNTH_MAXCOV];
    double cov_trans[CT_SYNTH_MAXCOV], cov_life[CT_SYNTH_MAXCOV];
    /* Time-varying covariates (Pareto/NBD only): cov_dynamic[j] = 1 draws
     * column j afresh for every calendar period [k, k + 1) (same kinds),
     * and customer i's rates are lambda_i exp(cov_trans' z_i(t)) and mu_i
     * exp(cov_life' z_i(t)) (the static columns enter the same way,
     * constant), with lambda_i ~ Gamma(r, alpha), mu_i ~ Gamma(s, beta)
     * (Bachmann, Meierer & Naef 2021).  The paths run to T + ahead periods
     * (what scoring a horizon of `ahead` periods needs). */
    char cov_dynamic[CT_SYNTH_MAXCOV];
    double ahead;
} ct_synth_opts;

/* Customers' covariate paths (time-varying covariates): every covariate
 * column of the options, per calendar period from the customer's first
 * purchase to T + ahead (clv.h's ct_clv_paths, which this fills). */
typedef struct ct_synth_paths {
    size_t n, ncov;
    size_t *off;      /* n + 1 */
    double *t0, *end; /* segment starts (periods since the first purchase), n ends */
    double *z;        /* segments x ncov */
    double *zsum;     /* n x ncov: z summed over each customer's repeat purchases */
} ct_synth_paths;
void ct_synth_paths_free(ct_synth_paths *p);
/* 1 when o has a time-varying covariate. */
int ct_synth_dynamic(const ct_synth_opts *o);

/* Defaults: BG/NBD at the CDNOW estimates (r .243, alpha 4.414, a .793,
 * b 2.426), spend p 6.25, q 3.74, gamma 15.44; T 52 weeks; seed 1. */
void ct_synth_opts_init(ct_synth_opts *o);

/* Check parameters (all > 0, n >= 1, 0 <= cohort < T). */
ct_status ct_synth_check(const ct_synth_opts *o, ct_error *err);

/* Exact continuous-time summaries of o->n customers into out (allocated here;
 * ids "C<index>"). */
ct_status ct_synth_customers(const ct_synth_opts *o, ct_customers *out, ct_error *err);
/* The same and, cov != NULL, the covariates (n x o->ncov, row-major; the
 * caller frees them). */
ct_status ct_synth_customers_cov(const ct_synth_opts *o, ct_customers *out, double **cov,
                                 ct_error *err);

/* The same and their covariate paths (time-varying covariates). */
ct_status ct_synth_customers_dyn(const ct_synth_opts *o, ct_customers *out, ct_synth_paths *paths,
                                 ct_error *err);

/* The same customers' transactions as CSV text "id,date,amount" (with a
 * header line), in customer order, handed to sink piece by piece (the data
 * layer writes it: ct_synth_csv in pipeline.h writes a file).  *ntx (may be
 * NULL) gets the number of transactions.  A sink's failure stops the run
 * and is returned. */
typedef ct_status (*ct_synth_sink)(void *ctx, const char *text, size_t n, ct_error *err);
ct_status ct_synth_log(const ct_synth_opts *o, ct_synth_sink sink, void *sink_ctx, uint64_t *ntx,
                       ct_error *err);
/* The time-varying covariates of the same customers as CSV text
 * "id,date,NAME,..." (one row per customer and calendar period from the
 * first purchase's to T + ahead; the period's first day), for ingest
 * --dynamic-covariates. */
ct_status ct_synth_dyn_log(const ct_synth_opts *o, ct_synth_sink sink, void *sink_ctx,
                           ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
