/* comm_blocks.c - block-ordered sums over ranks (both builds). */
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
