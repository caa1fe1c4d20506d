/* comm_blocks.c - block-ordered sums and row moves over ranks (both builds). */
#include "clvtier/comm.h"

#include <stdlib.h>
#include <string.h>

ct_status ct_comm_counts(ct_comm *c, size_t mine, size_t unit, size_t *bytes, size_t *before,
                         size_t *total, ct_error *err)
{
    size_t P = (size_t)ct_comm_size(c), me = (size_t)ct_comm_rank(c), b = 0, t = 0;
    double *cnt = calloc(P, sizeof *cnt); /* exact below 2^53 */
    ct_status s = ct_comm_agree(c, cnt != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"),
                                err);
    if (s == CT_OK) {
        cnt[me] = (double)mine;
        s = ct_comm_allreduce_sum(c, cnt, P, err);
    }
    for (size_t r = 0; r < P && s == CT_OK; r++) {
        b += r < me ? (size_t)cnt[r] : 0;
        t += (size_t)cnt[r];
        if (bytes != NULL) {
            bytes[r] = (size_t)cnt[r] * unit;
        }
    }
    if (before != NULL) {
        *before = b;
    }
    if (total != NULL) {
        *total = t;
    }
    free(cnt);
    return s;
}

/* Both gathers: onto rank 0 (every == 0) or onto every rank. */
static ct_status gather_rows(ct_comm *c, const void *mine, size_t n, size_t unit, void **all,
                             size_t *total, int every, ct_error *err)
{
    size_t P = (size_t)ct_comm_size(c), tot = 0;
    int here = every || ct_comm_rank(c) == 0;
    size_t *bytes = malloc(P * sizeof *bytes);
    *all = NULL;
    ct_status s = ct_comm_agree(c, bytes != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory"),
                                err);
    if (s == CT_OK) {
        s = ct_comm_counts(c, n, unit, bytes, NULL, &tot, err);
    }
    if (s == CT_OK && here) {
        *all = malloc((tot ? tot : 1) * unit);
    }
    if (s == CT_OK) {
        s = ct_comm_agree(c, !here || *all != NULL ? CT_OK
                                                    : ct_fail(err, CT_ENOMEM, "out of memory"),
                          err);
    }
    if (s == CT_OK) {
        s = every ? ct_comm_allgatherv(c, mine, *all, bytes, err)
                  : ct_comm_gatherv(c, mine, *all, bytes, err);
    }
    if (s != CT_OK) {
        free(*all);
        *all = NULL;
    }
    if (total != NULL) {
        *total = tot;
    }
    free(bytes);
    return s;
}

ct_status ct_comm_gather_rows(ct_comm *c, const void *mine, size_t n, size_t unit, void **all,
                              size_t *total, ct_error *err)
{
    return gather_rows(c, mine, n, unit, all, total, 0, err);
}

ct_status ct_comm_allgather_rows(ct_comm *c, const void *mine, size_t n, size_t unit, void **all,
                                 size_t *total, ct_error *err)
{
    return gather_rows(c, mine, n, unit, all, total, 1, err);
}

ct_status ct_comm_sum_blocks(ct_comm *c, const double *part, size_t nb, size_t m, double *out,
                             ct_error *err)
{
    size_t tot = nb;
    void *buf = NULL;
    ct_status s = CT_OK;
    if (ct_comm_size(c) > 1) {
        s = ct_comm_allgather_rows(c, part, nb, m * sizeof *part, &buf, &tot, err);
    }
    const double *all = buf != NULL ? buf : part;
    if (s == CT_OK) {
        memset(out, 0, m * sizeof *out);
        for (size_t b = 0; b < tot; b++) {
            for (size_t j = 0; j < m; j++) {
                out[j] += all[b * m + j];
            }
        }
    }
    free(buf);
    return s;
}

/* Length of [a0, a1) n [b0, b1). */
static size_t overlap(size_t a0, size_t a1, size_t b0, size_t b1)
{
    size_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

ct_status ct_comm_move_rows(ct_comm *c, const void *mine, size_t first, size_t n,
                            size_t rowbytes, size_t lo, size_t hi, void *out, ct_error *err)
{
    size_t P = (size_t)ct_comm_size(c), me = (size_t)ct_comm_rank(c);
    double *rng = calloc(4 * P, sizeof *rng);
    size_t *sb = malloc(2 * P * sizeof *sb);
    if (rng == NULL || sb == NULL) {
        free(rng);
        free(sb);
        return ct_comm_agree(c, ct_fail(err, CT_ENOMEM, "out of memory"), err);
    }
    /* every rank's rows now and wanted (exact in doubles below 2^53) */
    rng[4 * me] = (double)first;
    rng[4 * me + 1] = (double)(first + n);
    rng[4 * me + 2] = (double)lo;
    rng[4 * me + 3] = (double)hi;
    ct_status s = ct_comm_agree(c, CT_OK, err);
    if (s == CT_OK) {
        s = ct_comm_allreduce_sum(c, rng, 4 * P, err);
    }
    for (size_t q = 0; q < P && s == CT_OK; q++) {
        sb[q] = overlap(first, first + n, (size_t)rng[4 * q + 2], (size_t)rng[4 * q + 3]) * rowbytes;
        sb[P + q] = overlap((size_t)rng[4 * q], (size_t)rng[4 * q + 1], lo, hi) * rowbytes;
    }
    /* what goes to the ranks in order starts where the first of them wants */
    size_t skip = 0;
    for (size_t q = 0; q < P && s == CT_OK; q++) {
        if (sb[q] > 0) {
            skip = ((size_t)rng[4 * q + 2] > first ? (size_t)rng[4 * q + 2] - first : 0) * rowbytes;
            break;
        }
    }
    if (s == CT_OK) {
        s = ct_comm_alltoallv(c, (const char *)mine + skip, sb, out, sb + P, err);
    }
    free(rng);
    free(sb);
    return s;
}
