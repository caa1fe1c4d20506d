/* par.h - thread blocks with thread-count-independent results.
 *
 * Work over n items is cut into fixed blocks of `block` items (the cut does not
 * depend on the thread count).  Each call of fn handles one block and writes its
 * partial result into a slot owned by that block; the caller then reduces the
 * slots in block order.  So results are bit-identical for 1 or N threads. */
#ifndef CLVTIER_PAR_H
#define CLVTIER_PAR_H

#include <stddef.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fn handles items [begin, end) of block `b`; it returns CT_OK or a status (the
 * first failing block in block order wins; its err is reported). */
typedef ct_status (*ct_par_fn)(void *ctx, size_t b, size_t begin, size_t end, ct_error *err);

/* Number of blocks for n items (0 when n == 0). */
size_t ct_par_nblocks(size_t n, size_t block);

/* Thread count used when a caller passes 0: $CT_THREADS if set, else the number
 * of online processors (at least 1). */
unsigned ct_par_default_threads(void);

/* Seconds on a monotonic clock (for stage timings: differences only). */
double ct_seconds(void);

/* Run fn over all blocks with up to nthreads threads (0 = default).
 * Returns the status of the lowest-numbered failing block, or CT_OK. */
ct_status ct_par_for(size_t n, size_t block, unsigned nthreads, ct_par_fn fn, void *ctx,
                     ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
