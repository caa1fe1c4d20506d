/* schema_scores.c - the one writer of /scores (schema.h): p_alive,
 * exp_purchases, exp_spend and clv per customer, rows aligned with
 * /customers (no id copy, DESIGN.md), and the scoring settings; its reader. */
#include "clvtier/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_COLS (14 + CT_MAX_ALIVE_AT)

/* The columns of /scores that sc holds (its non-NULL arrays), in their
 * order: names into spec (alive-at names in atname), data into cols.
 * The interval columns are stored as float32: a bound's 7 significant
 * digits are far finer than its own sampling error, and they are 8 of the
 * 12 columns `score --intervals` writes (981 -> 654 MB at 10M customers;
 * on a VM the page-cache copy of those bytes cost as much as the bounds'
 * arithmetic).  Lower bounds round toward -inf and upper ones toward +inf,
 * so the stored interval contains the computed one; the predictive
 * interval's whole numbers (up to 100000, or NaN) are exact.  round (may be
 * NULL): per column, 0 for a double one, else the float32 one's rounding
 * (ct_tw_from_double). */
static size_t score_columns(const ct_scores *sc, ct_colspec *spec, const void **cols,
                            char (*atname)[40], signed char *round)
{
    static const char *const NAME[10] = {"p_alive",          "exp_purchases", "exp_spend",
                                         "clv",              "p_alive_lo",    "p_alive_hi",
                                         "exp_purchases_lo", "exp_purchases_hi",
                                         "clv_lo",           "clv_hi"};
    const double *col[10] = {sc->p_alive,          sc->exp_purchases,    sc->exp_spend,
                             sc->clv,              sc->p_alive_lo,       sc->p_alive_hi,
                             sc->exp_purchases_lo, sc->exp_purchases_hi, sc->clv_lo,
                             sc->clv_hi};
    signed char rd[SCORE_COLS] = {0};
    size_t nc = 0;
    for (size_t j = 0; j < (sc->p_alive_lo != NULL ? 10u : 4u); j++) {
        /* the bounds: float32, rounded outward (lower, upper, lower, ...) */
        spec[nc] = (ct_colspec){NAME[j], j < 4 ? CT_FLOAT64 : CT_FLOAT32, 0};
        rd[nc] = (signed char)(j < 4 ? 0 : j % 2 == 0 ? -1 : 1);
        cols[nc++] = col[j];
    }
    if (sc->purchases_lo != NULL) { /* whole numbers (or NaN): exact in float32 */
        spec[nc] = (ct_colspec){"purchases_lo", CT_FLOAT32, 0};
        rd[nc] = -1;
        cols[nc++] = sc->purchases_lo;
        spec[nc] = (ct_colspec){"purchases_hi", CT_FLOAT32, 0};
        rd[nc] = 1;
        cols[nc++] = sc->purchases_hi;
    }
    if (sc->dert != NULL) {
        spec[nc] = (ct_colspec){"dert", CT_FLOAT64, 0};
        cols[nc++] = sc->dert;
        spec[nc] = (ct_colspec){"clv_dert", CT_FLOAT64, 0};
        cols[nc++] = sc->clv_dert;
    }
    for (size_t j = 0; j < sc->nat && j < CT_MAX_ALIVE_AT; j++) {
        snprintf(atname[j], sizeof atname[j], "p_alive_at_%g", sc->at[j]);
        spec[nc] = (ct_colspec){atname[j], CT_FLOAT64, 0};
        cols[nc++] = sc->alive_at[j];
    }
    if (round != NULL) {
        memcpy(round, rd, nc * sizeof *round);
    }
    return nc;
}

/* The attributes of /scores. */
static ct_status score_attrs(ct_file *f, const ct_scores *sc, const ct_scores_meta *meta,
                             ct_error *err)
{
    ct_status s = CT_OK;
    if (sc->dert != NULL) {
        CT_TRY(ct_attr_set_f64(f, "/scores", "dert_delta", sc->dert_delta, err));
    }
    if (sc->p_alive_lo != NULL) {
        CT_TRY(ct_attr_set_f64(f, "/scores", "interval_level", sc->level, err));
        char method[40] = "delta";
        if (sc->draws > 0) {
            snprintf(method, sizeof method, "bootstrap:%zu", sc->draws);
        }
        CT_TRY(ct_attr_set_str(f, "/scores", "interval_method", method, err));
    }
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

ct_status ct_scores_write(ct_file *f, const ct_scores *sc, const ct_scores_meta *meta,
                          ct_error *err)
{
    size_t total;
    ct_tw *tw = NULL;
    CT_CHECK(ct_file_total_rows(f, sc->n, &total, err));
    CT_CHECK(ct_scores_begin(f, sc, total, &tw, err));
    ct_status s = ct_scores_append(tw, sc, err);
    if (s != CT_OK) {
        ct_tw_abort(tw);
        return s;
    }
    return ct_scores_end(f, tw, sc, meta, err);
}

ct_status ct_scores_begin(ct_file *f, const ct_scores *shape, size_t total, ct_tw **tw,
                          ct_error *err)
{
    ct_colspec spec[SCORE_COLS];
    const void *cols[SCORE_COLS];
    char atname[CT_MAX_ALIVE_AT][40];
    signed char round[SCORE_COLS];
    size_t nc = score_columns(shape, spec, cols, atname, round);
    CT_CHECK(ct_tw_create(tw, f, "/scores", spec, nc, total, NULL, err));
    for (size_t j = 0; j < nc; j++) { /* the float32 bounds: lower ones down, upper ones up */
        ct_status s = round[j] != 0 ? ct_tw_from_double(*tw, j, round[j], err) : CT_OK;
        if (s != CT_OK) {
            ct_tw_abort(*tw);
            *tw = NULL;
            return s;
        }
    }
    return CT_OK;
}

ct_status ct_scores_append(ct_tw *tw, const ct_scores *block, ct_error *err)
{
    ct_colspec spec[SCORE_COLS];
    const void *cols[SCORE_COLS];
    char atname[CT_MAX_ALIVE_AT][40];
    size_t nc = score_columns(block, spec, cols, atname, NULL);
    for (size_t j = 0; j < nc; j++) {
        CT_CHECK(ct_tw_append(tw, j, cols[j], block->n, err));
    }
    return CT_OK;
}

ct_status ct_scores_end(ct_file *f, ct_tw *tw, const ct_scores *shape,
                        const ct_scores_meta *meta, ct_error *err)
{
    CT_CHECK(ct_tw_close(tw, err));
    return score_attrs(f, shape, meta, err);
}

/* One column of /scores, rows [row0, row0 + n), malloc'ed into *out. */
static ct_status read_col(const ct_table *t, const char *name, size_t row0, size_t n,
                          double **out, ct_error *err)
{
    long j = ct_table_find(t, name);
    *out = NULL;
    if (j < 0) {
        return ct_fail(err, CT_EFORMAT, "table /scores has no column '%s'", name);
    }
    *out = malloc((n ? n : 1) * sizeof **out);
    if (*out == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    return ct_table_read(t, (size_t)j, row0, n, CT_FLOAT64, *out, err);
}

ct_status ct_scores_read(const ct_file *f, size_t row0, size_t n, size_t total, ct_scores *sc,
                         ct_error *err)
{
    ct_table *t = NULL;
    ct_status s;
    memset(sc, 0, sizeof *sc);
    sc->n = n;
    CT_TRY(ct_table_open(&t, f, "/scores", err));
    if (ct_table_nrows(t) != total) {
        CT_TRY(ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                          "/scores and /customers differ in length"));
    }
    CT_TRY(read_col(t, "p_alive", row0, n, &sc->p_alive, err));
    CT_TRY(read_col(t, "clv", row0, n, &sc->clv, err));
    CT_TRY(read_col(t, "exp_purchases", row0, n, &sc->exp_purchases, err));
    CT_TRY(read_col(t, "exp_spend", row0, n, &sc->exp_spend, err));
done:
    ct_table_close(t);
    return s;
}
