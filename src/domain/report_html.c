/* report_html.c - report.html: one self-contained file, inline CSS and SVG
 * charts drawn here (no script, no fonts or images fetched). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "domain/report_internal.h"

static const char *const PAL[] = {"#1b6ca8", "#e07b39", "#3a9d5d", "#c23b4e", "#7d5ba6",
                                  "#8c6d31", "#d4a017", "#5f9ea0", "#b05f9c", "#6b8e23",
                                  "#4b5d67", "#a0522d", "#2f4f4f", "#9932cc", "#228b22",
                                  "#cd5c5c", "#999999"};
#define NPAL (sizeof PAL / sizeof PAL[0])

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1d2329;background:#f6f7f9}"
    "main{max-width:1060px;margin:0 auto;padding:24px}"
    "h1{font-size:26px;margin:8px 0}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid "
    "#d8dde3;padding-bottom:4px}"
    "section{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:8px 18px 16px;"
    "margin:16px 0}"
    "table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}"
    "th,td{padding:3px 9px;border-bottom:1px solid #e6e9ed;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f0f2f5}"
    ".sup{color:#8a949e;font-style:italic}.flag{color:#b3261e;font-weight:600}"
    ".muted{color:#5b6670}.charts{display:flex;flex-wrap:wrap;gap:12px}"
    "svg.chart{background:#fff;border:1px solid #eceff3}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}svg .t{font-size:13px;font-weight:600}"
    "code{background:#eef1f4;padding:0 3px;border-radius:3px}";

static void esc(FILE *fp, const char *s)
{
    rp_html_text(fp, s);
}

static void td_count(FILE *fp, const rp *r, double v)
{
    if (rp_suppressed(r, v)) {
        fprintf(fp, "<td class=sup>&lt;%zu</td>", r->min_group);
    } else {
        fprintf(fp, "<td>%.0f</td>", v);
    }
}

/* A "nice" axis maximum: 1, 2, 2.5 or 5 times a power of ten. */
static double nice_max(double v)
{
    if (!(v > 0) || !isfinite(v)) {
        return 1;
    }
    double p = pow(10, floor(log10(v)));
    static const double M[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < 5; i++) {
        if (v <= M[i] * p * (1 + 1e-12)) {
            return M[i] * p;
        }
    }
    return 10 * p;
}

static void svg_open(FILE *fp, int w, int h, const char *title)
{
    fprintf(fp, "<svg class=chart role=img width=%d height=%d viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\"><title>",
            w, h, w, h);
    esc(fp, title);
    fprintf(fp, "</title><text class=t x=10 y=18>");
    esc(fp, title);
    fprintf(fp, "</text>");
}

static void legend(FILE *fp, int x, int y, size_t n, const char *const *names, const char *const *col)
{
    for (size_t s = 0; s < n; s++) {
        fprintf(fp, "<rect x=%d y=%d width=10 height=10 fill=\"%s\"/><text x=%d y=%d>", x,
                y + (int)s * 15, col[s], x + 14, y + 9 + (int)s * 15);
        esc(fp, names[s]);
        fprintf(fp, "</text>");
    }
}

/* Vertical grouped bars: v[s * ncat + c]; NaN = withheld (drawn as a mark). */
static void bars(FILE *fp, const char *title, size_t ncat, const char *const *cat, size_t nser,
                 const char *const *ser, const double *v, const char *ylabel, int pct)
{
    const int W = 500, H = 280, L = 56, R = 120, T = 30, B = 46;
    double mx = 0;
    for (size_t i = 0; i < ncat * nser; i++) {
        if (isfinite(v[i])) {
            mx = fmax(mx, v[i]);
        }
    }
    mx = nice_max(mx);
    double pw = W - L - R, ph = H - T - B, gw = pw / (double)(ncat ? ncat : 1);
    double bw = gw * 0.8 / (double)(nser ? nser : 1);
    svg_open(fp, W, H, title);
    for (int q = 0; q <= 4; q++) {
        double yv = mx * q / 4, y = T + ph - ph * q / 4;
        fprintf(fp, "<line x1=%d x2=%.1f y1=%.1f y2=%.1f stroke=\"#e3e6ea\"/>", L, L + pw, y, y);
        fprintf(fp, "<text x=%d y=%.1f text-anchor=end>%.4g%s</text>", L - 4, y + 4,
                pct ? 100 * yv : yv, pct ? "%" : "");
    }
    fprintf(fp, "<text x=12 y=%.1f transform=\"rotate(-90 12 %.1f)\" text-anchor=middle>", T + ph / 2,
            T + ph / 2);
    esc(fp, ylabel);
    fprintf(fp, "</text>");
    for (size_t c = 0; c < ncat; c++) {
        double x0 = L + gw * (double)c + gw * 0.1;
        for (size_t s = 0; s < nser; s++) {
            double val = v[s * ncat + c], x = x0 + bw * (double)s;
            if (!isfinite(val)) {
                fprintf(fp, "<text x=%.1f y=%.1f text-anchor=middle class=sup>&#8211;</text>",
                        x + bw / 2, T + ph - 3);
                continue;
            }
            double h = ph * val / mx;
            fprintf(fp, "<rect x=%.1f y=%.1f width=%.1f height=%.1f fill=\"%s\"><title>", x,
                    T + ph - h, bw * 0.95, h, PAL[s % NPAL]);
            esc(fp, ser[s]);
            fprintf(fp, ", ");
            esc(fp, cat[c]);
            fprintf(fp, ": %.4g%s</title></rect>", pct ? 100 * val : val, pct ? "%" : "");
        }
        fprintf(fp, "<text x=%.1f y=%.1f text-anchor=middle>", L + gw * ((double)c + 0.5),
                T + ph + 14 + (double)(c % 2) * (ncat > 6 ? 12 : 0));
        esc(fp, cat[c]);
        fprintf(fp, "</text>");
    }
    fprintf(fp, "<line x1=%d x2=%.1f y1=%.1f y2=%.1f stroke=\"#555\"/>", L, L + pw, T + ph, T + ph);
    legend(fp, W - R + 10, T + 4, nser, ser, PAL);
    fprintf(fp, "</svg>\n");
}

/* A line chart with one series, points marked; mark: index to highlight or -1. */
static void line(FILE *fp, const char *title, size_t n, const double *x, const double *y,
                 const char *xlabel, const char *ylabel, long mark)
{
    const int W = 330, H = 240, L = 62, R = 14, T = 30, B = 40;
    double x0 = (double)INFINITY, x1 = -(double)INFINITY, y0 = (double)INFINITY, y1 = -(double)INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(y[i])) {
            x0 = fmin(x0, x[i]);
            x1 = fmax(x1, x[i]);
            y0 = fmin(y0, y[i]);
            y1 = fmax(y1, y[i]);
        }
    }
    if (!(x1 > x0)) {
        x1 = x0 + 1;
    }
    if (!(y1 > y0)) {
        y1 = y0 + 1;
    }
    double pad = (y1 - y0) * 0.08;
    y0 -= pad;
    y1 += pad;
    double pw = W - L - R, ph = H - T - B;
    svg_open(fp, W, H, title);
    for (int q = 0; q <= 4; q++) {
        double yv = y0 + (y1 - y0) * q / 4, yy = T + ph - ph * q / 4;
        fprintf(fp, "<line x1=%d x2=%.1f y1=%.1f y2=%.1f stroke=\"#e3e6ea\"/>"
                    "<text x=%d y=%.1f text-anchor=end>%.4g</text>",
                L, L + pw, yy, yy, L - 4, yy + 4, yv);
    }
    fprintf(fp, "<polyline fill=none stroke=\"%s\" stroke-width=2 points=\"", PAL[0]);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(y[i])) {
            fprintf(fp, "%.1f,%.1f ", L + pw * (x[i] - x0) / (x1 - x0),
                    T + ph - ph * (y[i] - y0) / (y1 - y0));
        }
    }
    fprintf(fp, "\"/>");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            continue;
        }
        double px = L + pw * (x[i] - x0) / (x1 - x0), py = T + ph - ph * (y[i] - y0) / (y1 - y0);
        fprintf(fp, "<circle cx=%.1f cy=%.1f r=%d fill=\"%s\"><title>%g: %.5g</title></circle>",
                px, py, (long)i == mark ? 6 : 3, (long)i == mark ? PAL[3] : PAL[0], x[i], y[i]);
        fprintf(fp, "<text x=%.1f y=%.1f text-anchor=middle>%g</text>", px, T + ph + 14, x[i]);
    }
    fprintf(fp, "<text x=%.1f y=%d text-anchor=middle>", L + pw / 2, H - 6);
    esc(fp, xlabel);
    fprintf(fp, "</text><text x=12 y=%.1f transform=\"rotate(-90 12 %.1f)\" "
                "text-anchor=middle>",
            T + ph / 2, T + ph / 2);
    esc(fp, ylabel);
    fprintf(fp, "</text></svg>\n");
}

/* viridis-like colour ramp, t in [0, 1] */
static void ramp(double t, char out[8])
{
    static const double S[5][3] = {
        {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    t = fmin(1, fmax(0, t)) * 4;
    size_t i = (size_t)fmin(3, floor(t));
    double f = t - (double)i;
    int c[3];
    for (size_t k = 0; k < 3; k++) {
        c[k] = (int)lround(S[i][k] + f * (S[i + 1][k] - S[i][k]));
    }
    snprintf(out, 8, "#%02x%02x%02x", c[0] & 255, c[1] & 255, c[2] & 255);
}

static void heat(FILE *fp, const rp *r)
{
    const int W = 560, H = 340, L = 60, T = 30, B = 44, R = 80;
    double pw = W - L - R, ph = H - T - B;
    double cw = pw / (double)r->ht, ch = ph / (double)r->hx;
    svg_open(fp, W, H, "P(alive) by frequency and recency");
    for (size_t a = 0; a < r->hx; a++) {
        for (size_t b = 0; b < r->ht; b++) {
            double p = r->heat[a * r->ht + b];
            char col[8];
            ramp(p, col);
            fprintf(fp, "<rect x=%.1f y=%.1f width=%.2f height=%.2f fill=\"%s\"><title>x=%g, "
                        "t_x=%.3g: P(alive)=%.3f</title></rect>",
                    L + cw * (double)b, T + ph - ch * (double)(a + 1), cw + 0.3, ch + 0.3, col,
                    r->heat_x[a], r->heat_x[a] > 0 ? r->heat_t[b] : 0.0, p);
        }
        if (r->hx <= 12 || a % 2 == 0) {
            fprintf(fp, "<text x=%d y=%.1f text-anchor=end>%g</text>", L - 4,
                    T + ph - ch * ((double)a + 0.5) + 4, r->heat_x[a]);
        }
    }
    for (size_t b = 0; b < r->ht; b += 4) {
        fprintf(fp, "<text x=%.1f y=%.1f text-anchor=middle>%.3g</text>", L + cw * ((double)b + 0.5),
                T + ph + 14, r->heat_t[b]);
    }
    fprintf(fp, "<text x=%.1f y=%d text-anchor=middle>recency t_x (customer age T = %.4g)</text>",
            L + pw / 2, H - 8, r->heat_T);
    fprintf(fp, "<text x=14 y=%.1f transform=\"rotate(-90 14 %.1f)\" text-anchor=middle>"
                "repeat purchases x</text>",
            T + ph / 2, T + ph / 2);
    for (int q = 0; q < 50; q++) {
        char col[8];
        ramp(q / 49.0, col);
        fprintf(fp, "<rect x=%d y=%.1f width=14 height=%.2f fill=\"%s\"/>", W - R + 22,
                T + ph - ph * (q + 1) / 50.0, ph / 50.0 + 0.3, col);
    }
    fprintf(fp, "<text x=%d y=%d>1.0</text><text x=%d y=%.1f>0.0</text></svg>\n", W - R + 40,
            T + 8, W - R + 40, T + ph);
}

/* Sankey-style flow between the previous run's tiers (left) and this run's. */
static void flow(FILE *fp, const rp *r)
{
    const int W = 620, H = 380, T = 30, B = 12, NW = 14, LX = 150, RX = 470;
    double tot_l = 0, tot_r = 0, rowt[CT_MAX_TIERS + 2] = {0}, colt[CT_MAX_TIERS + 2] = {0};
    for (size_t i = 0; i < r->mr; i++) {
        for (size_t j = 0; j < r->mc; j++) {
            double v = r->mig[i * r->mc + j];
            if (rp_suppressed(r, v)) {
                continue; /* withheld cells are not drawn */
            }
            rowt[i] += v;
            colt[j] += v;
        }
    }
    for (size_t i = 0; i < r->mr; i++) {
        tot_l += rowt[i];
    }
    for (size_t j = 0; j < r->mc; j++) {
        tot_r += colt[j];
    }
    double gap = 8, ph = H - T - B;
    double sl = (ph - gap * (double)r->mr) / (tot_l > 0 ? tot_l : 1);
    double sr = (ph - gap * (double)r->mc) / (tot_r > 0 ? tot_r : 1);
    double s = fmin(sl, sr);
    double yl[CT_MAX_TIERS + 2], yr[CT_MAX_TIERS + 2], ol[CT_MAX_TIERS + 2], orr[CT_MAX_TIERS + 2];
    double y = T;
    for (size_t i = 0; i < r->mr; i++) {
        yl[i] = ol[i] = y;
        y += rowt[i] * s + gap;
    }
    y = T;
    for (size_t j = 0; j < r->mc; j++) {
        yr[j] = orr[j] = y;
        y += colt[j] * s + gap;
    }
    svg_open(fp, W, H, "Tier migration (previous run, left; this run, right)");
    for (size_t i = 0; i < r->mr; i++) {
        for (size_t j = 0; j < r->mc; j++) {
            double v = r->mig[i * r->mc + j];
            if (v <= 0 || rp_suppressed(r, v)) {
                continue;
            }
            double h = v * s, a = ol[i], b = orr[j];
            double x0 = LX + NW, x1 = RX, xm = (x0 + x1) / 2;
            fprintf(fp, "<path d=\"M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f L%.1f,%.1f "
                        "C%.1f,%.1f %.1f,%.1f %.1f,%.1f Z\" fill=\"%s\" fill-opacity=0.35>"
                        "<title>",
                    x0, a, xm, a, xm, b, x1, b, x1, b + h, xm, b + h, xm, a + h, x0, a + h,
                    PAL[i % NPAL]);
            esc(fp, r->mig_row[i]);
            fprintf(fp, " &#8594; ");
            esc(fp, r->mig_col[j]);
            fprintf(fp, ": %.0f</title></path>", v);
            ol[i] += h;
            orr[j] += h;
        }
    }
    for (size_t i = 0; i < r->mr; i++) {
        fprintf(fp, "<rect x=%d y=%.1f width=%d height=%.1f fill=\"%s\"/>"
                    "<text x=%d y=%.1f text-anchor=end>",
                LX, yl[i], NW, fmax(rowt[i] * s, 1), PAL[i % NPAL], LX - 6,
                yl[i] + rowt[i] * s / 2 + 4);
        esc(fp, r->mig_row[i]);
        fprintf(fp, " (%.0f)</text>", rowt[i]);
    }
    for (size_t j = 0; j < r->mc; j++) {
        fprintf(fp, "<rect x=%d y=%.1f width=%d height=%.1f fill=\"#4b5d67\"/>"
                    "<text x=%d y=%.1f>",
                RX, yr[j], NW, fmax(colt[j] * s, 1), RX + NW + 6, yr[j] + colt[j] * s / 2 + 4);
        esc(fp, r->mig_col[j]);
        fprintf(fp, " (%.0f)</text>", colt[j]);
    }
    fprintf(fp, "</svg>\n");
}

/* The page head and the opening summary. */
static void html_head(const rp *r, FILE *fp)
{
    fprintf(fp, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                "<meta name=viewport content=\"width=device-width,initial-scale=1\">"
                "<title>clvtier report: ");
    esc(fp, r->model);
    fprintf(fp, "</title><style>%s</style></head><body><main>\n<h1>Customer tiers: ", CSS);
    esc(fp, r->model);
    fprintf(fp, "</h1><p class=muted>");
    esc(fp, r->description);
    fprintf(fp, "</p><p>%.0f customers, %.0f graded into value tiers by k-means (k = %zu) over "
                "their features, ranked by <code>",
            r->total_w, r->graded_w, r->k);
    esc(fp, r->rank_by);
    fprintf(fp, "</code> (%s). Source <code>", r->assign);
    esc(fp, r->source[0] ? r->source : r->path);
    fprintf(fp, "</code>, period %s, calibration end %s. Total CLV %.2f over %g periods at "
                "%.4g discount per period. Aggregates over fewer than %zu customers are "
                "withheld.</p>\n",
            r->period[0] ? r->period : "?", r->cal_end[0] ? r->cal_end : "(all data)",
            r->total_clv, r->horizon, r->discount, r->min_group);
}

/* Section 1: tiers. */
static void html_tiers(const rp *r, FILE *fp)
{
    size_t nt = r->ntiers;
    fprintf(fp, "<section id=tiers><h2>Tier sizes and value shares</h2><div class=charts>");
    {
        const char *cat[CT_MAX_TIERS + 1], *ser[2] = {"customers", "CLV"};
        double v[2 * (CT_MAX_TIERS + 1)];
        for (size_t t = 0; t < nt; t++) {
            int sup = rp_suppressed(r, r->tier[t].n);
            cat[t] = r->tier[t].name;
            v[t] = sup || r->total_w <= 0 ? (double)NAN : r->tier[t].n / r->total_w;
            v[nt + t] = sup || r->total_clv <= 0 ? (double)NAN : r->tier[t].clv / r->total_clv;
        }
        bars(fp, "Share of customers and of CLV by tier", nt, cat, 2, ser, v, "share", 1);
        const char *lser[3] = {r->loyalty[0], r->loyalty[1], r->loyalty[2]};
        double lv[3 * (CT_MAX_TIERS + 1)];
        for (size_t l = 0; l < 3; l++) {
            for (size_t t = 0; t < nt; t++) {
                int sup = rp_suppressed(r, r->tier[t].n) || rp_suppressed(r, r->tier[t].loyal[l]);
                lv[l * nt + t] = sup || r->tier[t].n <= 0 ? (double)NAN
                                                          : r->tier[t].loyal[l] / r->tier[t].n;
            }
        }
        bars(fp, "Loyalty classes within each tier", nt, cat, 3, lser, lv, "share of tier", 1);
    }
    fprintf(fp, "</div>\n<h2>Per-tier profiles</h2><table><tr><th>tier</th><th>customers</th>"
                "<th>share</th><th>CLV total</th><th>CLV share</th>");
    static const size_t SHOW[] = {RP_X, RP_REC, RP_M, RP_CLV, RP_PALIVE, RP_EXP};
    for (size_t q = 0; q < sizeof SHOW / sizeof SHOW[0]; q++) {
        fprintf(fp, "<th>mean / median %s</th>", rp_metric_label[SHOW[q]]);
    }
    fprintf(fp, "<th>%s / %s / %s</th></tr>\n", r->loyalty[0], r->loyalty[1], r->loyalty[2]);
    for (size_t t = 0; t < nt; t++) {
        const rp_tier *T = &r->tier[t];
        fprintf(fp, "<tr><td>");
        esc(fp, T->name);
        fprintf(fp, "</td>");
        td_count(fp, r, T->n);
        if (rp_suppressed(r, T->n) || T->n <= 0) {
            fprintf(fp, "<td colspan=%zu class=sup>%s</td></tr>\n",
                    3 + sizeof SHOW / sizeof SHOW[0] + 1, T->n <= 0 ? "empty" : "withheld");
            continue;
        }
        fprintf(fp, "<td>%.1f%%</td><td>%.2f", r->total_w > 0 ? 100 * T->n / r->total_w : 0.0,
                T->clv);
        if (isfinite(T->clv_lo) && isfinite(T->clv_hi)) {
            fprintf(fp, "<br><small>90%% [%.2f, %.2f]</small>", T->clv_lo, T->clv_hi);
        }
        fprintf(fp, "</td><td>%.1f%%</td>", r->total_clv > 0 ? 100 * T->clv / r->total_clv : 0.0);
        for (size_t q = 0; q < sizeof SHOW / sizeof SHOW[0]; q++) {
            fprintf(fp, "<td>");
            rp_num(fp, T->mean[SHOW[q]], 3, 1, "");
            fprintf(fp, " / ");
            rp_num(fp, T->median[SHOW[q]], 3, 1, "");
            fprintf(fp, "</td>");
        }
        fprintf(fp, "<td>");
        for (size_t l = 0; l < 3; l++) {
            if (rp_suppressed(r, T->loyal[l])) {
                fprintf(fp, "%s<span class=sup>&lt;%zu</span>", l ? " / " : "", r->min_group);
            } else {
                fprintf(fp, "%s%.0f", l ? " / " : "", T->loyal[l]);
            }
        }
        fprintf(fp, "</td></tr>\n");
    }
    if (strcmp(r->loyalty_metric, "p_no_purchase") == 0) {
        fprintf(fp, "</table><p class=muted>Recency here is periods since the last purchase "
                    "(T &#8722; t_x). Loyalty: P(no purchase in the next %g periods) &#8804; %g "
                    "is %s, &#8805; %g is %s.</p></section>\n",
                r->loyalty_periods, r->loyal_min, r->loyalty[0], r->lost_max, r->loyalty[2]);
    } else {
        fprintf(fp, "</table><p class=muted>Recency here is periods since the last purchase "
                    "(T &#8722; t_x). Loyalty: P(alive) &#8805; %g is %s, &#8804; %g is %s.</p>"
                    "</section>\n",
                r->loyal_min, r->loyalty[0], r->lost_max, r->loyalty[2]);
    }
}

/* Section 2: fit. */
static void html_fit(const rp *r, FILE *fp)
{
    fprintf(fp, "<section id=fit><h2>CLV model fit</h2>");
    if (r->nfits == 0) {
        fprintf(fp, "<p class=sup>No purchase-model fit in this result.</p>");
    }
    if (r->ncand > 0) {
        fprintf(fp, "<h3>Purchase model choice</h3><p>Rule: the ");
        esc(fp, r->choice_rule);
        fprintf(fp, ".</p><table><tr><th>model</th><th>log-likelihood</th><th>AIC</th>"
                    "<th>BIC</th><th>holdout MSE</th><th>holdout MAE</th><th>aggregate error</th>"
                    "</tr>");
        for (size_t j = 0; j < r->ncand; j++) {
            const ct_fit *c = &r->cand[j];
            fprintf(fp, "<tr><td>%s%s</td><td>%.4f</td><td>%.2f</td><td>%.2f</td><td>%.5g</td>"
                        "<td>%.4g</td><td>%.2f%%</td></tr>",
                    ct_clv_model_name(c->model), c->model == r->fit[0].model ? " (chosen)" : "",
                    c->ll, c->aic, c->bic, r->cand_mse[j], r->cand_mae[j], 100 * r->cand_agg[j]);
        }
        fprintf(fp, "</table>\n");
    }
    for (size_t i = 0; i < r->nfits; i++) {
        const ct_fit *f = &r->fit[i];
        fprintf(fp, "<h3>%s</h3><table><tr><th>parameter</th><th>estimate</th>"
                    "<th>std. error</th></tr>",
                ct_clv_model_name(f->model));
        for (size_t j = 0; j < f->k; j++) {
            fprintf(fp, "<tr><td>");
            rp_html_text(fp, ct_fit_param_name(f, j));
            fprintf(fp, "</td><td>%.6g</td><td>%.4g</td></tr>", f->par[j], f->se[j]);
        }
        fprintf(fp, "</table><p>log-likelihood %.4f, AIC %.2f, BIC %.2f, n = %.0f, %s after %u "
                    "iterations.</p>\n",
                f->ll, f->aic, f->bic, f->nobs,
                f->converged ? "converged" : "<b class=flag>not converged</b>", f->iterations);
        if (f->ncoef > 0) {
            fprintf(fp, "<p>");
            rp_html_text(fp, rp_cov_text(f));
            fprintf(fp, "</p>\n");
        }
    }
    if (r->nfits > 0) {
        static const char *const X[RP_JMAX] = {"0", "1", "2", "3", "4", "5", "6", "7+"};
        const char *ser[2] = {"actual", "expected"};
        double v[2 * RP_JMAX];
        for (size_t j = 0; j < RP_JMAX; j++) {
            v[j] = rp_suppressed(r, r->rep_obs[j]) ? (double)NAN : r->rep_obs[j];
            v[RP_JMAX + j] = r->rep_exp[j];
        }
        fprintf(fp, "<div class=charts>");
        bars(fp, "Customers by repeat purchases: actual vs model", RP_JMAX, X, 2, ser, v,
             "customers", 0);
        if (r->has_holdout) {
            const char *hs[2] = {"actual", "predicted"};
            for (size_t j = 0; j < RP_JMAX; j++) {
                int sup = rp_suppressed(r, r->hold_n[j]) || r->hold_n[j] <= 0;
                v[j] = sup ? (double)NAN : r->hold_act[j];
                v[RP_JMAX + j] = sup ? (double)NAN : r->hold_pred[j];
            }
            char title[128];
            snprintf(title, sizeof title, "Holdout (%g periods): mean purchases by calibration x",
                     r->t_star);
            bars(fp, title, RP_JMAX, X, 2, hs, v, "mean purchases", 0);
        }
        if (r->has_calib) {
            static const char *const D[10] = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"};
            const char *cs[2] = {"predicted", "observed"};
            double cv[20];
            for (size_t j = 0; j < 10; j++) {
                int sup = rp_suppressed(r, r->cal_n[j]) || r->cal_n[j] <= 0;
                cv[j] = sup ? (double)NAN : r->cal_pred[j];
                cv[10 + j] = sup ? (double)NAN : r->cal_obs[j];
            }
            char title[160];
            snprintf(title, sizeof title,
                     "Calibration: P(a purchase in the holdout) by decile (Brier %.4f)", r->brier);
            bars(fp, title, 10, D, 2, cs, cv, "share of customers", 0);
        }
        fprintf(fp, "</div>");
    }
    if (r->has_heat) {
        fprintf(fp, "<h2>Frequency-recency P(alive)</h2><p class=muted>The fitted model's "
                    "probability that a customer is still active, for a customer of the "
                    "oldest age in the data, by repeat purchases and recency.</p>");
        heat(fp, r);
    }
    fprintf(fp, "</section>\n");
}

/* The clustered features' names (r->features, comma-separated); how many. */
static size_t feature_names(const rp *r, char names[][64])
{
    size_t nf = 0;
    const char *p = r->features;
    while (*p != '\0' && nf < CT_MAX_FEATURES) {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        snprintf(names[nf++], 64, "%.*s", (int)(len < 63 ? len : 63), p);
        if (e == NULL) {
            break;
        }
        p = e + 1;
    }
    return nf;
}

/* Section 3: clustering. */
static void html_clustering(const rp *r, FILE *fp)
{
    char names[CT_MAX_FEATURES][64];
    size_t nf = feature_names(r, names);
    fprintf(fp, "<section id=clusters><h2>Clustering and the choice of k</h2><p>Features used: ");
    for (size_t j = 0; j < nf; j++) {
        fprintf(fp, "%s<code>", j ? ", " : "");
        esc(fp, names[j]);
        fprintf(fp, "</code>");
    }
    fprintf(fp, " (transform %s, scaling %s). k = %zu, inertia %.6g. Protected attributes are "
                "refused as features.</p>",
            r->transform, r->scaling, r->k, r->inertia);
    if (r->nk > 1) {
        long mark = -1;
        for (size_t q = 0; q < r->nk; q++) {
            if ((size_t)r->kk[q] == r->k) {
                mark = (long)q;
            }
        }
        fprintf(fp, "<div class=charts>");
        line(fp, "Silhouette by k (higher is better)", r->nk, r->kk, r->k_sil, "k", "silhouette",
             mark);
        line(fp, "Inertia by k (elbow)", r->nk, r->kk, r->k_inertia, "k", "inertia", mark);
        fprintf(fp, "</div><table><tr><th>k</th><th>inertia</th><th>silhouette</th>"
                    "<th>Calinski-Harabasz</th><th>Davies-Bouldin</th></tr>");
        for (size_t q = 0; q < r->nk; q++) {
            fprintf(fp, "<tr><td>%.0f%s</td><td>%.6g</td><td>%.4f</td><td>%.1f</td><td>%.4f</td>"
                        "</tr>",
                    r->kk[q], (long)q == mark ? " (chosen)" : "", r->k_inertia[q], r->k_sil[q],
                    r->k_ch[q], r->k_db[q]);
        }
        fprintf(fp, "</table>");
    } else {
        fprintf(fp, "<p class=muted>k was fixed by the model; no selection curve.</p>");
    }
    fprintf(fp, "</section>\n");
}

/* Section 4: migration. */
static void html_migration(const rp *r, FILE *fp)
{
    fprintf(fp, "<section id=migration><h2>Tier migration</h2>");
    if (!r->has_mig) {
        fprintf(fp, "<p class=muted>No previous run was given (<code>--previous OLD.h5</code>); "
                    "nothing to compare.</p>");
    } else {
        fprintf(fp, "<p>Compared with <code>");
        esc(fp, r->previous);
        fprintf(fp, "</code>; cluster labels %s matched to the previous centroids. Hysteresis "
                    "margin %g kept %zu customers in their previous tier.</p>",
                r->labels_matched ? "were" : "were not", r->hysteresis, r->hyst_kept);
        flow(fp, r);
        fprintf(fp, "<table><tr><th>previous \\ now</th>");
        for (size_t j = 0; j < r->mc; j++) {
            fprintf(fp, "<th>");
            esc(fp, r->mig_col[j]);
            fprintf(fp, "</th>");
        }
        fprintf(fp, "</tr>");
        for (size_t i = 0; i < r->mr; i++) {
            fprintf(fp, "<tr><td>");
            esc(fp, r->mig_row[i]);
            fprintf(fp, "</td>");
            for (size_t j = 0; j < r->mc; j++) {
                td_count(fp, r, r->mig[i * r->mc + j]);
            }
            fprintf(fp, "</tr>");
        }
        fprintf(fp, "</table>");
    }
    fprintf(fp, "</section>\n");
}

/* Section 5: actions. */
static void html_actions(const rp *r, FILE *fp)
{
    size_t nt = r->ntiers;
    if (r->stab_draws > 0) {
        fprintf(fp, "<section id=stability><h2>Tier stability</h2><p>%zu draws of the fits' "
                    "parameters re-score and re-tier every customer (centroids fixed); "
                    "stability is the share of draws in which a customer keeps its tier, "
                    "borderline below %g.</p><table><tr><th>tier</th><th>mean stability</th>"
                    "<th>borderline customers</th></tr>",
                r->stab_draws, r->stab_thr);
        for (size_t t = 0; t < r->ntiers; t++) {
            const rp_tier *T = &r->tier[t];
            fprintf(fp, "<tr><td>");
            esc(fp, T->name);
            if (rp_suppressed(r, T->n) || T->n == 0) {
                fprintf(fp, "</td><td colspan=2 class=sup>withheld</td></tr>");
                continue;
            }
            fprintf(fp, "</td><td>%.4f</td>", T->stab_mean);
            td_count(fp, r, T->stab_border);
            fprintf(fp, "</tr>");
        }
        fprintf(fp, "</table></section>\n");
    }
    fprintf(fp, "<section id=actions><h2>Actions</h2><table><tr><th>tier</th><th>action</th>"
                "</tr>");
    for (size_t t = 0; t + 1 < nt; t++) {
        fprintf(fp, "<tr><td>");
        esc(fp, r->tier[t].name);
        fprintf(fp, "</td><td style=\"text-align:left\">");
        esc(fp, r->tier[t].action);
        fprintf(fp, "</td></tr>");
    }
    fprintf(fp, "</table>");
    if (r->review[0] != '\0') {
        fprintf(fp, "<p>Review: ");
        esc(fp, r->review);
        fprintf(fp, "</p>");
    }
    fprintf(fp, "</section>\n");
}

/* Section 6: audit. */
static void html_audit(const rp *r, FILE *fp)
{
    char names[CT_MAX_FEATURES][64];
    size_t nf = feature_names(r, names);
    fprintf(fp, "<section id=audit><h2>Fairness audit</h2>");
    if (r->naudit == 0) {
        fprintf(fp, "<p class=muted>No protected column was declared for audit. Protected "
                    "attributes are never accepted as clustering features.</p>");
    }
    for (size_t a = 0; a < r->naudit; a++) {
        const ct_audit *A = &r->audit[a];
        fprintf(fp, "<h3><code>");
        esc(fp, A->column);
        fprintf(fp, "</code> (never used for clustering or tiering)</h3><p>Cramer's V between "
                    "tier and group: %.3f.</p><table><tr><th>group</th><th>customers</th>",
                A->cramers_v);
        for (size_t t = 0; t < A->ntiers; t++) {
            fprintf(fp, "<th>");
            esc(fp, r->tier[t].name);
            fprintf(fp, "</th>");
        }
        fprintf(fp, "</tr>");
        for (size_t q = 0; q < A->ngroups; q++) {
            double gt = 0;
            for (size_t t = 0; t < A->ntiers; t++) {
                gt += A->count[q][t];
            }
            fprintf(fp, "<tr><td>");
            esc(fp, A->group[q]);
            fprintf(fp, "</td>");
            td_count(fp, r, gt);
            for (size_t t = 0; t < A->ntiers; t++) {
                if (rp_suppressed(r, gt) || rp_suppressed(r, A->count[q][t])) {
                    fprintf(fp, "<td class=sup>&lt;%zu</td>", r->min_group);
                } else {
                    fprintf(fp, "<td>%.1f%%</td>", gt > 0 ? 100 * A->count[q][t] / gt : 0.0);
                }
            }
            fprintf(fp, "</tr>");
        }
        fprintf(fp, "</table><table><tr><th>feature</th><th>&#951;&#178;</th><th>proxy?</th>"
                    "</tr>");
        for (size_t j = 0; j < A->nfeat && j < nf; j++) {
            int px = A->eta2[j] >= CT_AUDIT_PROXY_ETA2;
            fprintf(fp, "<tr><td>");
            esc(fp, names[j]);
            fprintf(fp, "</td><td>%.4f</td><td%s>%s</td></tr>", A->eta2[j],
                    px ? " class=flag" : "", px ? "yes: review" : "no");
        }
        fprintf(fp, "</table><p class=muted>&#951;&#178; is the share of a feature's variance "
                    "explained by the group; at %.2f or more the feature is flagged as a "
                    "possible proxy for the protected attribute.</p>",
                CT_AUDIT_PROXY_ETA2);
    }
    fprintf(fp, "</section>\n");
}

/* Section 7: notes and provenance. */
static void html_notes(const rp *r, FILE *fp)
{
    fprintf(fp, "<section id=notes><h2>Data-quality notes</h2><ul>");
    for (size_t i = 0; i < r->nnotes; i++) {
        fprintf(fp, "<li>");
        esc(fp, r->notes[i]);
        fprintf(fp, "</li>");
    }
    if (r->nnotes == 0) {
        fprintf(fp, "<li>none</li>");
    }
    fprintf(fp, "</ul><h2>Provenance</h2><p class=muted>clvtier ");
    esc(fp, r->version);
    fprintf(fp, ", result <code>");
    esc(fp, r->path);
    fprintf(fp, "</code> created ");
    esc(fp, r->created);
    fprintf(fp, "; model file <code>");
    esc(fp, r->model_file);
    fprintf(fp, "</code> SHA-256 <code>");
    esc(fp, r->sha);
    fprintf(fp, "</code>; command <code>");
    esc(fp, r->command);
    fprintf(fp, "</code>.</p></section>\n</main></body></html>\n");
}

void rp_html(const rp *r, FILE *fp)
{
    html_head(r, fp);
    html_tiers(r, fp);
    html_fit(r, fp);
    html_clustering(r, fp);
    html_migration(r, fp);
    html_actions(r, fp);
    html_audit(r, fp);
    html_notes(r, fp);
}
