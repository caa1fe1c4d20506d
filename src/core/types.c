/* types.c - names of the CLV models and their parameters; freeing the
 * shared result structs of types.h. */
#include "clvtier/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ct_clv_model_name(ct_clv_model m)
{
    switch (m) {
    case CT_BGNBD:
        return "bgnbd";
    case CT_PARETO:
        return "pareto";
    case CT_MBGNBD:
        return "mbgnbd";
    case CT_BGBB:
        return "bgbb";
    case CT_GAMMAGAMMA:
        return "gammagamma";
    }
    return "?";
}

int ct_clv_model_parse(const char *s, ct_clv_model *m)
{
    static const struct {
        const char *name;
        ct_clv_model m;
    } names[] = {{"bgnbd", CT_BGNBD},       {"bg/nbd", CT_BGNBD},       {"pareto", CT_PARETO},
                 {"paretonbd", CT_PARETO},  {"pareto/nbd", CT_PARETO},  {"mbgnbd", CT_MBGNBD},
                 {"mbg/nbd", CT_MBGNBD},    {"bgbb", CT_BGBB},          {"bg/bb", CT_BGBB},
                 {"gammagamma", CT_GAMMAGAMMA}, {"gg", CT_GAMMAGAMMA}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *m = names[i].m;
            return 0;
        }
    }
    return -1;
}

size_t ct_clv_nparams(ct_clv_model m)
{
    return m == CT_GAMMAGAMMA ? 3 : 4;
}

const char *ct_clv_param_name(ct_clv_model m, size_t j)
{
    static const char *const NB[4] = {"r", "alpha", "a", "b"};
    static const char *const NP[4] = {"r", "alpha", "s", "beta"};
    static const char *const NBB[4] = {"alpha", "beta", "gamma", "delta"};
    static const char *const NG[4] = {"p", "q", "v", NULL};
    if (j >= ct_clv_nparams(m)) {
        return NULL;
    }
    switch (m) {
    case CT_BGNBD:
    case CT_MBGNBD:
        return NB[j];
    case CT_PARETO:
        return NP[j];
    case CT_BGBB:
        return NBB[j];
    case CT_GAMMAGAMMA:
        return NG[j];
    }
    return NULL;
}

void ct_scores_free(ct_scores *s)
{
    if (s == NULL) {
        return;
    }
    free(s->p_alive);
    free(s->exp_purchases);
    free(s->exp_spend);
    free(s->clv);
    free(s->p_alive_lo);
    free(s->p_alive_hi);
    free(s->exp_purchases_lo);
    free(s->exp_purchases_hi);
    free(s->clv_lo);
    free(s->clv_hi);
    free(s->purchases_lo);
    free(s->purchases_hi);
    free(s->dert);
    free(s->clv_dert);
    for (size_t j = 0; j < s->nat && j < CT_MAX_ALIVE_AT; j++) {
        free(s->alive_at[j]);
    }
    memset(s, 0, sizeof *s);
}

void ct_kmeans_result_free(ct_kmeans_result *r)
{
    if (r == NULL) {
        return;
    }
    free(r->centroids);
    free(r->labels);
    free(r->weight);
    free(r->skipped);
    memset(r, 0, sizeof *r);
}

void ct_scaler_free(ct_scaler *s)
{
    if (s == NULL) {
        return;
    }
    free(s->center);
    free(s->scale);
    memset(s, 0, sizeof *s);
}


const char *ct_transform_name(ct_transform t)
{
    return t == CT_TF_LOG1P ? "log1p" : "none";
}

const char *ct_scaling_name(ct_scaling s)
{
    switch (s) {
    case CT_SC_ZSCORE:
        return "zscore";
    case CT_SC_ROBUST:
        return "robust";
    case CT_SC_NONE:
        break;
    }
    return "none";
}

void ct_fit_name_coefs(ct_fit *f)
{
    static const char *const PRE[4] = {"?", "trans", "life", "constr"};
    for (size_t j = 0; j < f->ncoef && j < CT_CLV_MAXCOEF; j++) {
        snprintf(f->coef_name[j], sizeof f->coef_name[j], "%s.%s", PRE[f->coef_proc[j] & 3],
                 f->coef_col[j]);
    }
}

const char *ct_fit_param_name(const ct_fit *f, size_t j)
{
    size_t nb = ct_clv_nparams(f->model);
    if (j < nb) {
        return ct_clv_param_name(f->model, j);
    }
    return j - nb < f->ncoef && j - nb < CT_CLV_MAXCOEF ? f->coef_name[j - nb] : NULL;
}
