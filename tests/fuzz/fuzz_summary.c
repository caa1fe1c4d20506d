/* fuzz_summary.c - a customer summary CSV (id, x, t_x, T, m) through
 * ct_ingest_summary, then the BG/NBD data checks and one likelihood. */
#include "clvtier/clv.h"
#include "clvtier/pipeline.h"
#include "clvtier/schema.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *p = fuzz_file("sum.csv", data, n);
    if (p == NULL) {
        return 0;
    }
    char in[512], out[512];
    snprintf(in, sizeof in, "%s", p);
    snprintf(out, sizeof out, "%s", fuzz_path("sum.h5"));
    ct_ingest_opts o;
    ct_ingest_opts_init(&o);
    ct_error err;
    if (ct_ingest_summary(in, out, &o, NULL, &err) == CT_OK) {
        ct_file *f;
        ct_customers c;
        if (ct_file_open(&f, out, &err) == CT_OK) {
            if (ct_customers_read(f, "/customers", &c, &err) == CT_OK) {
                ct_clv_data *d;
                if (ct_clv_data_new(&d, CT_BGNBD, &c, "fuzz", &err) == CT_OK) {
                    const double par[4] = {0.243, 4.414, 0.793, 2.426};
                    double ll, g[4];
                    (void)ct_clv_loglik(d, par, &ll, g, 1, &err);
                    ct_clv_data_free(d);
                }
                ct_customers_free(&c);
            }
            ct_file_close(f);
        }
    }
    unlink(out);
    return 0;
}
