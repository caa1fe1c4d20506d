/* comm_blocks.c - block-ordered sums and row moves over ranks (both builds). */
#include "clvtier/comm.h"

#include <stdlib.h>
#include <string.h>

ct_status ct_comm_sum_blocks(ct_comm *c, const double *part, size_t nb, size_t m, double *out,
                             ct_error *err)
{
    size_t P = (size_t)ct_comm_size(c);
    double *cnt = calloc(P, sizeof *cnt);
    size_t *bytes = malloc(P * sizeof *bytes), tot = 0;
    if (cnt == NULL || bytes == NULL) {
        free(cnt);
        free(bytes);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    cnt[ct_comm_rank(c)] = (double)nb;
    ct_status s = ct_comm_allreduce_sum(c, cnt, P, err);
    for (size_t r = 0; r < P && s == CT_OK; r++) {
        bytes[r] = (size_t)cnt[r] * m * sizeof *part;
        tot += (size_t)cnt[r];
    }
    const double *all = part;
    double *buf = NULL;
    if (s == CT_OK && P > 1) {
        buf = malloc((tot ? tot : 1) * m * sizeof *buf);
        s = buf != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
        s = ct_comm_agree(c, s, err);
        if (s == CT_OK) {
            s = ct_comm_allgatherv(c, part, buf, bytes, err);
        }
        all = buf;
    }
    if (s == CT_OK) {
        memset(out, 0, m * sizeof *out);
        for (size_t b = 0; b < tot; b++) {
            for (size_t j = 0; j < m; j++) {
                out[j] += all[b * m + j];
            }
        }
    }
    free(buf);
    free(cnt);
    free(bytes);
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
