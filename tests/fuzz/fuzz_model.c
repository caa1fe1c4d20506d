/* fuzz_model.c - a tier model file through ct_tier_model_load: the INI
 * reader, every key's parser, the consistency checks and the
 * protected-attribute guard. */
#include "clvtier/modelfile.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *p = fuzz_file("model.ini", data, n);
    if (p == NULL) {
        return 0;
    }
    ct_tier_model m;
    ct_error err;
    (void)ct_tier_model_load(p, &m, &err);
    return 0;
}
