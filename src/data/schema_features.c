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
    double *col = NULL, *v = NULL;
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
    col = malloc((n ? n : 1) * sizeof *col);
    v = malloc((n ? n : 1) * (K ? K : 1) * sizeof *v);
    if (col == NULL || v == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for covariates");
        goto done;
    }
    for (size_t j = 0; j < K; j++) {
        long q = ct_table_find(t, cols[j]);
        if (q < 0) {
            s = ct_fail(err, CT_EFORMAT, "covariate '%s' is not a column of /features", cols[j]);
            goto done;
        }
        if (ct_table_coltype(t, (size_t)q) == CT_STRING) {
            s = ct_fail(err, CT_EFORMAT, "covariate '%s' is text, not a number", cols[j]);
            goto done;
        }
        CT_TRY(ct_table_read(t, (size_t)q, c->row0, n, CT_FLOAT64, col, err));
        for (size_t i = 0; i < n; i++) {
            v[i * K + j] = col[i];
        }
    }
    *z = v;
    v = NULL;
done:
    free(col);
    free(v);
    ct_table_close(t);
    ct_table_close(tc);
    ct_file_close(f);
    return s;
}
