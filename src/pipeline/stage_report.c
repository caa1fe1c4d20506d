/* stage_report.c - the report stage: the domain's reports of a result. */
#include "clvtier/pipeline.h"

ct_status ct_stage_report(const char *result, const ct_report_opts *o, ct_error *err)
{
    return ct_report_write(result, o, err);
}
