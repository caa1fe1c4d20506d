/* stage_synth.c - simulated customers to a file: the numerics simulate (and
 * format the log), the data layer writes (atomic output; /customers). */
#include "clvtier/outfile.h"
#include "clvtier/pipeline.h"
#include "clvtier/schema.h"

#include <stdio.h>
#include <stdlib.h>

static ct_status to_outfile(void *ctx, const char *text, size_t n, ct_error *err)
{
    return ct_outfile_write(ctx, text, n, err);
}

ct_status ct_synth_csv(const ct_synth_opts *o, const char *path, uint64_t *ntx, ct_error *err)
{
    ct_outfile *of = NULL;
    ct_status s = ct_synth_check(o, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_outfile_open(&of, path, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_synth_log(o, to_outfile, of, ntx, err);
    if (s != CT_OK) {
        ct_outfile_abort(of);
        return s;
    }
    return ct_outfile_commit(of, err);
}

ct_status ct_synth_dynamic_csv(const ct_synth_opts *o, const char *path, ct_error *err)
{
    ct_outfile *of = NULL;
    CT_CHECK(ct_outfile_open(&of, path, err));
    ct_status s = ct_synth_dyn_log(o, to_outfile, of, err);
    if (s != CT_OK) {
        ct_outfile_abort(of);
        return s;
    }
    return ct_outfile_commit(of, err);
}

/* The covariates z (n x o->ncov) as /features: id, then one column each. */
static ct_status write_features(ct_file *f, const ct_synth_opts *o, const ct_customers *c,
                                const double *z, ct_error *err)
{
    ct_colspec spec[1 + CT_SYNTH_MAXCOV];
    const void *data[1 + CT_SYNTH_MAXCOV] = {c->ids};
    double *cols = malloc((c->n ? c->n : 1) * (o->ncov ? o->ncov : 1) * sizeof *cols);
    if (cols == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    spec[0] = (ct_colspec){"id", CT_STRING, c->id_width};
    for (size_t j = 0; j < o->ncov; j++) {
        spec[1 + j] = (ct_colspec){o->cov_name[j], CT_FLOAT64, 0};
        for (size_t i = 0; i < c->n; i++) {
            cols[j * c->n + i] = z[i * o->ncov + j];
        }
        data[1 + j] = cols + j * c->n;
    }
    ct_status s = ct_tw_write_table(f, "/features", spec, 1 + o->ncov, data, c->n, "id", err);
    free(cols);
    return s;
}

ct_status ct_synth_features_csv(const ct_synth_opts *o, const char *path, ct_error *err)
{
    ct_customers cust;
    double *z = NULL;
    ct_outfile *of = NULL;
    ct_status s = ct_synth_customers_cov(o, &cust, &z, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_outfile_open(&of, path, err);
    FILE *fp = s == CT_OK ? ct_outfile_stream(of) : NULL;
    if (fp != NULL) {
        fprintf(fp, "id");
        for (size_t j = 0; j < o->ncov; j++) {
            if (!o->cov_dynamic[j]) { /* time-varying ones: ct_synth_dynamic_csv */
                fprintf(fp, ",%s", o->cov_name[j]);
            }
        }
        fprintf(fp, "\n");
        for (size_t i = 0; i < cust.n; i++) {
            fprintf(fp, "%s", cust.ids + i * cust.id_width);
            for (size_t j = 0; j < o->ncov; j++) {
                double v = z[i * o->ncov + j];
                if (o->cov_dynamic[j]) {
                    continue;
                }
                if (o->cov_kind[j] == 'b') {
                    fprintf(fp, ",%d", v != 0);
                } else {
                    fprintf(fp, ",%.17g", v);
                }
            }
            fprintf(fp, "\n");
        }
        s = ct_outfile_commit(of, err);
    }
    free(z);
    ct_customers_free(&cust);
    return s;
}

ct_status ct_synth_h5(const ct_synth_opts *o, const char *out, const char *command,
                      ct_error *err)
{
    ct_customers cust;
    ct_file *f = NULL;
    double *z = NULL;
    ct_status s = ct_synth_customers_cov(o, &cust, o->ncov > 0 ? &z : NULL, err);
    if (s != CT_OK) {
        return s;
    }
    ct_create_opts co = {0, command, NULL};
    double truth[4] = {o->r, o->alpha, o->a, o->b}, spend[3] = {o->p, o->q, o->gamma};
    CT_TRY(ct_file_create(&f, out, &co, err));
    CT_TRY(ct_customers_write(f, &cust, err));
    CT_TRY(ct_attr_set_str(f, "/customers", "synth_model",
                           o->model == CT_SYNTH_PARETO   ? "pareto"
                           : o->model == CT_SYNTH_MBGNBD ? "mbgnbd"
                                                         : "bgnbd",
                           err));
    CT_TRY(ct_attr_set_f64v(f, "/customers", "synth_params", truth, 4, err));
    CT_TRY(ct_attr_set_f64v(f, "/customers", "synth_spend", spend, 3, err));
    CT_TRY(ct_attr_set_i64(f, "/customers", "synth_seed", (int64_t)o->seed, err));
    CT_TRY(ct_attr_set_f64(f, "/customers", "period_days", o->period_days, err));
    if (o->ncov > 0) {
        double gt[CT_SYNTH_MAXCOV], gl[CT_SYNTH_MAXCOV];
        for (size_t j = 0; j < o->ncov; j++) {
            gt[j] = o->cov_trans[j];
            gl[j] = o->cov_life[j];
        }
        CT_TRY(write_features(f, o, &cust, z, err));
        CT_TRY(ct_attr_set_f64v(f, "/features", "synth_gamma_trans", gt, o->ncov, err));
        CT_TRY(ct_attr_set_f64v(f, "/features", "synth_gamma_life", gl, o->ncov, err));
    }
    s = ct_file_commit(f, err);
    f = NULL;
done:
    ct_file_close(f);
    free(z);
    ct_customers_free(&cust);
    return s;
}
