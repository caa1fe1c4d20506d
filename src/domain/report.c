/* report.c - load a result file's aggregates; write summary.json, report.md
 * and tiers.csv (report_html.c writes report.html).  See report.h. */
#include "clvtier/report.h"
#include "clvtier/ingest.h"
#include "clvtier/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clvtier/customers.h"
#include "clvtier/digest.h"
#include "core/sort_internal.h"
#include "clvtier/outfile.h"
#include "clvtier/store.h"
#include "data/csv_internal.h"
#include "domain/report_internal.h"

const char *const rp_metric_name[RP_NMET] = {"x",   "t_x",     "recency",      "m",
                                             "clv", "p_alive", "exp_purchases"};
const char *const rp_metric_label[RP_NMET] = {
    "repeat purchases x", "recency t_x",  "periods since last purchase", "mean repeat spend m",
    "CLV",                "P(alive)",     "expected purchases"};

void ct_report_opts_init(ct_report_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_group = -1;
}

int rp_suppressed(const rp *r, double v)
{
    return v > 0 && v < (double)r->min_group;
}

void rp_note(rp *r, const char *fmt, ...)
{
    if (r->nnotes == RP_MAXNOTES) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

void rp_num(FILE *fp, double v, int prec, int g, const char *unit)
{
    if (!isfinite(v)) {
        fputs("\u2013", fp);
    } else if (g) {
        fprintf(fp, "%.*g%s", prec, v, unit);
    } else {
        fprintf(fp, "%.*f%s", prec, v, unit);
    }
}

const char *rp_cov_text(const ct_fit *f)
{
    static char buf[1200];
    int pareto = f->model == CT_PARETO;
    snprintf(buf, sizeof buf,
             "%s; constr. coefficients act in both processes. Against the same model without "
             "covariates: log-likelihood %.4f, likelihood-ratio statistic %.4f on %zu degrees "
             "of freedom, p = %.3g%s.",
             f->dynamic ? "Time-varying covariates (Bachmann, Meierer & Naef 2021): purchase rate "
                          "lambda_i exp(trans'z_i(t)), drop-out rate mu_i exp(life'z_i(t)), z_i(t) "
                          "constant within each period"
             : pareto ? "Static covariates (CLVTools' parametrisation): alpha_i = alpha "
                        "exp(-trans'z), beta_i = beta exp(-life'z)"
                      : "Static covariates (CLVTools' parametrisation): alpha_i = alpha "
                        "exp(-trans'z), a_i = a exp(life'z), b_i = b exp(life'z)",
             f->ll0, f->lr, f->ncoef, f->lr_p,
             f->penalty_cov > 0 ? " (the coefficients are penalised: the test is approximate)"
                                : "");
    if (f->coef_ref[0] != '\0') {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n,
                 " Text columns enter as dummies column=level against the reference %s.",
                 f->coef_ref);
    }
    return buf;
}

void rp_html_text(FILE *fp, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '&':
            fputs("&amp;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        default:
            fputc(*s, fp);
        }
    }
}

/* ---- loading --------------------------------------------------------------- */

static void attr_str(const ct_file *f, const char *obj, const char *name, char *buf, size_t cap)
{
    ct_error e;
    buf[0] = '\0';
    if (ct_attr_exists(f, obj, name) && ct_attr_get_str(f, obj, name, buf, cap, &e) != CT_OK) {
        buf[0] = '\0';
    }
}

static double attr_f64(const ct_file *f, const char *obj, const char *name, double dflt)
{
    ct_error e;
    double v = dflt;
    if (ct_attr_exists(f, obj, name) && ct_attr_get_f64(f, obj, name, &v, &e) != CT_OK) {
        v = dflt;
    }
    return v;
}

static int64_t attr_i64(const ct_file *f, const char *obj, const char *name, int64_t dflt)
{
    ct_error e;
    int64_t v = dflt;
    if (ct_attr_exists(f, obj, name) && ct_attr_get_i64(f, obj, name, &v, &e) != CT_OK) {
        v = dflt;
    }
    return v;
}

/* Split "a<sep>b<sep>c" into at most cap names of 64 bytes. */
static size_t split(const char *s, char sep, char (*out)[64], size_t cap)
{
    size_t n = 0;
    if (*s == '\0') {
        return 0;
    }
    while (n < cap) {
        const char *e = strchr(s, sep);
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        snprintf(out[n++], 64, "%.*s", (int)(len < 63 ? len : 63), s);
        if (e == NULL) {
            break;
        }
        s = e + 1;
    }
    return n;
}

static double median(double *v, size_t n)
{
    if (n == 0) {
        return (double)NAN;
    }
    double a = ct_select_kth(v, n, (n - 1) / 2);
    if (n % 2 == 1) {
        return a;
    }
    double b = v[n / 2]; /* the smallest of the upper part */
    for (size_t i = n / 2 + 1; i < n; i++) {
        b = fmin(b, v[i]);
    }
    return 0.5 * (a + b);
}

typedef struct vw {
    double v, w;
} vw;

static int cmp_vw(const void *a, const void *b)
{
    double x = ((const vw *)a)->v, y = ((const vw *)b)->v;
    return (x > y) - (x < y);
}

/* Weighted median: the smallest v whose cumulative weight reaches half. */
static double wmedian(vw *p, size_t n)
{
    double tot = 0, acc = 0;
    if (n == 0) {
        return (double)NAN;
    }
    qsort(p, n, sizeof *p, cmp_vw);
    for (size_t i = 0; i < n; i++) {
        tot += p[i].w;
    }
    for (size_t i = 0; i < n; i++) {
        acc += p[i].w;
        if (acc >= 0.5 * tot) {
            return p[i].v;
        }
    }
    return p[n - 1].v;
}

typedef struct cols {
    ct_customers c;
    double *p_alive, *exp, *clv;
    int8_t *tier, *loyalty;
} cols;

static void cols_free(cols *k)
{
    ct_customers_free(&k->c);
    free(k->p_alive);
    free(k->exp);
    free(k->clv);
    free(k->tier);
    free(k->loyalty);
}

static ct_status read_i8(const ct_file *f, const char *group, const char *name, size_t n,
                         int8_t **out, ct_error *err)
{
    ct_table *t;
    ct_status s = ct_table_open(&t, f, group, err);
    if (s != CT_OK) {
        return s;
    }
    long j = ct_table_find(t, name);
    *out = malloc(n ? n : 1);
    if (*out == NULL) {
        s = ct_fail(err, CT_ENOMEM, "out of memory");
    } else if (j < 0 || ct_table_nrows(t) != n) {
        s = ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                       "%s has no column '%s' of %zu rows", group, name, n);
    } else {
        s = ct_table_read(t, (size_t)j, 0, n, CT_INT8, *out, err);
    }
    ct_table_close(t);
    return s;
}

static ct_status read_cols(const ct_file *f, cols *k, ct_error *err)
{
    ct_table *t = NULL;
    ct_status s;
    CT_TRY(ct_customers_read_flags(f, "/customers", CT_READ_NO_IDS, &k->c, err));
    CT_TRY(ct_table_open(&t, f, "/scores", err));
    if (ct_table_nrows(t) != k->c.n) {
        CT_TRY(ct_fail_at(err, CT_EFORMAT, ct_file_path(f), 0, 0,
                          "/scores has %zu rows, /customers %zu", ct_table_nrows(t), k->c.n));
    }
    CT_TRY(ct_table_read_f64(t, "p_alive", &k->p_alive, err));
    CT_TRY(ct_table_read_f64(t, "exp_purchases", &k->exp, err));
    CT_TRY(ct_table_read_f64(t, "clv", &k->clv, err));
    CT_TRY(read_i8(f, "/tiers", "tier", k->c.n, &k->tier, err));
    CT_TRY(read_i8(f, "/tiers", "loyalty", k->c.n, &k->loyalty, err));
done:
    ct_table_close(t);
    return s;
}

static double metric(const cols *k, size_t q, size_t i)
{
    switch (q) {
    case RP_X:
        return k->c.x[i];
    case RP_TX:
        return k->c.t_x[i];
    case RP_REC:
        return k->c.T[i] - k->c.t_x[i];
    case RP_M:
        return k->c.m != NULL ? k->c.m[i] : (double)NAN;
    case RP_CLV:
        return k->clv[i];
    case RP_PALIVE:
        return k->p_alive[i];
    default:
        return k->exp[i];
    }
}

/* Per-tier counts, sums, means and medians. */
static ct_status profiles(rp *r, const cols *k, ct_error *err)
{
    size_t n = k->c.n, nt = r->ntiers;
    const double *w = k->c.weight;
    size_t off[CT_MAX_TIERS + 2] = {0}, pos[CT_MAX_TIERS + 1];
    for (size_t i = 0; i < n; i++) {
        if (k->tier[i] < 0 || (size_t)k->tier[i] >= nt || k->loyalty[i] < 0 || k->loyalty[i] > 2) {
            return ct_fail_at(err, CT_EFORMAT, r->path, i + 1, 0,
                              "/tiers: tier %d / loyalty %d out of range", k->tier[i],
                              k->loyalty[i]);
        }
        double wi = w != NULL ? w[i] : 1.0;
        rp_tier *t = &r->tier[k->tier[i]];
        t->n += wi;
        t->clv += wi * k->clv[i];
        t->loyal[k->loyalty[i]] += wi;
        r->loyal_total[k->loyalty[i]] += wi;
        r->total_w += wi;
        r->total_clv += wi * k->clv[i];
        off[k->tier[i] + 1]++;
    }
    for (size_t t = 0; t < nt; t++) {
        off[t + 1] += off[t];
    }
    double *buf = w == NULL ? malloc((n ? n : 1) * sizeof *buf) : NULL;
    vw *pb = w != NULL ? malloc((n ? n : 1) * sizeof *pb) : NULL;
    if (buf == NULL && pb == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory for %zu customers", n);
    }
    for (size_t q = 0; q < RP_NMET; q++) {
        double sum[CT_MAX_TIERS + 1] = {0}, sw[CT_MAX_TIERS + 1] = {0};
        memcpy(pos, off, sizeof pos);
        for (size_t i = 0; i < n; i++) {
            double v = metric(k, q, i), wi = w != NULL ? w[i] : 1.0;
            size_t t = (size_t)k->tier[i];
            if (isnan(v)) {
                continue;
            }
            sum[t] += wi * v;
            sw[t] += wi;
            if (buf != NULL) {
                buf[pos[t]++] = v;
            } else {
                pb[pos[t]].v = v;
                pb[pos[t]++].w = wi;
            }
        }
        for (size_t t = 0; t < nt; t++) {
            size_t cnt = pos[t] - off[t];
            r->tier[t].mean[q] = sw[t] > 0 ? sum[t] / sw[t] : (double)NAN;
            r->tier[t].median[q] =
                buf != NULL ? median(buf + off[t], cnt) : wmedian(pb + off[t], cnt);
        }
    }
    free(buf);
    free(pb);
    return CT_OK;
}

static void heat_map(rp *r, const cols *k)
{
    const ct_fit *f = &r->fit[0];
    double Tmax = 0, tot = 0, hist[1001] = {0};
    ct_error e;
    for (size_t i = 0; i < k->c.n; i++) {
        double wi = k->c.weight != NULL ? k->c.weight[i] : 1.0;
        hist[(size_t)fmin(1000, fmax(0, k->c.x[i]))] += wi;
        tot += wi;
        Tmax = fmax(Tmax, k->c.T[i]);
    }
    if (r->nfits == 0 || f->model == CT_BGBB || Tmax <= 0) {
        return;
    }
    /* x from 0 to its 99th percentile: the long tail would leave the map empty */
    double xmax = 0, acc = 0;
    while (xmax < 1000 && (acc += hist[(size_t)xmax]) < 0.99 * tot) {
        xmax++;
    }
    size_t hx = (size_t)fmin(xmax, RP_HX - 1) + 1;
    double step = xmax + 1 > RP_HX ? ceil((xmax + 1) / RP_HX) : 1.0;
    hx = (size_t)fmin(RP_HX, floor(xmax / step) + 1);
    double X[RP_HX * RP_HT], TX[RP_HX * RP_HT], TT[RP_HX * RP_HT];
    for (size_t a = 0; a < hx; a++) {
        r->heat_x[a] = floor((double)a * step);
        for (size_t b = 0; b < RP_HT; b++) {
            r->heat_t[b] = Tmax * ((double)b + 0.5) / RP_HT;
            X[a * RP_HT + b] = r->heat_x[a];
            TX[a * RP_HT + b] = r->heat_x[a] > 0 ? r->heat_t[b] : 0.0;
            TT[a * RP_HT + b] = Tmax;
        }
    }
    if (ct_clv_p_alive(f, X, TX, TT, hx * RP_HT, r->heat, &e) == CT_OK) {
        r->has_heat = 1;
        r->hx = hx;
        r->ht = RP_HT;
        r->heat_T = Tmax;
    }
}

/* [tiers] stability: the draws, the threshold and per tier the mean and
 * the borderline customers. */
static void load_stability(rp *r, const ct_file *f)
{
    double mean[CT_MAX_TIERS + 1], bord[CT_MAX_TIERS + 1];
    size_t nm = 0, nb = 0;
    ct_error e;
    r->stab_draws = (size_t)attr_i64(f, "/tiers", "stability_draws", 0);
    r->stab_thr = attr_f64(f, "/tiers", "stability_borderline", (double)NAN);
    if (r->stab_draws == 0 ||
        ct_attr_get_f64v(f, "/tiers", "stability_mean", mean, CT_MAX_TIERS + 1, &nm, &e) != CT_OK ||
        ct_attr_get_f64v(f, "/tiers", "stability_borderline_customers", bord, CT_MAX_TIERS + 1,
                         &nb, &e) != CT_OK) {
        r->stab_draws = 0;
        return;
    }
    for (size_t t = 0; t < CT_MAX_TIERS + 1; t++) {
        r->tier[t].stab_mean = t < nm ? mean[t] : (double)NAN;
        r->tier[t].stab_border = t < nb ? bord[t] : (double)NAN;
    }
}

/* Root, /tiers, /customers and /scores attributes. */
static void load_attrs(rp *r, const ct_file *f, const ct_report_opts *o)
{
    attr_str(f, "/", "clvtier_version", r->version, sizeof r->version);
    attr_str(f, "/", "created", r->created, sizeof r->created);
    attr_str(f, "/", "command", r->command, sizeof r->command);
    attr_str(f, "/", "model_sha256", r->sha, sizeof r->sha);
    attr_str(f, "/", "model_file", r->model_file, sizeof r->model_file);
    attr_str(f, "/tiers", "model", r->model, sizeof r->model);
    attr_str(f, "/tiers", "description", r->description, sizeof r->description);
    attr_str(f, "/tiers", "rank_by", r->rank_by, sizeof r->rank_by);
    attr_str(f, "/tiers", "assign", r->assign, sizeof r->assign);
    attr_str(f, "/tiers", "review", r->review, sizeof r->review);
    attr_str(f, "/customers", "source", r->source, sizeof r->source);
    attr_str(f, "/customers", "period", r->period, sizeof r->period);
    attr_str(f, "/customers", "calibration_end", r->cal_end, sizeof r->cal_end);
    attr_str(f, "/customers", "observation_end", r->obs_end, sizeof r->obs_end);
    r->period_days = attr_f64(f, "/customers", "period_days", 0);
    r->loyal_min = attr_f64(f, "/tiers", "loyal_min", (double)NAN);
    load_stability(r, f);
    r->lost_max = attr_f64(f, "/tiers", "lost_max", (double)NAN);
    r->new_min_age = attr_f64(f, "/tiers", "new_min_age", (double)NAN);
    r->hysteresis = attr_f64(f, "/tiers", "hysteresis", 0);
    attr_str(f, "/tiers", "loyalty_metric", r->loyalty_metric, sizeof r->loyalty_metric);
    if (r->loyalty_metric[0] == '\0') {
        snprintf(r->loyalty_metric, sizeof r->loyalty_metric, "p_alive");
    }
    r->loyalty_periods = attr_f64(f, "/tiers", "loyalty_periods", (double)NAN);
    r->horizon = attr_f64(f, "/scores", "horizon", (double)NAN);
    r->discount = attr_f64(f, "/scores", "discount", (double)NAN);
    r->min_group = o->min_group >= 0 ? (size_t)o->min_group
                                     : (size_t)attr_i64(f, "/tiers", "min_group", 10);
}

/* Tier names, loyalty names and per-tier actions from /tiers. */
static ct_status load_tier_names(rp *r, const ct_file *f, ct_error *err)
{
    char buf[CT_MAX_TIERS * 201 + 210];
    char names[CT_MAX_TIERS + 1][64];
    attr_str(f, "/tiers", "names", buf, sizeof buf);
    r->ntiers = split(buf, ',', names, CT_MAX_TIERS + 1);
    if (r->ntiers < 2) {
        return ct_fail_at(err, CT_EFORMAT, r->path, 0, 0, "/tiers has no tier names");
    }
    for (size_t t = 0; t < r->ntiers; t++) {
        snprintf(r->tier[t].name, sizeof r->tier[t].name, "%s", names[t]);
    }
    attr_str(f, "/tiers", "loyalty_names", buf, sizeof buf);
    if (split(buf, ',', r->loyalty, 3) != 3) {
        snprintf(r->loyalty[0], 64, "loyal");
        snprintf(r->loyalty[1], 64, "general");
        snprintf(r->loyalty[2], 64, "lost");
    }
    attr_str(f, "/tiers", "actions", buf, sizeof buf);
    const char *p = buf;
    for (size_t t = 0; t + 1 < r->ntiers && *p != '\0'; t++) {
        const char *q = strchr(p, '\x1f');
        size_t len = q != NULL ? (size_t)(q - p) : strlen(p);
        snprintf(r->tier[t].action, sizeof r->tier[t].action, "%.*s",
                 (int)(len < 199 ? len : 199), p);
        if (q == NULL) {
            break;
        }
        p = q + 1;
    }
    return CT_OK;
}

/* The stored fits, the purchase model first. */
static void load_fits(rp *r, const ct_file *f)
{
    ct_error e;
    char fits[16][64];
    size_t nf = 0;
    char chosen[64];
    ct_fits_read_choice(f, chosen, sizeof chosen); /* purchase = auto: the chosen fit */
    if (chosen[0] != '\0' && ct_fit_read(f, chosen, &r->fit[0], &e) == CT_OK) {
        r->nfits = 1;
        attr_str(f, "/fits", "choice_rule", r->choice_rule, sizeof r->choice_rule);
    }
    if (ct_file_has_group(f, "/fits") &&
        ct_file_list_groups(f, "/fits", fits, 16, &nf, &e) == CT_OK) {
        for (size_t pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < nf && r->nfits < 2; i++) {
                int gg = strcmp(fits[i], "gammagamma") == 0;
                if ((pass == 0) != gg && (pass == 1 || chosen[0] == '\0') &&
                    ct_fit_read(f, fits[i], &r->fit[r->nfits], &e) == CT_OK) {
                    r->nfits++;
                }
            }
        }
        for (size_t i = 0; i < nf && chosen[0] != '\0' && r->ncand < 4; i++) {
            ct_fit *cf = &r->cand[r->ncand];
            char grp[80];
            snprintf(grp, sizeof grp, "/fits/%s", fits[i]);
            if (strcmp(fits[i], "gammagamma") != 0 && ct_fit_read(f, fits[i], cf, &e) == CT_OK) {
                r->cand_mse[r->ncand] = attr_f64(f, grp, "holdout_mse", (double)NAN);
                r->cand_mae[r->ncand] = attr_f64(f, grp, "holdout_mae", (double)NAN);
                r->cand_agg[r->ncand] = attr_f64(f, grp, "holdout_agg_error", (double)NAN);
                r->ncand++;
            }
        }
    }
    if (r->nfits > 0 && r->fit[0].model == CT_GAMMAGAMMA) {
        r->nfits = 0; /* a spend fit alone: nothing to draw purchases from */
    }
}

/* /clusters' attributes and /clusters_k's scores. */
static void load_clusters(rp *r, const ct_file *f)
{
    ct_error e;
    r->k = (size_t)attr_i64(f, "/clusters", "k", 0);
    r->graded = (size_t)attr_i64(f, "/clusters", "graded", 0);
    r->k_rows = (size_t)attr_i64(f, "/clusters", "k_chosen_on_rows", 0);
    r->inertia = attr_f64(f, "/clusters", "inertia", (double)NAN);
    attr_str(f, "/clusters", "features", r->features, sizeof r->features);
    attr_str(f, "/clusters", "transform", r->transform, sizeof r->transform);
    attr_str(f, "/clusters", "scaling", r->scaling, sizeof r->scaling);
    if (ct_file_has_group(f, "/clusters_k")) {
        ct_table *t;
        if (ct_table_open(&t, f, "/clusters_k", &e) == CT_OK) {
            size_t nk = ct_table_nrows(t);
            static const char *const KC[5] = {"k", "inertia", "silhouette", "calinski_harabasz",
                                              "davies_bouldin"};
            double *dst[5] = {r->kk, r->k_inertia, r->k_sil, r->k_ch, r->k_db};
            r->nk = nk <= 64 ? nk : 0;
            for (size_t q = 0; q < 5 && r->nk > 0; q++) {
                long j = ct_table_find(t, KC[q]);
                if (j < 0 || ct_table_read(t, (size_t)j, 0, nk, CT_FLOAT64, dst[q], &e) != CT_OK) {
                    r->nk = 0;
                }
            }
            ct_table_close(t);
        }
    }
}

/* /migration (old x new tiers) when the run had a previous result. */
static void load_migration(rp *r, const ct_file *f)
{
    ct_error e;
    if (ct_file_has_dataset(f, "/migration")) {
        size_t mr, mc;
        if (ct_file_read_matrix(f, "/migration", &r->mig, &mr, &mc, &e) == CT_OK &&
            mr >= 2 && mc == r->ntiers + 1) {
            char buf[CT_MAX_TIERS * 65 + 70];
            attr_str(f, "/migration", "previous_names", buf, sizeof buf);
            attr_str(f, "/migration", "previous", r->previous, sizeof r->previous);
            if (split(buf, ',', r->mig_row, CT_MAX_TIERS + 1) == mr - 1) {
                snprintf(r->mig_row[mr - 1], 64, "(not in previous)");
                for (size_t t = 0; t < r->ntiers; t++) {
                    snprintf(r->mig_col[t], 64, "%s", r->tier[t].name);
                }
                snprintf(r->mig_col[mc - 1], 64, "(gone)");
                r->has_mig = 1;
                r->mr = mr;
                r->mc = mc;
                r->labels_matched = (int)attr_i64(f, "/migration", "labels_matched", 0);
                r->hyst_kept = (size_t)attr_i64(f, "/migration", "hysteresis_kept", 0);
            }
        }
    }
}

/* /audit/<column>: the protected columns' tier counts and association. */
static void load_audit(rp *r, const ct_file *f)
{
    ct_error e;
    char aud[CT_MAX_AUDIT][64];
    size_t na = 0;
    if (ct_file_has_group(f, "/audit") &&
        ct_file_list_groups(f, "/audit", aud, CT_MAX_AUDIT, &na, &e) == CT_OK) {
        for (size_t a = 0; a < na; a++) {
            ct_audit *A = &r->audit[r->naudit];
            char grp[128], p2[160], buf[CT_AUDIT_MAX_GROUPS * 49 + 8];
            char gn[CT_AUDIT_MAX_GROUPS][64];
            double *cnt = NULL;
            size_t gr, gc, ne = 0;
            memset(A, 0, sizeof *A);
            snprintf(grp, sizeof grp, "/audit/%.63s", aud[a]);
            snprintf(p2, sizeof p2, "%s/counts", grp);
            snprintf(A->column, sizeof A->column, "%s", aud[a]);
            attr_str(f, grp, "groups", buf, sizeof buf);
            A->ngroups = split(buf, '\x1f', gn, CT_AUDIT_MAX_GROUPS);
            if (ct_file_read_matrix(f, p2, &cnt, &gr, &gc, &e) == CT_OK && gr == A->ngroups &&
                gc == r->ntiers &&
                ct_attr_get_f64v(f, grp, "eta2", A->eta2, CT_MAX_FEATURES, &ne, &e) == CT_OK) {
                for (size_t q = 0; q < gr; q++) {
                    snprintf(A->group[q], sizeof A->group[q], "%.47s", gn[q]);
                    for (size_t t = 0; t < gc; t++) {
                        A->count[q][t] = cnt[q * gc + t];
                    }
                }
                A->ntiers = gc;
                A->nfeat = ne;
                A->cramers_v = attr_f64(f, grp, "cramers_v", (double)NAN);
                r->naudit++;
            }
            free(cnt);
        }
    }
}

/* The 90 % delta-method interval of each tier's total CLV (parameter
 * uncertainty of the purchase and spend fits, ct_clv_group_clv). */
static void tier_clv_intervals(rp *r, const cols *k)
{
    double tot[CT_MAX_TIERS + 1], lo[CT_MAX_TIERS + 1], hi[CT_MAX_TIERS + 1];
    const ct_fit *gg = r->nfits > 1 && r->fit[1].model == CT_GAMMAGAMMA ? &r->fit[1] : NULL;
    ct_error e;
    for (size_t t = 0; t < r->ntiers; t++) {
        r->tier[t].clv_lo = r->tier[t].clv_hi = (double)NAN;
    }
    if (r->ntiers == 0 || r->ntiers > CT_MAX_TIERS + 1 ||
        ct_clv_group_clv(&r->fit[0], gg, &k->c, r->horizon, r->discount, k->tier, r->ntiers, 0.9,
                         0, tot, lo, hi, &e) != CT_OK) {
        return;
    }
    for (size_t t = 0; t < r->ntiers; t++) {
        r->tier[t].clv_lo = lo[t];
        r->tier[t].clv_hi = hi[t];
    }
    r->has_clv_int = 1;
}

/* Data-quality notes on the loaded result. */
static void load_notes(rp *r, const ct_file *f, const cols *k)
{
    double zero = 0, young = r->tier[r->ntiers - 1].n;
    for (size_t i = 0; i < k->c.n; i++) {
        zero += k->c.x[i] == 0 ? (k->c.weight != NULL ? k->c.weight[i] : 1.0) : 0.0;
    }
    int64_t late = attr_i64(f, "/customers", "customers_after_calibration", 0);
    for (size_t i = 0; ct_ingest_count_name(i) != NULL; i++) { /* ingest.h's counts */
        char attr[64];
        snprintf(attr, sizeof attr, "ingest_%s", ct_ingest_count_name(i));
        int64_t v = attr_i64(f, "/customers", attr, 0);
        if (ct_ingest_count_left_out(i) != NULL && v > 0) {
            rp_note(r, "ingest left out %lld %s of %lld rows read.", (long long)v,
                    ct_ingest_count_left_out(i),
                    (long long)attr_i64(f, "/customers", "ingest_rows_read", 0));
        }
    }
    if (r->total_w > 0) {
        rp_note(r, "%.0f of %.0f customers (%.1f%%) made no repeat purchase in the calibration "
                   "period; their CLV rests on the population parameters alone.",
                zero, r->total_w, 100 * zero / r->total_w);
    }
    if (young > 0) {
        rp_note(r, "%.0f customers are younger than %g periods and are in the '%s' tier, "
                   "not graded.",
                young, r->new_min_age, r->tier[r->ntiers - 1].name);
    }
    if (late > 0) {
        rp_note(r, "%lld customers first bought after the calibration end and are not in "
                   "this result.",
                (long long)late);
    }
    if (r->ncand > 0 && r->nfits > 0) {
        char names[64] = "";
        for (size_t j = 0; j < r->ncand; j++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", j ? ", " : "",
                     ct_clv_model_name(r->cand[j].model));
        }
        rp_note(r, "the purchase model %s was chosen among the fitted candidates (%s) by the %s.",
                ct_clv_model_name(r->fit[0].model), names, r->choice_rule);
    }
    char fb[240] = "";
    attr_str(f, "/tiers", "loyalty_fallback", fb, sizeof fb);
    if (fb[0] != '\0') {
        rp_note(r, "%s.", fb);
    } else if (r->nfits > 0 && r->fit[0].model == CT_BGNBD &&
               strcmp(r->loyalty_metric, "p_alive") == 0 && zero > 0) {
        rp_note(r, "BG/NBD gives P(alive) = 1 to every customer without a repeat purchase: "
                   "these %.0f customers rank as '%s' on P(alive) whatever their recency "
                   "(use purchase = auto, mbgnbd or pareto, or metric = p_no_purchase).",
                zero, r->loyalty[0]);
    }
    for (size_t i = 0; i < r->nfits; i++) {
        const ct_fit *ft = &r->fit[i];
        if (!ft->converged) {
            rp_note(r, "the %s fit did not meet its convergence test (gradient %.2g); "
                       "treat its parameters with care.",
                    ct_clv_model_name(ft->model), ft->grad_norm);
        }
        for (size_t j = 0; j < ft->k; j++) {
            if (!isfinite(ft->se[j])) {
                rp_note(r, "%s: no standard error for %s (Hessian not positive definite).",
                        ct_clv_model_name(ft->model), ct_fit_param_name(ft, j));
            }
        }
        if (ft->model == CT_GAMMAGAMMA && fabs(ft->corr_xm) > 0.3) {
            rp_note(r, "Gamma-Gamma assumes spend independent of frequency; here their "
                       "correlation among repeat buyers is %.2f.",
                    ft->corr_xm);
        }
    }
    if (r->k_rows > 0 && r->k_rows < r->graded) {
        rp_note(r, "k was chosen on a deterministic sample of %zu of the %zu graded "
                   "customers, then fitted on all of them.",
                r->k_rows, r->graded);
    }
    size_t sup = 0;
    for (size_t t = 0; t < r->ntiers; t++) {
        sup += (size_t)rp_suppressed(r, r->tier[t].n);
    }
    if (sup > 0) {
        rp_note(r, "%zu tier(s) hold fewer than %zu customers; their figures are withheld.",
                sup, r->min_group);
    }
    if (r->has_mig && r->hysteresis > 0) {
        rp_note(r, "hysteresis margin %g kept %zu customers in their previous tier.",
                r->hysteresis, r->hyst_kept);
    }
    if (k->c.weight != NULL) {
        rp_note(r, "the input is a weighted summary (%zu rows stand for %.0f customers).",
                k->c.n, r->total_w);
    }
}

static ct_status load(rp *r, const char *path, const ct_report_opts *o, ct_error *err)
{
    ct_file *f = NULL;
    cols k;
    ct_error e;
    memset(&k, 0, sizeof k);
    snprintf(r->path, sizeof r->path, "%s", path);
    ct_status s = ct_file_open(&f, path, err);
    if (s != CT_OK) {
        return s;
    }
    if (!ct_file_has_group(f, "/tiers") || !ct_file_has_group(f, "/scores")) {
        ct_file_close(f);
        return ct_fail_at(err, CT_EFORMAT, path, 0, 0,
                          "not a tier result (no /tiers or /scores); run `clvtier run` first");
    }
    load_attrs(r, f, o);
    s = load_tier_names(r, f, err);
    if (s != CT_OK) {
        ct_file_close(f);
        return s;
    }
    load_fits(r, f);
    load_clusters(r, f);
    load_migration(r, f);
    load_audit(r, f);
    s = read_cols(f, &k, err);
    if (s == CT_OK) {
        r->n = k.c.n;
        s = profiles(r, &k, err);
        r->graded_w = r->total_w - r->tier[r->ntiers - 1].n;
    }
    double *covz = NULL;
    if (s == CT_OK && r->nfits > 0 && r->fit[0].dynamic) {
        rp_note(r, "the fit has time-varying covariates: the model-check tables, which hold "
                   "each customer's parameters fixed in time, are not drawn.");
    } else if (s == CT_OK && r->nfits > 0 && r->fit[0].ncoef > 0) { /* each customer's covariates */
        if (ct_features_read_fit(path, &k.c, &r->fit[0], &covz, &e) == CT_OK) {
            k.c.cov = covz;
        } else {
            rp_note(r, "the fit's covariates could not be read (%s): no model-check tables.",
                    e.msg);
        }
    }
    if (s == CT_OK && r->nfits > 0 && r->fit[0].model != CT_BGBB && !r->fit[0].dynamic &&
        (r->fit[0].ncoef == 0 || k.c.cov != NULL)) {
        if (ct_clv_repeat_table(&r->fit[0], &k.c, RP_JMAX, r->rep_exp, r->rep_obs, &e) != CT_OK) {
            rp_note(r, "expected vs actual repeat purchases unavailable: %s", e.msg);
        }
        r->t_star = attr_f64(f, "/customers", "holdout_periods", 0);
        if (k.c.x_star != NULL && r->t_star > 0 &&
            ct_clv_holdout_table(&r->fit[0], &k.c, r->t_star, RP_JMAX, r->hold_n, r->hold_act,
                                 r->hold_pred, &e) == CT_OK) {
            r->has_holdout = 1;
            r->has_calib = ct_clv_calibration(&r->fit[0], &k.c, r->t_star, 10, r->cal_n,
                                              r->cal_pred, r->cal_obs, &r->brier, &e) == CT_OK;
        }
        tier_clv_intervals(r, &k);
        if (r->fit[0].ncoef == 0) {
            heat_map(r, &k);
        } else {
            rp_note(r, "with covariates every customer has their own parameters: no P(alive) "
                       "map by frequency and recency (it would hold for one covariate pattern "
                       "only).");
        }
    }
    if (s == CT_OK) {
        load_notes(r, f, &k);
    }
    cols_free(&k);
    free(covz);
    ct_file_close(f);
    return s;
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(fp, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(fp, "\\u%04x", ch);
        } else {
            fputc(ch, fp);
        }
    }
    fputc('"', fp);
}

static void json_num(FILE *fp, double v)
{
    if (isfinite(v)) {
        fprintf(fp, "%.10g", v);
    } else {
        fputs("null", fp);
    }
}

/* a count, or null when suppressed */
static void json_count(FILE *fp, const rp *r, double v)
{
    json_num(fp, rp_suppressed(r, v) ? (double)NAN : v);
}

static void json_fit(FILE *fp, const ct_fit *f)
{
    fprintf(fp, "{\"params\": {");
    for (size_t j = 0; j < f->k; j++) {
        fprintf(fp, "%s", j ? ", " : "");
        json_str(fp, ct_fit_param_name(f, j));
        fputs(": ", fp);
        json_num(fp, f->par[j]);
    }
    fprintf(fp, "}, \"se\": {");
    for (size_t j = 0; j < f->k; j++) {
        fprintf(fp, "%s", j ? ", " : "");
        json_str(fp, ct_fit_param_name(f, j));
        fputs(": ", fp);
        json_num(fp, f->se[j]);
    }
    if (f->ncoef > 0) {
        fprintf(fp, "}, \"covariates\": {\"lr_df\": %zu, \"ll_without_covariates\": ", f->ncoef);
        json_num(fp, f->ll0);
        fprintf(fp, ", \"lr_statistic\": ");
        json_num(fp, f->lr);
        fprintf(fp, ", \"lr_p_value\": ");
        json_num(fp, f->lr_p);
        fprintf(fp, ", \"penalty\": ");
        json_num(fp, f->penalty_cov);
    }
    fprintf(fp, "}, \"ll\": ");
    json_num(fp, f->ll);
    fprintf(fp, ", \"aic\": ");
    json_num(fp, f->aic);
    fprintf(fp, ", \"bic\": ");
    json_num(fp, f->bic);
    fprintf(fp, ", \"n\": ");
    json_num(fp, f->nobs);
    fprintf(fp, ", \"converged\": %s, \"iterations\": %u}", f->converged ? "true" : "false",
            f->iterations);
}

static void json_vec(FILE *fp, const double *v, size_t n)
{
    fputc('[', fp);
    for (size_t i = 0; i < n; i++) {
        fprintf(fp, "%s", i ? ", " : "");
        json_num(fp, v[i]);
    }
    fputc(']', fp);
}

/* The result, the model, the data and the customer counts. */
static void json_head(const rp *r, FILE *fp)
{
    fprintf(fp, "{\n  \"schema\": \"clvtier-summary/1\",\n  \"clvtier_version\": ");
    json_str(fp, r->version);
    fprintf(fp, ",\n  \"created\": ");
    json_str(fp, r->created);
    fprintf(fp, ",\n  \"result\": ");
    json_str(fp, r->path);
    fprintf(fp, ",\n  \"model\": {\"name\": ");
    json_str(fp, r->model);
    fprintf(fp, ", \"description\": ");
    json_str(fp, r->description);
    fprintf(fp, ", \"file\": ");
    json_str(fp, r->model_file);
    fprintf(fp, ", \"sha256\": ");
    json_str(fp, r->sha);
    fprintf(fp, ", \"rank_by\": ");
    json_str(fp, r->rank_by);
    fprintf(fp, ", \"assign\": ");
    json_str(fp, r->assign);
    fprintf(fp, "},\n  \"data\": {\"source\": ");
    json_str(fp, r->source);
    fprintf(fp, ", \"period\": ");
    json_str(fp, r->period);
    fprintf(fp, ", \"calibration_end\": ");
    json_str(fp, r->cal_end);
    fprintf(fp, ", \"observation_end\": ");
    json_str(fp, r->obs_end);
    fprintf(fp, "},\n  \"customers\": %.17g,\n  \"rows\": %zu,\n  \"graded\": %.17g,\n",
            r->total_w, r->n, r->graded_w);
}

/* ", customers": [...], "<an>": [...], "<bn>": [...] for len groups (at most
 * 16) of n customers, the small groups' values withheld. */
static void json_groups(const rp *r, FILE *fp, size_t len, const double *n, const char *an,
                        const double *a, const char *bn, const double *b)
{
    double v[3][16];
    for (size_t j = 0; j < len && j < 16; j++) {
        int sup = rp_suppressed(r, n[j]);
        v[0][j] = sup ? (double)NAN : n[j];
        v[1][j] = sup ? (double)NAN : a[j];
        v[2][j] = sup ? (double)NAN : b[j];
    }
    fprintf(fp, ", \"customers\": ");
    json_vec(fp, v[0], len);
    fprintf(fp, ", \"%s\": ", an);
    json_vec(fp, v[1], len);
    fprintf(fp, ", \"%s\": ", bn);
    json_vec(fp, v[2], len);
}

/* The fits, CLV settings, repeat-purchase and holdout tables. */
static void json_fits(const rp *r, FILE *fp)
{
    fprintf(fp, "  \"min_group\": %zu,\n  \"fits\": {", r->min_group);
    for (size_t i = 0; i < r->nfits; i++) {
        fprintf(fp, "%s\n    ", i ? "," : "");
        json_str(fp, ct_clv_model_name(r->fit[i].model));
        fputs(": ", fp);
        json_fit(fp, &r->fit[i]);
    }
    fprintf(fp, "\n  },\n  \"model_choice\": ");
    if (r->ncand > 0) {
        fprintf(fp, "{\"chosen\": ");
        json_str(fp, ct_clv_model_name(r->fit[0].model));
        fprintf(fp, ", \"rule\": ");
        json_str(fp, r->choice_rule);
        fprintf(fp, ", \"candidates\": [");
        for (size_t j = 0; j < r->ncand; j++) {
            fprintf(fp, "%s{\"model\": ", j ? ", " : "");
            json_str(fp, ct_clv_model_name(r->cand[j].model));
            fprintf(fp, ", \"ll\": ");
            json_num(fp, r->cand[j].ll);
            fprintf(fp, ", \"aic\": ");
            json_num(fp, r->cand[j].aic);
            fprintf(fp, ", \"bic\": ");
            json_num(fp, r->cand[j].bic);
            fprintf(fp, ", \"holdout_mse\": ");
            json_num(fp, r->cand_mse[j]);
            fprintf(fp, ", \"holdout_mae\": ");
            json_num(fp, r->cand_mae[j]);
            fprintf(fp, ", \"holdout_agg_error\": ");
            json_num(fp, r->cand_agg[j]);
            fprintf(fp, "}");
        }
        fprintf(fp, "]}");
    } else {
        fprintf(fp, "null");
    }
    fprintf(fp, ",\n  \"clv\": {\"horizon\": ");
    json_num(fp, r->horizon);
    fprintf(fp, ", \"discount\": ");
    json_num(fp, r->discount);
    fprintf(fp, ", \"total\": ");
    json_num(fp, r->total_clv);
    fprintf(fp, "},\n  \"repeat_purchases\": ");
    if (r->nfits > 0) {
        double obs[RP_JMAX];
        for (size_t j = 0; j < RP_JMAX; j++) {
            obs[j] = rp_suppressed(r, r->rep_obs[j]) ? (double)NAN : r->rep_obs[j];
        }
        fprintf(fp, "{\"x\": [0, 1, 2, 3, 4, 5, 6, \"7+\"], \"expected\": ");
        json_vec(fp, r->rep_exp, RP_JMAX);
        fprintf(fp, ", \"observed\": ");
        json_vec(fp, obs, RP_JMAX);
        fprintf(fp, "}");
    } else {
        fprintf(fp, "null");
    }
    fprintf(fp, ",\n  \"holdout\": ");
    if (r->has_holdout) {
        fprintf(fp, "{\"periods\": ");
        json_num(fp, r->t_star);
        json_groups(r, fp, RP_JMAX, r->hold_n, "actual", r->hold_act, "predicted", r->hold_pred);
        fprintf(fp, "}");
    } else {
        fprintf(fp, "null");
    }
    fprintf(fp, ",\n  \"calibration\": ");
    if (r->has_calib) {
        fprintf(fp, "{\"event\": \"a purchase in the holdout\", \"brier\": ");
        json_num(fp, r->brier);
        json_groups(r, fp, 10, r->cal_n, "predicted", r->cal_pred, "observed", r->cal_obs);
        fprintf(fp, "}");
    } else {
        fprintf(fp, "null");
    }
}

/* The clustering and the choice of k. */
static void json_clusters(const rp *r, FILE *fp)
{
    fprintf(fp, ",\n  \"clusters\": {\"k\": %zu, \"inertia\": ", r->k);
    json_num(fp, r->inertia);
    fprintf(fp, ", \"features\": [");
    {
        char names[CT_MAX_FEATURES][64];
        size_t nf = split(r->features, ',', names, CT_MAX_FEATURES);
        for (size_t j = 0; j < nf; j++) {
            fprintf(fp, "%s", j ? ", " : "");
            json_str(fp, names[j]);
        }
    }
    fprintf(fp, "], \"transform\": ");
    json_str(fp, r->transform);
    fprintf(fp, ", \"scaling\": ");
    json_str(fp, r->scaling);
    fprintf(fp, ", \"k_selection\": [");
    for (size_t q = 0; q < r->nk; q++) {
        fprintf(fp, "%s{\"k\": %.0f, \"inertia\": ", q ? ", " : "", r->kk[q]);
        json_num(fp, r->k_inertia[q]);
        fprintf(fp, ", \"silhouette\": ");
        json_num(fp, r->k_sil[q]);
        fprintf(fp, ", \"calinski_harabasz\": ");
        json_num(fp, r->k_ch[q]);
        fprintf(fp, ", \"davies_bouldin\": ");
        json_num(fp, r->k_db[q]);
        fprintf(fp, "}");
    }
}

/* Tier counts, the loyalty rule and loyalty counts. */
static void json_tiers(const rp *r, FILE *fp)
{
    fprintf(fp, "]},\n  \"tiers\": {");
    for (size_t t = 0; t < r->ntiers; t++) {
        fprintf(fp, "%s", t ? ", " : "");
        json_str(fp, r->tier[t].name);
        fputs(": ", fp);
        json_count(fp, r, r->tier[t].n);
    }
    fprintf(fp, "},\n  \"loyalty_rule\": {\"metric\": ");
    json_str(fp, r->loyalty_metric);
    fprintf(fp, ", \"periods\": ");
    json_num(fp, r->loyalty_periods);
    fprintf(fp, ", \"loyal\": ");
    json_num(fp, r->loyal_min);
    fprintf(fp, ", \"lost\": ");
    json_num(fp, r->lost_max);
    fprintf(fp, "},\n  \"loyalty\": {");
    for (size_t l = 0; l < 3; l++) {
        fprintf(fp, "%s", l ? ", " : "");
        json_str(fp, r->loyalty[l]);
        fputs(": ", fp);
        json_count(fp, r, r->loyal_total[l]);
    }
}

/* Per-tier profiles and the review period. */
static void json_profiles(const rp *r, FILE *fp)
{
    fprintf(fp, "},\n  \"tier_profiles\": [");
    for (size_t t = 0; t < r->ntiers; t++) {
        const rp_tier *T = &r->tier[t];
        int sup = rp_suppressed(r, T->n);
        fprintf(fp, "%s\n    {\"tier\": ", t ? "," : "");
        json_str(fp, T->name);
        fprintf(fp, ", \"rank\": %zu, \"suppressed\": %s, \"customers\": ", t + 1,
                sup ? "true" : "false");
        json_count(fp, r, T->n);
        fprintf(fp, ", \"share\": ");
        json_num(fp, sup || r->total_w <= 0 ? (double)NAN : T->n / r->total_w);
        fprintf(fp, ", \"clv_total\": ");
        json_num(fp, sup ? (double)NAN : T->clv);
        fprintf(fp, ", \"clv_total_lo\": ");
        json_num(fp, sup ? (double)NAN : T->clv_lo);
        fprintf(fp, ", \"clv_total_hi\": ");
        json_num(fp, sup ? (double)NAN : T->clv_hi);
        if (r->stab_draws > 0) {
            fprintf(fp, ", \"stability_mean\": ");
            json_num(fp, sup ? (double)NAN : T->stab_mean);
            fprintf(fp, ", \"borderline_customers\": ");
            json_num(fp, sup ? (double)NAN : T->stab_border);
        }
        fprintf(fp, ", \"clv_share\": ");
        json_num(fp, sup || r->total_clv <= 0 ? (double)NAN : T->clv / r->total_clv);
        for (size_t q = 0; q < RP_NMET; q++) {
            fprintf(fp, ", \"mean_%s\": ", rp_metric_name[q]);
            json_num(fp, sup || T->n == 0 ? (double)NAN : T->mean[q]);
            fprintf(fp, ", \"median_%s\": ", rp_metric_name[q]);
            json_num(fp, sup || T->n == 0 ? (double)NAN : T->median[q]);
        }
        fprintf(fp, ", \"loyalty\": {");
        for (size_t l = 0; l < 3; l++) {
            fprintf(fp, "%s", l ? ", " : "");
            json_str(fp, r->loyalty[l]);
            fputs(": ", fp);
            json_count(fp, r, sup ? (double)NAN : T->loyal[l]);
        }
        fprintf(fp, "}, \"action\": ");
        json_str(fp, T->action);
        fprintf(fp, "}");
    }
    fprintf(fp, "\n  ],\n  \"review\": ");
    json_str(fp, r->review);
}

/* The migration matrix (null without a previous run). */
static void json_migration(const rp *r, FILE *fp)
{
    fprintf(fp, ",\n  \"migration\": ");
    if (r->has_mig) {
        fprintf(fp, "{\"previous\": ");
        json_str(fp, r->previous);
        fprintf(fp, ", \"labels_matched\": %s, \"hysteresis\": ",
                r->labels_matched ? "true" : "false");
        json_num(fp, r->hysteresis);
        fprintf(fp, ", \"hysteresis_kept\": %zu, \"rows\": [", r->hyst_kept);
        for (size_t i = 0; i < r->mr; i++) {
            fprintf(fp, "%s", i ? ", " : "");
            json_str(fp, r->mig_row[i]);
        }
        fprintf(fp, "], \"columns\": [");
        for (size_t j = 0; j < r->mc; j++) {
            fprintf(fp, "%s", j ? ", " : "");
            json_str(fp, r->mig_col[j]);
        }
        fprintf(fp, "], \"counts\": [");
        for (size_t i = 0; i < r->mr; i++) {
            fprintf(fp, "%s[", i ? ", " : "");
            for (size_t j = 0; j < r->mc; j++) {
                fprintf(fp, "%s", j ? ", " : "");
                json_count(fp, r, r->mig[i * r->mc + j]);
            }
            fprintf(fp, "]");
        }
        fprintf(fp, "]}");
    } else {
        fprintf(fp, "null");
    }
}

/* The fairness audit and the data-quality notes. */
static void json_audit(const rp *r, FILE *fp)
{
    fprintf(fp, ",\n  \"audit\": [");
    for (size_t a = 0; a < r->naudit; a++) {
        const ct_audit *A = &r->audit[a];
        char names[CT_MAX_FEATURES][64];
        size_t nf = split(r->features, ',', names, CT_MAX_FEATURES);
        fprintf(fp, "%s\n    {\"column\": ", a ? "," : "");
        json_str(fp, A->column);
        fprintf(fp, ", \"cramers_v\": ");
        json_num(fp, A->cramers_v);
        fprintf(fp, ", \"proxy_eta2_threshold\": %g, \"features\": {", CT_AUDIT_PROXY_ETA2);
        for (size_t j = 0; j < A->nfeat && j < nf; j++) {
            fprintf(fp, "%s", j ? ", " : "");
            json_str(fp, names[j]);
            fprintf(fp, ": {\"eta2\": ");
            json_num(fp, A->eta2[j]);
            fprintf(fp, ", \"proxy\": %s}", A->eta2[j] >= CT_AUDIT_PROXY_ETA2 ? "true" : "false");
        }
        fprintf(fp, "}, \"groups\": [");
        for (size_t q = 0; q < A->ngroups; q++) {
            double gt = 0;
            for (size_t t = 0; t < A->ntiers; t++) {
                gt += A->count[q][t];
            }
            int sup = rp_suppressed(r, gt);
            fprintf(fp, "%s{\"group\": ", q ? ", " : "");
            json_str(fp, A->group[q]);
            fprintf(fp, ", \"customers\": ");
            json_count(fp, r, gt);
            fprintf(fp, ", \"tiers\": {");
            for (size_t t = 0; t < A->ntiers; t++) {
                fprintf(fp, "%s", t ? ", " : "");
                json_str(fp, r->tier[t].name);
                fputs(": ", fp);
                json_count(fp, r, sup ? (double)NAN : A->count[q][t]);
            }
            fprintf(fp, "}}");
        }
        fprintf(fp, "]}");
    }
    fprintf(fp, "%s],\n  \"notes\": [", r->naudit ? "\n  " : "");
    for (size_t i = 0; i < r->nnotes; i++) {
        fprintf(fp, "%s\n    ", i ? "," : "");
        json_str(fp, r->notes[i]);
    }
    fprintf(fp, "%s]\n}\n", r->nnotes ? "\n  " : "");
}

static void write_json(const rp *r, FILE *fp)
{
    json_head(r, fp);
    json_fits(r, fp);
    json_clusters(r, fp);
    json_tiers(r, fp);
    json_profiles(r, fp);
    json_migration(r, fp);
    json_audit(r, fp);
}

/* ---- Markdown ----------------------------------------------------------------- */

static void md_count(FILE *fp, const rp *r, double v)
{
    if (rp_suppressed(r, v)) {
        fprintf(fp, " <%zu |", r->min_group);
    } else {
        fprintf(fp, " %.0f |", v);
    }
}

/* Text from the input or the model file into Markdown: characters that
 * would make markup (tables, emphasis, links, raw HTML, headings, code) are
 * escaped, line breaks become spaces; in place, cut to cap. */
static void md_escape(char *s, size_t cap)
{
    char out[1100];
    size_t n = 0;
    for (const char *p = s; *p != '\0' && n + 6 < sizeof out; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '<' || ch == '>' || ch == '&') {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s",
                                  ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : "&amp;");
        } else if (strchr("\\`*_[]()#|!~", ch) != NULL) {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else {
            out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
        }
    }
    out[n] = '\0';
    snprintf(s, cap, "%s", out);
}

#define MD_ESC(field) md_escape(field, sizeof(field))

static void write_md_body(const rp *r, FILE *fp);

/* report.md: the result's text escaped (a copy), then the tables. */
static void write_md(const rp *r0, FILE *fp)
{
    rp *r = malloc(sizeof *r);
    if (r == NULL) {
        return; /* write_text reports the short file */
    }
    *r = *r0;
    MD_ESC(r->model);
    MD_ESC(r->description);
    MD_ESC(r->review);
    MD_ESC(r->source);
    MD_ESC(r->previous);
    MD_ESC(r->model_file);
    MD_ESC(r->features);
    MD_ESC(r->choice_rule);
    for (size_t t = 0; t < CT_MAX_TIERS + 1; t++) {
        MD_ESC(r->tier[t].name);
        MD_ESC(r->tier[t].action);
    }
    for (size_t l = 0; l < 3; l++) {
        MD_ESC(r->loyalty[l]);
    }
    for (size_t i = 0; i < CT_MAX_TIERS + 2; i++) {
        MD_ESC(r->mig_row[i]);
        MD_ESC(r->mig_col[i]);
    }
    for (size_t a = 0; a < r->naudit; a++) {
        MD_ESC(r->audit[a].column);
        for (size_t q = 0; q < r->audit[a].ngroups; q++) {
            MD_ESC(r->audit[a].group[q]);
        }
    }
    for (size_t i = 0; i < r->nnotes; i++) {
        MD_ESC(r->notes[i]);
    }
    for (size_t i = 0; i < r->nfits; i++) {
        for (size_t j = 0; j < r->fit[i].ncoef; j++) {
            MD_ESC(r->fit[i].coef_name[j]);
        }
    }
    write_md_body(r, fp);
    free(r);
}

static void write_md_body(const rp *r, FILE *fp)
{
    fprintf(fp, "# Customer tiers: %s\n\n", r->model);
    if (r->description[0] != '\0') {
        fprintf(fp, "%s\n\n", r->description);
    }
    fprintf(fp, "%.0f customers (%.0f graded into value tiers), source %s, period %s, "
                "calibration end %s.  Small groups (< %zu customers) are withheld.\n\n",
            r->total_w, r->graded_w, r->source, r->period[0] ? r->period : "?",
            r->cal_end[0] ? r->cal_end : "(all data)", r->min_group);
    fprintf(fp, "## Tiers\n\n%s| rank | tier | customers | share | CLV total | CLV share | "
                "mean x | mean recency | mean m | mean CLV | median CLV | mean P(alive) |\n"
                "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            r->has_clv_int ? "CLV totals with their 90 % interval [lo, hi] from the fits' "
                             "parameter uncertainty (delta method).\n\n"
                           : "");
    for (size_t t = 0; t < r->ntiers; t++) {
        const rp_tier *T = &r->tier[t];
        fprintf(fp, "| %zu | %s |", t + 1, T->name);
        md_count(fp, r, T->n);
        if (rp_suppressed(r, T->n) || T->n == 0) {
            fprintf(fp, " | | | | | | | | |\n");
            continue;
        }
        fprintf(fp, " %.1f%% | %.2f", r->total_w > 0 ? 100 * T->n / r->total_w : 0.0, T->clv);
        if (isfinite(T->clv_lo) && isfinite(T->clv_hi)) {
            fprintf(fp, " [%.2f, %.2f]", T->clv_lo, T->clv_hi);
        }
        fprintf(fp, " | ");
        rp_num(fp, r->total_clv > 0 ? 100 * T->clv / r->total_clv : (double)NAN, 1, 0, "%");
        const double v[6] = {T->mean[RP_X],   T->mean[RP_REC],   T->mean[RP_M],
                             T->mean[RP_CLV], T->median[RP_CLV], T->mean[RP_PALIVE]};
        for (size_t q = 0; q < 6; q++) {
            fputs(" | ", fp);
            rp_num(fp, v[q], q == 5 ? 3 : 2, 0, "");
        }
        fputs(" |\n", fp);
    }
    if (r->ncand > 0) {
        fprintf(fp, "\n## Purchase model choice\n\nRule: the %s.\n\n"
                    "| model | log-likelihood | AIC | BIC | holdout MSE | holdout MAE | "
                    "aggregate error |\n|---|---:|---:|---:|---:|---:|---:|\n",
                r->choice_rule);
        for (size_t j = 0; j < r->ncand; j++) {
            const ct_fit *c = &r->cand[j];
            fprintf(fp, "| %s%s | %.4f | %.2f | %.2f | %.5g | %.4g | %.2f%% |\n",
                    ct_clv_model_name(c->model), c->model == r->fit[0].model ? " (chosen)" : "",
                    c->ll, c->aic, c->bic, r->cand_mse[j], r->cand_mae[j], 100 * r->cand_agg[j]);
        }
    }
    for (size_t i = 0; i < r->nfits; i++) {
        const ct_fit *f = &r->fit[i];
        fprintf(fp, "\n## Model fit: %s\n\n| parameter | estimate | std. error |\n|---|---:|---:|\n",
                ct_clv_model_name(f->model));
        for (size_t j = 0; j < f->k; j++) {
            fprintf(fp, "| %s | %.6g | %.4g |\n", ct_fit_param_name(f, j), f->par[j], f->se[j]);
        }
        fprintf(fp, "\nlog-likelihood %.4f, AIC %.2f, BIC %.2f, n = %.0f, %s after %u "
                    "iterations.\n",
                f->ll, f->aic, f->bic, f->nobs, f->converged ? "converged" : "NOT converged",
                f->iterations);
        if (f->ncoef > 0) {
            fprintf(fp, "\n%s\n", rp_cov_text(f));
        }
    }
    if (r->nfits > 0) {
        fprintf(fp, "\n## Repeat purchases in the calibration period\n\n"
                    "| x | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7+ |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n| actual |");
        for (size_t j = 0; j < RP_JMAX; j++) {
            md_count(fp, r, r->rep_obs[j]);
        }
        fprintf(fp, "\n| expected |");
        for (size_t j = 0; j < RP_JMAX; j++) {
            fprintf(fp, " %.1f |", r->rep_exp[j]);
        }
        fprintf(fp, "\n");
    }
    if (r->has_holdout) {
        fprintf(fp, "\n## Holdout (%g periods): mean purchases by calibration x\n\n"
                    "| x | customers | actual | predicted |\n|---|---:|---:|---:|\n",
                r->t_star);
        for (size_t j = 0; j < RP_JMAX; j++) {
            fprintf(fp, "| %zu%s |", j, j == RP_JMAX - 1 ? "+" : "");
            md_count(fp, r, r->hold_n[j]);
            if (rp_suppressed(r, r->hold_n[j]) || r->hold_n[j] == 0) {
                fprintf(fp, " | |\n");
            } else {
                fprintf(fp, " %.3f | %.3f |\n", r->hold_act[j], r->hold_pred[j]);
            }
        }
    }
    if (r->has_calib) {
        fprintf(fp, "\n## Calibration: P(a purchase in the holdout)\n\nCustomers in ten groups "
                    "of equal size by the predicted probability; Brier score %.5f.\n\n"
                    "| decile | customers | predicted | observed |\n|---:|---:|---:|---:|\n",
                r->brier);
        for (size_t j = 0; j < 10; j++) {
            fprintf(fp, "| %zu |", j + 1);
            md_count(fp, r, r->cal_n[j]);
            if (rp_suppressed(r, r->cal_n[j]) || r->cal_n[j] == 0) {
                fprintf(fp, " | |\n");
            } else {
                fprintf(fp, " %.4f | %.4f |\n", r->cal_pred[j], r->cal_obs[j]);
            }
        }
    }
    fprintf(fp, "\n## Clustering\n\nk = %zu over features %s (transform %s, scaling %s), "
                "inertia %.6g.\n",
            r->k, r->features, r->transform, r->scaling, r->inertia);
    if (r->nk > 0) {
        fprintf(fp, "\n| k | inertia | silhouette | Calinski-Harabasz | Davies-Bouldin |\n"
                    "|---:|---:|---:|---:|---:|\n");
        for (size_t q = 0; q < r->nk; q++) {
            fprintf(fp, "| %.0f%s | %.6g | %.4f | %.1f | %.4f |\n", r->kk[q],
                    (size_t)r->kk[q] == r->k ? " (chosen)" : "", r->k_inertia[q], r->k_sil[q],
                    r->k_ch[q], r->k_db[q]);
        }
    }
    if (r->has_mig) {
        fprintf(fp, "\n## Migration from %s\n\n| previous \\ now |", r->previous);
        for (size_t j = 0; j < r->mc; j++) {
            fprintf(fp, " %s |", r->mig_col[j]);
        }
        fprintf(fp, "\n|---|");
        for (size_t j = 0; j < r->mc; j++) {
            fprintf(fp, "---:|");
        }
        for (size_t i = 0; i < r->mr; i++) {
            fprintf(fp, "\n| %s |", r->mig_row[i]);
            for (size_t j = 0; j < r->mc; j++) {
                md_count(fp, r, r->mig[i * r->mc + j]);
            }
        }
        fprintf(fp, "\n");
    }
    if (r->stab_draws > 0) {
        fprintf(fp, "\n## Tier stability\n\n%zu draws of the fits' parameters re-score and "
                    "re-tier every customer (centroids fixed); stability is the share of draws "
                    "in which a customer keeps its tier, borderline below %g.\n\n"
                    "| tier | mean stability | borderline customers |\n|---|---:|---:|\n",
                r->stab_draws, r->stab_thr);
        for (size_t t = 0; t < r->ntiers; t++) {
            const rp_tier *T = &r->tier[t];
            if (rp_suppressed(r, T->n) || T->n == 0) {
                fprintf(fp, "| %s | | |\n", T->name);
                continue;
            }
            fprintf(fp, "| %s | %.4f |", T->name, T->stab_mean);
            md_count(fp, r, T->stab_border);
            fputc('\n', fp);
        }
    }
    fprintf(fp, "\n## Actions\n\n| tier | action |\n|---|---|\n");
    for (size_t t = 0; t + 1 < r->ntiers; t++) {
        fprintf(fp, "| %s | %s |\n", r->tier[t].name, r->tier[t].action);
    }
    if (r->review[0] != '\0') {
        fprintf(fp, "\nReview: %s\n", r->review);
    }
    for (size_t a = 0; a < r->naudit; a++) {
        const ct_audit *A = &r->audit[a];
        char names[CT_MAX_FEATURES][64];
        size_t nf = split(r->features, ',', names, CT_MAX_FEATURES);
        fprintf(fp, "\n## Fairness audit: %s (never used for clustering)\n\n"
                    "Cramer's V (tier vs group) = %.3f.\n\n| group |",
                A->column, A->cramers_v);
        for (size_t t = 0; t < A->ntiers; t++) {
            fprintf(fp, " %s |", r->tier[t].name);
        }
        fprintf(fp, "\n|---|");
        for (size_t t = 0; t < A->ntiers; t++) {
            fprintf(fp, "---:|");
        }
        for (size_t q = 0; q < A->ngroups; q++) {
            double gt = 0;
            for (size_t t = 0; t < A->ntiers; t++) {
                gt += A->count[q][t];
            }
            fprintf(fp, "\n| %s |", A->group[q]);
            for (size_t t = 0; t < A->ntiers; t++) {
                if (rp_suppressed(r, gt)) {
                    fprintf(fp, " <%zu |", r->min_group);
                } else {
                    md_count(fp, r, A->count[q][t]);
                }
            }
        }
        fprintf(fp, "\n\n| feature | eta^2 | proxy (eta^2 >= %.2f) |\n|---|---:|---|\n",
                CT_AUDIT_PROXY_ETA2);
        for (size_t j = 0; j < A->nfeat && j < nf; j++) {
            fprintf(fp, "| %s | %.4f | %s |\n", names[j], A->eta2[j],
                    A->eta2[j] >= CT_AUDIT_PROXY_ETA2 ? "**yes**" : "no");
        }
    }
    if (r->nnotes > 0) {
        fprintf(fp, "\n## Data-quality notes\n\n");
        for (size_t i = 0; i < r->nnotes; i++) {
            fprintf(fp, "- %s\n", r->notes[i]);
        }
    }
    fprintf(fp, "\n---\nclvtier %s, %s; model file %s (SHA-256 %s).\n", r->version, r->created,
            r->model_file, r->sha);
}

/* ---- tiers.csv ------------------------------------------------------------------ */

/* ids, tier and loyalty names into tiers.csv: formulas and control bytes defused */
static void csv_field(FILE *fp, const char *s, size_t len)
{
    ct_csv_quote(fp, s, len, 1);
}

static ct_status write_csv(const rp *r, const char *path, const char *key, ct_error *err)
{
    ct_file *f = NULL;
    ct_table *tc = NULL, *ts = NULL, *tt = NULL;
    ct_outfile *of = NULL;
    ct_pseudo *ps = NULL;
    char *ids = NULL;
    double *clv = NULL, *pa = NULL, *stab = NULL;
    int8_t *tier = NULL, *loy = NULL;
    size_t width = 0, B = CT_CHUNK_ROWS;
    ct_status s = key != NULL ? ct_pseudo_new(&ps, key, err) : CT_OK;
    if (s == CT_OK) {
        s = ct_file_open(&f, r->path, err);
    }
    if (s == CT_OK) {
        s = ct_table_open(&tc, f, "/customers", err);
    }
    if (s == CT_OK) {
        s = ct_table_open(&ts, f, "/scores", err);
    }
    if (s == CT_OK) {
        s = ct_table_open(&tt, f, "/tiers", err);
    }
    long jid = s == CT_OK ? ct_table_find(tc, "id") : -1;
    long jc = s == CT_OK ? ct_table_find(ts, "clv") : -1;
    long jp = s == CT_OK ? ct_table_find(ts, "p_alive") : -1;
    long jt = s == CT_OK ? ct_table_find(tt, "tier") : -1;
    long jl = s == CT_OK ? ct_table_find(tt, "loyalty") : -1;
    long js = s == CT_OK ? ct_table_find(tt, "stability") : -1; /* [tiers] stability, or none */
    if (s == CT_OK && (jid < 0 || jc < 0 || jp < 0 || jt < 0 || jl < 0)) {
        s = ct_fail_at(err, CT_EFORMAT, r->path, 0, 0,
                       "tiers.csv needs /customers/id, /scores/clv, p_alive, /tiers/tier, loyalty");
    }
    if (s == CT_OK) {
        s = ct_table_strwidth(tc, (size_t)jid, &width, err);
    }
    if (s == CT_OK) {
        ids = malloc(B * (width ? width : 1));
        clv = malloc(B * sizeof *clv);
        pa = malloc(B * sizeof *pa);
        tier = malloc(B);
        loy = malloc(B);
        stab = malloc(B * sizeof *stab);
        if (ids == NULL || clv == NULL || pa == NULL || tier == NULL || loy == NULL ||
            stab == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    if (s == CT_OK) {
        s = ct_outfile_open(&of, path, err);
    }
    FILE *fp = s == CT_OK ? ct_outfile_stream(of) : NULL;
    if (fp != NULL) {
        fprintf(fp, "%s,tier,loyalty,clv,p_alive%s\n", ps != NULL ? "pseudonym" : "id",
                js >= 0 ? ",stability" : "");
    }
    for (size_t r0 = 0; s == CT_OK && r0 < r->n; r0 += B) {
        size_t m = r->n - r0 < B ? r->n - r0 : B;
        s = ct_table_read_str(tc, (size_t)jid, r0, m, ids, width, err);
        if (s == CT_OK) {
            s = ct_table_read(ts, (size_t)jc, r0, m, CT_FLOAT64, clv, err);
        }
        if (s == CT_OK) {
            s = ct_table_read(ts, (size_t)jp, r0, m, CT_FLOAT64, pa, err);
        }
        if (s == CT_OK) {
            s = ct_table_read(tt, (size_t)jt, r0, m, CT_INT8, tier, err);
        }
        if (s == CT_OK && js >= 0) {
            s = ct_table_read(tt, (size_t)js, r0, m, CT_FLOAT64, stab, err);
        }
        if (s == CT_OK) {
            s = ct_table_read(tt, (size_t)jl, r0, m, CT_INT8, loy, err);
        }
        for (size_t i = 0; s == CT_OK && i < m; i++) {
            const char *id = ids + i * width;
            size_t len = strnlen(id, width);
            if (tier[i] < 0 || (size_t)tier[i] >= r->ntiers || loy[i] < 0 || loy[i] > 2) {
                s = ct_fail_at(err, CT_EFORMAT, r->path, r0 + i + 1, 0, "/tiers out of range");
                break;
            }
            if (ps != NULL) {
                char h[33];
                ct_pseudo_id(ps, id, len, h);
                fputs(h, fp);
            } else {
                csv_field(fp, id, len);
            }
            fputc(',', fp);
            csv_field(fp, r->tier[tier[i]].name, strlen(r->tier[tier[i]].name));
            fputc(',', fp);
            csv_field(fp, r->loyalty[loy[i]], strlen(r->loyalty[loy[i]]));
            fprintf(fp, ",%.6f,%.6f", clv[i], pa[i]);
            if (js >= 0) {
                fprintf(fp, ",%.4f", stab[i]);
            }
            fputc('\n', fp);
        }
    }
    if (s == CT_OK) {
        s = ct_outfile_commit(of, err);
        of = NULL;
    }
    ct_outfile_abort(of);
    ct_pseudo_free(ps);
    ct_table_close(tc);
    ct_table_close(ts);
    ct_table_close(tt);
    ct_file_close(f);
    free(ids);
    free(stab);
    free(clv);
    free(pa);
    free(tier);
    free(loy);
    return s;
}

static ct_status write_text(const rp *r, const char *path, void (*fn)(const rp *, FILE *),
                            ct_error *err)
{
    ct_outfile *of;
    ct_status s = ct_outfile_open(&of, path, err);
    if (s != CT_OK) {
        return s;
    }
    fn(r, ct_outfile_stream(of));
    return ct_outfile_commit(of, err);
}

ct_status ct_report_write(const char *result, const ct_report_opts *o, ct_error *err)
{
    rp *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = load(r, result, o, err);
    r->pseudonymised = o->id_key != NULL;
    if (s == CT_OK && o->csv != NULL) {
        s = write_csv(r, o->csv, o->id_key, err);
    }
    if (s == CT_OK && o->json != NULL) {
        s = write_text(r, o->json, write_json, err);
    }
    if (s == CT_OK && o->md != NULL) {
        s = write_text(r, o->md, write_md, err);
    }
    if (s == CT_OK && o->html != NULL) {
        s = write_text(r, o->html, rp_html, err);
    }
    free(r->mig);
    free(r);
    return s;
}
