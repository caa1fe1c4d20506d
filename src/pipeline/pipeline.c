/* pipeline.c - a tier model end to end (see include/clvtier/pipeline.h).
 * Composes ingest, clv, kmeans, scaler and tier; adds no numerics of its own. */
#include "clvtier/pipeline.h"
#include "pipeline/stages.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void stage(const ct_run_opts *o, const char *name, double *t0)
{
    double t = now_s();
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
    size_t ko, dold, n1, n2;
    int32_t map[1024];
    *matched = 0;
    ct_status s = ct_file_read_matrix(pf, "/clusters/centroids", &old, &ko, &dold, err);
    if (s == CT_OK) {
        s = ct_attr_get_f64v(pf, "/clusters", "scale_center", cen, CT_MAX_FEATURES, &n1, err);
    }
    if (s == CT_OK) {
        s = ct_attr_get_f64v(pf, "/clusters", "scale_scale", sca, CT_MAX_FEATURES, &n2, err);
    }
    if (s == CT_OK && (dold != d || n1 != d || n2 != d)) {
        s = ct_fail_at(err, CT_EFORMAT, ct_file_path(pf), 0, 0,
                       "previous result clusters %zu features, this model %zu", dold, d);
    }
    if (s == CT_OK && ko == k && k <= 1024) {
        for (size_t q = 0; q < k * d; q++) {
            size_t j = q % d; /* old scaled -> transformed -> this run's scaling */
            old[q] = (old[q] * sca[j] + cen[j] - scl->center[j]) / scl->scale[j];
        }
        s = ct_match_centroids(old, k, C, k, d, map, err);
        if (s == CT_OK) {
            double *tmp = malloc(k * d * sizeof *tmp);
            if (tmp == NULL) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
            } else {
                for (size_t j = 0; j < k; j++) {
                    memcpy(tmp + (size_t)map[j] * d, C + j * d, d * sizeof *tmp);
                }
                memcpy(C, tmp, k * d * sizeof *tmp);
                free(tmp);
                for (size_t g = 0; g < ng; g++) {
                    labels[rows[g]] = map[labels[rows[g]]];
                }
                *matched = 1;
            }
        }
    }
    free(old);
    return s;
}

/* names: n strings every `stride` bytes, then `last` (may be NULL). */
static void join_names(char *buf, size_t cap, const char *names, size_t stride, size_t n,
                       const char *last, char sep)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n + (last != NULL); i++) {
        const char *p = i < n ? names + i * stride : last;
        int w = snprintf(buf + len, cap - len, "%s%s", i ? (char[]){sep, 0} : "", p);
        if (w < 0 || (size_t)w >= cap - len) {
            break;
        }
        len += (size_t)w;
    }
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
        join_names(names, sizeof names, m->tiers[0], sizeof m->tiers[0], m->ntiers, m->new_tier,
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
    for (size_t i = 0; i < sizeof STR / sizeof STR[0] && s == CT_OK; i++) {
        char buf[1024];
        if (ct_attr_exists(in, "/customers", STR[i])) {
            s = ct_attr_get_str(in, "/customers", STR[i], buf, sizeof buf, err);
            if (s == CT_OK) {
                s = ct_attr_set_str(out, "/customers", STR[i], buf, err);
            }
        }
    }
    for (size_t i = 0; i < sizeof F64 / sizeof F64[0] && s == CT_OK; i++) {
        double v;
        if (ct_attr_exists(in, "/customers", F64[i])) {
            s = ct_attr_get_f64(in, "/customers", F64[i], &v, err);
            if (s == CT_OK) {
                s = ct_attr_set_f64(out, "/customers", F64[i], v, err);
            }
        }
    }
    for (size_t i = 0; i < sizeof I64 / sizeof I64[0] && s == CT_OK; i++) {
        int64_t v;
        if (ct_attr_exists(in, "/customers", I64[i])) {
            s = ct_attr_get_i64(in, "/customers", I64[i], &v, err);
            if (s == CT_OK) {
                s = ct_attr_set_i64(out, "/customers", I64[i], v, err);
            }
        }
    }
    return s;
}

static ct_status write_audit(ct_file *out, const ct_audit *a, const ct_tier_model *m,
                             ct_error *err)
{
    char grp[128], buf[CT_AUDIT_MAX_GROUPS * 49 + 8];
    double cnt[CT_AUDIT_MAX_GROUPS * (CT_MAX_TIERS + 1)];
    snprintf(grp, sizeof grp, "/audit/%.63s", a->column);
    for (size_t q = 0; q < a->ngroups; q++) {
        for (size_t t = 0; t < a->ntiers; t++) {
            cnt[q * a->ntiers + t] = a->count[q][t];
        }
    }
    ct_status s = ct_file_has_group(out, "/audit") ? CT_OK : ct_file_make_group(out, "/audit", err);
    if (s == CT_OK) {
        s = ct_file_make_group(out, grp, err);
    }
    char path[160];
    snprintf(path, sizeof path, "%s/counts", grp);
    if (s == CT_OK) {
        s = ct_file_write_matrix(out, path, cnt, a->ngroups, a->ntiers, err);
    }
    join_names(buf, sizeof buf, a->group[0], sizeof a->group[0], a->ngroups, NULL, '\x1f');
    if (s == CT_OK) {
        s = ct_attr_set_str(out, grp, "groups", buf, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64(out, grp, "cramers_v", a->cramers_v, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64v(out, grp, "eta2", a->eta2, a->nfeat, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64(out, grp, "proxy_eta2_threshold", CT_AUDIT_PROXY_ETA2, err);
    }
    join_names(buf, sizeof buf, m->features[0], sizeof m->features[0], m->nfeat, NULL, ',');
    if (s == CT_OK) {
        s = ct_attr_set_str(out, grp, "features", buf, err);
    }
    return s;
}

/* /tiers (codes and the model's names, actions, settings), /migration and
 * /audit/<column> into a result being written. */
static ct_status write_tiers(ct_file *out, const ct_tier_model *m, const ct_tiering *tgp, size_t n,
                             const double *p0, ct_run_summary *sum, const char *previous,
                             const char *old_names, const ct_audit *audits, ct_error *err)
{
    ct_status s = CT_OK;
    if (s == CT_OK) {
        /* with loyalty on P(no purchase), that probability too */
        static const ct_colspec spec[3] = {
            {"tier", CT_INT8, 0}, {"loyalty", CT_INT8, 0}, {"p_no_purchase", CT_FLOAT64, 0}};
        const void *cc[3] = {tgp->tier, tgp->loyalty, p0};
        s = ct_tw_write_table(out, "/tiers", spec, p0 != NULL ? 3 : 2, cc, n, NULL, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(out, "/tiers", "loyalty_metric",
                            m->loyalty_no_purchase ? "p_no_purchase" : "p_alive", err);
    }
    if (s == CT_OK && m->loyalty_no_purchase) {
        s = ct_attr_set_f64(out, "/tiers", "loyalty_periods", m->loyalty_periods, err);
    }
    if (s == CT_OK) {
        char names[CT_MAX_TIERS * 201 + 210];
        join_names(names, sizeof names, m->tiers[0], sizeof m->tiers[0], m->ntiers, m->new_tier, ',');
        s = ct_attr_set_str(out, "/tiers", "names", names, err);
        if (s == CT_OK) {
            join_names(names, sizeof names, m->loyalty_names[0], sizeof m->loyalty_names[0], 3, NULL, ',');
            s = ct_attr_set_str(out, "/tiers", "loyalty_names", names, err);
        }
        if (s == CT_OK) {
            join_names(names, sizeof names, m->actions[0], sizeof m->actions[0], m->ntiers, NULL, '\x1f');
            s = ct_attr_set_str(out, "/tiers", "actions", names, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/tiers", "review", m->review, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/tiers", "description", m->description, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_i64(out, "/tiers", "min_group", (int64_t)m->min_group, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_f64(out, "/tiers", "new_min_age", m->new_min_age, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_f64(out, "/tiers", "loyal_min", m->loyal_min, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_f64(out, "/tiers", "lost_max", m->lost_max, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_f64(out, "/tiers", "hysteresis", m->hysteresis, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/tiers", "assign",
                                m->assign == CT_ASSIGN_CLUSTERS ? "clusters"
                                : m->assign == CT_ASSIGN_SHARES ? "shares"
                                                                : "thresholds",
                                err);
        }
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(out, "/tiers", "model", m->name, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(out, "/tiers", "model_file", m->path, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(out, "/tiers", "rank_by", m->rank_by, err);
    }
    if (s == CT_OK && sum->has_migration) {
        s = ct_file_write_matrix(out, "/migration", sum->migration, sum->mig_rows, sum->mig_cols,
                                 err);
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/migration", "previous", previous, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/migration", "previous_names", old_names, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_i64(out, "/migration", "labels_matched", sum->labels_matched, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_i64(out, "/migration", "hysteresis_kept",
                                (int64_t)sum->hysteresis_kept, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/migration", "layout",
                                "rows: previous tiers, its new-customer tier, absent before; "
                                "columns: these tiers, new-customer tier, gone now",
                                err);
        }
    }
    for (size_t a = 0; a < m->naudit && s == CT_OK; a++) {
        s = write_audit(out, &audits[a], m, err);
    }
    sum->naudit = m->naudit;
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
        s = ct_clv_p_no_purchase(x->fit, x->c->x, x->c->t_x, x->c->T, n, m->loyalty_periods, x->p0,
                                 err);
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

ct_status ct_run(const ct_tier_model *m, const char *input, const char *output,
                 const ct_run_opts *o, ct_run_summary *sum, ct_error *err)
{
    ct_status s = CT_OK;
    char tmp[1100] = "";
    const char *data = input;
    ct_customers c;
    ct_clv_data *cd = NULL;
    ct_fit pf, gf;
    ct_scores sc;
    ct_scaler scl;
    ct_kmeans_result km;
    ct_tiering tg;
    ct_file *f = NULL, *out = NULL, *df = NULL;
    user_cols uc;
    char old_names[CT_MAX_TIERS * 65 + 70] = "";
    ct_audit audits[CT_MAX_AUDIT];
    double *X = NULL, *w = NULL, *p0 = NULL;
    int32_t *labels = NULL;
    size_t *rows = NULL;
    ct_kscore ks[64];
    size_t nk = m->k_hi - m->k_lo + 1;
    double t0 = now_s();
    unsigned threads = o != NULL ? o->threads : 0;
    /* clvtier-mpi: every rank runs this together, each on its part of the
     * customers; with a previous result or audit columns, rank 0 holds every
     * customer and does the tier stage and the output alone (see
     * pipeline.h) */
    ct_comm *comm = o != NULL && ct_comm_size(o->comm) > 1 ? o->comm : NULL;
    int root = ct_comm_rank(comm) == 0;
    int spread = comm != NULL && (o == NULL || o->previous == NULL) && m->naudit == 0;
    ct_comm *wcomm = spread ? comm : NULL; /* the tier stage and the output */
    int32_t *mine_lab = NULL;

    memset(&c, 0, sizeof c);
    memset(&sc, 0, sizeof sc);
    memset(&scl, 0, sizeof scl);
    memset(&km, 0, sizeof km);
    memset(&tg, 0, sizeof tg);
    memset(&uc, 0, sizeof uc);
    memset(sum, 0, sizeof *sum);
    if (nk > 64) {
        return ct_fail(err, CT_ECONFIG, "%s: k range of %zu values (at most 64)", m->path, nk);
    }
    /* 1. data (a CSV is ingested by rank 0) */
    if (root && access(input, R_OK) != 0) {
        s = ct_fail_at(err, CT_ENOENT, input, 0, 0, "cannot read input");
    } else if (root && !ct_file_is_hdf5(input)) {
        ct_ingest_opts io;
        ct_ingest_opts_init(&io);
        io.period = m->period;
        io.calibration_end = m->calibration_end;
        io.observation_end = m->observation_end;
        io.command = o != NULL ? o->command : NULL;
        io.features_path = o != NULL ? o->features : NULL;
        snprintf(tmp, sizeof tmp, "%s.ingest-%ld.h5", output, (long)getpid());
        s = ct_ingest_csv(input, tmp, &io, NULL, err);
        if (s != CT_OK) {
            tmp[0] = '\0';
        }
    }
    s = ct_comm_agree(comm, s, err);
    if (s == CT_OK && comm != NULL) {
        s = ct_comm_bcast(comm, tmp, sizeof tmp, 0, err);
    }
    if (s != CT_OK) {
        return s;
    }
    if (tmp[0] != '\0') {
        data = tmp;
        stage(o, "ingest", &t0);
    }
    size_t n = 0, nl = 0; /* customers; this rank's share of the work */
    s = ct_file_open(&df, data, err);
    if (s == CT_OK && root && !spread) {
        s = ct_customers_read(df, "/customers", &c, err);
        nl = n = c.n;
    } else if (s == CT_OK) { /* ids only where this rank writes its customers */
        s = ct_customers_read_part(df, "/customers", spread ? 0 : CT_READ_NO_IDS,
                                   (size_t)ct_comm_rank(comm), (size_t)ct_comm_size(comm), &c, err);
        nl = c.n;
    }
    if (s == CT_OK && comm != NULL) { /* rank 0's share: the first rows */
        size_t r0;
        s = ct_customers_part_rows(df, "/customers", (size_t)ct_comm_rank(comm),
                                   (size_t)ct_comm_size(comm), &r0, &nl, &n, err);
    }
    if (s == CT_OK && ct_file_has_group(df, "/features")) {
        s = ct_table_open(&uc.t, df, "/features", err);
        uc.row0 = c.row0;
        uc.total = n;
    }
    s = ct_comm_agree(comm, s, err);
    if (s != CT_OK) {
        goto done;
    }
    /* 2. models (the likelihood summed over the ranks' rows) */
    ct_customers cl = c;
    cl.n = nl;
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    fo.penalty = m->penalty;
    fo.threads = threads;
    s = ct_clv_data_new_part(&cd, m->purchase, &cl, data, comm, err);
    if (s == CT_OK) {
        s = ct_comm_agree(comm, ct_clv_fit(cd, &fo, &pf, err), err);
    }
    ct_clv_data_free(cd);
    cd = NULL;
    if (s == CT_OK && m->spend) {
        s = ct_clv_data_new_part(&cd, CT_GAMMAGAMMA, &cl, data, comm, err);
        if (s == CT_OK) {
            s = ct_comm_agree(comm, ct_clv_fit(cd, &fo, &gf, err), err);
        }
        ct_clv_data_free(cd);
        cd = NULL;
    }
    if (s != CT_OK) {
        goto done;
    }
    stage(o, "fit", &t0);
    /* 3. scores: each rank its share; rank 0 gathers them */
    s = ct_clv_score(&pf, m->spend ? &gf : NULL, &cl, m->horizon, m->discount, threads, &sc, err);
    s = ct_comm_agree(comm, s, err);
    double **scol[4] = {&sc.p_alive, &sc.exp_purchases, &sc.exp_spend, &sc.clv};
    for (int q = 0; q < 4 && s == CT_OK && comm != NULL && !spread; q++) {
        s = gather_column(comm, scol[q], nl, err);
    }
    if (s != CT_OK) {
        goto done;
    }
    sc.n = root && !spread ? n : nl;
    stage(o, "score", &t0);
    /* 4. k-means over the customers old enough to grade */
    size_t d = m->nfeat, ng = 0, ngl = 0;
    const double *cols[CT_MAX_FEATURES];
    for (size_t j = 0; j < d && s == CT_OK; j++) {
        cols[j] = column(&c, &sc, m->features[j]);
        if (cols[j] == NULL) {
            cols[j] = user_column(&uc, m->features[j], c.n, &s, err);
        }
        if (s == CT_OK && cols[j] == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                           "[features] use: '%s' is not available (x, t_x, T, m, total, p_alive, "
                           "exp_purchases, exp_spend, clv, or a column of the input's /features)",
                           m->features[j]);
        }
    }
    const double *metric = s == CT_OK ? column(&c, &sc, m->rank_by) : NULL;
    if (s == CT_OK && metric == NULL) {
        metric = user_column(&uc, m->rank_by, c.n, &s, err);
        if (s == CT_OK && metric == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[tiers] rank_by: '%s' is not available",
                           m->rank_by);
        }
    }
    if (s == CT_OK) {
        size_t cap = c.n ? c.n : 1;
        X = malloc(cap * d * sizeof *X);
        rows = malloc(cap * sizeof *rows);
        labels = malloc(cap * sizeof *labels);
        w = c.weight != NULL ? malloc(cap * sizeof *w) : NULL;
        mine_lab = malloc(cap * sizeof *mine_lab);
        if (X == NULL || rows == NULL || labels == NULL || (c.weight != NULL && w == NULL) ||
            mine_lab == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", c.n);
        }
    }
    if (s == CT_OK) {
        s = graded_rows(m, &c, nl, cols, data, X, w, rows, &ngl, err);
    }
    s = ct_comm_agree(comm, s, err);
    size_t g0 = 0; /* graded customers on the ranks before this one */
    if (s == CT_OK) {
        s = ct_comm_counts(comm, ngl, 0, NULL, &g0, &ng, err);
    }
    size_t ngt = ng; /* graded customers in all (ng: here, further on) */
    if (s == CT_OK && ng < m->k_lo) {
        s = ct_fail_at(err, CT_EDATA, data, 0, 0,
                       "%zu customers old enough to grade (min_age %g), fewer than k = %zu", ng,
                       m->new_min_age, m->k_lo);
    }
    if (s != CT_OK) {
        goto done;
    }
    if (comm == NULL) {
        s = ct_cluster_model_serial(m, X, w, ng, threads, &scl, &km, ks, &sum->k_sample, err);
    } else {
        s = ct_cluster_model_ranks(comm, m, X, w, ngl, ng, g0, threads, &scl, &km, mine_lab,
                          ks, &sum->k_sample, err);
    }
    if (s == CT_OK && comm != NULL && !spread) { /* every label onto rank 0 */
        free(km.labels);
        km.labels = NULL;
        void *all = NULL;
        s = ct_comm_gather_rows(comm, mine_lab, ngl, sizeof *mine_lab, &all, NULL, err);
        km.labels = all;
    }
    if (s != CT_OK) {
        goto done;
    }
    if (!root && !spread) {
        goto tail; /* rank 0 grades, tiers and writes */
    }
    const int32_t *glab = spread ? mine_lab : km.labels; /* per graded row here */
    if (spread) { /* this rank's customers: their X and rows stay as they are */
        ng = ngl;
    } else if (comm != NULL) { /* every graded customer here now, scaled as by the fit */
        s = graded_rows(m, &c, n, cols, data, X, w, rows, &ng, err);
        for (size_t g = 0; g < ng && s == CT_OK; g++) {
            s = ct_scaler_apply(&scl, X + g * d, 1, err);
        }
        if (s != CT_OK) {
            goto tail;
        }
    }
    for (size_t i = 0; i < c.n; i++) {
        labels[i] = -1;
    }
    for (size_t g = 0; g < ng; g++) {
        labels[rows[g]] = glab[g];
    }
    if (o != NULL && o->previous != NULL) {
        s = ct_file_open(&f, o->previous, err);
        if (s == CT_OK) {
            s = match_previous(f, &scl, d, km.centroids, km.k, labels, rows, ng,
                               &sum->labels_matched, err);
        }
        if (s != CT_OK) {
            goto tail;
        }
    }
    stage(o, "cluster", &t0);
    /* 5. tiers */
    if (m->loyalty_no_purchase && (p0 = malloc((c.n ? c.n : 1) * sizeof *p0)) == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    s = ct_comm_agree(wcomm, s, err);
    if (s != CT_OK) {
        goto tail;
    }
    tier_ctx tc = {m,  &c,   labels, km.k, metric, sc.p_alive, &pf,      p0,          X,
                   rows, ng, km.centroids, d, cols, &uc, f, old_names, sizeof old_names, audits,
                   wcomm};
    s = tier_stage(&tc, &tg, sum, err);
    ct_file_close(f);
    f = NULL;
    if (s != CT_OK) {
        goto tail;
    }
    stage(o, "tier", &t0);
    /* 6. output (spread: every rank writes its customers into the one file) */
    ct_create_opts co = {0, o != NULL ? o->command : NULL, wcomm};
    s = ids_width(wcomm, &c, err);
    if (s == CT_OK) {
        s = ct_file_create(&out, output, &co, err);
    }
    if (s == CT_OK) {
        s = ct_customers_write(out, &c, err);
    }
    if (s == CT_OK) {
        s = copy_customer_attrs(df, out, err);
    }
    if (s == CT_OK) {
        char hex[CT_SHA256_HEX];
        s = ct_sha256_file(m->path, hex, err);
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/", "model_sha256", hex, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/", "model_file", m->path, err);
        }
    }
    if (s == CT_OK) {
        s = ct_fit_write(out, &pf, err);
    }
    if (s == CT_OK && m->spend) {
        s = ct_fit_write(out, &gf, err);
    }
    if (s == CT_OK) {
        ct_scores_meta sm = {m->horizon, m->discount, NULL, NULL, NULL};
        s = ct_scores_write(out, &sc, &sm, err);
    }
    if (s == CT_OK) {
        char buf[CT_MAX_FEATURES * 65];
        join_names(buf, sizeof buf, m->features[0], sizeof m->features[0], m->nfeat, NULL, ',');
        ct_clusters_meta cm = {buf,  m->transform, m->scale, NULL, NULL, 0, m->seed, nk, (int64_t)ngt,
                               nk > 1 ? (int64_t)sum->k_sample : -1};
        s = ct_clusters_write(out, labels, c.n, &km, &scl, &cm, err);
    }
    if (s == CT_OK && nk > 1) {
        s = ct_kscores_write(out, ks, nk, m->k_lo, err);
    }
    if (s == CT_OK) {
        s = write_tiers(out, m, &tg, c.n, p0, sum, o != NULL ? o->previous : NULL, old_names,
                        audits, err);
    }
    if (s == CT_OK) {
        s = ct_file_commit(out, err);
        out = NULL;
    }
    if (s == CT_OK) {
        s = run_totals(wcomm, &tg, sc.clv, c.weight, c.n, sum, err);
    }
    if (s == CT_OK) {
        stage(o, "write", &t0);
        sum->customers = n;
        sum->k = km.k;
        sum->inertia = km.inertia;
        memcpy(sum->tier_weight, tg.weight, sizeof sum->tier_weight);
        memcpy(sum->purchase_params, pf.par, sizeof sum->purchase_params);
        if (m->spend) {
            memcpy(sum->spend_params, gf.par, sizeof sum->spend_params);
        }
        sum->ll = pf.ll;
    }
tail:
    s = ct_comm_agree(comm, s, err); /* rank 0's outcome is everyone's */
done:
    user_cols_free(&uc);
    ct_file_close(df);
    ct_file_close(f);
    ct_file_close(out);
    ct_clv_data_free(cd);
    ct_customers_free(&c);
    ct_scores_free(&sc);
    ct_scaler_free(&scl);
    ct_kmeans_result_free(&km);
    ct_tiering_free(&tg);
    free(X);
    free(w);
    free(p0);
    free(labels);
    free(rows);
    free(mine_lab);
    if (tmp[0] != '\0' && root) {
        unlink(tmp);
    }
    return s;
}

/* Rows [row0, row0 + n) of column `name` of t as f64 (malloc'ed). */
static ct_status read_rows(const ct_table *t, const char *name, size_t row0, size_t n,
                           double **out, ct_error *err)
{
    long j = ct_table_find(t, name);
    *out = NULL;
    if (j < 0) {
        return ct_fail(err, CT_EFORMAT, "table /scores has no column '%s'", name);
    }
    *out = malloc((n ? n : 1) * sizeof **out);
    if (*out == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    return ct_table_read(t, (size_t)j, row0, n, CT_FLOAT64, *out, err);
}

ct_status ct_retier(const ct_tier_model *m, const char *input, const char *output,
                    const ct_run_opts *o, ct_run_summary *sum, ct_error *err)
{
    ct_file *in = NULL, *prev = NULL, *out = NULL;
    ct_customers c;
    ct_table *t = NULL;
    user_cols uc;
    ct_tiering tg;
    ct_audit audits[CT_MAX_AUDIT];
    char old_names[CT_MAX_TIERS * 65 + 70] = "", feats[CT_MAX_FEATURES * 65] = "";
    double *p_alive = NULL, *clv = NULL, *C = NULL, *X = NULL, *p0 = NULL;
    double center[CT_MAX_FEATURES], scale[CT_MAX_FEATURES];
    int32_t *labels = NULL;
    size_t *rows = NULL, k = 0, d = m->nfeat, kd = 0, ng = 0, nc = 0, ns = 0;
    const double *cols[CT_MAX_FEATURES];
    double t0 = now_s();

    memset(&c, 0, sizeof c);
    memset(&uc, 0, sizeof uc);
    memset(&tg, 0, sizeof tg);
    memset(sum, 0, sizeof *sum);
    /* clvtier-mpi: every rank re-tiers its part of the customers and writes
     * it, as run does; with a previous result or audit columns rank 0 does
     * it all while the others wait for its outcome */
    ct_comm *comm = o != NULL && ct_comm_size(o->comm) > 1 ? o->comm : NULL;
    int spread = comm != NULL && (o == NULL || o->previous == NULL) && m->naudit == 0;
    ct_comm *wcomm = spread ? comm : NULL;
    if (comm != NULL && !spread && ct_comm_rank(comm) != 0) {
        return ct_comm_agree(comm, CT_OK, err);
    }
    size_t n = 0, nl = 0, r0 = 0; /* customers; here: rows [r0, r0 + nl) */
    ct_status s = ct_file_open(&in, input, err);
    if (s == CT_OK && spread) {
        s = ct_customers_read_part(in, "/customers", CT_READ_NO_IDS, (size_t)ct_comm_rank(comm),
                                   (size_t)ct_comm_size(comm), &c, err);
        if (s == CT_OK) {
            s = ct_customers_part_rows(in, "/customers", (size_t)ct_comm_rank(comm),
                                       (size_t)ct_comm_size(comm), &r0, &nl, &n, err);
        }
    } else if (s == CT_OK) {
        s = ct_customers_read(in, "/customers", &c, err);
        n = nl = c.n;
    }
    if (s == CT_OK && (!ct_file_has_group(in, "/scores") || !ct_file_has_group(in, "/clusters"))) {
        s = ct_fail_at(err, CT_EFORMAT, input, 0, 0,
                       "needs /customers, /scores and /clusters (a `clvtier run` result)");
    }
    if (s == CT_OK) {
        s = ct_table_open(&t, in, "/scores", err);
    }
    if (s == CT_OK && ct_table_nrows(t) != n) {
        s = ct_fail_at(err, CT_EFORMAT, input, 0, 0, "/scores and /customers differ in length");
    }
    if (s == CT_OK) {
        s = read_rows(t, "p_alive", r0, nl, &p_alive, err);
    }
    if (s == CT_OK) {
        s = read_rows(t, "clv", r0, nl, &clv, err);
    }
    ct_scores sc = {nl, p_alive, NULL, NULL, clv};
    if (s == CT_OK) {
        s = read_rows(t, "exp_purchases", r0, nl, &sc.exp_purchases, err);
    }
    if (s == CT_OK) {
        s = read_rows(t, "exp_spend", r0, nl, &sc.exp_spend, err);
    }
    ct_table_close(t);
    t = NULL;
    if (s == CT_OK) {
        s = ct_table_open(&t, in, "/clusters", err);
    }
    labels = malloc((nl ? nl : 1) * sizeof *labels);
    rows = malloc((nl ? nl : 1) * sizeof *rows);
    if (s == CT_OK && (labels == NULL || rows == NULL)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    }
    long jl = s == CT_OK ? ct_table_find(t, "label") : -1;
    if (s == CT_OK && (jl < 0 || ct_table_nrows(t) != n)) {
        s = ct_fail_at(err, CT_EFORMAT, input, 0, 0, "/clusters has no label per customer");
    }
    if (s == CT_OK) {
        s = ct_table_read(t, (size_t)jl, r0, nl, CT_INT32, labels, err);
    }
    ct_table_close(t);
    t = NULL;
    if (s == CT_OK) {
        s = ct_file_read_matrix(in, "/clusters/centroids", &C, &k, &kd, err);
    }
    if (s == CT_OK && ct_file_has_group(in, "/features")) {
        s = ct_table_open(&uc.t, in, "/features", err);
        uc.row0 = r0;
        uc.total = n;
    }
    for (size_t j = 0; j < d && s == CT_OK; j++) {
        cols[j] = column(&c, &sc, m->features[j]);
        if (cols[j] == NULL) {
            cols[j] = user_column(&uc, m->features[j], nl, &s, err);
        }
        if (s == CT_OK && cols[j] == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                           "[features] use: '%s' is not in %s", m->features[j], input);
        }
    }
    const double *metric = s == CT_OK ? column(&c, &sc, m->rank_by) : NULL;
    if (s == CT_OK && metric == NULL) {
        metric = user_column(&uc, m->rank_by, nl, &s, err);
        if (s == CT_OK && metric == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[tiers] rank_by: '%s' is not in %s",
                           m->rank_by, input);
        }
    }
    s = ct_comm_agree(wcomm, s, err);
    if (s != CT_OK) {
        goto done;
    }
    for (size_t i = 0; i < nl && s == CT_OK; i++) {
        if (labels[i] < -1 || labels[i] >= (int32_t)k) {
            s = ct_fail_at(err, CT_EFORMAT, input, r0 + i + 1, 0, "/clusters label %d (k = %zu)",
                           labels[i], k);
            break;
        }
        if (c.T[i] < m->new_min_age) {
            labels[i] = -1; /* too young under this model */
        }
    }
    s = ct_comm_agree(wcomm, s, err);
    if (s != CT_OK) {
        goto done;
    }
    /* The graded rows in the clustering's own scaled space, when this model
     * clusters on the same features (hysteresis needs them; and customers
     * the input left ungraded but this model grades go to the nearest
     * centroid). */
    if (ct_attr_exists(in, "/clusters", "features")) {
        s = ct_attr_get_str(in, "/clusters", "features", feats, sizeof feats, err);
    }
    char want[CT_MAX_FEATURES * 65];
    join_names(want, sizeof want, m->features[0], sizeof m->features[0], d, NULL, ',');
    if (s == CT_OK && strcmp(feats, want) == 0 && kd == d &&
        ct_attr_get_f64v(in, "/clusters", "scale_center", center, CT_MAX_FEATURES, &nc, err) ==
            CT_OK &&
        ct_attr_get_f64v(in, "/clusters", "scale_scale", scale, CT_MAX_FEATURES, &ns, err) ==
            CT_OK &&
        nc == d && ns == d) {
        X = malloc((nl ? nl : 1) * d * sizeof *X);
        if (X == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nl && s == CT_OK; i++) {
            int fresh = labels[i] < 0 && c.T[i] >= m->new_min_age; /* gradeable now */
            if (labels[i] < 0 && !fresh) {
                continue;
            }
            int ok = 1;
            for (size_t j = 0; j < d; j++) {
                double v = cols[j][i];
                v = m->transform == CT_TF_LOG1P ? log1p(v) : v;
                X[ng * d + j] = (v - center[j]) / scale[j];
                ok &= isfinite(X[ng * d + j]);
            }
            if (fresh && ok) {
                /* not graded by the input's run (too young for its model):
                 * the nearest of its centroids */
                double best = (double)INFINITY;
                for (size_t q = 0; q < k; q++) {
                    double s2 = 0;
                    for (size_t j = 0; j < d; j++) {
                        double e = X[ng * d + j] - C[q * d + j];
                        s2 += e * e;
                    }
                    if (s2 < best) {
                        best = s2;
                        labels[i] = (int32_t)q;
                    }
                }
                sum->assigned_nearest++;
            } else if (fresh) {
                continue;
            }
            rows[ng++] = i;
        }
    }
    s = ct_comm_agree(wcomm, s, err);
    if (s == CT_OK && wcomm != NULL) { /* every rank's count */
        double na = (double)sum->assigned_nearest;
        s = ct_comm_allreduce_sum(wcomm, &na, 1, err);
        sum->assigned_nearest = (size_t)na;
    }
    if (s != CT_OK) {
        goto done;
    }
    if (o != NULL && o->previous != NULL) {
        s = ct_file_open(&prev, o->previous, err);
        if (s != CT_OK) {
            goto done;
        }
    }
    ct_fit pfit;
    if (m->loyalty_no_purchase) {
        s = ct_fit_read(in, ct_clv_model_name(m->purchase), &pfit, err);
        if (s == CT_OK && (p0 = malloc((nl ? nl : 1) * sizeof *p0)) == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    s = ct_comm_agree(wcomm, s, err);
    if (s != CT_OK) {
        goto done;
    }
    tier_ctx tc = {m,  &c,   labels, k,  metric, p_alive, &pfit, p0, X, rows, ng, C, d, cols, &uc,
                   prev, old_names, sizeof old_names, audits, wcomm};
    s = tier_stage(&tc, &tg, sum, err);
    if (s != CT_OK) {
        goto done;
    }
    stage(o, "tier", &t0);
    ct_create_opts co = {0, o != NULL ? o->command : NULL, wcomm};
    s = ct_file_create(&out, output, &co, err);
    static const char *const LINK[] = {"/customers", "/fits", "/scores", "/clusters",
                                       "/clusters_k"};
    for (size_t q = 0; q < sizeof LINK / sizeof LINK[0] && s == CT_OK; q++) {
        if (ct_file_has_group(in, LINK[q])) {
            s = ct_file_link_external(out, LINK[q], input, LINK[q], err);
        }
    }
    if (s == CT_OK) {
        char hex[CT_SHA256_HEX];
        s = ct_sha256_file(m->path, hex, err);
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/", "model_sha256", hex, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/", "model_file", m->path, err);
        }
    }
    if (s == CT_OK) {
        s = write_tiers(out, m, &tg, nl, p0, sum, o != NULL ? o->previous : NULL, old_names,
                        audits, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(out, "/tiers", "assigned_to_nearest_centroid",
                            (int64_t)sum->assigned_nearest, err);
    }
    if (s == CT_OK) {
        s = ct_file_commit(out, err);
        out = NULL;
    }
    if (s == CT_OK) {
        s = run_totals(wcomm, &tg, clv, c.weight, nl, sum, err);
    }
    if (s == CT_OK) {
        stage(o, "write", &t0);
        ct_fit pf;
        ct_error e2;
        sum->customers = n;
        sum->k = k;
        if (ct_attr_get_f64(in, "/clusters", "inertia", &sum->inertia, &e2) != CT_OK) {
            sum->inertia = 0;
        }
        if (ct_fit_read(in, ct_clv_model_name(m->purchase), &pf, &e2) == CT_OK) {
            sum->ll = pf.ll;
            memcpy(sum->purchase_params, pf.par, sizeof sum->purchase_params);
        }
        memcpy(sum->tier_weight, tg.weight, sizeof sum->tier_weight);
    }
done:
    ct_file_close(out);
    ct_file_close(prev);
    user_cols_free(&uc);
    ct_file_close(in);
    ct_customers_free(&c);
    ct_tiering_free(&tg);
    free(p_alive);
    free(clv);
    free(sc.exp_purchases);
    free(sc.exp_spend);
    free(C);
    free(X);
    free(p0);
    free(labels);
    free(rows);
    /* rank 0 alone (previous, audit): its outcome is everyone's */
    return comm != NULL && !spread ? ct_comm_agree(comm, s, err) : s;
}
