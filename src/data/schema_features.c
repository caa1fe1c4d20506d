/* schema_features.c - columns of /features (joined per customer at ingest)
 * for rows of /customers: the covariates of a CLV fit.  A numeric column is
 * read as it is; a text column (a category) enters as dummies, one per
 * level but the reference, named "column=level". */
#include "clvtier/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The /features and /customers tables of f, checked to have as many rows. */
static ct_status open_tables(const ct_file *f, const char *path, const char *what,
                             ct_table **t, ct_table **tc, ct_error *err)
{
    *t = *tc = NULL;
    if (!ct_file_has_group(f, "/features")) {
        return ct_fail(err, CT_EFORMAT,
                       "covariate '%s': no /features table (ingest --features FILE.csv joins "
                       "per-customer columns)",
                       what);
    }
    CT_CHECK(ct_table_open(t, f, "/features", err));
    ct_status s = ct_table_open(tc, f, "/customers", err);
    if (s == CT_OK && ct_table_nrows(*t) != ct_table_nrows(*tc)) {
        s = ct_fail_at(err, CT_EFORMAT, path, 0, 0, "/features has %zu rows, /customers %zu",
                       ct_table_nrows(*t), ct_table_nrows(*tc));
    }
    if (s != CT_OK) {
        ct_table_close(*t);
        ct_table_close(*tc);
        *t = *tc = NULL;
    }
    return s;
}

/* Rows [row0, row0 + n) of text column q: n x *width bytes. */
static ct_status read_text(const ct_table *t, size_t q, size_t row0, size_t n, char **out,
                           size_t *width, ct_error *err)
{
    CT_CHECK(ct_table_strwidth(t, q, width, err));
    *out = malloc((n ? n : 1) * *width);
    if (*out == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory for a text column");
    }
    ct_status s = ct_table_read_str(t, q, row0, n, *out, *width, err);
    if (s != CT_OK) {
        free(*out);
        *out = NULL;
    }
    return s;
}

static int cmp_level(const void *a, const void *b)
{
    return strcmp(a, b);
}

ct_status ct_features_levels(const char *path, const char *col, int *is_text,
                             char (*levels)[CT_LEVEL_MAX], size_t max, size_t *nlev,
                             ct_error *err)
{
    ct_file *f = NULL;
    ct_table *t = NULL, *tc = NULL;
    char *txt = NULL;
    size_t width = 0;
    ct_status s;
    *is_text = 0;
    *nlev = 0;
    CT_TRY(ct_file_open(&f, path, err));
    CT_TRY(open_tables(f, path, col, &t, &tc, err));
    long q = ct_table_find(t, col);
    if (q < 0) {
        s = ct_fail(err, CT_EFORMAT, "covariate '%s' is not a column of /features", col);
        goto done;
    }
    if (ct_table_coltype(t, (size_t)q) != CT_STRING) {
        goto done;
    }
    *is_text = 1;
    size_t n = ct_table_nrows(t);
    CT_TRY(read_text(t, (size_t)q, 0, n, &txt, &width, err));
    /* sort the values, keep the distinct non-empty ones */
    qsort(txt, n, width, cmp_level);
    for (size_t i = 0; i < n; i++) {
        const char *v = txt + i * width;
        if (v[0] == '\0' || (*nlev > 0 && strcmp(levels[*nlev - 1], v) == 0)) {
            continue;
        }
        if (strlen(v) >= CT_LEVEL_MAX) {
            s = ct_fail(err, CT_EDATA, "covariate '%s': level '%.40s...' is longer than %d bytes",
                        col, v, CT_LEVEL_MAX - 1);
            goto done;
        }
        if (*nlev == max) {
            s = ct_fail(err, CT_EDATA,
                        "covariate '%s' is text with more than %zu distinct values: not a "
                        "category (numbers with some text in them? clean the column)",
                        col, max);
            goto done;
        }
        snprintf(levels[(*nlev)++], CT_LEVEL_MAX, "%s", v);
    }
done:
    free(txt);
    ct_table_close(t);
    ct_table_close(tc);
    ct_file_close(f);
    return s;
}

/* "col=level": the column's name into base (and *level past the '='), 1;
 * else 0. */
static int split_dummy(const char *name, char *base, size_t cap, const char **level)
{
    const char *e = strchr(name, '=');
    if (e == NULL || (size_t)(e - name) >= cap) {
        return 0;
    }
    memcpy(base, name, (size_t)(e - name));
    base[e - name] = '\0';
    *level = e + 1;
    return 1;
}

/* The reference level of text column col in refs ("col=level,..."), or NULL. */
static const char *ref_level(const char *refs, const char *col, char *buf, size_t cap)
{
    size_t n = strlen(col);
    for (const char *p = refs; p != NULL && *p != '\0';) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len > n && strncmp(p, col, n) == 0 && p[n] == '=') {
            size_t k = len - n - 1 < cap - 1 ? len - n - 1 : cap - 1;
            memcpy(buf, p + n + 1, k);
            buf[k] = '\0';
            return buf;
        }
        p += len + (e != NULL);
    }
    return NULL;
}

/* Column j of the output (dummy or not) for n rows into v (n values). */
static ct_status read_one(const ct_table *t, const char *const *cols, size_t K, size_t j,
                          const char *refs, size_t row0, size_t n, double *v, ct_error *err)
{
    char base[128], rbuf[CT_LEVEL_MAX];
    const char *level = NULL;
    long q = ct_table_find(t, cols[j]);
    if (q < 0 && split_dummy(cols[j], base, sizeof base, &level)) {
        q = ct_table_find(t, base);
    } else {
        level = NULL;
    }
    if (q < 0) {
        return ct_fail(err, CT_EFORMAT, "covariate '%s' is not a column of /features", cols[j]);
    }
    int text = ct_table_coltype(t, (size_t)q) == CT_STRING;
    if (text && level == NULL) {
        return ct_fail(err, CT_EFORMAT,
                       "covariate '%s' is text (a category): give it as a covariate and it is "
                       "dummy-coded, or read its levels as '%s=LEVEL'",
                       cols[j], cols[j]);
    }
    if (!text) {
        return ct_table_read(t, (size_t)q, row0, n, CT_FLOAT64, v, err);
    }
    char *txt;
    size_t width;
    CT_CHECK(read_text(t, (size_t)q, row0, n, &txt, &width, err));
    const char *ref = ref_level(refs, base, rbuf, sizeof rbuf);
    /* the levels this column's dummies name, found once (not per row) */
    const char *lev[64];
    size_t nlev = 0;
    for (size_t u = 0; u < K && nlev < 64; u++) {
        char b2[128];
        const char *l2;
        if (split_dummy(cols[u], b2, sizeof b2, &l2) && strcmp(b2, base) == 0) {
            lev[nlev++] = l2;
        }
    }
    ct_status s = CT_OK;
    for (size_t i = 0; i < n; i++) {
        const char *val = txt + i * width;
        if (val[0] == '\0') {
            v[i] = (double)NAN; /* missing */
            continue;
        }
        v[i] = strcmp(val, level) == 0 ? 1.0 : 0.0;
        if (ref == NULL || strcmp(val, ref) == 0) {
            continue;
        }
        /* a level the fit did not know would silently count as the reference */
        int known = 0;
        for (size_t u = 0; u < nlev && !known; u++) {
            known = strcmp(lev[u], val) == 0;
        }
        if (!known) {
            s = ct_fail(err, CT_EDATA,
                        "customer row %zu: covariate '%s' = '%s' is none of the levels the "
                        "model was fitted with",
                        row0 + i + 1, base, val);
            break;
        }
    }
    free(txt);
    return s;
}

ct_status ct_features_read_fit(const char *path, const ct_customers *c, const ct_fit *f,
                               double **z, ct_error *err)
{
    const char *cols[CT_CLV_MAXCOEF];
    for (size_t j = 0; j < f->ncoef && j < CT_CLV_MAXCOEF; j++) {
        cols[j] = f->coef_col[j];
    }
    return ct_features_read(path, c, cols, f->ncoef, f->coef_ref, z, err);
}

ct_status ct_features_read(const char *path, const ct_customers *c, const char *const *cols,
                           size_t ncols, const char *refs, double **z, ct_error *err)
{
    ct_file *f = NULL;
    ct_table *t = NULL, *tc = NULL;
    size_t n = c->n, K = ncols, src[64];
    double *v = NULL, *colv[64] = {NULL};
    ct_status s;
    *z = NULL;
    CT_TRY(ct_file_open(&f, path, err));
    CT_TRY(open_tables(f, path, K > 0 ? cols[0] : "", &t, &tc, err));
    /* each distinct column into its own array (the same column in both
     * processes read once), then one sequential pass interleaves them */
    if (K > 64) {
        s = ct_fail(err, CT_EINVAL, "at most 64 covariate columns");
        goto done;
    }
    v = malloc((n ? n : 1) * (K ? K : 1) * sizeof *v);
    if (v == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for covariates");
        goto done;
    }
    for (size_t j = 0; j < K; j++) {
        src[j] = j;
        for (size_t u = 0; u < j && src[j] == j; u++) {
            src[j] = strcmp(cols[u], cols[j]) == 0 ? u : j;
        }
        if (src[j] != j) {
            continue;
        }
        colv[j] = malloc((n ? n : 1) * sizeof *colv[j]);
        if (colv[j] == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory for covariates");
            goto done;
        }
        CT_TRY(read_one(t, cols, K, j, refs, c->row0, n, colv[j], err));
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < K; j++) {
            v[i * K + j] = colv[src[j]][i];
        }
    }
    *z = v;
    v = NULL;
done:
    for (size_t j = 0; j < K && j < 64; j++) {
        free(colv[j]);
    }
    free(v);
    ct_table_close(t);
    ct_table_close(tc);
    ct_file_close(f);
    return s;
}
