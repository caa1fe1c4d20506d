/* pipeline.c - a tier model end to end (see include/clvtier/pipeline.h).
 * Composes ingest, clv, kmeans, scaler and tier; adds no numerics of its own. */
#include "clvtier/pipeline.h"
#include "clvtier/par.h"
#include "data/publish_internal.h"
#include "pipeline/stages.h"
#include "core/str_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clvtier/audit.h"
#include "clvtier/clv.h"
#include "clvtier/comm.h"
#include "clvtier/customers.h"
#include "clvtier/digest.h"
#include "clvtier/ingest.h"
#include "clvtier/kmeans.h"
#include "clvtier/outfile.h"
#include "clvtier/schema.h"
#include "clvtier/rng.h"
#include "clvtier/store.h"
#include "clvtier/tier.h"

static void stage(const ct_run_opts *o, const char *name, double *t0)
{
    double t = ct_seconds();
    if (o != NULL && o->stage != NULL) {
        o->stage(o->stage_ctx, name, t - *t0);
    }
    *t0 = t;
}

/* Columns of the input's /features table, read on demand: rows [row0,
 * row0 + nrows) (a rank's part; all rows on a serial run). */
typedef struct user_cols {
    ct_table *t; /* NULL: the input has no /features */
    size_t row0, total; /* total: rows of /customers */
    size_t n;
    char name[CT_MAX_FEATURES + CT_MAX_AUDIT][64];
    double *col[CT_MAX_FEATURES + CT_MAX_AUDIT];
} user_cols;

static void user_cols_free(user_cols *u)
{
    ct_table_close(u->t);
    for (size_t i = 0; i < u->n; i++) {
        free(u->col[i]);
    }
    memset(u, 0, sizeof *u);
}

/* A /features column by name; NULL with *s == CT_OK when there is none. */
static const double *user_column(user_cols *u, const char *name, size_t nrows, ct_status *s,
                                 ct_error *err)
{
    *s = CT_OK;
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->name[i], name) == 0) {
            return u->col[i];
        }
    }
    if (u->t == NULL || ct_table_find(u->t, name) < 0 ||
        u->n == CT_MAX_FEATURES + CT_MAX_AUDIT) {
        return NULL;
    }
    if (ct_table_nrows(u->t) != u->total) {
        *s = ct_fail(err, CT_EFORMAT, "/features has %zu rows, /customers %zu",
                     ct_table_nrows(u->t), u->total);
        return NULL;
    }
    u->col[u->n] = malloc((nrows ? nrows : 1) * sizeof *u->col[u->n]);
    *s = u->col[u->n] == NULL ? ct_fail(err, CT_ENOMEM, "out of memory")
                              : ct_table_read(u->t, (size_t)ct_table_find(u->t, name), u->row0,
                                              nrows, CT_FLOAT64, u->col[u->n], err);
    if (*s != CT_OK) {
        free(u->col[u->n]);
        u->col[u->n] = NULL;
        return NULL;
    }
    snprintf(u->name[u->n], sizeof u->name[u->n], "%s", name);
    return u->col[u->n++];
}

/* A per-customer column by feature name: summary columns or scores. */
static const double *column(const ct_customers *c, const ct_scores *sc, const char *name)
{
    const struct {
        const char *name;
        const double *col;
    } cols[] = {{"x", c->x},
                {"t_x", c->t_x},
                {"T", c->T},
                {"m", c->m},
                {"total", c->total},
                {"p_alive", sc->p_alive},
                {"exp_purchases", sc->exp_purchases},
                {"exp_spend", sc->exp_spend},
                {"clv", sc->clv}};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        if (strcmp(name, cols[i].name) == 0) {
            return cols[i].col;
        }
    }
    return NULL;
}

/* Match this run's clusters to a previous result's: same k, centroids
 * compared in this run's scaling.  Relabels labels[] and C (k x d). */
static ct_status match_previous(const ct_file *pf, const ct_scaler *scl, size_t d, double *C,
                                size_t k, int32_t *labels, const size_t *rows, size_t ng,
                                int *matched, ct_error *err)
{
    double *old = NULL, cen[CT_MAX_FEATURES], sca[CT_MAX_FEATURES];
    size_t ko, dold, nsc;
    int32_t map[1024];
    *matched = 0;
    double *tmp = NULL;
    ct_status s;
    CT_TRY(ct_file_read_matrix(pf, "/clusters/centroids", &old, &ko, &dold, err));
    CT_TRY(ct_clusters_read_scaling(pf, cen, sca, CT_MAX_FEATURES, &nsc, err));
    if (dold != d || nsc != d) {
        CT_TRY(ct_fail_at(err, CT_EFORMAT, ct_file_path(pf), 0, 0,
                          "previous result clusters %zu features, this model %zu", dold, d));
    }
    if (ko != k || k > 1024) {
        goto done; /* another k: labels stay as they are */
    }
    for (size_t q = 0; q < k * d; q++) {
        size_t j = q % d; /* old scaled -> transformed -> this run's scaling */
        old[q] = (old[q] * sca[j] + cen[j] - scl->center[j]) / scl->scale[j];
    }
    CT_TRY(ct_match_centroids(old, k, C, k, d, map, err));
    tmp = malloc(k * d * sizeof *tmp);
    if (tmp == NULL) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < k; j++) {
        memcpy(tmp + (size_t)map[j] * d, C + j * d, d * sizeof *tmp);
    }
    memcpy(C, tmp, k * d * sizeof *tmp);
    for (size_t g = 0; g < ng; g++) {
        labels[rows[g]] = map[labels[rows[g]]];
    }
    *matched = 1;
done:
    free(tmp);
    free(old);
    return s;
}

/* Old tiers x new tiers, joined by id; with a margin, hysteresis first. */
static ct_status migration(const ct_file *pf, const ct_tier_model *m, const ct_customers *c,
                           ct_tiering *tg, const double *X, const size_t *rows, size_t ng,
                           const double *C, size_t d, char *old_names, size_t cap,
                           ct_run_summary *sum, ct_error *err)
{
    ct_customers oc;
    ct_table *t = NULL;
    int8_t *ot = NULL, *prev = NULL;
    double gone[CT_MAX_TIERS + 1];
    ct_status s = ct_customers_read(pf, "/customers", &oc, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_attr_get_str(pf, "/tiers", "names", old_names, cap, err);
    size_t nt_old = 0;
    for (const char *p = old_names; s == CT_OK && *p != '\0'; p++) {
        nt_old += *p == ',';
    }
    if (s == CT_OK && (nt_old == 0 || nt_old > CT_MAX_TIERS || oc.ids == NULL || c->ids == NULL)) {
        s = ct_fail_at(err, CT_EFORMAT, ct_file_path(pf), 0, 0,
                       "previous result has no usable /tiers or customer ids");
    }
    if (s == CT_OK) {
        s = ct_table_open(&t, pf, "/tiers", err);
    }
    if (s == CT_OK) {
        ot = malloc((oc.n ? oc.n : 1) * sizeof *ot);
        prev = malloc((c->n ? c->n : 1) * sizeof *prev);
        long j = ct_table_find(t, "tier");
        s = ot == NULL || prev == NULL ? ct_fail(err, CT_ENOMEM, "out of memory")
            : j < 0 || ct_table_nrows(t) != oc.n
                ? ct_fail_at(err, CT_EFORMAT, ct_file_path(pf), 0, 0, "previous /tiers unusable")
                : ct_table_read(t, (size_t)j, 0, oc.n, CT_INT8, ot, err);
    }
    if (s == CT_OK) {
        s = ct_tier_join(oc.ids, oc.id_width, ot, oc.n, nt_old, c->ids, c->id_width, c->n, prev,
                         gone, err);
    }
    if (s == CT_OK && m->hysteresis > 0) {
        /* only between runs of the same ladder */
        char names[CT_MAX_TIERS * 65 + 70];
        ct_join_names(names, sizeof names, m->tiers[0], sizeof m->tiers[0], m->ntiers, m->new_tier,
                   ',');
        if (strcmp(names, old_names) == 0) {
            sum->hysteresis_kept = ct_tier_hysteresis(tg, prev, X, rows, ng, C, d, c->weight,
                                                      m->hysteresis);
            sum->hysteresis_applied = 1;
        }
    }
    if (s == CT_OK) {
        s = ct_tier_migration_counts(prev, tg->tier, c->n, nt_old, m->ntiers, gone,
                                     sum->migration, err);
    }
    if (s == CT_OK) {
        sum->has_migration = 1;
        sum->mig_rows = nt_old + 2;
        sum->mig_cols = m->ntiers + 2;
    }
    ct_table_close(t);
    free(ot);
    free(prev);
    ct_customers_free(&oc);
    return s;
}

/* Copy the input's /customers attributes that describe the data. */
static ct_status copy_customer_attrs(const ct_file *in, ct_file *out, ct_error *err)
{
    static const char *const STR[] = {"period", "calibration_end", "observation_end", "source"};
    static const char *const F64[] = {"period_days", "holdout_periods"};
    static const char *const I64[] = {"calibration_end_day", "observation_end_day",
                                      "customers_after_calibration"};
    ct_status s = CT_OK;
    for (size_t i = 0; i < sizeof STR / sizeof STR[0]; i++) {
        char buf[1024];
        if (ct_attr_exists(in, "/customers", STR[i])) {
            CT_TRY(ct_attr_get_str(in, "/customers", STR[i], buf, sizeof buf, err));
            CT_TRY(ct_attr_set_str(out, "/customers", STR[i], buf, err));
        }
    }
    for (size_t i = 0; i < sizeof F64 / sizeof F64[0]; i++) {
        double v;
        if (ct_attr_exists(in, "/customers", F64[i])) {
            CT_TRY(ct_attr_get_f64(in, "/customers", F64[i], &v, err));
            CT_TRY(ct_attr_set_f64(out, "/customers", F64[i], v, err));
        }
    }
    for (size_t i = 0; i < sizeof I64 / sizeof I64[0]; i++) {
        int64_t v;
        if (ct_attr_exists(in, "/customers", I64[i])) {
            CT_TRY(ct_attr_get_i64(in, "/customers", I64[i], &v, err));
            CT_TRY(ct_attr_set_i64(out, "/customers", I64[i], v, err));
        }
    }
    for (size_t i = 0; ct_ingest_count_name(i) != NULL; i++) { /* what ingest left out */
        char name[64];
        int64_t v;
        snprintf(name, sizeof name, "ingest_%s", ct_ingest_count_name(i));
        if (ct_attr_exists(in, "/customers", name)) {
            CT_TRY(ct_attr_get_i64(in, "/customers", name, &v, err));
            CT_TRY(ct_attr_set_i64(out, "/customers", name, v, err));
        }
    }
done:
    return s;
}

/* What the tier stage needs from the stages before it. */
typedef struct tier_ctx {
    const ct_tier_model *m;
    const ct_customers *c;
    const int32_t *labels; /* per customer, -1: not graded */
    size_t k;
    const double *metric, *p_alive;
    const ct_fit *fit; /* the purchase model */
    double *p0;        /* n: filled with P(no purchase) when loyalty uses it, else NULL */
    const double *X;   /* ng x d scaled rows of the graded customers */
    const size_t *rows;
    size_t ng;
    const double *centroids; /* k x d */
    size_t d;
    const double *const *cols; /* the d feature columns, original units */
    user_cols *uc;
    const ct_file *previous; /* may be NULL */
    char *old_names;
    size_t old_cap;
    ct_audit *audits; /* m->naudit */
    ct_comm *comm;    /* clvtier-mpi: the customers here are a part (c->row0) */
} tier_ctx;

/* Clusters onto the ladder, then migration (and hysteresis) against the
 * previous run, then the audit of protected columns. */
static ct_status tier_stage(const tier_ctx *x, ct_tiering *tg, ct_run_summary *sum, ct_error *err)
{
    const ct_tier_model *m = x->m;
    size_t n = x->c->n;
    const double *loyal = x->p_alive;
    ct_status s = CT_OK;
    if (m->loyalty_no_purchase) {
        s = ct_clv_predict(x->fit, CT_PRED_P_NO_PURCHASE, x->c, m->loyalty_periods, 0, x->p0, err);
        loyal = x->p0;
    }
    s = ct_comm_agree(x->comm, s, err);
    if (s == CT_OK) {
        s = ct_tier_assign_part(m, x->labels, x->k, x->metric, loyal, x->c->T, x->c->weight, n,
                                x->c->row0, x->comm, tg, err);
    }
    if (s == CT_OK && x->previous != NULL) {
        s = migration(x->previous, m, x->c, tg, x->X, x->rows, x->ng, x->centroids, x->d,
                      x->old_names, x->old_cap, sum, err);
    }
    for (size_t a = 0; a < m->naudit && s == CT_OK; a++) {
        const double *ac = user_column(x->uc, m->audit[a], n, &s, err);
        if (s == CT_OK && ac == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                           "[protected] audit: column '%s' is not in the input's /features",
                           m->audit[a]);
        }
        if (s == CT_OK) {
            s = ct_audit_compute(m->audit[a], ac, tg->tier, m->ntiers + 1, x->cols, x->d,
                                 x->c->weight, n, &x->audits[a], err);
        }
    }
    return s;
}

/* clvtier-mpi: rank 0 gets every rank's values of a per-customer column
 * (in rank = row order): *col then holds all of them there (collective). */
static ct_status gather_column(ct_comm *comm, double **col, size_t nl, ct_error *err)
{
    void *all = NULL;
    ct_status s = ct_comm_gather_rows(comm, *col, nl, sizeof **col, &all, NULL, err);
    if (s == CT_OK && all != NULL) {
        free(*col);
        *col = all;
    }
    return s;
}

/* Customers [0, nl) of c old enough to grade: their features (into X, d
 * columns), weights (into w unless NULL) and row numbers; *ng of them.  A
 * missing or non-finite feature is an error naming the customer. */
static ct_status graded_rows(const ct_tier_model *m, const ct_customers *c, size_t nl,
                             const double *const *cols, const char *data, double *X, double *w,
                             size_t *rows, size_t *ng, ct_error *err)
{
    size_t d = m->nfeat, g = 0;
    for (size_t i = 0; i < nl; i++) {
        if (c->T[i] < m->new_min_age) {
            continue;
        }
        for (size_t j = 0; j < d; j++) {
            double v = cols[j][i];
            if (!isfinite(v)) {
                *ng = g;
                if (c->ids == NULL) {
                    return ct_fail_at(err, CT_EDATA, data, c->row0 + i + 1, 0,
                                      "customer row %zu: feature '%s' is missing or not finite "
                                      "(%g)",
                                      c->row0 + i + 1, m->features[j], v);
                }
                return ct_fail_at(err, CT_EDATA, data, c->row0 + i + 1, 0,
                                  "customer '%.*s': feature '%s' is missing or not finite (%g)",
                                  (int)strnlen(c->ids + i * c->id_width, c->id_width),
                                  c->ids + i * c->id_width, m->features[j], v);
            }
            X[g * d + j] = v;
        }
        if (w != NULL) {
            w[g] = c->weight[i];
        }
        rows[g++] = i;
    }
    *ng = g;
    return CT_OK;
}

/* clvtier-mpi, every rank writing its customers: one width for the id
 * column (the widest part's), the ids padded to it. */
static ct_status ids_width(ct_comm *comm, ct_customers *c, ct_error *err)
{
    double wmax = (double)c->id_width;
    ct_status s = ct_comm_allreduce_max(comm, &wmax, 1, err);
    size_t wd = (size_t)wmax;
    if (s != CT_OK || c->ids == NULL || wd == c->id_width) {
        return s;
    }
    char *ids = calloc(c->n ? c->n : 1, wd);
    s = ct_comm_agree(comm, ids != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"), err);
    if (s != CT_OK) {
        free(ids);
        return s;
    }
    for (size_t i = 0; i < c->n; i++) {
        memcpy(ids + i * wd, c->ids + i * c->id_width, c->id_width);
    }
    free(c->ids);
    c->ids = ids;
    c->id_width = wd;
    return CT_OK;
}

/* Customers per loyalty class and the total CLV (weighted), summed per
 * CT_SUM_BLOCK rows and the blocks added in order (over comm's ranks). */
static ct_status run_totals(ct_comm *comm, const ct_tiering *tg, const double *clv,
                            const double *w, size_t n, ct_run_summary *sum, ct_error *err)
{
    size_t nb = (n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    double *part = calloc((nb ? nb : 1) * 4, sizeof *part), tot[4];
    ct_status s = ct_comm_agree(comm, part != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"),
                                err);
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        double wi = w != NULL ? w[i] : 1.0, *p = part + i / CT_SUM_BLOCK * 4;
        p[tg->loyalty[i]] += wi;
        p[3] += clv[i] * wi;
    }
    if (s == CT_OK) {
        s = ct_comm_sum_blocks(comm, part, nb, 4, tot, err);
    }
    if (s == CT_OK) {
        memcpy(sum->loyalty_weight, tot, 3 * sizeof *tot);
        sum->total_clv = tot[3];
    }
    free(part);
    return s;
}

/* /tiers, /migration and /audit/<column> into a result being written. */
static ct_status write_tiers(ct_file *out, const ct_tier_model *m, const ct_tiering *tgp, size_t n,
                             const double *p0, const double *stab, ct_run_summary *sum,
                             const char *previous, const char *old_names, const ct_audit *audits,
                             ct_error *err)
{
    ct_status s;
    CT_TRY(ct_tiers_write(out, m, tgp->tier, tgp->loyalty, p0, stab, n, err));
    if (sum->has_migration) {
        ct_migration_meta mg = {sum->migration, sum->mig_rows,       sum->mig_cols, previous,
                                old_names,      sum->labels_matched, sum->hysteresis_kept};
        CT_TRY(ct_migration_write(out, &mg, err));
    }
    for (size_t a = 0; a < m->naudit; a++) {
        CT_TRY(ct_audit_write(out, &audits[a], m, err));
    }
done:
    sum->naudit = m->naudit;
    return s;
}

/* ---- ct_run: a list of stage calls over one state ---------------------------- */

/* Everything one run holds between its stages. */
typedef struct run_state {
    const ct_tier_model *m;
    const char *input, *output, *data; /* data: the HDF5 input (input, or tmp) */
    const ct_run_opts *o;
    ct_run_summary *sum;
    /* clvtier-mpi: every rank runs this together, each on its part of the
     * customers; with a previous result or audit columns, rank 0 holds every
     * customer and does the tier stage and the output alone (pipeline.h) */
    ct_comm *comm, *wcomm; /* wcomm: the tier stage and the output */
    int root, spread;
    unsigned threads;
    size_t nk;
    double t0;
    char tmp[1100]; /* the ingested CSV, removed at the end */
    ct_file *df;
    ct_file *prev; /* the previous result (--previous), opened once */
    ct_customers c;
    size_t n, nl; /* customers; this rank's share of the work */
    user_cols uc;
    ct_fit pf, gf;
    /* [clv] covariates: their coefficients, and their values for the
     * customers of c (c.cov) */
    ct_clv_covariates cv;
    char cov_names[CT_CLV_MAXCOEF][64];
    char cov_refs[512]; /* reference levels of the text ones */
    double *covz;
    /* time-varying ones (columns of /dynamic_covariates): every customer's path */
    int dyn;
    ct_dyncov dc;
    ct_clv_paths paths;
    ct_model_choice choice; /* [clv] purchase = auto */
    ct_tier_model mfb;      /* m with the loyalty fallback (run_tier) */
    double *stab;           /* [tiers] stability: per customer (or NULL) */
    double stab_mean[CT_MAX_TIERS + 1], stab_border[CT_MAX_TIERS + 1];
    ct_scores sc;
    size_t d, ng, ngl, g0, ngt; /* graded: here, on this rank, before it, in all */
    const double *cols[CT_MAX_FEATURES], *metric;
    double *X, *w, *p0;
    int32_t *labels, *mine_lab;
    size_t *rows;
    ct_scaler scl;
    ct_kmeans_result km;
    ct_kscore ks[64];
    ct_tiering tg;
    char old_names[CT_MAX_TIERS * 65 + 70];
    ct_audit audits[CT_MAX_AUDIT];
} run_state;

static void run_free(run_state *r)
{
    user_cols_free(&r->uc);
    ct_file_close(r->df);
    ct_file_close(r->prev);
    ct_customers_free(&r->c);
    ct_scores_free(&r->sc);
    ct_scaler_free(&r->scl);
    ct_kmeans_result_free(&r->km);
    ct_tiering_free(&r->tg);
    free(r->X);
    free(r->w);
    free(r->p0);
    free(r->labels);
    free(r->rows);
    free(r->mine_lab);
    free(r->stab);
    free(r->covz);
    ct_dyncov_free(&r->dc);
    if (r->tmp[0] != '\0' && r->root) {
        ct_tmp_remove(r->tmp);
    }
}

/* The log's format: the model's [ingest] section, then the command line's. */
static ct_status ingest_options(const ct_tier_model *m, const ct_run_opts *o, ct_ingest_opts *io,
                                ct_error *err)
{
    for (size_t i = 0; i < m->ningest; i++) {
        ct_error e;
        if (ct_ingest_opt_set(io, m->ingest_key[i], m->ingest_val[i], &e) != CT_OK) {
            return ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[ingest] %s", e.msg);
        }
    }
    for (size_t i = 0; o != NULL && i < o->ningest_opts; i++) {
        ct_status s = ct_ingest_opt_set(io, o->ingest_opts[2 * i], o->ingest_opts[2 * i + 1], err);
        if (s != CT_OK) {
            return s;
        }
    }
    return CT_OK;
}

/* An error message without the intermediate file's name `path` (and the
 * ": " after it), to be said of another file. */
static const char *after_path(const char *msg, const char *path)
{
    const char *p = strstr(msg, path);
    if (p == NULL) {
        return msg;
    }
    p += strlen(path);
    return p[0] == ':' ? p + 1 + (p[1] == ' ') : p;
}

/* 1. data: a CSV is ingested (by rank 0) into a temp file beside the output. */
static ct_status run_ingest(run_state *r, ct_error *err)
{
    ct_status s = CT_OK;
    if (r->root && access(r->input, R_OK) != 0) {
        s = ct_fail_at(err, CT_ENOENT, r->input, 0, 0, "cannot read input");
    } else if (r->root && !ct_file_is_hdf5(r->input)) {
        ct_ingest_opts io;
        ct_ingest_opts_init(&io);
        s = ingest_options(r->m, r->o, &io, err);
        io.period = r->m->period;
        io.calibration_end = r->m->calibration_end;
        io.observation_end = r->m->observation_end;
        io.command = r->o != NULL ? r->o->command : NULL;
        io.features_path = r->o != NULL ? r->o->features : NULL;
        io.dynamic_path = r->o != NULL ? r->o->dynamic : NULL;
        snprintf(r->tmp, sizeof r->tmp, "%s.ingest-%ld.h5", r->output, (long)getpid());
        ct_tmp_sweep(r->output); /* intermediate files of killed runs */
        ct_tmp_track(r->tmp);     /* removed on SIGTERM/SIGINT and at the end */
        ct_ingest_report rep;
        memset(&rep, 0, sizeof rep);
        if (s == CT_OK) {
            s = ct_ingest_csv(r->input, r->tmp, &io, &rep, err);
        }
        if (s == CT_OK) {
            r->sum->feature_unmatched = rep.feature_unmatched;
            memcpy(r->sum->feature_unmatched_examples, rep.feature_unmatched_examples,
                   sizeof rep.feature_unmatched_examples);
        }
        if (s != CT_OK && strstr(err->msg, r->tmp) != NULL) {
            /* the intermediate file is gone: name the run's output instead */
            ct_error e = *err;
            s = ct_fail_at(err, e.status, r->output, e.row, e.col,
                           "%s (ingesting %s into a temp file beside it)",
                           after_path(e.msg, r->tmp), r->input);
        }
        if (s != CT_OK) {
            ct_tmp_remove(r->tmp);
        }
        if (s != CT_OK) {
            r->tmp[0] = '\0';
        }
    }
    s = ct_comm_agree(r->comm, s, err);
    if (s == CT_OK && r->comm != NULL) {
        s = ct_comm_bcast(r->comm, r->tmp, sizeof r->tmp, 0, err);
    }
    if (s == CT_OK && r->tmp[0] != '\0') {
        r->data = r->tmp;
        stage(r->o, "ingest", &r->t0);
    }
    return s;
}

/* [clv] covariates that vary in time: what of run works with them, and
 * every customer's path through the horizon. */
static ct_status run_paths(run_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    double pd = 0;
    if (r->comm != NULL) {
        return ct_fail(err, CT_ECONFIG,
                       "time-varying covariates run on one rank (not yet under MPI)");
    }
    if (m->purchase_auto || m->purchase != CT_PARETO) {
        return ct_fail(err, CT_ECONFIG,
                       "time-varying covariates need purchase = pareto (Bachmann, Meierer & Naef "
                       "2021 define them for Pareto/NBD)");
    }
    if (m->stability > 0 || m->loyalty_no_purchase) {
        return ct_fail(err, CT_ECONFIG,
                       "with time-varying covariates, [tiers] stability and loyalty by the "
                       "chance of no purchase are not available");
    }
    (void)ct_attr_get_f64(r->df, "/customers", "period_days", &pd, NULL);
    ct_status s = ct_cov_paths(r->data, &r->c, pd, r->cv.col, r->cv.ncoef, r->covz, m->horizon,
                               &r->dc, &r->paths, err);
    if (s != CT_OK && r->tmp[0] != '\0' && strcmp(err->file, r->tmp) == 0) {
        /* the intermediate file: name the covariates' own */
        ct_error e = *err;
        s = ct_fail_at(err, e.status,
                       r->o != NULL && r->o->dynamic != NULL ? r->o->dynamic : r->input, 0, 0,
                       "%s (horizon %g periods in %s)", after_path(e.msg, r->tmp), m->horizon,
                       m->path);
    }
    return s;
}

/* 2. the customers (this rank's part) and the input's /features. */
static ct_status run_read(run_state *r, ct_error *err)
{
    ct_comm *comm = r->comm;
    ct_status s = ct_file_open(&r->df, r->data, err);
    if (s == CT_OK && r->root && !r->spread) {
        s = ct_customers_read(r->df, "/customers", &r->c, err);
        r->nl = r->n = r->c.n;
    } else if (s == CT_OK) { /* ids only where this rank writes its customers */
        s = ct_customers_read_part(r->df, "/customers", r->spread ? 0 : CT_READ_NO_IDS,
                                   (size_t)ct_comm_rank(comm), (size_t)ct_comm_size(comm), &r->c,
                                   err);
        r->nl = r->c.n;
    }
    if (s == CT_OK && comm != NULL) { /* rank 0's share: the first rows */
        size_t r0;
        s = ct_customers_part_rows(r->df, "/customers", (size_t)ct_comm_rank(comm),
                                   (size_t)ct_comm_size(comm), &r0, &r->nl, &r->n, err);
    }
    if (s == CT_OK && ct_file_has_group(r->df, "/features")) {
        s = ct_table_open(&r->uc.t, r->df, "/features", err);
        r->uc.row0 = r->c.row0;
        r->uc.total = r->n;
    }
    const ct_tier_model *m = r->m;
    ct_cov_spec spec = {m->cov_purchase, m->cov_dropout, m->cov_same, m->cov_reference, 0};
    if (s == CT_OK && !ct_cov_spec_empty(&spec)) { /* [clv] covariates: every customer's */
        char base[CT_CLV_MAXCOEF][64];
        s = ct_cov_coefs(&spec, &r->cv, base, err);
        if (s == CT_OK) {
            s = ct_cov_expand(r->data, &spec, &r->cv, r->cov_names, r->cov_refs,
                              sizeof r->cov_refs, err);
        }
        if (s == CT_OK) { /* (time-varying ones NaN here: their paths below) */
            s = ct_cov_read(r->data, &r->c, &r->cv, r->cov_refs, &r->covz, err);
        }
        r->dyn = s == CT_OK && ct_dyncov_mask(r->data, r->cv.col, r->cv.ncoef) != 0;
        if (r->dyn) {
            s = run_paths(r, err);
        }
        if (s != CT_OK && err->file[0] == '\0') { /* the model file asked for them */
            ct_error e = *err;
            s = ct_fail_at(err, e.status, m->path, 0, 0, "[clv] covariates: %s (input %s)", e.msg,
                           r->input);
        }
        r->c.cov = r->covz;
    }
    return ct_comm_agree(comm, s, err);
}

/* This rank's customers and the fit options of the tier model. */
static void fit_setup(const run_state *r, ct_customers *cl, ct_fit_opts *fo)
{
    *cl = r->c;
    cl->n = r->nl;
    ct_fit_opts_init(fo);
    fo->penalty = r->m->penalty;
    fo->threads = r->threads;
}

/* One model fitted to this rank's customers (the likelihood summed over the
 * ranks); with [clv] covariates, then fitted again with them from there. */
static ct_status run_fit_model(run_state *r, ct_clv_model model, ct_fit *fit, ct_error *err)
{
    ct_customers cl;
    ct_fit_opts fo;
    fit_setup(r, &cl, &fo);
    ct_status s = ct_stage_fit_model(&cl, model, r->data, &fo, r->comm, fit, err);
    if (s != CT_OK || r->c.cov == NULL || model == CT_GAMMAGAMMA) {
        return s;
    }
    ct_clv_covariates cv = r->cv; /* [clv] covariates: from the plain fit, with them */
    cv.z = r->c.cov;
    fo.penalty_cov = r->m->penalty_cov;
    if (r->dyn) {
        return ct_stage_fit_dyn(&cl, &cv, &r->paths, r->cov_refs, r->data, &fo, NULL, fit, err);
    }
    return ct_stage_fit_cov(&cl, &cv, r->cov_refs, r->data, &fo, r->comm, fit, err);
}

/* purchase = auto: the candidates fitted, the purchase model chosen on the data. */
static ct_status run_choose(run_state *r, ct_error *err)
{
    ct_customers cl;
    ct_fit_opts fo;
    double t_star = 0;
    fit_setup(r, &cl, &fo);
    (void)ct_attr_get_f64(r->df, "/customers", "holdout_periods", &t_star, NULL);
    /* loyalty by P(alive) needs a P(alive) that tells one-time buyers apart:
     * BG/NBD's is 1 for all of them, so it is no candidate then */
    unsigned exclude = r->m->loyalty_no_purchase ? 0u : 1u << CT_BGNBD;
    ct_status s = ct_stage_choose(&cl, t_star, r->data, &fo, exclude, r->comm, &r->choice, NULL,
                                  NULL, err);
    if (s == CT_OK) {
        r->pf = r->choice.cand[r->choice.best].fit;
    }
    return s;
}

/* 3. the purchase model, and the spend model when the tier model has one. */
static ct_status run_fit(run_state *r, ct_error *err)
{
    ct_status s = r->m->purchase_auto ? run_choose(r, err)
                                      : run_fit_model(r, r->m->purchase, &r->pf, err);
    if (s == CT_OK && r->m->spend) {
        s = run_fit_model(r, CT_GAMMAGAMMA, &r->gf, err);
    }
    if (s == CT_OK) {
        stage(r->o, "fit", &r->t0);
    }
    return s;
}

/* 4. scores: each rank its share; rank 0 gathers them unless spread. */
static ct_status run_score(run_state *r, ct_error *err)
{
    ct_customers cl = r->c;
    cl.n = r->nl;
    ct_status s = r->dyn ? ct_clv_score_dyn(&r->pf, r->m->spend ? &r->gf : NULL, &cl, &r->paths,
                                            r->m->horizon, r->m->discount, 0, NULL, 0,
                                            r->threads, &r->sc, err)
                         : ct_clv_score(&r->pf, r->m->spend ? &r->gf : NULL, &cl, r->m->horizon,
                                        r->m->discount, r->threads, &r->sc, err);
    s = ct_comm_agree(r->comm, s, err);
    double **scol[4] = {&r->sc.p_alive, &r->sc.exp_purchases, &r->sc.exp_spend, &r->sc.clv};
    for (int q = 0; q < 4 && s == CT_OK && r->comm != NULL && !r->spread; q++) {
        s = gather_column(r->comm, scol[q], r->nl, err);
    }
    if (s == CT_OK) {
        r->sc.n = r->root && !r->spread ? r->n : r->nl;
        stage(r->o, "score", &r->t0);
    }
    return s;
}

/* A per-customer column by feature name: the summary, the scores, or the
 * input's /features; NULL (with *s == CT_OK) when there is none. */
static const double *run_column(run_state *r, const char *name, ct_status *s, ct_error *err)
{
    const double *col = column(&r->c, &r->sc, name);
    *s = CT_OK;
    return col != NULL ? col : user_column(&r->uc, name, r->c.n, s, err);
}

/* 5. the features and the rank metric; the customers old enough to grade. */
static ct_status run_features(run_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    ct_status s = CT_OK;
    r->d = m->nfeat;
    for (size_t j = 0; j < r->d && s == CT_OK; j++) {
        r->cols[j] = run_column(r, m->features[j], &s, err);
        if (s == CT_OK && r->cols[j] == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                           "[features] use: '%s' is not available (x, t_x, T, m, total, p_alive, "
                           "exp_purchases, exp_spend, clv, or a column of the input's /features)",
                           m->features[j]);
        }
    }
    if (s == CT_OK) {
        r->metric = run_column(r, m->rank_by, &s, err);
        if (s == CT_OK && r->metric == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[tiers] rank_by: '%s' is not available",
                           m->rank_by);
        }
    }
    if (s == CT_OK) {
        size_t cap = r->c.n ? r->c.n : 1;
        r->X = malloc(cap * r->d * sizeof *r->X);
        r->rows = malloc(cap * sizeof *r->rows);
        r->labels = malloc(cap * sizeof *r->labels);
        r->w = r->c.weight != NULL ? malloc(cap * sizeof *r->w) : NULL;
        r->mine_lab = malloc(cap * sizeof *r->mine_lab);
        if (r->X == NULL || r->rows == NULL || r->labels == NULL ||
            (r->c.weight != NULL && r->w == NULL) || r->mine_lab == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", r->c.n);
        }
    }
    if (s == CT_OK) {
        s = graded_rows(m, &r->c, r->nl, r->cols, r->data, r->X, r->w, r->rows, &r->ngl, err);
    }
    s = ct_comm_agree(r->comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_counts(r->comm, r->ngl, 0, NULL, &r->g0, &r->ng, err);
    }
    r->ngt = r->ng;
    if (s == CT_OK && r->ng < m->k_lo) {
        s = ct_fail_at(err, CT_EDATA, r->data, 0, 0,
                       "%zu customers old enough to grade (min_age %g), fewer than k = %zu", r->ng,
                       m->new_min_age, m->k_lo);
    }
    return s;
}

/* 6. k-means over the graded customers (serial, or over the ranks; then,
 * unless spread, every label onto rank 0). */
static ct_status run_cluster(run_state *r, ct_error *err)
{
    ct_status s;
    if (r->comm == NULL) {
        s = ct_cluster_model_serial(r->m, r->X, r->w, r->ng, r->threads, &r->scl, &r->km, r->ks,
                                    &r->sum->k_sample, err);
    } else {
        s = ct_cluster_model_ranks(r->comm, r->m, r->X, r->w, r->ngl, r->ng, r->g0, r->threads,
                                   &r->scl, &r->km, r->mine_lab, r->ks, &r->sum->k_sample, err);
    }
    if (s == CT_OK && r->comm != NULL && !r->spread) {
        free(r->km.labels);
        r->km.labels = NULL;
        void *all = NULL;
        s = ct_comm_gather_rows(r->comm, r->mine_lab, r->ngl, sizeof *r->mine_lab, &all, NULL,
                                err);
        r->km.labels = all;
    }
    return s;
}

/* 7. labels per customer here (-1: not graded), matched to the previous
 * result's clusters when there is one.  Where the tiers are made. */
static ct_status run_labels(run_state *r, ct_error *err)
{
    ct_status s = CT_OK;
    const int32_t *glab = r->spread ? r->mine_lab : r->km.labels; /* per graded row here */
    if (r->spread) { /* this rank's customers: their X and rows stay as they are */
        r->ng = r->ngl;
    } else if (r->comm != NULL) { /* every graded customer here now, scaled as by the fit */
        s = graded_rows(r->m, &r->c, r->n, r->cols, r->data, r->X, r->w, r->rows, &r->ng, err);
        for (size_t g = 0; g < r->ng && s == CT_OK; g++) {
            s = ct_scaler_apply(&r->scl, r->X + g * r->d, 1, err);
        }
        if (s != CT_OK) {
            return s;
        }
    }
    for (size_t i = 0; i < r->c.n; i++) {
        r->labels[i] = -1;
    }
    for (size_t g = 0; g < r->ng; g++) {
        r->labels[r->rows[g]] = glab[g];
    }
    if (r->o != NULL && r->o->previous != NULL) {
        s = ct_file_open(&r->prev, r->o->previous, err);
        if (s == CT_OK) {
            s = match_previous(r->prev, &r->scl, r->d, r->km.centroids, r->km.k, r->labels,
                               r->rows, r->ng, &r->sum->labels_matched, err);
        }
    }
    if (s == CT_OK) {
        stage(r->o, "cluster", &r->t0);
    }
    return s;
}

/* 8. tiers, loyalty, migration, audit. */
/* P(alive) carries no information when the fit finds no drop-out to speak
 * of (the boundary: BG/NBD a -> 0, Pareto/NBD s -> 0): at least FLAT_SHARE
 * of the repeat buyers (by weight, over all ranks) have P(alive) >=
 * FLAT_ALIVE.  Loyalty then falls back to P(no purchase in the next t
 * periods), t = the review period ([actions] review), else a quarter, with
 * the thresholds mirrored (loyal: P(no purchase) <= 1 - loyal; lost: >=
 * 1 - lost).  *fb is m with that rule when *used; the caller tiers by it. */
#define FLAT_ALIVE 0.95
#define FLAT_SHARE 0.99
static ct_status loyalty_fallback(const ct_tier_model *m, const ct_customers *c,
                                  const double *p_alive, ct_comm *comm, ct_tier_model *fb,
                                  int *used, ct_error *err)
{
    *used = 0;
    if (m->loyalty_no_purchase) {
        return CT_OK;
    }
    size_t nb = (c->n + CT_SUM_BLOCK - 1) / CT_SUM_BLOCK;
    double *part = calloc((nb ? nb : 1) * 2, sizeof *part), tot[2] = {0, 0};
    ct_status s = part != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n && s == CT_OK; i++) {
        double w = c->weight != NULL ? c->weight[i] : 1.0, *p = part + i / CT_SUM_BLOCK * 2;
        if (c->x[i] > 0) {
            p[0] += w;
            p[1] += p_alive[i] >= FLAT_ALIVE ? w : 0.0;
        }
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK) {
        s = ct_comm_sum_blocks(comm, part, nb, 2, tot, err);
    }
    free(part);
    if (s != CT_OK || !(tot[0] > 0) || tot[1] < FLAT_SHARE * tot[0]) {
        return s;
    }
    double t = m->review_periods > 0 && isfinite(m->review_periods)
                   ? m->review_periods
                   : 365.2425 / 4 / ct_period_days(m->period);
    *fb = *m;
    fb->loyalty_no_purchase = 1;
    fb->loyalty_periods = t;
    fb->loyal_min = 1 - m->loyal_min;
    fb->lost_max = 1 - m->lost_max;
    snprintf(fb->loyalty_note, sizeof fb->loyalty_note,
             "P(alive) >= %g for %.1f%% of repeat buyers: the fit finds no drop-out to speak "
             "of, so loyalty uses P(no purchase in the next %.3g periods) instead",
             FLAT_ALIVE, 100 * tot[1] / tot[0], t);
    *used = 1;
    return CT_OK;
}

/* The nearest of the k centroids C to x. */
static int32_t nearest(const double *C, size_t k, size_t d, const double *x)
{
    double best = (double)INFINITY;
    int32_t q0 = -1;
    for (size_t q = 0; q < k; q++) {
        double s2 = 0;
        for (size_t j = 0; j < d; j++) {
            double e = x[j] - C[q * d + j];
            s2 += e * e;
        }
        if (s2 < best) {
            best = s2;
            q0 = (int32_t)q;
        }
    }
    return q0;
}

/* The tier of graded customer i under scores sc: features (user columns
 * unchanged), scaled, the nearest centroid's tier; -1 when not finite. */
static int32_t tier_under(const run_state *r, const double *const *cols, size_t i, double *x,
                          ct_error *err)
{
    for (size_t j = 0; j < r->d; j++) {
        x[j] = cols[j][i];
    }
    if (ct_scaler_apply(&r->scl, x, 1, err) != CT_OK) {
        return -1;
    }
    int32_t q0 = nearest(r->km.centroids, r->km.k, r->d, x);
    if (q0 < 0) {
        return -1;
    }
    int32_t t = r->tg.cluster_tier[q0];
    return t >= 0 ? t : (int32_t)r->m->ntiers - 1;
}

/* [tiers] stability = N: how firmly each customer sits in its tier.  Each
 * of N draws takes the purchase fit's (and the spend fit's) log-parameters
 * from their asymptotic normal, N(estimate, Cov) (ct_clv_draw, seeded by
 * [kmeans] seed and the draw), re-scores every customer, rebuilds the
 * graded customers' features, scales them with this run's scaler and
 * assigns each to the nearest of this run's centroids (fixed), whose tier
 * in the ranked ladder is the draw's tier.  A customer's stability is the
 * share of draws whose tier equals the one the same assignment gives at the
 * estimate (customers too young to grade: 1).  So a zero covariance gives
 * 1 for everyone, and the result depends on the seed only (not the
 * threads). */
/* The tiers of every customer under scores sc (into base, mode 0), or
 * whether each keeps its base tier (added to keep, mode 1); customers in
 * blocks over the threads, each on its own: any thread count, same result. */
typedef struct stab_job {
    const run_state *r;
    const double *cols[CT_MAX_FEATURES]; /* the features' columns under sc */
    int32_t *base;
    double *keep;
    int mode;
} stab_job;

static ct_status stab_block(void *vctx, size_t b, size_t begin, size_t end, ct_error *err)
{
    const stab_job *J = vctx;
    double x[CT_MAX_FEATURES];
    ct_error e; /* a customer whose features do not scale has no tier (-1), as ever */
    (void)b;
    (void)err;
    for (size_t i = begin; i < end; i++) {
        if (J->mode == 0) {
            J->base[i] = J->r->labels[i] >= 0 ? tier_under(J->r, J->cols, i, x, &e) : -1;
        } else {
            J->keep[i] += J->base[i] < 0 || tier_under(J->r, J->cols, i, x, &e) == J->base[i];
        }
    }
    return CT_OK;
}

static ct_status stab_pass(const run_state *r, const ct_scores *sc, int mode, int32_t *base,
                           double *keep, ct_error *err)
{
    stab_job J = {r, {NULL}, base, keep, mode};
    for (size_t j = 0; j < r->d; j++) {
        const double *col = column(&r->c, sc, r->m->features[j]);
        J.cols[j] = col != NULL ? col : r->cols[j];
    }
    return ct_par_for(r->c.n, 4096, r->threads, stab_block, &J, err);
}

static ct_status run_stability(run_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    size_t n = r->c.n, N = m->stability, nt = m->ntiers + 1;
    if (N == 0) {
        return CT_OK;
    }
    int32_t *base = malloc((n ? n : 1) * sizeof *base);
    double *keep = calloc(n ? n : 1, sizeof *keep);
    ct_rng *g = ct_rng_new(m->seed, 0x57AB1E);
    ct_status s = base && keep && g ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    if (s == CT_OK) {
        s = stab_pass(r, &r->sc, 0, base, keep, err);
    }
    for (size_t b = 0; b < N && s == CT_OK; b++) {
        ct_fit pf, gf;
        ct_scores sb;
        ct_rng_reset(g, m->seed, 0x57AB1E + b);
        ct_clv_draw(&r->pf, g, &pf);
        if (m->spend) {
            ct_clv_draw(&r->gf, g, &gf);
        }
        s = ct_clv_score_draw(&pf, m->spend ? &gf : NULL, &r->c, m->horizon, m->discount,
                              r->threads, &sb, err);
        if (s == CT_OK) {
            s = stab_pass(r, &sb, 1, base, keep, err);
        }
        ct_scores_free(&sb);
    }
    if (s == CT_OK) {
        r->stab = keep;
        keep = NULL;
        double w[CT_MAX_TIERS + 1] = {0};
        memset(r->stab_mean, 0, sizeof r->stab_mean);
        memset(r->stab_border, 0, sizeof r->stab_border);
        for (size_t i = 0; i < n; i++) {
            double wi = r->c.weight != NULL ? r->c.weight[i] : 1.0;
            size_t t = (size_t)r->tg.tier[i];
            r->stab[i] /= (double)N;
            if (t < nt) {
                w[t] += wi;
                r->stab_mean[t] += wi * r->stab[i];
                r->stab_border[t] += r->stab[i] < m->borderline ? wi : 0.0;
            }
        }
        for (size_t t = 0; t < nt; t++) {
            r->stab_mean[t] = w[t] > 0 ? r->stab_mean[t] / w[t] : (double)NAN;
        }
        stage(r->o, "stability", &r->t0);
    }
    free(keep);
    free(base);
    ct_rng_free(g);
    return s;
}

static ct_status run_tier(run_state *r, ct_error *err)
{
    int fell_back = 0;
    ct_status s = loyalty_fallback(r->m, &r->c, r->sc.p_alive, r->wcomm, &r->mfb, &fell_back, err);
    if (s != CT_OK) {
        return s;
    }
    if (fell_back) {
        r->m = &r->mfb; /* tiers, and /tiers' attributes, by the fallback rule */
    }
    const ct_tier_model *m = r->m;
    if (m->loyalty_no_purchase && (r->p0 = malloc((r->c.n ? r->c.n : 1) * sizeof *r->p0)) == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    s = ct_comm_agree(r->wcomm, s, err);
    if (s == CT_OK) {
        tier_ctx tc = {m,      &r->c,   r->labels, r->km.k, r->metric, r->sc.p_alive, &r->pf,
                       r->p0,  r->X,    r->rows,   r->ng,   r->km.centroids, r->d,   r->cols,
                       &r->uc, r->prev, r->old_names, sizeof r->old_names, r->audits, r->wcomm};
        s = tier_stage(&tc, &r->tg, r->sum, err);
    }
    if (s == CT_OK) {
        stage(r->o, "tier", &r->t0);
    }
    return s;
}

/* The tier model's file and digest as root attributes of the result. */
static ct_status write_model_attrs(ct_file *out, const ct_tier_model *m, ct_error *err)
{
    char hex[CT_SHA256_HEX];
    ct_status s;
    CT_TRY(ct_sha256_file(m->path, hex, err));
    CT_TRY(ct_attr_set_str(out, "/", "model_sha256", hex, err));
    CT_TRY(ct_attr_set_str(out, "/", "model_file", m->path, err));
done:
    return s;
}

/* 9. the result (spread: every rank writes its customers into the one file). */
/* The covariates of a fit with them as the result's /features (id and
 * each column once), so the report can predict under them. */
static ct_status write_covariates(ct_file *out, const run_state *r, ct_error *err)
{
    const ct_clv_covariates *cv = &r->cv;
    size_t n = r->c.n, K = cv->ncoef, nc = 0, src[CT_CLV_MAXCOEF];
    ct_colspec spec[1 + CT_CLV_MAXCOEF];
    const void *data[1 + CT_CLV_MAXCOEF] = {r->c.ids};
    spec[0] = (ct_colspec){"id", CT_STRING, r->c.id_width};
    unsigned dyn = r->dyn ? ct_dyncov_mask(r->data, cv->col, K) : 0u;
    for (size_t j = 0; j < K; j++) {
        int seen = (dyn >> j) & 1u; /* a time-varying one: a path, not a column */
        for (size_t q = 0; q < nc; q++) {
            seen |= strcmp(cv->col[src[q]], cv->col[j]) == 0;
        }
        if (!seen) {
            src[nc] = j;
            spec[1 + nc] = (ct_colspec){cv->col[j], CT_FLOAT64, 0};
            nc++;
        }
    }
    double *cols = malloc((n ? n : 1) * (nc ? nc : 1) * sizeof *cols);
    if (cols == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t q = 0; q < nc; q++) {
        for (size_t i = 0; i < n; i++) {
            cols[q * n + i] = r->c.cov[i * K + src[q]];
        }
        data[1 + q] = cols + q * n;
    }
    ct_status s = ct_tw_write_table(out, "/features", spec, 1 + nc, data, n, "id", err);
    free(cols);
    return s;
}

static ct_status run_write(run_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    ct_create_opts co = {0, r->o != NULL ? r->o->command : NULL, r->wcomm};
    char feats[CT_MAX_FEATURES * 65];
    ct_join_names(feats, sizeof feats, m->features[0], sizeof m->features[0], m->nfeat, NULL, ',');
    ct_scores_meta sm = {m->horizon, m->discount, NULL, NULL, NULL};
    ct_clusters_meta cm = {feats, m->transform, m->scale, NULL, NULL, 0, m->seed, r->nk,
                           (int64_t)r->ngt, r->nk > 1 ? (int64_t)r->sum->k_sample : -1};
    ct_file *out = NULL;
    ct_status s;
    CT_TRY(ids_width(r->wcomm, &r->c, err));
    CT_TRY(ct_file_create(&out, r->output, &co, err));
    CT_TRY(ct_customers_write(out, &r->c, err));
    if (r->c.cov != NULL) {
        CT_TRY(write_covariates(out, r, err));
    }
    CT_TRY(copy_customer_attrs(r->df, out, err));
    CT_TRY(write_model_attrs(out, m, err));
    if (m->purchase_auto) {
        CT_TRY(ct_choice_write(out, &r->choice, err));
    } else {
        CT_TRY(ct_fit_write(out, &r->pf, err));
    }
    if (m->spend) {
        CT_TRY(ct_fit_write(out, &r->gf, err));
    }
    CT_TRY(ct_scores_write(out, &r->sc, &sm, err));
    CT_TRY(ct_clusters_write(out, r->labels, r->c.n, &r->km, &r->scl, &cm, err));
    if (r->nk > 1) {
        CT_TRY(ct_kscores_write(out, r->ks, r->nk, m->k_lo, err));
    }
    CT_TRY(write_tiers(out, m, &r->tg, r->c.n, r->p0, r->stab, r->sum,
                       r->o != NULL ? r->o->previous : NULL, r->old_names, r->audits, err));
    if (r->stab != NULL) {
        ct_stability_meta stm = {m->stability, m->borderline, r->stab_mean, r->stab_border,
                                m->ntiers + 1};
        CT_TRY(ct_tiers_write_stability(out, &stm, err));
    }
    s = ct_file_commit(out, err);
    out = NULL;
    if (s != CT_OK) {
        goto done;
    }
    CT_TRY(run_totals(r->wcomm, &r->tg, r->sc.clv, r->c.weight, r->c.n, r->sum, err));
    stage(r->o, "write", &r->t0);
    ct_run_summary *sum = r->sum;
    sum->customers = r->n;
    sum->k = r->km.k;
    sum->inertia = r->km.inertia;
    memcpy(sum->tier_weight, r->tg.weight, sizeof sum->tier_weight);
    memcpy(sum->purchase_params, r->pf.par, sizeof sum->purchase_params);
    if (m->spend) {
        memcpy(sum->spend_params, r->gf.par, sizeof sum->spend_params);
    }
    sum->ll = r->pf.ll;
done:
    ct_file_close(out);
    return s;
}

ct_status ct_run(const ct_tier_model *m, const char *input, const char *output,
                 const ct_run_opts *o, ct_run_summary *sum, ct_error *err)
{
    run_state *r = calloc(1, sizeof *r);
    ct_status s;
    memset(sum, 0, sizeof *sum);
    if (r == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    r->m = m;
    r->input = r->data = input;
    r->output = output;
    r->o = o;
    r->sum = sum;
    r->comm = o != NULL && ct_comm_size(o->comm) > 1 ? o->comm : NULL;
    r->root = ct_comm_rank(r->comm) == 0;
    r->spread = r->comm != NULL && (o == NULL || o->previous == NULL) && m->naudit == 0;
    r->wcomm = r->spread ? r->comm : NULL;
    r->threads = o != NULL ? o->threads : 0;
    r->nk = m->k_hi - m->k_lo + 1;
    r->t0 = ct_seconds();
    if (r->nk > 64) {
        s = ct_fail(err, CT_ECONFIG, "%s: k range of %zu values (at most 64)", m->path, r->nk);
        goto done;
    }
    if (m->stability > 0 && r->comm != NULL) {
        s = ct_fail(err, CT_ECONFIG, "%s: [tiers] stability runs in the serial clvtier only "
                                     "(not yet over MPI ranks)", m->path);
        goto done;
    }
    /* each stage's failure is the same on every rank up to here */
    CT_TRY(run_ingest(r, err));
    CT_TRY(run_read(r, err));
    CT_TRY(run_fit(r, err));
    CT_TRY(run_score(r, err));
    CT_TRY(run_features(r, err));
    CT_TRY(run_cluster(r, err));
    if (r->root || r->spread) { /* not spread: rank 0 grades, tiers and writes */
        s = run_labels(r, err);
        if (s == CT_OK) {
            s = run_tier(r, err);
        }
        if (s == CT_OK) {
            s = run_stability(r, err);
        }
        if (s == CT_OK) {
            s = run_write(r, err);
        }
    }
    s = ct_comm_agree(r->comm, s, err); /* rank 0's outcome is everyone's */
done:
    run_free(r);
    free(r);
    return s;
}

/* ---- ct_retier: a list of stage calls over one state ------------------------- */

typedef struct retier_state {
    const ct_tier_model *m;
    const char *input, *output;
    const ct_run_opts *o;
    ct_run_summary *sum;
    /* clvtier-mpi: every rank re-tiers its part of the customers and writes
     * it, as run does; with a previous result or audit columns rank 0 does
     * it all while the others wait for its outcome */
    ct_comm *comm, *wcomm;
    int spread;
    double t0;
    ct_file *in;
    ct_customers c;
    size_t n, nl, r0; /* customers; here: rows [r0, r0 + nl) */
    ct_scores sc;
    user_cols uc;
    int32_t *labels;
    size_t *rows, k, d, kd, ng;
    double *C, *X, *p0;
    const double *cols[CT_MAX_FEATURES], *metric;
    ct_fit pfit;
    char chosen[64]; /* the purchase model's name */
    ct_tier_model mfb; /* m with the loyalty fallback (retier_tier) */
    ct_tiering tg;
    ct_audit audits[CT_MAX_AUDIT];
    char old_names[CT_MAX_TIERS * 65 + 70];
} retier_state;

/* The purchase fit's name in a result: the model's, or with purchase =
 * auto the one the run chose (recorded on /fits). */
static const char *purchase_name(const ct_file *f, const ct_tier_model *m, char *buf, size_t cap)
{
    if (!m->purchase_auto) {
        return ct_clv_model_name(m->purchase);
    }
    ct_fits_read_choice(f, buf, cap);
    return buf;
}

static void retier_free(retier_state *r)
{
    user_cols_free(&r->uc);
    ct_file_close(r->in);
    ct_customers_free(&r->c);
    ct_scores_free(&r->sc);
    ct_tiering_free(&r->tg);
    free(r->C);
    free(r->X);
    free(r->p0);
    free(r->labels);
    free(r->rows);
}

/* 1. the input's customers, scores, cluster labels and centroids (this
 * rank's rows), and the columns the model's features and rank_by name. */
static ct_status retier_read(retier_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    ct_comm *comm = r->comm;
    ct_status s;
    CT_TRY(ct_file_open(&r->in, r->input, err));
    if (r->spread) {
        CT_TRY(ct_customers_read_part(r->in, "/customers", CT_READ_NO_IDS,
                                      (size_t)ct_comm_rank(comm), (size_t)ct_comm_size(comm),
                                      &r->c, err));
        CT_TRY(ct_customers_part_rows(r->in, "/customers", (size_t)ct_comm_rank(comm),
                                      (size_t)ct_comm_size(comm), &r->r0, &r->nl, &r->n, err));
    } else {
        CT_TRY(ct_customers_read(r->in, "/customers", &r->c, err));
        r->n = r->nl = r->c.n;
    }
    if (!ct_file_has_group(r->in, "/scores") || !ct_file_has_group(r->in, "/clusters")) {
        return ct_fail_at(err, CT_EFORMAT, r->input, 0, 0,
                          "needs /customers, /scores and /clusters (a `clvtier run` result)");
    }
    CT_TRY(ct_scores_read(r->in, r->r0, r->nl, r->n, &r->sc, err));
    r->labels = malloc((r->nl ? r->nl : 1) * sizeof *r->labels);
    r->rows = malloc((r->nl ? r->nl : 1) * sizeof *r->rows);
    if (r->labels == NULL || r->rows == NULL) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    CT_TRY(ct_clusters_read_labels(r->in, r->r0, r->nl, r->n, r->labels, err));
    CT_TRY(ct_file_read_matrix(r->in, "/clusters/centroids", &r->C, &r->k, &r->kd, err));
    if (ct_file_has_group(r->in, "/features")) {
        CT_TRY(ct_table_open(&r->uc.t, r->in, "/features", err));
        r->uc.row0 = r->r0;
        r->uc.total = r->n;
    }
    for (size_t j = 0; j < r->d; j++) {
        r->cols[j] = column(&r->c, &r->sc, m->features[j]);
        if (r->cols[j] == NULL) {
            r->cols[j] = user_column(&r->uc, m->features[j], r->nl, &s, err);
            CT_TRY(s);
        }
        if (r->cols[j] == NULL) {
            return ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[features] use: '%s' is not in %s",
                              m->features[j], r->input);
        }
    }
    r->metric = column(&r->c, &r->sc, m->rank_by);
    if (r->metric == NULL) {
        r->metric = user_column(&r->uc, m->rank_by, r->nl, &s, err);
        CT_TRY(s);
    }
    if (r->metric == NULL) {
        return ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[tiers] rank_by: '%s' is not in %s",
                          m->rank_by, r->input);
    }
    s = CT_OK;
done:
    return s;
}

/* 2. labels checked; customers too young under this model ungraded. */
static ct_status retier_grade(retier_state *r, ct_error *err)
{
    for (size_t i = 0; i < r->nl; i++) {
        if (r->labels[i] < -1 || r->labels[i] >= (int32_t)r->k) {
            return ct_fail_at(err, CT_EFORMAT, r->input, r->r0 + i + 1, 0,
                              "/clusters label %d (k = %zu)", r->labels[i], r->k);
        }
        if (r->c.T[i] < r->m->new_min_age) {
            r->labels[i] = -1; /* too young under this model */
        }
    }
    return CT_OK;
}

/* Row i's features in the clustering's scaled space into x; 0 if one is
 * not finite. */
static int scaled_row(const retier_state *r, size_t i, const double *center, const double *scale,
                      double *x)
{
    int ok = 1;
    for (size_t j = 0; j < r->d; j++) {
        double v = r->cols[j][i];
        v = r->m->transform == CT_TF_LOG1P ? log1p(v) : v;
        x[j] = (v - center[j]) / scale[j];
        ok &= isfinite(x[j]);
    }
    return ok;
}

/* 3. The graded rows in the clustering's own scaled space, when this model
 * clusters on the same features (hysteresis needs them; and customers the
 * input left ungraded but this model grades go to the nearest centroid). */
static ct_status retier_rescale(retier_state *r, ct_error *err)
{
    const ct_tier_model *m = r->m;
    char feats[CT_MAX_FEATURES * 65] = "", want[CT_MAX_FEATURES * 65];
    double center[CT_MAX_FEATURES], scale[CT_MAX_FEATURES];
    size_t d = r->d, nsc = 0;
    ct_status s = CT_OK;
    if (ct_attr_exists(r->in, "/clusters", "features")) {
        CT_TRY(ct_attr_get_str(r->in, "/clusters", "features", feats, sizeof feats, err));
    }
    ct_join_names(want, sizeof want, m->features[0], sizeof m->features[0], d, NULL, ',');
    if (strcmp(feats, want) != 0 || r->kd != d ||
        ct_clusters_read_scaling(r->in, center, scale, CT_MAX_FEATURES, &nsc, err) != CT_OK ||
        nsc != d) {
        return CT_OK; /* other features: the input's labels as they are */
    }
    r->X = malloc((r->nl ? r->nl : 1) * d * sizeof *r->X);
    if (r->X == NULL) {
        CT_FAIL(err, CT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->nl; i++) {
        int fresh = r->labels[i] < 0 && r->c.T[i] >= m->new_min_age; /* gradeable now */
        if (r->labels[i] < 0 && !fresh) {
            continue;
        }
        int ok = scaled_row(r, i, center, scale, r->X + r->ng * d);
        if (fresh && !ok) {
            continue;
        }
        if (fresh) { /* not graded by the input's run (too young for its model) */
            r->labels[i] = nearest(r->C, r->k, d, r->X + r->ng * d);
            r->sum->assigned_nearest++;
        }
        r->rows[r->ng++] = i;
    }
done:
    return s;
}

/* 4. tiers, loyalty, migration, audit. */
static ct_status retier_tier(retier_state *r, ct_error *err)
{
    int fell_back = 0;
    ct_status s = loyalty_fallback(r->m, &r->c, r->sc.p_alive, r->wcomm, &r->mfb, &fell_back, err);
    if (s != CT_OK) {
        return s;
    }
    if (fell_back) {
        r->m = &r->mfb;
    }
    const ct_tier_model *m = r->m;
    ct_file *prev = NULL;
    if (r->o != NULL && r->o->previous != NULL) {
        CT_TRY(ct_file_open(&prev, r->o->previous, err));
    }
    if (m->loyalty_no_purchase) {
        s = ct_fit_read(r->in, purchase_name(r->in, m, r->chosen, sizeof r->chosen), &r->pfit,
                        err);
        if (s == CT_OK && (r->p0 = malloc((r->nl ? r->nl : 1) * sizeof *r->p0)) == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    s = ct_comm_agree(r->wcomm, s, err);
    if (s == CT_OK) {
        tier_ctx tc = {m,      &r->c,  r->labels, r->k,    r->metric, r->sc.p_alive, &r->pfit,
                       r->p0,  r->X,   r->rows,   r->ng,   r->C,      r->d,          r->cols,
                       &r->uc, prev,   r->old_names, sizeof r->old_names, r->audits, r->wcomm};
        s = tier_stage(&tc, &r->tg, r->sum, err);
    }
    if (s == CT_OK) {
        stage(r->o, "tier", &r->t0);
    }
done:
    ct_file_close(prev);
    return s;
}

/* 5. the new result: /tiers, with external links to the input's tables. */
static ct_status retier_write(retier_state *r, ct_error *err)
{
    static const char *const LINK[] = {"/customers", "/fits", "/scores", "/clusters",
                                       "/clusters_k"};
    const ct_tier_model *m = r->m;
    ct_create_opts co = {0, r->o != NULL ? r->o->command : NULL, r->wcomm};
    ct_run_summary *sum = r->sum;
    ct_file *out = NULL;
    ct_status s;
    CT_TRY(ct_file_create(&out, r->output, &co, err));
    for (size_t q = 0; q < sizeof LINK / sizeof LINK[0]; q++) {
        if (ct_file_has_group(r->in, LINK[q])) {
            CT_TRY(ct_file_link_external(out, LINK[q], r->input, LINK[q], err));
        }
    }
    CT_TRY(write_model_attrs(out, m, err));
    CT_TRY(write_tiers(out, m, &r->tg, r->nl, r->p0, NULL, sum, r->o != NULL ? r->o->previous : NULL,
                       r->old_names, r->audits, err));
    CT_TRY(ct_attr_set_i64(out, "/tiers", "assigned_to_nearest_centroid",
                           (int64_t)sum->assigned_nearest, err));
    s = ct_file_commit(out, err);
    out = NULL;
    if (s != CT_OK) {
        goto done;
    }
    CT_TRY(run_totals(r->wcomm, &r->tg, r->sc.clv, r->c.weight, r->nl, sum, err));
    stage(r->o, "write", &r->t0);
    ct_fit pf;
    ct_error e2;
    sum->customers = r->n;
    sum->k = r->k;
    if (ct_attr_get_f64(r->in, "/clusters", "inertia", &sum->inertia, &e2) != CT_OK) {
        sum->inertia = 0;
    }
    if (ct_fit_read(r->in, purchase_name(r->in, m, r->chosen, sizeof r->chosen), &pf, &e2) ==
        CT_OK) {
        sum->ll = pf.ll;
        memcpy(sum->purchase_params, pf.par, sizeof sum->purchase_params);
    }
    memcpy(sum->tier_weight, r->tg.weight, sizeof sum->tier_weight);
done:
    ct_file_close(out);
    return s;
}

ct_status ct_retier(const ct_tier_model *m, const char *input, const char *output,
                    const ct_run_opts *o, ct_run_summary *sum, ct_error *err)
{
    ct_comm *comm = o != NULL && ct_comm_size(o->comm) > 1 ? o->comm : NULL;
    int spread = comm != NULL && (o == NULL || o->previous == NULL) && m->naudit == 0;
    memset(sum, 0, sizeof *sum);
    if (comm != NULL && !spread && ct_comm_rank(comm) != 0) {
        return ct_comm_agree(comm, CT_OK, err); /* rank 0 alone: its outcome is everyone's */
    }
    retier_state *r = calloc(1, sizeof *r);
    if (r == NULL) {
        ct_status s = ct_fail(err, CT_ENOMEM, "out of memory");
        return comm != NULL && !spread ? ct_comm_agree(comm, s, err) : s;
    }
    r->m = m;
    r->input = input;
    r->output = output;
    r->o = o;
    r->sum = sum;
    r->comm = comm;
    r->spread = spread;
    r->wcomm = spread ? comm : NULL;
    r->d = m->nfeat;
    r->t0 = ct_seconds();
    ct_status s = ct_comm_agree(r->wcomm, retier_read(r, err), err);
    if (s == CT_OK) {
        s = ct_comm_agree(r->wcomm, retier_grade(r, err), err);
    }
    if (s == CT_OK) {
        s = ct_comm_agree(r->wcomm, retier_rescale(r, err), err);
    }
    if (s == CT_OK && r->wcomm != NULL) { /* every rank's count */
        double na = (double)sum->assigned_nearest;
        s = ct_comm_allreduce_sum(r->wcomm, &na, 1, err);
        sum->assigned_nearest = (size_t)na;
    }
    if (s == CT_OK) {
        s = retier_tier(r, err);
    }
    if (s == CT_OK) {
        s = retier_write(r, err);
    }
    retier_free(r);
    free(r);
    /* rank 0 alone (previous, audit): its outcome is everyone's */
    return comm != NULL && !spread ? ct_comm_agree(comm, s, err) : s;
}
