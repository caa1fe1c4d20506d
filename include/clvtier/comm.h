/* comm.h - cross-row reductions: serial no-op or MPI, chosen at build time.
 *
 * Numerics sum their local rows, then call ct_comm_allreduce_sum on a small
 * vector.  In the serial build that is a no-op; in the MPI build (make MPI=1)
 * the ranks' vectors are gathered and summed in rank order on every rank, so
 * every rank holds the same bits whatever MPI's reduction tree.  Results that
 * must not depend on the rank count at all gather per-block partial sums
 * (ct_comm_allgatherv) and add them in the serial engine's block order.  A
 * NULL comm means "serial". */
#ifndef CLVTIER_COMM_H
#define CLVTIER_COMM_H

#include <stddef.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Every rank's `bytes[rank]` bytes, concatenated in rank order into `all`
 * (on every rank); `mine` is this rank's part. */
ct_status ct_comm_allgatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                             ct_error *err);

/* The same on rank 0 only (`all` may be NULL elsewhere). */
ct_status ct_comm_gatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                          ct_error *err);

/* Every rank sends sbytes[q] bytes to rank q (send holds them in rank
 * order) and receives rbytes[p] bytes from rank p (into recv, in rank
 * order).  Each count below 2 GiB. */
ct_status ct_comm_alltoallv(ct_comm *c, const void *send, const size_t *sbytes, void *recv,
                            const size_t *rbytes, ct_error *err);

/* Rows of a table split over the ranks in rank order, moved to another such
 * split: this rank holds rows [first, first + n) in `mine` (rowbytes each)
 * and receives rows [lo, hi) into `out` (every rank's ranges, before and
 * after, in rank order and covering the same rows).  Collective. */
ct_status ct_comm_move_rows(ct_comm *c, const void *mine, size_t first, size_t n,
                            size_t rowbytes, size_t lo, size_t hi, void *out, ct_error *err);

/* Every rank's count (`mine` here): *before = the counts of the ranks
 * before this one, *total = all of them (either may be NULL), and when
 * bytes != NULL, bytes[r] = rank r's count x unit.  Collective. */
ct_status ct_comm_counts(ct_comm *c, size_t mine, size_t unit, size_t *bytes, size_t *before,
                         size_t *total, ct_error *err);

/* Every rank's n rows of `unit` bytes, in rank order: on rank 0 only
 * (ct_comm_gather_rows; *all NULL elsewhere) or on every rank
 * (ct_comm_allgather_rows); *all is malloc'ed (the caller frees), *total
 * (may be NULL) the number of rows.  Collective; the status is the same on
 * every rank. */
ct_status ct_comm_gather_rows(ct_comm *c, const void *mine, size_t n, size_t unit, void **all,
                              size_t *total, ct_error *err);
ct_status ct_comm_allgather_rows(ct_comm *c, const void *mine, size_t n, size_t unit, void **all,
                                 size_t *total, ct_error *err);

/* Rows per partial sum where a result must not depend on the number of
 * ranks (or threads): work over rows is summed per block of CT_SUM_BLOCK
 * rows, and every rank's first row is a multiple of it. */
#define CT_SUM_BLOCK ((size_t)16384)

/* Blocks' partial sums added in block order, the same bits for any number
 * of ranks: each rank passes its nb consecutive blocks of m values (its
 * rows' blocks, rank order = row order); on every rank, out[j] = the sum
 * over all blocks, in order, of block[j].  Collective. */
ct_status ct_comm_sum_blocks(ct_comm *c, const double *part, size_t nb, size_t m, double *out,
                             ct_error *err);

/* Whether every rank succeeded: each passes its status, all get the first
 * failing rank's status (and its message in err).  A collective step that
 * can fail on one rank calls this before the next collective step, so all
 * ranks stop together and cleanly. */
ct_status ct_comm_agree(ct_comm *c, ct_status s, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
