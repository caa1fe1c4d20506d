/* schema_clusters.c - the one writer of /clusters and /clusters_k (schema.h). */
#include "clvtier/schema.h"
#include "data/store_internal.h"

#include <stdlib.h>

ct_status ct_clusters_write(ct_file *f, const int32_t *labels, size_t n,
                            const ct_kmeans_result *r, const ct_scaler *scl,
                            const ct_clusters_meta *meta, ct_error *err)
{
    static const ct_colspec spec[1] = {{"label", CT_INT32, 0}};
    const void *cols[1] = {labels};
    const char *grp = "/clusters";
    ct_status s;
    CT_TRY(ct_tw_write_table(f, grp, spec, 1, cols, n, NULL, err));
    CT_TRY(ct_file_write_matrix(f, "/clusters/centroids", r->centroids, r->k, r->d, err));
    if (meta->centroids_original != NULL) {
        CT_TRY(ct_file_write_matrix(f, "/clusters/centroids_original", meta->centroids_original,
                                    r->k, r->d, err));
    }
    if (meta->feature_means != NULL) {
        CT_TRY(ct_file_write_matrix(f, "/clusters/feature_means", meta->feature_means, r->k, r->d,
                                    err));
    }
    CT_TRY(ct_attr_set_f64v(f, grp, "scale_center", scl->center, scl->d, err));
    CT_TRY(ct_attr_set_f64v(f, grp, "scale_scale", scl->scale, scl->d, err));
    CT_TRY(ct_attr_set_i64(f, grp, "k", (int64_t)r->k, err));
    CT_TRY(ct_attr_set_f64(f, grp, "inertia", r->inertia, err));
    CT_TRY(ct_attr_set_str(f, grp, "features", meta->features, err));
    CT_TRY(ct_attr_set_str(f, grp, "transform", ct_transform_name(meta->transform), err));
    CT_TRY(ct_attr_set_str(f, grp, "scaling", ct_scaling_name(meta->scaling), err));
    if (meta->fit_details) {
        CT_TRY(ct_attr_set_i64(f, grp, "iterations", r->iterations, err));
        CT_TRY(ct_attr_set_i64(f, grp, "converged", r->converged, err));
        CT_TRY(ct_attr_set_i64(f, grp, "seed", (int64_t)meta->seed, err));
        CT_TRY(ct_attr_set_str(f, grp, "k_rule",
                               meta->nk > 1 ? "highest silhouette (ties: smaller k)" : "fixed",
                               err));
        CT_TRY(ct_attr_set_f64v(f, grp, "weight", r->weight, r->k, err));
    }
    if (meta->graded >= 0) {
        CT_TRY(ct_attr_set_i64(f, grp, "graded", meta->graded, err));
    }
    if (meta->k_chosen_on_rows >= 0) {
        CT_TRY(ct_attr_set_i64(f, grp, "k_chosen_on_rows", meta->k_chosen_on_rows, err));
    }
done:
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

ct_status ct_clusters_read_labels(const ct_file *f, size_t row0, size_t n, size_t total,
                                  int32_t *labels, ct_error *err)
{
    ct_table *t = NULL;
    ct_status s;
    CT_TRY(ct_table_open(&t, f, "/clusters", err));
    long jl = ct_table_find(t, "label");
    if (jl < 0 || ct_table_nrows(t) != total) {
        CT_TRY(ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                          "/clusters has no label per customer"));
    }
    s = ct_table_read(t, (size_t)jl, row0, n, CT_INT32, labels, err);
done:
    ct_table_close(t);
    return s;
}

ct_status ct_clusters_read_scaling(const ct_file *f, double *center, double *scale, size_t cap,
                                   size_t *d, ct_error *err)
{
    size_t n1 = 0, n2 = 0;
    ct_status s;
    CT_TRY(ct_attr_get_f64v(f, "/clusters", "scale_center", center, cap, &n1, err));
    CT_TRY(ct_attr_get_f64v(f, "/clusters", "scale_scale", scale, cap, &n2, err));
    if (n1 != n2) {
        CT_TRY(ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                          "/clusters: %zu scale centres but %zu scales", n1, n2));
    }
    *d = n1;
done:
    return s;
}
