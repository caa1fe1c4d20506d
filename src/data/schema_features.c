/* schema_features.c - numeric columns of /features (joined per customer at
 * ingest) for rows of /customers: the covariates of a CLV fit. */
#include "clvtier/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ct_status ct_features_read(const char *path, const ct_customers *c, const char *const *cols,
                           size_t ncols, double **z, ct_error *err)
{
    ct_file *f = NULL;
    ct_table *t = NULL, *tc = NULL;
    size_t n = c->n, K = ncols;
    double *v = NULL;
    ct_status s;
    *z = NULL;
    CT_TRY(ct_file_open(&f, path, err));
    if (!ct_file_has_group(f, "/features")) {
        s = ct_fail(err, CT_EFORMAT,
                    "covariate '%s': no /features table (ingest --features FILE.csv joins "
                    "per-customer columns)",
                    K > 0 ? cols[0] : "");
        goto done;
    }
    CT_TRY(ct_table_open(&t, f, "/features", err));
    CT_TRY(ct_table_open(&tc, f, "/customers", err));
    if (ct_table_nrows(t) != ct_table_nrows(tc)) {
        s = ct_fail_at(err, CT_EFORMAT, path, 0, 0, "/features has %zu rows, /customers %zu",
                       ct_table_nrows(t), ct_table_nrows(tc));
        goto done;
    }
    /* each distinct column read once into its own array, then one
     * sequential pass interleaves them row by row */
    size_t src[64];
    double *colv[64] = {NULL};
    if (K > 64) {
        s = ct_fail(err, CT_EINVAL, "at most 64 columns");
        goto done;
    }
    v = malloc((n ? n : 1) * (K ? K : 1) * sizeof *v);
    if (v == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for covariates");
        goto done;
    }
    for (size_t j = 0; j < K && s == CT_OK; j++) {
        long q = ct_table_find(t, cols[j]);
        if (q < 0) {
            s = ct_fail(err, CT_EFORMAT, "covariate '%s' is not a column of /features", cols[j]);
            break;
        }
        if (ct_table_coltype(t, (size_t)q) == CT_STRING) {
            s = ct_fail(err, CT_EFORMAT, "covariate '%s' is text, not a number", cols[j]);
            break;
        }
        src[j] = j;
        for (size_t u = 0; u < j && src[j] == j; u++) {
            src[j] = strcmp(cols[u], cols[j]) == 0 ? u : j; /* the same column twice: once */
        }
        if (src[j] != j) {
            continue;
        }
        colv[j] = malloc((n ? n : 1) * sizeof *colv[j]);
        s = colv[j] == NULL ? ct_fail(err, CT_ENOMEM, "out of memory for covariates")
                            : ct_table_read(t, (size_t)q, c->row0, n, CT_FLOAT64, colv[j], err);
    }
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        for (size_t j = 0; j < K; j++) {
            v[i * K + j] = colv[src[j]][i];
        }
    }
    for (size_t j = 0; j < K; j++) {
        free(colv[j]);
    }
    if (s != CT_OK) {
        goto done;
    }
    *z = v;
    v = NULL;
done:
    free(v);
    ct_table_close(t);
    ct_table_close(tc);
    ct_file_close(f);
    return s;
}
