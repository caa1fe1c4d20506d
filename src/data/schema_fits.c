/* schema_fits.c - the one reader and writer of /fits/<model>: a fitted CLV
 * model (types.h's ct_fit) as attributes of its group (schema.h). */
#include "clvtier/schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

ct_status ct_fit_write(ct_file *f, const ct_fit *fit, ct_error *err)
{
    char grp[64], names[CT_CLV_MAXPAR * 80] = "", cols[CT_CLV_MAXCOEF * 72] = "";
    ct_status s;
    snprintf(grp, sizeof grp, "/fits/%s", ct_clv_model_name(fit->model));
    for (size_t j = 0; j < fit->k; j++) {
        strcat(names, j ? "," : "");
        strcat(names, ct_fit_param_name(fit, j));
    }
    CT_TRY(ct_file_make_group(f, grp, err));
    CT_TRY(ct_attr_set_str(f, grp, "model", ct_clv_model_name(fit->model), err));
    CT_TRY(ct_attr_set_str(f, grp, "param_names", names, err));
    CT_TRY(ct_attr_set_f64v(f, grp, "params", fit->par, fit->k, err));
    CT_TRY(ct_attr_set_f64v(f, grp, "se", fit->se, fit->k, err));
    CT_TRY(ct_attr_set_f64v(f, grp, "cov", fit->cov, fit->k * fit->k, err));
    for (size_t j = 0; j < fit->k; j++) {
        char nm[96];
        snprintf(nm, sizeof nm, "se_%s", ct_fit_param_name(fit, j));
        CT_TRY(ct_attr_set_f64(f, grp, ct_fit_param_name(fit, j), fit->par[j], err));
        CT_TRY(ct_attr_set_f64(f, grp, nm, fit->se[j], err));
    }
    if (fit->ncoef > 0) { /* static covariates: columns, processes, the LR test */
        double proc[CT_CLV_MAXCOEF];
        for (size_t j = 0; j < fit->ncoef; j++) {
            strcat(cols, j ? "," : "");
            strcat(cols, fit->coef_col[j]);
            proc[j] = (double)fit->coef_proc[j];
        }
        CT_TRY(ct_attr_set_str(f, grp, "covariates", cols, err));
        if (fit->coef_ref[0] != '\0') {
            CT_TRY(ct_attr_set_str(f, grp, "covariate_reference", fit->coef_ref, err));
        }
        CT_TRY(ct_attr_set_f64v(f, grp, "covariate_process", proc, fit->ncoef, err));
        CT_TRY(ct_attr_set_f64(f, grp, "penalty_covariates", fit->penalty_cov, err));
        CT_TRY(ct_attr_set_f64(f, grp, "ll_without_covariates", fit->ll0, err));
        CT_TRY(ct_attr_set_f64(f, grp, "lr_statistic", fit->lr, err));
        CT_TRY(ct_attr_set_f64(f, grp, "lr_p_value", fit->lr_p, err));
        CT_TRY(ct_attr_set_i64(f, grp, "covariates_time_varying", fit->dynamic, err));
    }
    CT_TRY(ct_attr_set_f64(f, grp, "ll", fit->ll, err));
    CT_TRY(ct_attr_set_f64(f, grp, "aic", fit->aic, err));
    CT_TRY(ct_attr_set_f64(f, grp, "bic", fit->bic, err));
    CT_TRY(ct_attr_set_f64(f, grp, "n", fit->nobs, err));
    CT_TRY(ct_attr_set_i64(f, grp, "distinct_rows", (int64_t)fit->ndistinct, err));
    CT_TRY(ct_attr_set_i64(f, grp, "iterations", (int64_t)fit->iterations, err));
    CT_TRY(ct_attr_set_i64(f, grp, "evaluations", (int64_t)fit->nevals, err));
    CT_TRY(ct_attr_set_i64(f, grp, "converged", fit->converged, err));
    CT_TRY(ct_attr_set_f64(f, grp, "grad_norm", fit->grad_norm, err));
    CT_TRY(ct_attr_set_f64(f, grp, "penalty", fit->penalty, err));
    CT_TRY(ct_attr_set_f64(f, grp, "period_days", fit->period_days, err));
    if (fit->model == CT_GAMMAGAMMA) {
        CT_TRY(ct_attr_set_f64(f, grp, "corr_x_m", fit->corr_xm, err));
    }
done:
    return s;
}

ct_status ct_fit_write_holdout(ct_file *f, ct_clv_model model, const double *v, ct_error *err)
{
    static const char *const NAME[4] = {"holdout_mse", "holdout_mse_se", "holdout_mae",
                                        "holdout_agg_error"};
    char grp[64];
    snprintf(grp, sizeof grp, "/fits/%s", ct_clv_model_name(model));
    for (int j = 0; j < 4; j++) {
        CT_CHECK(ct_attr_set_f64(f, grp, NAME[j], v[j], err));
    }
    return CT_OK;
}

ct_status ct_fits_write_choice(ct_file *f, ct_clv_model chosen, const char *rule, ct_error *err)
{
    ct_status s = ct_attr_set_str(f, "/fits", "purchase", ct_clv_model_name(chosen), err);
    return s != CT_OK ? s : ct_attr_set_str(f, "/fits", "choice_rule", rule, err);
}

void ct_fits_read_choice(const ct_file *f, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (ct_file_has_group(f, "/fits") &&
        ct_attr_get_str(f, "/fits", "purchase", buf, cap, NULL) != CT_OK) {
        buf[0] = '\0';
    }
}

/* The group of model_name, or of the only (first) fit when NULL. */
static ct_status fit_group(const ct_file *f, const char *model_name, char *grp, size_t cap,
                           ct_error *err)
{
    char names[16][64];
    size_t n;
    if (model_name == NULL) {
        ct_status s = ct_file_list_groups(f, "/fits", names, 16, &n, err);
        if (s != CT_OK) {
            return s;
        }
        if (n == 0) {
            return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0, "no fit in /fits");
        }
        model_name = names[0];
    }
    snprintf(grp, cap, "/fits/%s", model_name);
    if (!ct_file_has_group(f, grp)) {
        return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0, "no fit %s in this file", grp);
    }
    return CT_OK;
}

ct_status ct_fit_read(const ct_file *f, const char *model_name, ct_fit *fit, ct_error *err)
{
    char grp[128], mname[64];
    size_t k1, k2, k3;
    int64_t v;
    ct_status s;
    memset(fit, 0, sizeof *fit);
    CT_TRY(fit_group(f, model_name, grp, sizeof grp, err));
    CT_TRY(ct_attr_get_str(f, grp, "model", mname, sizeof mname, err));
    if (ct_clv_model_parse(mname, &fit->model) != 0) {
        return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0, "unknown model '%s' in %s",
                          mname, grp);
    }
    fit->k = ct_clv_nparams(fit->model);
    fit->ll0 = fit->lr = fit->lr_p = (double)NAN;
    if (ct_attr_exists(f, grp, "covariates")) {
        char cols[CT_CLV_MAXCOEF * 72];
        double proc[CT_CLV_MAXCOEF];
        size_t np = 0;
        CT_TRY(ct_attr_get_str(f, grp, "covariates", cols, sizeof cols, err));
        CT_TRY(ct_attr_get_f64v(f, grp, "covariate_process", proc, CT_CLV_MAXCOEF, &np, err));
        char *save = NULL;
        for (char *tok = strtok_r(cols, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            size_t j = fit->ncoef;
            if (j == CT_CLV_MAXCOEF || j >= np || !(proc[j] >= 1 && proc[j] <= 3) ||
                strlen(tok) >= sizeof fit->coef_col[j]) {
                return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                                  "%s: bad covariates attributes", grp);
            }
            fit->coef_proc[j] = (unsigned)proc[j];
            snprintf(fit->coef_col[j], sizeof fit->coef_col[j], "%s", tok);
            fit->ncoef++;
        }
        ct_fit_name_coefs(fit);
        if (fit->ncoef != np) {
            return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                              "%s: %zu covariates, %zu processes", grp, fit->ncoef, np);
        }
        fit->k += fit->ncoef;
        (void)ct_attr_get_f64(f, grp, "penalty_covariates", &fit->penalty_cov, NULL);
        if (ct_attr_exists(f, grp, "covariate_reference")) {
            CT_TRY(ct_attr_get_str(f, grp, "covariate_reference", fit->coef_ref,
                                   sizeof fit->coef_ref, err));
        }
        (void)ct_attr_get_f64(f, grp, "ll_without_covariates", &fit->ll0, NULL);
        (void)ct_attr_get_f64(f, grp, "lr_statistic", &fit->lr, NULL);
        (void)ct_attr_get_f64(f, grp, "lr_p_value", &fit->lr_p, NULL);
        int64_t dyn = 0;
        if (ct_attr_exists(f, grp, "covariates_time_varying")) {
            CT_TRY(ct_attr_get_i64(f, grp, "covariates_time_varying", &dyn, err));
        }
        fit->dynamic = dyn != 0;
    }
    CT_TRY(ct_attr_get_f64v(f, grp, "params", fit->par, CT_CLV_MAXPAR, &k1, err));
    CT_TRY(ct_attr_get_f64v(f, grp, "se", fit->se, CT_CLV_MAXPAR, &k2, err));
    CT_TRY(ct_attr_get_f64v(f, grp, "cov", fit->cov, CT_CLV_MAXPAR * CT_CLV_MAXPAR, &k3, err));
    if (k1 != fit->k || k2 != fit->k) {
        return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0, "%s: %zu parameters, want %zu",
                          grp, k1, fit->k);
    }
    CT_TRY(ct_attr_get_f64(f, grp, "ll", &fit->ll, err));
    CT_TRY(ct_attr_get_f64(f, grp, "aic", &fit->aic, err));
    CT_TRY(ct_attr_get_f64(f, grp, "bic", &fit->bic, err));
    CT_TRY(ct_attr_get_f64(f, grp, "n", &fit->nobs, err));
    if (ct_attr_get_i64(f, grp, "converged", &v, err) == CT_OK) {
        fit->converged = (int)v;
    }
    if (ct_attr_get_i64(f, grp, "iterations", &v, err) == CT_OK) {
        fit->iterations = (unsigned)v;
    }
    (void)ct_attr_get_f64(f, grp, "period_days", &fit->period_days, NULL);
    (void)ct_attr_get_f64(f, grp, "penalty", &fit->penalty, NULL);
    fit->corr_xm = (double)NAN;
    (void)ct_attr_get_f64(f, grp, "corr_x_m", &fit->corr_xm, NULL);
    for (size_t j = 0; j < fit->k; j++) {
        int base = j < ct_clv_nparams(fit->model);
        if (base ? !(fit->par[j] > 0) || !isfinite(fit->par[j]) : !isfinite(fit->par[j])) {
            return ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0, "%s: parameter %s = %g",
                              grp, ct_fit_param_name(fit, j), fit->par[j]);
        }
    }
done:
    return s;
}
