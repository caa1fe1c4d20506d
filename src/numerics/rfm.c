/* rfm.c - RFM quintile scores (see include/clvtier/rfm.h).
 * Ref: A. M. Hughes, "Strategic Database Marketing" (1994). */
#include "clvtier/rfm.h"

#include <stdlib.h>

#include "core/sort_internal.h"

ct_status ct_quintiles(const double *v, size_t n, int8_t *score, ct_error *err)
{
    uint64_t *key;
    uint32_t *idx;
    if (n == 0) {
        return CT_OK;
    }
    if (n > UINT32_MAX) {
        return ct_fail(err, CT_EINVAL, "ct_quintiles: %zu rows (max %u)", n, UINT32_MAX);
    }
    key = malloc(n * sizeof *key);
    idx = malloc(n * sizeof *idx);
    if (key == NULL || idx == NULL) {
        free(key);
        free(idx);
        return ct_fail(err, CT_ENOMEM, "out of memory scoring %zu rows", n);
    }
    for (size_t i = 0; i < n; i++) {
        key[i] = ct_double_key(v[i]);
        idx[i] = (uint32_t)i;
    }
    if (ct_radix_sort_u64(key, idx, n) != 0) {
        free(key);
        free(idx);
        return ct_fail(err, CT_ENOMEM, "out of memory scoring %zu rows", n);
    }
    size_t first = 0;
    for (size_t r = 0; r < n; r++) {
        if (r > 0 && key[r] != key[r - 1]) {
            first = r;
        }
        /* 5 * first / n < 5 since first < n */
        score[idx[r]] = (int8_t)(1 + (5 * first) / n);
    }
    free(key);
    free(idx);
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
