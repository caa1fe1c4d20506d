/* comm.h - cross-row reductions: serial no-op or MPI, chosen at build time.
 *
 * Numerics sum their local rows, then call ct_comm_allreduce_sum on a small
 * vector.  In the serial build that is a no-op; in the MPI build (make MPI=1)
 * it is MPI_Allreduce on MPI_COMM_WORLD.  A NULL comm means "serial". */
#ifndef CLVTIER_COMM_H
#define CLVTIER_COMM_H

#include <stddef.h>

#include "clvtier/status.h"

typedef struct ct_comm ct_comm;

/* The process-wide communicator (serial build: a single rank). Never NULL. */
ct_comm *ct_comm_world(void);

int ct_comm_rank(const ct_comm *c);
int ct_comm_size(const ct_comm *c);

/* In-place element-wise sum / max of buf[0..n) across ranks. */
ct_status ct_comm_allreduce_sum(ct_comm *c, double *buf, size_t n, ct_error *err);
ct_status ct_comm_allreduce_max(ct_comm *c, double *buf, size_t n, ct_error *err);

/* Broadcast `bytes` bytes of buf from rank `root` to all ranks. */
ct_status ct_comm_bcast(ct_comm *c, void *buf, size_t bytes, int root, ct_error *err);

#endif
