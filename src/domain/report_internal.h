/* report_internal.h - the aggregates a report is drawn from (report.c loads
 * them, report.c writes JSON/Markdown, report_html.c the HTML). */
#ifndef CLVTIER_REPORT_INTERNAL_H
#define CLVTIER_REPORT_INTERNAL_H

#include <stdio.h>

#include "clvtier/audit.h"
#include "clvtier/clv.h"
#include "clvtier/modelfile.h"

enum { RP_X, RP_TX, RP_REC, RP_M, RP_CLV, RP_PALIVE, RP_EXP, RP_NMET };
#define RP_JMAX 8
#define RP_HX 16 /* heat map: frequency cells */
#define RP_HT 20 /* heat map: recency cells */
#define RP_MAXNOTES 24

extern const char *const rp_metric_name[RP_NMET];
extern const char *const rp_metric_label[RP_NMET];

typedef struct rp_tier {
    char name[64], action[200];
    double n, clv, loyal[3];
    double clv_lo, clv_hi; /* 90 % delta-method interval of clv (NaN: none) */
    double stab_mean, stab_border; /* [tiers] stability: mean, customers below the threshold */
    double mean[RP_NMET], median[RP_NMET];
} rp_tier;

typedef struct rp {
    char path[1024], version[64], created[64], command[1024], sha[80], model_file[512];
    char model[64], description[200], rank_by[64], assign[16], review[200];
    char source[1024], period[16], cal_end[32], obs_end[32];
    double period_days, loyal_min, lost_max, new_min_age, hysteresis;
    char loyalty_metric[16]; /* p_alive or p_no_purchase */
    double loyalty_periods;
    size_t n, graded, min_group; /* graded: rows k-means saw */
    double graded_w;              /* customers graded into value tiers (weights) */
    double total_w, total_clv, horizon, discount;
    size_t ntiers; /* including the new-customer tier (last) */
    rp_tier tier[CT_MAX_TIERS + 1];
    char loyalty[3][64];
    double loyal_total[3];
    size_t nfits;
    ct_fit fit[2];
    /* purchase = auto: the candidates' fits and holdout errors, and the rule */
    size_t ncand;
    ct_fit cand[4];
    double cand_mse[4], cand_mae[4], cand_agg[4];
    char choice_rule[128];
    double rep_exp[RP_JMAX], rep_obs[RP_JMAX];
    int has_holdout;
    double t_star, hold_n[RP_JMAX], hold_act[RP_JMAX], hold_pred[RP_JMAX];
    int has_clv_int; /* the tiers' clv_lo, clv_hi */
    size_t stab_draws; /* [tiers] stability draws (0: none), borderline threshold */
    double stab_thr;
    int has_calib; /* P(purchase in the holdout) by decile, and the Brier score */
    double cal_n[10], cal_pred[10], cal_obs[10], brier;
    int has_heat;
    size_t hx, ht;
    double heat_T, heat_x[RP_HX], heat_t[RP_HT], heat[RP_HX * RP_HT];
    size_t k, k_rows;
    double inertia;
    char features[CT_MAX_FEATURES * 65], transform[16], scaling[16];
    size_t nk;
    double kk[64], k_inertia[64], k_sil[64], k_ch[64], k_db[64];
    int has_mig, labels_matched;
    size_t mr, mc, hyst_kept;
    double *mig;
    char mig_row[CT_MAX_TIERS + 2][64], mig_col[CT_MAX_TIERS + 2][64], previous[1024];
    size_t naudit;
    ct_audit audit[CT_MAX_AUDIT];
    size_t nnotes;
    char notes[RP_MAXNOTES][320];
    int pseudonymised;
} rp;

/* 1 when v (a count of customers) must be withheld. */
int rp_suppressed(const rp *r, double v);
void rp_note(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_html_text(FILE *fp, const char *s); /* HTML-escaped */
/* A fit with covariates in words: the parametrisation and the LR test
 * (a static buffer; plain text, no markup). */
const char *rp_cov_text(const ct_fit *f);
/* v with `prec` digits (%.*g when g, else %.*f) and then `unit`, or an en dash
 * when v is not finite (e.g. no spend column). */
void rp_num(FILE *fp, double v, int prec, int g, const char *unit);

void rp_html(const rp *r, FILE *fp); /* report.html */

#endif
