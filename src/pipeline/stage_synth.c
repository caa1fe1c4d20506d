/* stage_synth.c - simulated transaction logs to a file: the numerics
 * simulate and format, the data layer's atomic output writes. */
#include "clvtier/outfile.h"
#include "clvtier/pipeline.h"

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
