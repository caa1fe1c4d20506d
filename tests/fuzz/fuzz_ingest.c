/* fuzz_ingest.c - a transaction log (CSV) through ct_ingest_csv: parsing,
 * dates, amounts, line items, returns, bad rows, summaries, HDF5 output.
 * The first byte picks options, so the fuzzer reaches every path. */
#include <sys/stat.h>

#include "clvtier/pipeline.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    const char *csv = fuzz_file("in.csv", data + 1, n - 1);
    if (csv == NULL) {
        return 0;
    }
    char in[512];
    snprintf(in, sizeof in, "%s", csv);
    ct_ingest_opts o;
    ct_ingest_opts_init(&o);
    ct_error err;
    static const char *const KEYS[][2] = {{"on-bad-row", "skip"}, {"missing-id", "skip"},
                                          {"returns", "net"}, {"encoding", "latin1"}};
    for (int k = 0; k < 4; k++) {
        if (flags & (1u << k)) {
            (void)ct_ingest_opt_set(&o, KEYS[k][0], KEYS[k][1], &err);
        }
    }
    if (flags & 16u) { /* orders and cancellations, as in a shop export */
        (void)ct_ingest_opt_set(&o, "order", "InvoiceNo", &err);
        (void)ct_ingest_opt_set(&o, "cancel-prefix", "C", &err);
    }
    if (flags & 32u) { /* line items */
        (void)ct_ingest_opt_set(&o, "quantity", "Quantity", &err);
        (void)ct_ingest_opt_set(&o, "price", "UnitPrice", &err);
        (void)ct_ingest_opt_set(&o, "id", "CustomerID", &err);
        (void)ct_ingest_opt_set(&o, "date", "InvoiceDate", &err);
    }
    if (flags & 64u) {
        (void)ct_ingest_opt_set(&o, "bad-rows", fuzz_path("bad.csv"), &err);
    }
    ct_ingest_report rep;
    char out[512];
    snprintf(out, sizeof out, "%s", fuzz_path("out.h5"));
    (void)ct_ingest_csv(in, out, &o, &rep, &err);
    unlink(out);
    unlink(fuzz_path("bad.csv"));
    return 0;
}
