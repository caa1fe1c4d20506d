/* results.h - writing clustering results to a clvtier file (data layer). */
#ifndef CLVTIER_RESULTS_H
#define CLVTIER_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/kmeans.h"
#include "clvtier/status.h"
#include "clvtier/store.h"

/* /clusters: table `label` (n rows, aligned with /customers; -1 allowed for
 * rows not clustered), dataset `centroids` (r->k x r->d, in the scaled
 * space), attributes `scale_center`, `scale_scale` (scl), `k`, `inertia`. */
ct_status ct_clusters_write(ct_file *f, const int32_t *labels, size_t n,
                            const ct_kmeans_result *r, const ct_scaler *scl, ct_error *err);

/* /clusters_k: columns k (klo ..), inertia, calinski_harabasz,
 * davies_bouldin, silhouette, one row per k. */
ct_status ct_kscores_write(ct_file *f, const ct_kscore *ks, size_t nk, size_t klo,
                           ct_error *err);

#endif
