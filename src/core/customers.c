/* customers.c - allocation and validation of the per-customer summary table
 * (customers.h). */
#include "clvtier/customers.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t ct_str_width(size_t maxlen)
{
    if (maxlen <= 8) {
        return 8;
    }
    if (maxlen <= 16) {
        return 16;
    }
    return (maxlen + 31) / 32 * 32;
}

ct_status ct_customers_alloc(ct_customers *c, size_t n, size_t id_width, int holdout, int dated,
                             int weighted, ct_error *err)
{
    size_t k = n > 0 ? n : 1;
    memset(c, 0, sizeof *c);
    c->n = n;
    c->id_width = id_width;
    c->ids = id_width > 0 ? calloc(k, id_width) : NULL;
    c->x = malloc(k * sizeof(double));
    c->t_x = malloc(k * sizeof(double));
    c->T = malloc(k * sizeof(double));
    c->m = malloc(k * sizeof(double));
    c->total = malloc(k * sizeof(double));
    c->ntx = malloc(k * sizeof(int64_t));
    int bad = (id_width > 0 && c->ids == NULL) || !c->x || !c->t_x || !c->T || !c->m ||
              !c->total || !c->ntx;
    if (dated) {
        c->first_day = malloc(k * sizeof(int32_t));
        c->last_day = malloc(k * sizeof(int32_t));
        c->r_score = malloc(k);
        c->f_score = malloc(k);
        c->m_score = malloc(k);
        c->rfm = malloc(k * sizeof(int32_t));
        bad = bad || !c->first_day || !c->last_day || !c->r_score || !c->f_score ||
              !c->m_score || !c->rfm;
    }
    if (holdout) {
        c->x_star = malloc(k * sizeof(double));
        c->m_star = malloc(k * sizeof(double));
        bad = bad || !c->x_star || !c->m_star;
    }
    if (weighted) {
        c->weight = malloc(k * sizeof(double));
        bad = bad || !c->weight;
    }
    if (bad) {
        ct_customers_free(c);
        return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    return CT_OK;
}

void ct_customers_free(ct_customers *c)
{
    if (c == NULL) {
        return;
    }
    free(c->ids);
    free(c->x);
    free(c->t_x);
    free(c->T);
    free(c->m);
    free(c->total);
    free(c->ntx);
    free(c->first_day);
    free(c->last_day);
    free(c->x_star);
    free(c->m_star);
    free(c->weight);
    free(c->r_score);
    free(c->f_score);
    free(c->m_score);
    free(c->rfm);
    memset(c, 0, sizeof *c);
}

static ct_status bad_value(ct_error *err, const char *source, size_t i, const char *col,
                           double v, const char *why)
{
    return ct_fail_at(err, CT_EDATA, source, (uint64_t)i + 1, 0, "customer row %zu: %s = %g %s",
                      i + 1, col, v, why);
}

/* Row i of c as a row of the whole table (c->row0: a rank's part). */
#define ROW(c, i) ((c)->row0 + (i))

/* x is a whole number >= 0: below 2^53 by a conversion (inline, where
 * floor is a libm call on baseline x86-64: a tenth of `score`'s time). */
static int whole(double x)
{
    if (x >= 0 && x < 0x1p53) {
        return (double)(int64_t)x == x;
    }
    return x >= 0 && isfinite(x) && x == floor(x);
}

ct_status ct_customers_validate(const ct_customers *c, const char *source, ct_error *err)
{
    if (c->n == 0) {
        return ct_fail_at(err, CT_EDATA, source, 0, 0, "no customers");
    }
    for (size_t i = 0; i < c->n; i++) {
        double x = c->x[i], tx = c->t_x[i], T = c->T[i];
        if (!whole(x)) {
            return bad_value(err, source, ROW(c, i), "x", x, "(must be a whole number >= 0)");
        }
        if (!isfinite(tx) || tx < 0) {
            return bad_value(err, source, ROW(c, i), "t_x", tx, "(must be finite and >= 0)");
        }
        if (!isfinite(T) || T < 0) {
            return bad_value(err, source, ROW(c, i), "T", T, "(must be finite and >= 0)");
        }
        if (tx > T * (1 + 1e-12)) {
            return ct_fail_at(err, CT_EDATA, source, (uint64_t)ROW(c, i) + 1, 0,
                              "customer row %zu: t_x = %g > T = %g (recency after the end)",
                              ROW(c, i) + 1, tx, T);
        }
        if (x == 0 && tx != 0) {
            return ct_fail_at(err, CT_EDATA, source, (uint64_t)ROW(c, i) + 1, 0,
                              "customer row %zu: x = 0 but t_x = %g (must be 0)", ROW(c, i) + 1,
                              tx);
        }
        if (c->m != NULL && (!isfinite(c->m[i]) || c->m[i] < 0)) {
            return bad_value(err, source, ROW(c, i), "m", c->m[i], "(must be finite and >= 0)");
        }
        if (c->weight != NULL && (!isfinite(c->weight[i]) || c->weight[i] < 0)) {
            return bad_value(err, source, ROW(c, i), "weight", c->weight[i], "(must be finite and >= 0)");
        }
    }
    return CT_OK;
}
