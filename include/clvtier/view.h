/* view.h - non-owning views over contiguous arrays.
 * Inputs are const views; a view never owns or frees its data. */
#ifndef CLVTIER_VIEW_H
#define CLVTIER_VIEW_H

#include <stddef.h>

typedef struct ct_col_view {
    const double *data; /* element i at data[i * stride] */
    size_t n;
    size_t stride; /* in elements; 1 for a contiguous column */
} ct_col_view;

/* Row-major matrix: element (i, j) at data[i * ld + j], ld >= ncols. */
typedef struct ct_mat_view {
    const double *data;
    size_t nrows, ncols, ld;
} ct_mat_view;

static inline ct_col_view ct_col(const double *data, size_t n)
{
    ct_col_view v = {data, n, 1};
    return v;
}

static inline double ct_col_at(const ct_col_view *v, size_t i)
{
    return v->data[i * v->stride];
}

#endif
