/* pipeline.c - a tier model end to end (see include/clvtier/pipeline.h).
 * Composes ingest, clv, kmeans, scaler and tier; adds no numerics of its own. */
#include "clvtier/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clvtier/customers.h"
#include "clvtier/ingest.h"
#include "clvtier/kmeans.h"
#include "clvtier/outfile.h"
#include "clvtier/results.h"
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

/* A per-customer column by feature name: summary columns or scores. */
static const double *column(const ct_customers *c, const ct_scores *sc, const char *name)
{
    if (strcmp(name, "x") == 0) {
        return c->x;
    }
    if (strcmp(name, "t_x") == 0) {
        return c->t_x;
    }
    if (strcmp(name, "T") == 0) {
        return c->T;
    }
    if (strcmp(name, "m") == 0) {
        return c->m;
    }
    if (strcmp(name, "total") == 0) {
        return c->total;
    }
    if (strcmp(name, "p_alive") == 0) {
        return sc->p_alive;
    }
    if (strcmp(name, "exp_purchases") == 0) {
        return sc->exp_purchases;
    }
    if (strcmp(name, "exp_spend") == 0) {
        return sc->exp_spend;
    }
    if (strcmp(name, "clv") == 0) {
        return sc->clv;
    }
    return NULL;
}

static ct_status write_csv(const char *path, const ct_tier_model *m, const ct_customers *c,
                           const ct_tiering *t, const ct_scores *sc, ct_error *err)
{
    ct_outfile *of;
    ct_status s = ct_outfile_open(&of, path, err);
    if (s != CT_OK) {
        return s;
    }
    FILE *fp = ct_outfile_stream(of);
    fprintf(fp, "id,tier,loyalty,clv,p_alive\n");
    for (size_t i = 0; i < c->n; i++) {
        const char *tn = t->tier[i] < (int8_t)m->ntiers ? m->tiers[t->tier[i]] : m->new_tier;
        fprintf(fp, "%.*s,%s,%s,%.6f,%.6f\n", (int)strnlen(c->ids + i * c->id_width, c->id_width),
                c->ids + i * c->id_width, tn, m->loyalty_names[t->loyalty[i]], sc->clv[i],
                sc->p_alive[i]);
    }
    return ct_outfile_commit(of, err);
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

/* Old tiers x new tiers, joined by id. */
static ct_status migration(const ct_file *pf, const ct_tier_model *m, const ct_customers *c,
                           const ct_tiering *tg, ct_run_summary *sum, ct_error *err)
{
    ct_customers oc;
    ct_table *t = NULL;
    char names[CT_MAX_TIERS * 65 + 70];
    int8_t *ot = NULL;
    ct_status s = ct_customers_read(pf, "/customers", &oc, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_attr_get_str(pf, "/tiers", "names", names, sizeof names, err);
    size_t nt_old = 0;
    for (const char *p = names; s == CT_OK && *p != '\0'; p++) {
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
        long j = ct_table_find(t, "tier");
        s = ot == NULL || j < 0 || ct_table_nrows(t) != oc.n
                ? ct_fail_at(err, CT_EFORMAT, ct_file_path(pf), 0, 0, "previous /tiers unusable")
                : ct_table_read(t, (size_t)j, 0, oc.n, CT_INT8, ot, err);
    }
    if (s == CT_OK) {
        s = ct_tier_migration(oc.ids, oc.id_width, ot, oc.n, nt_old, c->ids, c->id_width,
                              tg->tier, c->n, m->ntiers, sum->migration, err);
    }
    if (s == CT_OK) {
        sum->has_migration = 1;
        sum->mig_rows = nt_old + 2;
        sum->mig_cols = m->ntiers + 2;
    }
    ct_table_close(t);
    free(ot);
    ct_customers_free(&oc);
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
    ct_file *f = NULL, *out = NULL;
    double *X = NULL, *w = NULL;
    int32_t *labels = NULL;
    size_t *rows = NULL;
    ct_kscore ks[64];
    size_t nk = m->k_hi - m->k_lo + 1;
    double t0 = now_s();
    unsigned threads = o != NULL ? o->threads : 0;

    memset(&c, 0, sizeof c);
    memset(&sc, 0, sizeof sc);
    memset(&scl, 0, sizeof scl);
    memset(&km, 0, sizeof km);
    memset(&tg, 0, sizeof tg);
    memset(sum, 0, sizeof *sum);
    if (nk > 64) {
        return ct_fail(err, CT_ECONFIG, "%s: k range of %zu values (at most 64)", m->path, nk);
    }
    /* 1. data */
    if (access(input, R_OK) != 0) {
        return ct_fail_at(err, CT_ENOENT, input, 0, 0, "cannot read input");
    }
    if (!ct_file_is_hdf5(input)) {
        ct_ingest_opts io;
        ct_ingest_opts_init(&io);
        io.period = m->period;
        io.calibration_end = m->calibration_end;
        io.observation_end = m->observation_end;
        io.command = o != NULL ? o->command : NULL;
        snprintf(tmp, sizeof tmp, "%s.ingest-%ld.h5", output, (long)getpid());
        s = ct_ingest_csv(input, tmp, &io, NULL, err);
        if (s != CT_OK) {
            return s;
        }
        data = tmp;
        stage(o, "ingest", &t0);
    }
    s = ct_file_open(&f, data, err);
    if (s == CT_OK) {
        s = ct_customers_read(f, "/customers", &c, err);
    }
    ct_file_close(f);
    f = NULL;
    if (s != CT_OK) {
        goto done;
    }
    size_t n = c.n;
    /* 2. models */
    s = ct_clv_data_new(&cd, m->purchase, &c, data, err);
    ct_fit_opts fo;
    ct_fit_opts_init(&fo);
    fo.penalty = m->penalty;
    fo.threads = threads;
    if (s == CT_OK) {
        s = ct_clv_fit(cd, &fo, &pf, err);
    }
    ct_clv_data_free(cd);
    cd = NULL;
    if (s == CT_OK && m->spend) {
        s = ct_clv_data_new(&cd, CT_GAMMAGAMMA, &c, data, err);
        if (s == CT_OK) {
            s = ct_clv_fit(cd, &fo, &gf, err);
        }
        ct_clv_data_free(cd);
        cd = NULL;
    }
    if (s != CT_OK) {
        goto done;
    }
    stage(o, "fit", &t0);
    /* 3. scores */
    s = ct_clv_score(&pf, m->spend ? &gf : NULL, &c, m->horizon, m->discount, threads, &sc, err);
    if (s != CT_OK) {
        goto done;
    }
    stage(o, "score", &t0);
    /* 4. k-means over the customers old enough to grade */
    size_t d = m->nfeat, ng = 0;
    const double *cols[CT_MAX_FEATURES];
    for (size_t j = 0; j < d; j++) {
        cols[j] = column(&c, &sc, m->features[j]);
        if (cols[j] == NULL) {
            s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0,
                           "[features] use: '%s' is not available (x, t_x, T, m, total, p_alive, "
                           "exp_purchases, exp_spend, clv)",
                           m->features[j]);
            goto done;
        }
    }
    const double *metric = column(&c, &sc, m->rank_by);
    if (metric == NULL) {
        s = ct_fail_at(err, CT_ECONFIG, m->path, 0, 0, "[tiers] rank_by: '%s' is not available",
                       m->rank_by);
        goto done;
    }
    X = malloc((n ? n : 1) * d * sizeof *X);
    rows = malloc((n ? n : 1) * sizeof *rows);
    labels = malloc((n ? n : 1) * sizeof *labels);
    w = c.weight != NULL ? malloc((n ? n : 1) * sizeof *w) : NULL;
    if (X == NULL || rows == NULL || labels == NULL || (c.weight != NULL && w == NULL)) {
        s = ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        labels[i] = -1;
        if (c.T[i] < m->new_min_age) {
            continue;
        }
        for (size_t j = 0; j < d; j++) {
            X[ng * d + j] = cols[j][i];
        }
        if (w != NULL) {
            w[ng] = c.weight[i];
        }
        rows[ng++] = i;
    }
    if (ng < m->k_lo) {
        s = ct_fail_at(err, CT_EDATA, data, 0, 0,
                       "%zu customers old enough to grade (min_age %g), fewer than k = %zu", ng,
                       m->new_min_age, m->k_lo);
        goto done;
    }
    s = ct_scaler_fit_transform(&scl, X, ng, d, w, m->transform, m->scale, err);
    if (s != CT_OK) {
        goto done;
    }
    ct_kmeans_opts ko;
    ct_kmeans_opts_init(&ko);
    ko.n_init = m->n_init;
    ko.seed = m->seed;
    ko.threads = threads;
    /* With a k range, k is chosen on a deterministic sample (every step-th
     * graded customer, at most KSEL_MAX rows), then only that k is fitted
     * on everyone: choosing k does not need millions of rows. */
    size_t kbest = m->k_lo;
    double *Cbest = NULL; /* the sample's centroids for the chosen k */
    if (nk > 1) {
        const size_t KSEL_MAX = 200000;
        size_t step = (ng + KSEL_MAX - 1) / KSEL_MAX, ns = 0;
        double *S = step > 1 ? malloc((ng / step + 1) * d * sizeof *S) : X;
        double *sw = step > 1 && w != NULL ? malloc((ng / step + 1) * sizeof *sw) : w;
        if (S == NULL || (w != NULL && sw == NULL)) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
        for (size_t g = 0; s == CT_OK && step > 1 && g < ng; g += step, ns++) {
            memcpy(S + ns * d, X + g * d, d * sizeof *S);
            if (w != NULL) {
                sw[ns] = w[g];
            }
        }
        if (step == 1) {
            ns = ng;
        }
        for (size_t k = m->k_lo; k <= m->k_hi && s == CT_OK; k++) {
            ct_kmeans_result r;
            ko.k = k;
            s = ct_kmeans_fit(S, ns, d, sw, &ko, &r, err);
            if (s == CT_OK) {
                s = ct_kmeans_scores(S, ns, d, sw, &r, 4000, m->seed, &ks[k - m->k_lo], err);
            }
            if (s == CT_OK && ct_kmeans_pick_k(ks, k - m->k_lo + 1, m->k_lo) == k) {
                free(Cbest);
                Cbest = r.centroids; /* keep it: it starts the fit on all rows */
                r.centroids = NULL;
            }
            ct_kmeans_result_free(&r);
        }
        if (step > 1) {
            free(S);
            free(sw);
        }
        if (s == CT_OK) {
            kbest = ct_kmeans_pick_k(ks, nk, m->k_lo);
            sum->k_sample = ns;
        }
    }
    if (s == CT_OK) {
        ko.k = kbest;
        if (Cbest != NULL) {
            /* one Lloyd run on everyone from the sample's solution */
            ko.init = CT_KM_INIT_GIVEN;
            ko.centroids = Cbest;
        }
        s = ct_kmeans_fit(X, ng, d, w, &ko, &km, err);
    }
    free(Cbest);
    if (s != CT_OK) {
        goto done;
    }
    for (size_t g = 0; g < ng; g++) {
        labels[rows[g]] = km.labels[g];
    }
    if (o != NULL && o->previous != NULL) {
        s = ct_file_open(&f, o->previous, err);
        if (s == CT_OK) {
            s = match_previous(f, &scl, d, km.centroids, km.k, labels, rows, ng,
                               &sum->labels_matched, err);
        }
        if (s != CT_OK) {
            goto done;
        }
    }
    stage(o, "cluster", &t0);
    /* 5. tiers */
    s = ct_tier_assign(m, labels, km.k, metric, sc.p_alive, c.T, c.weight, n, &tg, err);
    if (s == CT_OK && f != NULL) {
        s = migration(f, m, &c, &tg, sum, err);
    }
    ct_file_close(f);
    f = NULL;
    if (s != CT_OK) {
        goto done;
    }
    stage(o, "tier", &t0);
    /* 6. output */
    ct_create_opts co = {0, o != NULL ? o->command : NULL};
    s = ct_file_create(&out, output, &co, err);
    if (s == CT_OK) {
        s = ct_customers_write(out, &c, err);
    }
    if (s == CT_OK) {
        s = ct_fit_write(out, &pf, err);
    }
    if (s == CT_OK && m->spend) {
        s = ct_fit_write(out, &gf, err);
    }
    if (s == CT_OK) {
        static const ct_colspec spec[4] = {{"p_alive", CT_FLOAT64, 0},
                                           {"exp_purchases", CT_FLOAT64, 0},
                                           {"exp_spend", CT_FLOAT64, 0},
                                           {"clv", CT_FLOAT64, 0}};
        const void *cc[4] = {sc.p_alive, sc.exp_purchases, sc.exp_spend, sc.clv};
        s = ct_tw_write_table(out, "/scores", spec, 4, cc, n, NULL, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64(out, "/scores", "horizon", m->horizon, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_f64(out, "/scores", "discount", m->discount, err);
    }
    if (s == CT_OK) {
        s = ct_clusters_write(out, labels, n, &km, &scl, err);
    }
    if (s == CT_OK && nk > 1) {
        s = ct_attr_set_i64(out, "/clusters", "k_chosen_on_rows", (int64_t)sum->k_sample, err);
    }
    if (s == CT_OK && nk > 1) {
        s = ct_kscores_write(out, ks, nk, m->k_lo, err);
    }
    if (s == CT_OK) {
        static const ct_colspec spec[2] = {{"tier", CT_INT8, 0}, {"loyalty", CT_INT8, 0}};
        const void *cc[2] = {tg.tier, tg.loyalty};
        s = ct_tw_write_table(out, "/tiers", spec, 2, cc, n, NULL, err);
    }
    if (s == CT_OK) {
        char names[CT_MAX_TIERS * 65 + 70] = "";
        for (size_t t = 0; t < m->ntiers; t++) {
            strcat(names, m->tiers[t]);
            strcat(names, ",");
        }
        strcat(names, m->new_tier);
        s = ct_attr_set_str(out, "/tiers", "names", names, err);
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
            s = ct_attr_set_str(out, "/migration", "previous", o->previous, err);
        }
        if (s == CT_OK) {
            s = ct_attr_set_str(out, "/migration", "layout",
                                "rows: previous tiers, its new-customer tier, absent before; "
                                "columns: these tiers, new-customer tier, gone now",
                                err);
        }
    }
    if (s == CT_OK && o != NULL && o->csv_out != NULL) {
        s = write_csv(o->csv_out, m, &c, &tg, &sc, err);
    }
    if (s == CT_OK) {
        s = ct_file_commit(out, err);
        out = NULL;
    }
    if (s == CT_OK) {
        stage(o, "write", &t0);
        sum->customers = n;
        sum->k = km.k;
        sum->inertia = km.inertia;
        memcpy(sum->tier_weight, tg.weight, sizeof sum->tier_weight);
        for (size_t i = 0; i < n; i++) {
            sum->loyalty_weight[tg.loyalty[i]] += c.weight != NULL ? c.weight[i] : 1.0;
            sum->total_clv += sc.clv[i] * (c.weight != NULL ? c.weight[i] : 1.0);
        }
        memcpy(sum->purchase_params, pf.par, sizeof sum->purchase_params);
        if (m->spend) {
            memcpy(sum->spend_params, gf.par, sizeof sum->spend_params);
        }
        sum->ll = pf.ll;
    }
done:
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
    free(labels);
    free(rows);
    if (tmp[0] != '\0') {
        unlink(tmp);
    }
    return s;
}
