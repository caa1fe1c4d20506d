/* stage_ingest.c - the ingest stage: the data layer reads the log and writes
 * the file, the numerics compute the summaries and RFM scores it holds. */
#include "clvtier/pipeline.h"
#include "clvtier/rfm.h"
#include "clvtier/summary.h"

ct_status ct_stage_summarize(const int32_t *day, const double *amount, const size_t *off,
                             size_t n, const ct_summary_opts *o, int32_t ref_day,
                             ct_customers *out, ct_error *err)
{
    ct_status s = ct_summarize(day, amount, off, n, o, out, err);
    if (s != CT_OK) {
        return s;
    }
    return ct_rfm_score(out, ref_day, err);
}

ct_status ct_ingest_csv(const char *csv, const char *out, const ct_ingest_opts *o,
                        ct_ingest_report *rep, ct_error *err)
{
    return ct_ingest_log(&csv, 1, out, o, ct_stage_summarize, rep, err);
}

ct_status ct_stage_ingest(const char *const *csv, size_t ncsv, int summary, const char *out,
                          const ct_ingest_opts *o, ct_ingest_report *rep, ct_error *err)
{
    if (summary) {
        return ct_ingest_summary(csv[0], out, o, rep, err);
    }
    return ct_ingest_log(csv, ncsv, out, o, ct_stage_summarize, rep, err);
}
