/* rfm.c - RFM quintile scores (see include/clvtier/rfm.h).
 * Ref: A. M. Hughes, "Strategic Database Marketing" (1994). */
#include "clvtier/rfm.h"

#include <stdlib.h>

typedef struct keyed {
    double v;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->v < y->v) {
        return -1;
    }
    if (x->v > y->v) {
        return 1;
    }
    return (x->i > y->i) - (x->i < y->i);
}

ct_status ct_quintiles(const double *v, size_t n, int8_t *score, ct_error *err)
{
    keyed *k;
    if (n == 0) {
        return CT_OK;
    }
    k = malloc(n * sizeof *k);
    if (k == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory scoring %zu rows", n);
    }
    for (size_t i = 0; i < n; i++) {
        k[i].v = v[i];
        k[i].i = i;
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    size_t first = 0;
    for (size_t r = 0; r < n; r++) {
        if (r > 0 && k[r].v != k[r - 1].v) {
            first = r;
        }
        /* 5 * first / n < 5 since first < n */
        score[k[r].i] = (int8_t)(1 + (5 * first) / n);
    }
    free(k);
    return CT_OK;
}

ct_status ct_rfm_score(ct_customers *c, int32_t ref_day, ct_error *err)
{
    size_t n = c->n;
    double *v;
    ct_status s;

    if (c->r_score == NULL || c->last_day == NULL) {
        return ct_fail(err, CT_EINVAL, "RFM scores need dated customers");
    }
    v = calloc(n > 0 ? n : 1, sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory scoring %zu customers", n);
    }
    /* R: more recent is better, so rank the negated days since last purchase. */
    for (size_t i = 0; i < n; i++) {
        v[i] = -(double)(ref_day - c->last_day[i]);
    }
    s = ct_quintiles(v, n, c->r_score, err);
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        v[i] = c->x[i] + 1.0;
    }
    if (s == CT_OK) {
        s = ct_quintiles(v, n, c->f_score, err);
    }
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        v[i] = c->total[i] / (c->x[i] + 1.0);
    }
    if (s == CT_OK) {
        s = ct_quintiles(v, n, c->m_score, err);
    }
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        c->rfm[i] = 100 * c->r_score[i] + 10 * c->f_score[i] + c->m_score[i];
    }
    free(v);
    return s;
}
