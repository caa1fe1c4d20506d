/* covariates.c - static covariates for the purchase fits: which columns of
 * /features enter which process (and the guard on their names), and the
 * reading of their values for this rank's customers. */
#include "clvtier/pipeline.h"
#include "clvtier/schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ct_cov_spec_empty(const ct_cov_spec *spec)
{
    return spec == NULL || ((spec->purchase == NULL || spec->purchase[0] == '\0') &&
                            (spec->dropout == NULL || spec->dropout[0] == '\0'));
}

/* The names of a comma-separated list into out (at most max); -1 with a
 * message on a bad one. */
static long split_names(const char *list, char (*out)[64], size_t max, const char *what,
                        ct_error *err)
{
    size_t n = 0;
    const char *p = list != NULL ? list : "";
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == 0 || len >= 64) {
            ct_fail(err, CT_ECONFIG, "%s: empty or too long (max 63 bytes) column name in '%s'",
                    what, list);
            return -1;
        }
        if (n == max) {
            ct_fail(err, CT_ECONFIG, "%s: more than %zu covariates", what, max);
            return -1;
        }
        memcpy(out[n], p, len);
        out[n][len] = '\0';
        for (size_t k = 0; k < n; k++) {
            if (strcmp(out[k], out[n]) == 0) {
                ct_fail(err, CT_ECONFIG, "%s: column '%s' given twice", what, out[n]);
                return -1;
            }
        }
        n++;
        p += e != NULL ? (size_t)(e - p) + 1 : strlen(p);
    }
    return (long)n;
}

static int in_list(char (*names)[64], long n, const char *s)
{
    for (long k = 0; k < n; k++) {
        if (strcmp(names[k], s) == 0) {
            return 1;
        }
    }
    return 0;
}

ct_status ct_cov_coefs(const ct_cov_spec *spec, ct_clv_covariates *cv, char (*names)[64],
                       ct_error *err)
{
    char pu[CT_CLV_MAXCOEF][64], dr[CT_CLV_MAXCOEF][64], sa[CT_CLV_MAXCOEF][64];
    memset(cv, 0, sizeof *cv);
    long np = split_names(spec->purchase, pu, CT_CLV_MAXCOEF, "purchase covariates", err);
    long nd = np < 0 ? -1 : split_names(spec->dropout, dr, CT_CLV_MAXCOEF, "drop-out covariates", err);
    long ns = nd < 0 ? -1 : split_names(spec->same, sa, CT_CLV_MAXCOEF, "same covariates", err);
    if (ns < 0) {
        return err->status;
    }
    for (long k = 0; k < ns; k++) {
        if (!in_list(pu, np, sa[k]) || !in_list(dr, nd, sa[k])) {
            return ct_fail(err, CT_ECONFIG,
                           "covariate '%s' is to be the same in both processes, so it must be "
                           "among the purchase and the drop-out covariates",
                           sa[k]);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        char (*list)[64] = pass == 0 ? pu : dr;
        long n = pass == 0 ? np : nd;
        for (long k = 0; k < n; k++) {
            int same = in_list(sa, ns, list[k]);
            if (pass == 1 && same) {
                continue; /* one coefficient, counted with the purchase ones */
            }
            const char *hit = ct_protected_attribute(list[k]);
            if (hit != NULL) {
                return ct_fail(err, CT_EPROTECTED,
                               "covariate '%s' is a protected attribute (%s): it would make "
                               "every customer's CLV, and so their tier, depend on it; it may "
                               "only be audited",
                               list[k], hit);
            }
            if (cv->ncoef == CT_CLV_MAXCOEF) {
                return ct_fail(err, CT_ECONFIG, "more than %d covariate coefficients",
                               CT_CLV_MAXCOEF);
            }
            memcpy(names[cv->ncoef], list[k], sizeof list[k]);
            cv->col[cv->ncoef] = names[cv->ncoef];
            cv->proc[cv->ncoef] = same ? CT_COV_PURCHASE | CT_COV_DROPOUT
                                  : pass == 0 ? CT_COV_PURCHASE
                                              : CT_COV_DROPOUT;
            cv->ncoef++;
        }
    }
    return CT_OK;
}

/* s, its message naming path when it names no file. */
static ct_status name_file(const char *path, ct_status s, ct_error *err)
{
    if (s != CT_OK && err->file[0] == '\0') {
        ct_error e = *err;
        s = ct_fail_at(err, e.status, path, 0, 0, "%s", e.msg);
    }
    return s;
}

/* The columns cols[0..K) of /features for c (*z: n x K); the time-varying
 * ones (in /dynamic_covariates) NaN, read by ct_cov_paths. */
static ct_status read_static(const char *path, const ct_customers *c, const char *const *cols,
                             size_t K, const char *refs, double **z, ct_error *err)
{
    const char *sc[CT_CLV_MAXCOEF];
    size_t ns = 0, idx[CT_CLV_MAXCOEF];
    unsigned dyn = ct_dyncov_mask(path, cols, K);
    for (size_t j = 0; j < K && j < CT_CLV_MAXCOEF; j++) {
        if (!(dyn & (1u << j))) {
            idx[ns] = j;
            sc[ns++] = cols[j];
        }
    }
    if (ns == K) {
        return ct_features_read(path, c, cols, K, refs, z, err);
    }
    double *zs = NULL, *v = malloc((c->n ? c->n : 1) * K * sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory for covariates");
    }
    ct_status s = ns > 0 ? ct_features_read(path, c, sc, ns, refs, &zs, err) : CT_OK;
    for (size_t i = 0; i < c->n && s == CT_OK; i++) {
        for (size_t j = 0; j < K; j++) {
            v[i * K + j] = (double)NAN;
        }
        for (size_t q = 0; q < ns; q++) {
            v[i * K + idx[q]] = zs[i * ns + q];
        }
    }
    free(zs);
    if (s != CT_OK) {
        free(v);
        return s;
    }
    *z = v;
    return CT_OK;
}

ct_status ct_cov_read(const char *path, const ct_customers *c, const ct_clv_covariates *cv,
                      const char *refs, double **z, ct_error *err)
{
    return name_file(path, read_static(path, c, cv->col, cv->ncoef, refs, z, err), err);
}

ct_status ct_cov_read_fit(const char *path, const ct_customers *c, const ct_fit *f, double **z,
                          ct_error *err)
{
    if (!f->dynamic) {
        return name_file(path, ct_features_read_fit(path, c, f, z, err), err);
    }
    const char *cols[CT_CLV_MAXCOEF];
    for (size_t j = 0; j < f->ncoef; j++) {
        cols[j] = f->coef_col[j];
    }
    return name_file(path, read_static(path, c, cols, f->ncoef, f->coef_ref, z, err), err);
}

ct_status ct_cov_paths(const char *path, const ct_customers *c, double period_days,
                       const char *const *cols, size_t K, const double *z, double horizon,
                       ct_dyncov *dc, ct_clv_paths *view, ct_error *err)
{
    CT_CHECK(name_file(path, ct_dyncov_read(path, c, period_days, cols, z, K, horizon, dc, err),
                       err));
    *view = (ct_clv_paths){dc->n, dc->ncoef, dc->off, dc->t0, dc->end, dc->z, dc->zsum};
    return CT_OK;
}

#define COV_MAX_LEVELS 50

static ct_status expand(const char *path, const ct_cov_spec *spec, const ct_clv_covariates *cv,
                        char (*nm)[64], char (*levels)[CT_LEVEL_MAX], char *refs, size_t refcap,
                        ct_clv_covariates *outp, ct_error *err);

ct_status ct_cov_expand(const char *path, const ct_cov_spec *spec, ct_clv_covariates *cv,
                        char (*names)[64], char *refs, size_t refcap, ct_error *err)
{
    ct_clv_covariates out;
    char nm[CT_CLV_MAXCOEF][64];
    char (*levels)[CT_LEVEL_MAX] = malloc(COV_MAX_LEVELS * sizeof *levels);
    if (levels == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = expand(path, spec, cv, nm, levels, refs, refcap, &out, err);
    free(levels);
    if (s != CT_OK) {
        return s;
    }
    for (size_t j = 0; j < out.ncoef; j++) {
        memcpy(names[j], nm[j], 64);
        out.col[j] = names[j];
    }
    *cv = out;
    return CT_OK;
}

static ct_status expand(const char *path, const ct_cov_spec *spec, const ct_clv_covariates *cv,
                        char (*nm)[64], char (*levels)[CT_LEVEL_MAX], char *refs, size_t refcap,
                        ct_clv_covariates *outp, ct_error *err)
{
    ct_clv_covariates out;
    memset(&out, 0, sizeof out);
    refs[0] = '\0';
    unsigned dyn = ct_dyncov_mask(path, cv->col, cv->ncoef);
    for (size_t j = 0; j < cv->ncoef; j++) {
        int is_text = 0;
        size_t nl = 0;
        if (!(dyn & (1u << j))) { /* time-varying ones are numbers */
            CT_CHECK(ct_features_levels(path, cv->col[j], &is_text, levels, COV_MAX_LEVELS, &nl,
                                        err));
        }
        if (!is_text) {
            if (out.ncoef == CT_CLV_MAXCOEF) {
                return ct_fail(err, CT_ECONFIG, "more than %d covariate coefficients",
                               CT_CLV_MAXCOEF);
            }
            snprintf(nm[out.ncoef], 64, "%s", cv->col[j]);
            out.proc[out.ncoef++] = cv->proc[j];
            continue;
        }
        if (nl < 2) {
            return ct_fail(err, CT_EDATA,
                           "covariate '%s' is text with %zu level(s): constant, it cannot be "
                           "told apart from the base rate",
                           cv->col[j], nl);
        }
        char want[CT_LEVEL_MAX] = "";
        size_t ref = 0;
        size_t clen = strlen(cv->col[j]);
        for (const char *p = spec != NULL ? spec->reference : NULL; p != NULL && *p != '\0';) {
            const char *e = strchr(p, ',');
            size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
            if (len > clen && strncmp(p, cv->col[j], clen) == 0 && p[clen] == '=') {
                snprintf(want, sizeof want, "%.*s", (int)(len - clen - 1), p + clen + 1);
            }
            p += len + (e != NULL);
        }
        if (want[0] != '\0') {
            for (ref = 0; ref < nl && strcmp(levels[ref], want) != 0; ref++) {
            }
            if (ref == nl) {
                return ct_fail(err, CT_ECONFIG,
                               "reference level '%s' is not a level of covariate '%s' (its "
                               "levels: '%s' ... '%s')",
                               want, cv->col[j], levels[0], levels[nl - 1]);
            }
        }
        for (size_t l = 0; l < nl; l++) {
            if (l == ref) {
                continue;
            }
            if (out.ncoef == CT_CLV_MAXCOEF) {
                return ct_fail(err, CT_ECONFIG,
                               "more than %d covariate coefficients (covariate '%s' has %zu "
                               "levels)",
                               CT_CLV_MAXCOEF, cv->col[j], nl);
            }
            if (clen + 1 + strlen(levels[l]) >= 64) {
                return ct_fail(err, CT_ECONFIG, "covariate '%s=%s': name longer than 63 bytes",
                               cv->col[j], levels[l]);
            }
            snprintf(nm[out.ncoef], 64, "%s=%s", cv->col[j], levels[l]);
            out.proc[out.ncoef++] = cv->proc[j];
        }
        char r1[160];
        snprintf(r1, sizeof r1, "%s=%s", cv->col[j], levels[ref]);
        if (strstr(refs, r1) == NULL) { /* a column in both processes: once */
            size_t used = strlen(refs);
            if (used + strlen(r1) + 2 > refcap) {
                return ct_fail(err, CT_ECONFIG, "too many categorical covariates");
            }
            snprintf(refs + used, refcap - used, "%s%s", used ? "," : "", r1);
        }
    }
    *outp = out;
    return CT_OK;
}
