/* fuzz_hdf5.c - an HDF5 file as input: clvtier's reader (tables, attributes,
 * declared sizes, string ids) and the customer checks.  HDF5's own parser
 * runs first: a crash inside libhdf5 is HDF5's (1.10 has known ones on
 * damaged files), so `make fuzz-smoke` runs this target over its corpus
 * only, and `make fuzz` with mutations. */
#include "clvtier/schema.h"
#include "clvtier/store.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *p = fuzz_file("in.h5", data, n);
    if (p == NULL) {
        return 0;
    }
    ct_file *f;
    ct_error err;
    if (ct_file_open(&f, p, &err) == CT_OK) {
        ct_customers c;
        if (ct_customers_read(f, "/customers", &c, &err) == CT_OK) {
            if (c.n > 0) {
                (void)ct_customers_validate(&c, p, &err);
            }
            ct_customers_free(&c);
        }
        ct_file_close(f);
    }
    return 0;
}
