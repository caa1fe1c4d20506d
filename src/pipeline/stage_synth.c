/* stage_synth.c - simulated customers to a file: the numerics simulate (and
 * format the log), the data layer writes (atomic output; /customers). */
#include "clvtier/outfile.h"
#include "clvtier/pipeline.h"
#include "clvtier/schema.h"

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

ct_status ct_synth_h5(const ct_synth_opts *o, const char *out, const char *command,
                      ct_error *err)
{
    ct_customers cust;
    ct_file *f = NULL;
    ct_status s = ct_synth_customers(o, &cust, err);
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
    s = ct_file_commit(f, err);
    f = NULL;
done:
    ct_file_close(f);
    ct_customers_free(&cust);
    return s;
}
