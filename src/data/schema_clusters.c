/* schema_clusters.c - the one writer of /clusters and /clusters_k (schema.h). */
#include "clvtier/schema.h"
#include "data/store_internal.h"

#include <stdlib.h>

ct_status ct_clusters_write(ct_file *f, const int32_t *labels, size_t n,
                            const ct_kmeans_result *r, const ct_scaler *scl, ct_error *err)
{
    static const ct_colspec spec[1] = {{"label", CT_INT32, 0}};
    const void *cols[1] = {labels};
    ct_status s = ct_tw_write_table(f, "/clusters", spec, 1, cols, n, NULL, err);
    if (s == CT_OK) {
        s = ct_file_write_matrix(f, "/clusters/centroids", r->centroids, r->k, r->d, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64v(f, "/clusters", "scale_center", scl->center, scl->d, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64v(f, "/clusters", "scale_scale", scl->scale, scl->d, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(f, "/clusters", "k", (int64_t)r->k, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64(f, "/clusters", "inertia", r->inertia, err);
    }
    return s;
}

ct_status ct_kscores_write(ct_file *f, const ct_kscore *ks, size_t nk, size_t klo, ct_error *err)
{
    static const ct_colspec kc[5] = {{"k", CT_INT32, 0},
                                     {"inertia", CT_FLOAT64, 0},
                                     {"calinski_harabasz", CT_FLOAT64, 0},
                                     {"davies_bouldin", CT_FLOAT64, 0},
                                     {"silhouette", CT_FLOAT64, 0}};
    int32_t *kk = malloc((nk ? nk : 1) * sizeof *kk);
    double *v = malloc((nk ? nk : 1) * 4 * sizeof *v);
    if (kk == NULL || v == NULL) {
        free(kk);
        free(v);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t q = 0; q < nk; q++) {
        kk[q] = (int32_t)(klo + q);
        v[q] = ks[q].inertia;
        v[nk + q] = ks[q].calinski_harabasz;
        v[2 * nk + q] = ks[q].davies_bouldin;
        v[3 * nk + q] = ks[q].silhouette;
    }
    const void *data[5] = {kk, v, v + nk, v + 2 * nk, v + 3 * nk};
    ct_status s = ct_tw_write_table(f, "/clusters_k", kc, 5, data, ct_file_own_rows(f, nk), NULL, err);
    free(kk);
    free(v);
    return s;
}
