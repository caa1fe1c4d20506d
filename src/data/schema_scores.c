/* schema_scores.c - the one writer of /scores (schema.h): p_alive,
 * exp_purchases, exp_spend and clv per customer, rows aligned with
 * /customers (no id copy, DESIGN.md), and the scoring settings. */
#include "clvtier/schema.h"

ct_status ct_scores_write(ct_file *f, const ct_scores *sc, const ct_scores_meta *meta,
                          ct_error *err)
{
    static const ct_colspec spec[4] = {{"p_alive", CT_FLOAT64, 0},
                                       {"exp_purchases", CT_FLOAT64, 0},
                                       {"exp_spend", CT_FLOAT64, 0},
                                       {"clv", CT_FLOAT64, 0}};
    const void *cols[4] = {sc->p_alive, sc->exp_purchases, sc->exp_spend, sc->clv};
    ct_status s;
    CT_TRY(ct_tw_write_table(f, "/scores", spec, 4, cols, sc->n, NULL, err));
    CT_TRY(ct_attr_set_f64(f, "/scores", "horizon", meta->horizon, err));
    CT_TRY(ct_attr_set_f64(f, "/scores", "discount", meta->discount, err));
    if (meta->model != NULL) {
        CT_TRY(ct_attr_set_str(f, "/scores", "model", meta->model, err));
    }
    if (meta->spend_model != NULL) {
        CT_TRY(ct_attr_set_str(f, "/scores", "spend_model", meta->spend_model, err));
    }
    if (meta->customers != NULL) {
        CT_TRY(ct_attr_set_str(f, "/scores", "customers", meta->customers, err));
    }
done:
    return s;
}
