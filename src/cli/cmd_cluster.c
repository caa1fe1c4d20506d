/* cmd_cluster.c - `clvtier cluster`. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier cluster DATA.h5 --features a,b,c [--transform none|log1p]\n"
    "       [--scale none|zscore|robust] (-k K | --k-range LO:HI)\n"
    "       [--init kmeans++|kmeans-parallel|random|FILE.csv] [--n-init N] [--max-iter N]\n"
    "       [--tol T] [--algorithm auto|lloyd|hamerly] [--float32] [--seed S]\n"
    "       [--threads N] [--scores SCORES.h5] [--stream [--block-rows N]]\n"
    "       -o CLUSTERS.h5 [--json]\n"
    "\n"
    "k-means over per-customer features.  Feature names are looked up in the\n"
    "tables /customers, /features and /scores of DATA.h5 (and /scores of\n"
    "--scores FILE); rows are customers, weighted by /customers/weight when\n"
    "present.  With --k-range, every k is fitted and scored (inertia,\n"
    "Calinski-Harabasz, Davies-Bouldin, silhouette on a sample of --sample rows)\n"
    "and the k with the highest silhouette is kept.  Writes /clusters (label per\n"
    "customer, centroids scaled and in original units, scaling) and /clusters_k.\n"
    "\n"
    "options:\n"
    "      --features LIST    comma-separated feature names (required)\n"
    "      --transform T      none (default) | log1p\n"
    "      --scale S          none | zscore (default) | robust (median/IQR)\n"
    "  -k K                   number of clusters\n"
    "      --k-range LO:HI    try k = LO..HI\n"
    "      --init I           auto (default) | kmeans++ | kmeans-parallel | random |\n"
    "                         FILE.csv (k rows of centroids in original units)\n"
    "      --n-init N         restarts, the lowest inertia kept (default 3)\n"
    "      --max-iter N       Lloyd iterations per run (default 300)\n"
    "      --tol T            relative tolerance (default 1e-4)\n"
    "      --algorithm A      auto (default: hamerly for k >= 2) | lloyd | hamerly\n"
    "                         (Hamerly's bounds skip rows whose centre cannot have\n"
    "                         changed; the labels are Lloyd's)\n"
    "      --float32          cluster single-precision data (half the memory traffic)\n"
    "      --seed S           random seed (default 0)\n"
    "      --threads N        threads (default: all cores; results do not depend on it)\n"
    "      --sample N         rows for the silhouette (default 4000)\n"
    "      --scores FILE      also look features up in FILE's /scores\n"
    "      --stream           data larger than memory: Lloyd over row blocks read from\n"
    "                         the file each iteration (needs -k; scale none or zscore,\n"
    "                         both exact; init from a ~1M-row sample unless FILE.csv;\n"
    "                         memory: a block plus 4 bytes a customer)\n"
    "      --block-rows N     rows per block with --stream (default 262144)\n"
    "  -o, --output FILE      output HDF5 (written atomically)\n"
    "      --json             result as JSON on stdout (instead of the profile table)\n"
    "  -q, --quiet            nothing on stderr but errors\n"
    "  -h, --help             this help\n";

enum { O_FEAT = 256, O_TF, O_SC, O_KR, O_INIT, O_NINIT, O_MAXIT, O_TOL, O_F32, O_SEED, O_THREADS,
       O_SAMPLE, O_SCORES, O_ALGO, O_STREAM, O_BLOCK };

#define MAXF 64

typedef struct feat_src {
    const ct_file *f;
    const char *group;
} feat_src;

static int load_features(cli_common *c, const char *path, const ct_file *f, const ct_file *fs,
                         char names[][64], size_t d, double **Xout, double **wout, size_t *nout)
{
    ct_error err;
    feat_src src[4] = {{f, "/customers"}, {f, "/features"}, {f, "/scores"}, {fs, "/scores"}};
    ct_table *tab[4] = {NULL, NULL, NULL, NULL};
    size_t n = 0;
    int have_n = 0;
    for (int t = 0; t < 4; t++) {
        if (src[t].f == NULL || !ct_file_has_group(src[t].f, src[t].group)) {
            continue;
        }
        if (ct_table_open(&tab[t], src[t].f, src[t].group, &err) != CT_OK) {
            tab[t] = NULL;
            continue;
        }
        if (!have_n) {
            n = ct_table_nrows(tab[t]);
            have_n = 1;
        } else if (ct_table_nrows(tab[t]) != n) {
            ct_fail_at(&err, CT_EDIM, ct_file_path(src[t].f), 0, 0,
                       "table %s has %zu rows, but %zu customers", src[t].group,
                       ct_table_nrows(tab[t]), n);
            for (int u = 0; u < 4; u++) {
                ct_table_close(tab[u]);
            }
            return cli_fail(c, &err);
        }
    }
    double *X = malloc((n ? n : 1) * d * sizeof *X);
    double *col = malloc((n ? n : 1) * sizeof *col);
    ct_status s = X == NULL || col == NULL ? ct_fail(&err, CT_ENOMEM, "out of memory") : CT_OK;
    for (size_t j = 0; j < d && s == CT_OK; j++) {
        int found = 0;
        for (int t = 0; t < 4 && !found && s == CT_OK; t++) {
            long jj = tab[t] != NULL ? ct_table_find(tab[t], names[j]) : -1;
            if (jj >= 0 && ct_table_coltype(tab[t], (size_t)jj) != CT_STRING) {
                s = ct_table_read(tab[t], (size_t)jj, 0, n, CT_FLOAT64, col, &err);
                for (size_t i = 0; i < n && s == CT_OK; i++) {
                    if (!isfinite(col[i])) {
                        s = ct_fail_at(&err, CT_EDATA, path, (uint64_t)i + 1, (unsigned)j + 1,
                                       "customer row %zu, feature '%s' (column %zu): %g is not a "
                                       "finite number",
                                       i + 1, names[j], j + 1, col[i]);
                    }
                    X[i * d + j] = col[i];
                }
                found = 1;
            }
        }
        if (!found && s == CT_OK) {
            s = ct_fail_at(&err, CT_EINVAL, path, 0, 0,
                           "feature '%s' not found in /customers, /features or /scores",
                           names[j]);
        }
    }
    double *w = NULL;
    if (s == CT_OK && tab[0] != NULL && ct_table_find(tab[0], "weight") >= 0) {
        s = ct_table_read_f64(tab[0], "weight", &w, &err);
    }
    for (int t = 0; t < 4; t++) {
        ct_table_close(tab[t]);
    }
    free(col);
    if (s == CT_OK && n == 0) {
        s = ct_fail_at(&err, CT_EDATA, path, 0, 0, "no customers to cluster");
    }
    if (s != CT_OK) {
        free(X);
        free(w);
        return cli_fail(c, &err);
    }
    *Xout = X;
    *wout = w;
    *nout = n;
    return 0;
}

/* k rows of d numbers (comma/space separated, optional header line). */
static int read_init(cli_common *c, const char *path, size_t d, double **C, size_t *k)
{
    FILE *fp = fopen(path, "r");
    ct_error err;
    if (fp == NULL) {
        ct_fail_at(&err, CT_ENOENT, path, 0, 0, "cannot open initial centroids");
        return cli_fail(c, &err);
    }
    char line[8192];
    size_t rows = 0, cap = 16, lineno = 0;
    double *v = malloc(cap * d * sizeof *v);
    while (fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        char *p = line, *end;
        size_t j = 0;
        double tmp[MAXF];
        while (*p != '\0' && *p != '\n' && j < MAXF) {
            while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\r') {
                p++;
            }
            if (*p == '\0' || *p == '\n') {
                break;
            }
            tmp[j] = strtod(p, &end);
            if (end == p) {
                break;
            }
            j++;
            p = end;
        }
        if (j == 0 && lineno == 1) {
            continue; /* header */
        }
        if (j == 0) {
            continue;
        }
        if (j != d) {
            fclose(fp);
            free(v);
            ct_fail_at(&err, CT_EDATA, path, lineno, 0, "%zu numbers, want %zu (one per feature)",
                       j, d);
            return cli_fail(c, &err);
        }
        if (rows == cap) {
            cap *= 2;
            v = realloc(v, cap * d * sizeof *v);
        }
        memcpy(v + rows * d, tmp, d * sizeof *v);
        rows++;
    }
    fclose(fp);
    *C = v;
    *k = rows;
    return 0;
}

/* /clusters (+ /clusters_k) into `out`, then the profile table or JSON. */
/* Per-cluster weighted sums of the features of rows [0, nr) (X row-major,
 * d columns; w NULL: weight 1), k x d values per block of CT_SUM_BLOCK
 * rows into part: added in block order (ct_comm_sum_blocks), the same bits
 * in memory, streamed and over ranks. */
static void mean_parts(const double *X, const double *w, const int32_t *labels, size_t nr,
                       size_t d, size_t k, double *part)
{
    for (size_t b = 0; b * CT_SUM_BLOCK < nr; b++) {
        double *p = part + b * k * d;
        size_t i1 = (b + 1) * CT_SUM_BLOCK < nr ? (b + 1) * CT_SUM_BLOCK : nr;
        memset(p, 0, k * d * sizeof *p);
        for (size_t i = b * CT_SUM_BLOCK; i < i1; i++) {
            double wi = w != NULL ? w[i] : 1.0;
            for (size_t j = 0; j < d; j++) {
                p[(size_t)labels[i] * d + j] += wi * X[i * d + j];
            }
        }
    }
}

/* Sums into means; clusters without weight get NaN. */
static void mean_finish(double *mean, const double *weight, size_t k, size_t d)
{
    for (size_t q = 0; q < k * d; q++) {
        double wq = weight[q / d];
        mean[q] = wq > 0 ? mean[q] / wq : (double)NAN;
    }
}

static ct_status write_result(cli_common *c, const char *out, const char *features,
                              char names[][64], size_t d, ct_transform tf, ct_scaling sc,
                              const ct_kmeans_result *best, const ct_scaler *scl,
                              const double *orig, const double *mean, const ct_kscore *ks,
                              size_t nk, size_t klo, uint64_t seed, double secs,
                              size_t lab0, size_t nlab, ct_error *err)
{
    size_t k = best->k;
    double tot = 0;
    ct_status s;
    for (size_t q = 0; q < k; q++) {
        tot += best->weight[q];
    }
    ct_file *o = NULL;
    /* clvtier-mpi: all ranks write the file together, each its own labels */
    ct_create_opts co = {0, c->cmdline, c->ranks > 1 ? ct_comm_world() : NULL};
    s = ct_file_create(&o, out, &co, err);
    if (s == CT_OK) {
        s = ct_clusters_write(o, best->labels + lab0, nlab, best, scl, err);
    }
    if (s == CT_OK) {
        s = ct_file_write_matrix(o, "/clusters/centroids_original", orig, k, d, err);
    }
    if (s == CT_OK) {
        s = ct_file_write_matrix(o, "/clusters/feature_means", mean, k, d, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(o, "/clusters", "features", features, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(o, "/clusters", "transform", tf == CT_TF_LOG1P ? "log1p" : "none", err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(o, "/clusters", "scale",
                            sc == CT_SC_ZSCORE ? "zscore" : sc == CT_SC_ROBUST ? "robust" : "none",
                            err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(o, "/clusters", "iterations", best->iterations, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(o, "/clusters", "converged", best->converged, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(o, "/clusters", "seed", (int64_t)seed, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(o, "/clusters", "k_rule",
                            nk > 1 ? "highest silhouette (ties: smaller k)" : "fixed", err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64v(o, "/clusters", "weight", best->weight, k, err);
    }
    if (s == CT_OK) {
        s = ct_kscores_write(o, ks, nk, klo, err);
    }
    if (s == CT_OK) {
        s = ct_file_commit(o, err);
        o = NULL;
    }
    ct_file_close(o);
    if (s == CT_OK && c->rank == 0) {
        if (c->json) {
            printf("{\"k\": %zu, \"inertia\": %.17g, \"iterations\": %u, \"converged\": %s, "
                   "\"seconds\": %.3f, \"features\": [",
                   k, best->inertia, best->iterations, best->converged ? "true" : "false", secs);
            for (size_t j = 0; j < d; j++) {
                printf("%s\"%s\"", j ? ", " : "", names[j]);
            }
            printf("], \"clusters\": [");
            for (size_t q = 0; q < k; q++) {
                printf("%s{\"label\": %zu, \"weight\": %.17g, \"share\": %.6f, \"mean\": {", q ? ", " : "",
                       q, best->weight[q], best->weight[q] / tot);
                for (size_t j = 0; j < d; j++) {
                    double mv = mean[q * d + j];
                    printf("%s\"%s\": ", j ? ", " : "", names[j]);
                    if (isfinite(mv)) {
                        printf("%.10g", mv);
                    } else {
                        printf("null");
                    }
                }
                printf("}}");
            }
            printf("], \"k_scores\": [");
            for (size_t q = 0; q < nk; q++) {
                printf("%s{\"k\": %zu, \"inertia\": %.10g", q ? ", " : "", klo + q, ks[q].inertia);
                if (nk > 1) {
                    printf(", \"calinski_harabasz\": %.10g, \"davies_bouldin\": %.10g, "
                           "\"silhouette\": %.10g",
                           ks[q].calinski_harabasz, ks[q].davies_bouldin, ks[q].silhouette);
                }
                printf("}");
            }
            printf("]}\n");
        } else {
            printf("k = %zu%s, inertia %.6g, %u iterations%s (%.2f s)\n", k,
                   nk > 1 ? " (highest silhouette)" : "", best->inertia, best->iterations,
                   best->converged ? "" : " (NOT converged)", secs);
            printf("%7s %12s %7s", "cluster", "customers", "share");
            for (size_t j = 0; j < d; j++) {
                printf(" %12.12s", names[j]);
            }
            printf("\n");
            for (size_t q = 0; q < k; q++) {
                printf("%7zu %12.0f %6.1f%%", q, best->weight[q], 100 * best->weight[q] / tot);
                for (size_t j = 0; j < d; j++) {
                    printf(" %12.5g", mean[q * d + j]);
                }
                printf("\n");
            }
        }
    }
    return s;
}

/* ---- --stream: clustering data larger than memory ------------------------- */

/* Feature columns read from the tables in row blocks: raw, or transformed
 * and scaled by scl. */
typedef struct h5src {
    const char *path;
    ct_table *tab[4];
    int t[MAXF];
    long j[MAXF];
    long wj; /* weight column of tab[0], or -1 */
    size_t d;
    double *col;
    size_t cap;
    const ct_scaler *scl;
    ct_transform tf;
    /* clvtier-mpi: this rank's rows kept after they are first read (scaled),
     * so later passes do not go back to the file; rows [c0, c0 + cn). */
    int caching;
    double *cx, *cw;
    size_t c0, cn, ccap;
} h5src;

/* Serve rows from the cache when it holds them all. */
static int h5src_cached(const h5src *h, size_t row0, size_t nr, double *X, double *w)
{
    if (h->cx == NULL || row0 < h->c0 || row0 + nr > h->c0 + h->cn) {
        return 0;
    }
    memcpy(X, h->cx + (row0 - h->c0) * h->d, nr * h->d * sizeof *X);
    if (w != NULL) {
        memcpy(w, h->cw + (row0 - h->c0), nr * sizeof *w);
    }
    return 1;
}

/* Append rows just read when they continue the cached run (a pass reads
 * this rank's rows in order from its first). */
static void h5src_keep(h5src *h, size_t row0, size_t nr, const double *X, const double *w)
{
    if (h->cn == 0) {
        h->c0 = row0;
    }
    if (row0 != h->c0 + h->cn) {
        return; /* a single row (relocation) or out of order: not kept */
    }
    if (h->cn + nr > h->ccap) {
        size_t cap = h->ccap ? 2 * h->ccap : 262144;
        while (cap < h->cn + nr) {
            cap *= 2;
        }
        double *x2 = realloc(h->cx, cap * h->d * sizeof *x2);
        if (x2 == NULL) {
            h->caching = 0; /* memory is short: read from the file */
            return;
        }
        h->cx = x2;
        double *w2 = realloc(h->cw, cap * sizeof *w2);
        if (w2 == NULL) {
            h->caching = 0;
            return;
        }
        h->cw = w2;
        h->ccap = cap;
    }
    memcpy(h->cx + h->cn * h->d, X, nr * h->d * sizeof *X);
    for (size_t i = 0; i < nr; i++) {
        h->cw[h->cn + i] = w != NULL ? w[i] : 1.0;
    }
    h->cn += nr;
}

static ct_status h5src_read(void *ctx, size_t row0, size_t nr, double *X, double *w,
                            ct_error *err)
{
    h5src *h = ctx;
    size_t d = h->d;
    if (h->caching && h5src_cached(h, row0, nr, X, w)) {
        return CT_OK;
    }
    if (nr > h->cap) {
        double *p = realloc(h->col, nr * sizeof *p);
        if (p == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        h->col = p;
        h->cap = nr;
    }
    for (size_t j = 0; j < d; j++) {
        ct_status s = ct_table_read(h->tab[h->t[j]], (size_t)h->j[j], row0, nr, CT_FLOAT64, h->col,
                                    err);
        if (s != CT_OK) {
            return s;
        }
        for (size_t i = 0; i < nr; i++) {
            double v = h->col[i];
            if (!isfinite(v) || (h->tf == CT_TF_LOG1P && !(v > -1))) {
                return ct_fail_at(err, CT_EDATA, h->path, (uint64_t)(row0 + i) + 1,
                                  (unsigned)j + 1,
                                  "customer row %zu, feature column %zu: %g is not a finite "
                                  "number%s",
                                  row0 + i + 1, j + 1, v,
                                  h->tf == CT_TF_LOG1P ? " above -1 (log1p)" : "");
            }
            X[i * d + j] = v;
        }
    }
    if (w != NULL) {
        if (h->wj >= 0) {
            ct_status s = ct_table_read(h->tab[0], (size_t)h->wj, row0, nr, CT_FLOAT64, w, err);
            if (s != CT_OK) {
                return s;
            }
        } else {
            for (size_t i = 0; i < nr; i++) {
                w[i] = 1.0;
            }
        }
    }
    ct_status s = h->scl != NULL ? ct_scaler_apply(h->scl, X, nr, err) : CT_OK;
    if (s == CT_OK && h->caching) {
        h5src_keep(h, row0, nr, X, w);
    }
    return s;
}

static int cluster_stream(cli_common *c, const char *path, const ct_file *f, const ct_file *fs,
                          char names[][64], size_t d, const char *features, ct_transform tf,
                          ct_scaling sc, ct_kmeans_opts *ko, const double *Cinit, size_t block,
                          const char *out)
{
    ct_error err;
    const ct_file *tf_[4] = {f, f, f, fs};
    static const char *const G[4] = {"/customers", "/features", "/scores", "/scores"};
    h5src h;
    memset(&h, 0, sizeof h);
    h.path = path;
    h.d = d;
    h.tf = tf;
    h.wj = -1;
    size_t n = 0;
    ct_status s = CT_OK;
    for (int t = 0; t < 4 && s == CT_OK; t++) {
        if (tf_[t] != NULL && ct_file_has_group(tf_[t], G[t])) {
            s = ct_table_open(&h.tab[t], tf_[t], G[t], &err);
            if (s == CT_OK && n == 0) {
                n = ct_table_nrows(h.tab[t]);
            } else if (s == CT_OK && ct_table_nrows(h.tab[t]) != n) {
                s = ct_fail_at(&err, CT_EDIM, ct_file_path(tf_[t]), 0, 0,
                               "table %s has %zu rows, but %zu customers", G[t],
                               ct_table_nrows(h.tab[t]), n);
            }
        }
    }
    for (size_t j = 0; j < d && s == CT_OK; j++) {
        h.j[j] = -1;
        for (int t = 0; t < 4 && h.j[j] < 0; t++) {
            long jj = h.tab[t] != NULL ? ct_table_find(h.tab[t], names[j]) : -1;
            if (jj >= 0 && ct_table_coltype(h.tab[t], (size_t)jj) != CT_STRING) {
                h.t[j] = t;
                h.j[j] = jj;
            }
        }
        if (h.j[j] < 0) {
            s = ct_fail_at(&err, CT_EINVAL, path, 0, 0,
                           "feature '%s' not found in /customers, /features or /scores", names[j]);
        }
    }
    if (s == CT_OK && n == 0) {
        s = ct_fail_at(&err, CT_EDATA, path, 0, 0, "no customers to cluster");
    }
    if (h.tab[0] != NULL) {
        h.wj = ct_table_find(h.tab[0], "weight");
    }
    ct_comm *world = ct_comm_world();
    ct_km_source src = {n, d, h.wj >= 0, ct_comm_size(world) > 1 ? world : NULL, h5src_read, &h};
    ct_scaler scl;
    memset(&scl, 0, sizeof scl);
    ct_kmeans_result best;
    memset(&best, 0, sizeof best);
    size_t B = block ? block : 262144, k = ko->k;
    double *init = NULL, secs = 0;
    /* this rank's rows of the k-means [lo, hi), read Bs at a time */
    size_t lo = 0, hi = 0, Bs = B < CT_SUM_BLOCK ? CT_SUM_BLOCK : B / CT_SUM_BLOCK * CT_SUM_BLOCK;
    if (s == CT_OK) {
        ct_kmeans_stream_rows(n, d, k, block, c->rank, c->ranks, &lo, &hi);
        h.scl = NULL;
        s = ct_scaler_fit_source(&scl, &src, lo, hi, Bs, tf, sc, &err);
        h.scl = &scl;
    }
    if (s == CT_OK && Cinit != NULL) {
        init = malloc(k * d * sizeof *init);
        s = init != NULL ? CT_OK : ct_fail(&err, CT_ENOMEM, "out of memory");
        if (s == CT_OK) {
            memcpy(init, Cinit, k * d * sizeof *init);
            s = ct_scaler_apply(&scl, init, k, &err);
            ko->centroids = init;
        }
    }
    if (s == CT_OK) {
        double t0 = cli_now();
        /* over ranks, each keeps its own (scaled) rows after the first pass */
        h.caching = c->ranks > 1;
        ko->labels_local = 1; /* each rank writes its own rows' labels */
        s = ct_kmeans_fit_stream(&src, ko, block, 0, &best, &err);
        h.caching = 0;
        free(h.cx);
        free(h.cw);
        h.cx = h.cw = NULL;
        secs = cli_now() - t0;
    }
    /* feature means per cluster in original units: one more pass, each rank
     * over its own rows; then every rank writes its labels into the file */
    double *orig = NULL, *mean = NULL, *X = NULL, *w = NULL, *part = NULL;
    if (s == CT_OK) {
        size_t nbl = (hi - lo + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
        orig = malloc(k * d * sizeof *orig);
        mean = malloc(k * d * sizeof *mean);
        X = malloc(Bs * d * sizeof *X);
        w = malloc(Bs * sizeof *w);
        part = malloc((nbl ? nbl : 1) * k * d * sizeof *part);
        s = orig && mean && X && w && part ? CT_OK : ct_fail(&err, CT_ENOMEM, "out of memory");
        if (s == CT_OK) {
            memcpy(orig, best.centroids, k * d * sizeof *orig);
            ct_scaler_invert(&scl, orig, k);
            h.scl = NULL; /* raw rows from here */
            h.tf = CT_TF_NONE;
        }
        for (size_t row0 = lo; row0 < hi && s == CT_OK; row0 += Bs) {
            size_t nr = hi - row0 < Bs ? hi - row0 : Bs;
            s = h5src_read(&h, row0, nr, X, w, &err);
            if (s == CT_OK) {
                mean_parts(X, w, best.labels + row0, nr, d, k,
                           part + (row0 - lo) / CT_SUM_BLOCK * k * d);
            }
        }
        s = ct_comm_agree(src.comm, s, &err);
        if (s == CT_OK) {
            s = ct_comm_sum_blocks(src.comm, part, nbl, k * d, mean, &err);
        }
        if (s == CT_OK) {
            mean_finish(mean, best.weight, k, d);
        }
        ct_kscore ks = {best.inertia, (double)NAN, (double)NAN, (double)NAN};
        if (s == CT_OK) {
            s = write_result(c, out, features, names, d, tf, sc, &best, &scl, orig, mean, &ks, 1,
                             k, ko->seed, secs, lo, hi - lo, &err);
        }
    }
    for (int t = 0; t < 4; t++) {
        ct_table_close(h.tab[t]);
    }
    free(h.col);
    free(init);
    free(orig);
    free(mean);
    free(X);
    free(w);
    free(part);
    ct_kmeans_result_free(&best);
    ct_scaler_free(&scl);
    return s == CT_OK ? 0 : cli_fail(c, &err);
}

int cmd_cluster(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"features", required_argument, NULL, O_FEAT},
                                         {"transform", required_argument, NULL, O_TF},
                                         {"scale", required_argument, NULL, O_SC},
                                         {"k-range", required_argument, NULL, O_KR},
                                         {"init", required_argument, NULL, O_INIT},
                                         {"n-init", required_argument, NULL, O_NINIT},
                                         {"max-iter", required_argument, NULL, O_MAXIT},
                                         {"tol", required_argument, NULL, O_TOL},
                                         {"float32", no_argument, NULL, O_F32},
                                         {"algorithm", required_argument, NULL, O_ALGO},
                                         {"stream", no_argument, NULL, O_STREAM},
                                         {"block-rows", required_argument, NULL, O_BLOCK},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"sample", required_argument, NULL, O_SAMPLE},
                                         {"scores", required_argument, NULL, O_SCORES},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ct_kmeans_opts ko;
    ct_transform tf = CT_TF_NONE;
    ct_scaling sc = CT_SC_ZSCORE;
    const char *features = NULL, *out = NULL, *initfile = NULL, *scoresp = NULL;
    size_t klo = 0, khi = 0, sample = 4000, v, block = 0;
    int f32 = 0, stream = 0, opt;
    ct_kmeans_opts_init(&ko);
    ko.n_init = 3;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "k:o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case O_FEAT:
            features = optarg;
            break;
        case O_TF:
            if (strcmp(optarg, "none") == 0) {
                tf = CT_TF_NONE;
            } else if (strcmp(optarg, "log1p") == 0) {
                tf = CT_TF_LOG1P;
            } else {
                return cli_usage(c, "unknown transform '%s' (none, log1p)", optarg);
            }
            break;
        case O_SC:
            if (strcmp(optarg, "none") == 0) {
                sc = CT_SC_NONE;
            } else if (strcmp(optarg, "zscore") == 0) {
                sc = CT_SC_ZSCORE;
            } else if (strcmp(optarg, "robust") == 0) {
                sc = CT_SC_ROBUST;
            } else {
                return cli_usage(c, "unknown scaling '%s' (none, zscore, robust)", optarg);
            }
            break;
        case 'k':
            if (cli_parse_size(optarg, &v) != 0 || v < 1) {
                return cli_usage(c, "-k '%s' must be >= 1", optarg);
            }
            klo = khi = v;
            break;
        case O_KR: {
            char *colon = strchr(optarg, ':');
            size_t a, b;
            if (colon == NULL) {
                return cli_usage(c, "--k-range '%s' must be LO:HI", optarg);
            }
            *colon = '\0';
            if (cli_parse_size(optarg, &a) != 0 || cli_parse_size(colon + 1, &b) != 0 || a < 1 ||
                b < a || b - a > 200) {
                return cli_usage(c, "--k-range must be LO:HI with 1 <= LO <= HI <= LO+200");
            }
            klo = a;
            khi = b;
            break;
        }
        case O_INIT:
            if (strcmp(optarg, "auto") == 0) {
                ko.init = CT_KM_INIT_AUTO;
            } else if (strcmp(optarg, "kmeans++") == 0) {
                ko.init = CT_KM_INIT_KMEANSPP;
            } else if (strcmp(optarg, "kmeans-parallel") == 0 ||
                       strcmp(optarg, "kmeans||") == 0) {
                ko.init = CT_KM_INIT_PARALLEL;
            } else if (strcmp(optarg, "random") == 0) {
                ko.init = CT_KM_INIT_RANDOM;
            } else {
                initfile = optarg;
                ko.init = CT_KM_INIT_GIVEN;
            }
            break;
        case O_NINIT:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000) {
                return cli_usage(c, "--n-init '%s' must be 1..1000", optarg);
            }
            ko.n_init = (unsigned)v;
            break;
        case O_MAXIT:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000000) {
                return cli_usage(c, "--max-iter '%s' must be 1..1000000", optarg);
            }
            ko.max_iter = (unsigned)v;
            break;
        case O_TOL:
            if (cli_parse_double(optarg, &ko.tol) != 0 || ko.tol < 0) {
                return cli_usage(c, "--tol '%s' must be >= 0", optarg);
            }
            break;
        case O_F32:
            f32 = 1;
            break;
        case O_STREAM:
            stream = 1;
            break;
        case O_BLOCK:
            if (cli_parse_size(optarg, &block) != 0 || block == 0) {
                return cli_usage(c, "--block-rows '%s' must be a positive number", optarg);
            }
            break;
        case O_ALGO:
            if (strcmp(optarg, "auto") == 0) {
                ko.algorithm = CT_KM_ALGO_AUTO;
            } else if (strcmp(optarg, "lloyd") == 0) {
                ko.algorithm = CT_KM_ALGO_LLOYD;
            } else if (strcmp(optarg, "hamerly") == 0) {
                ko.algorithm = CT_KM_ALGO_HAMERLY;
            } else {
                return cli_usage(c, "--algorithm '%s' is not auto, lloyd or hamerly", optarg);
            }
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &ko.seed) != 0) {
                return cli_usage(c, "--seed '%s' is not a non-negative integer", optarg);
            }
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &ko.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_SAMPLE:
            if (cli_parse_size(optarg, &sample) != 0 || sample < 10) {
                return cli_usage(c, "--sample '%s' must be >= 10", optarg);
            }
            break;
        case O_SCORES:
            scoresp = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        default: {
            int ec = cli_option(c, opt, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing DATA.h5" : "too many arguments");
    }
    if (features == NULL || out == NULL) {
        return cli_usage(c, "missing %s", features == NULL ? "--features" : "-o CLUSTERS.h5");
    }
    if (klo == 0 && initfile == NULL) {
        return cli_usage(c, "give -k K or --k-range LO:HI");
    }
    char names[MAXF][64], buf[4096];
    size_t d = 0;
    snprintf(buf, sizeof buf, "%s", features);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (d == MAXF) {
            return cli_usage(c, "at most %d features", MAXF);
        }
        snprintf(names[d++], 64, "%s", tok);
    }
    if (d == 0) {
        return cli_usage(c, "--features is empty");
    }
    const char *path = argv[optind];
    ct_error err;
    ct_file *f = NULL, *fs = NULL;
    if (ct_file_open(&f, path, &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    if (scoresp != NULL && ct_file_open(&fs, scoresp, &err) != CT_OK) {
        ct_file_close(f);
        return cli_fail(c, &err);
    }
    if (c->ranks > 1) {
        stream = 1; /* clvtier-mpi: the rows are split over the ranks */
    }
    if (stream) {
        double *Cs = NULL;
        size_t ks = 0;
        int rc = 0;
        if (klo != khi && initfile == NULL) {
            rc = cli_usage(c, "--stream fits one k: give -k K (or --init FILE.csv)");
        } else if (sc == CT_SC_ROBUST || f32) {
            rc = cli_usage(c, "--stream supports --scale none or zscore (robust scaling needs every "
                              "row in memory) and not --float32");
        } else if (initfile != NULL) {
            rc = read_init(c, initfile, d, &Cs, &ks);
            if (rc == 0 && klo != 0 && (klo != khi || klo != ks)) {
                rc = cli_usage(c, "%s has %zu centroids but -k asks otherwise", initfile, ks);
            }
            ko.k = ks;
        } else {
            ko.k = klo;
        }
        if (rc == 0) {
            rc = cluster_stream(c, path, f, fs, names, d, features, tf, sc, &ko, Cs, block, out);
        }
        free(Cs);
        ct_file_close(f);
        ct_file_close(fs);
        return rc;
    }
    double *X = NULL, *w = NULL, *Cinit = NULL;
    size_t n = 0, kinit = 0;
    int rc = load_features(c, path, f, fs, names, d, &X, &w, &n);
    ct_file_close(f);
    ct_file_close(fs);
    if (rc != 0) {
        return rc;
    }
    if (initfile != NULL) {
        rc = read_init(c, initfile, d, &Cinit, &kinit);
        if (rc != 0) {
            free(X);
            free(w);
            return rc;
        }
        if (klo != 0 && (klo != khi || klo != kinit)) {
            free(X);
            free(w);
            free(Cinit);
            return cli_usage(c, "%s has %zu centroids but -k/--k-range asks otherwise", initfile,
                             kinit);
        }
        klo = khi = kinit;
    }
    ct_scaler scl;
    ct_status s = ct_scaler_fit_transform(&scl, X, n, d, w, tf, sc, &err);
    if (s == CT_OK && Cinit != NULL) {
        s = ct_scaler_apply(&scl, Cinit, kinit, &err);
        ko.centroids = Cinit;
    }
    float *F = NULL;
    if (s == CT_OK && f32) {
        F = malloc(n * d * sizeof *F);
        if (F == NULL) {
            s = ct_fail(&err, CT_ENOMEM, "out of memory");
        }
        for (size_t q = 0; F != NULL && q < n * d; q++) {
            F[q] = (float)X[q];
        }
    }
    size_t nk = khi - klo + 1;
    ct_kscore *ks = calloc(nk, sizeof *ks);
    ct_kmeans_result best;
    memset(&best, 0, sizeof best);
    double t0 = cli_now();
    for (size_t k = klo; k <= khi && s == CT_OK; k++) {
        ct_kmeans_result r;
        ko.k = k;
        s = f32 ? ct_kmeans_fit_f32(F, n, d, w, &ko, &r, &err)
                : ct_kmeans_fit(X, n, d, w, &ko, &r, &err);
        if (s == CT_OK && nk > 1) {
            s = ct_kmeans_scores(X, n, d, w, &r, sample, ko.seed, &ks[k - klo], &err);
        } else if (s == CT_OK) {
            ks[0].inertia = r.inertia;
            ks[0].calinski_harabasz = ks[0].davies_bouldin = ks[0].silhouette = (double)NAN;
        }
        if (s == CT_OK && !c->quiet && nk > 1) {
            fprintf(stderr, "clvtier cluster: k = %zu: inertia %.6g, CH %.4g, DB %.4g, silhouette %.4f\n",
                    k, r.inertia, ks[k - klo].calinski_harabasz, ks[k - klo].davies_bouldin,
                    ks[k - klo].silhouette);
        }
        if (s == CT_OK) {
            size_t pick = nk > 1 ? ct_kmeans_pick_k(ks, k - klo + 1, klo) : k;
            if (pick == k) {
                ct_kmeans_result_free(&best);
                best = r;
            } else {
                ct_kmeans_result_free(&r);
            }
        }
    }
    double secs = cli_now() - t0;
    free(F);
    free(Cinit);
    if (s != CT_OK) {
        free(X);
        free(w);
        free(ks);
        ct_kmeans_result_free(&best);
        ct_scaler_free(&scl);
        return cli_fail(c, &err);
    }
    /* centroids in original units; per-cluster feature means for the profile */
    size_t k = best.k;
    double *orig = malloc(k * d * sizeof *orig);
    memcpy(orig, best.centroids, k * d * sizeof *orig);
    ct_scaler_invert(&scl, orig, k);
    ct_scaler_invert(&scl, X, n); /* X back to original units */
    double *mean = malloc(k * d * sizeof *mean);
    size_t nb = (n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    double *part = malloc(nb * k * d * sizeof *part);
    s = mean != NULL && part != NULL ? CT_OK : ct_fail(&err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        mean_parts(X, w, best.labels, n, d, k, part);
        s = ct_comm_sum_blocks(NULL, part, nb, k * d, mean, &err);
    }
    free(part);
    if (s == CT_OK) {
        mean_finish(mean, best.weight, k, d);
        s = write_result(c, out, features, names, d, tf, sc, &best, &scl, orig, mean, ks, nk, klo,
                         ko.seed, secs, 0, n, &err);
    }
    free(X);
    free(w);
    free(ks);
    free(orig);
    free(mean);
    ct_kmeans_result_free(&best);
    ct_scaler_free(&scl);
    return s == CT_OK ? 0 : cli_fail(c, &err);
}
