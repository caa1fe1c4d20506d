/* comm_serial.c - the serial ct_comm: one rank, every reduction is the identity. */
#include "clvtier/comm.h"

#include <string.h>

struct ct_comm {
    int rank, size;
};

static ct_comm world = {0, 1};

ct_comm *ct_comm_world(void)
{
    return &world;
}

int ct_comm_rank(const ct_comm *c)
{
    return c != NULL ? c->rank : 0;
}

int ct_comm_size(const ct_comm *c)
{
    return c != NULL ? c->size : 1;
}

ct_status ct_comm_allreduce_sum(ct_comm *c, double *buf, size_t n, ct_error *err)
{
    (void)c;
    if (buf == NULL && n > 0) {
        return ct_fail(err, CT_EINVAL, "ct_comm_allreduce_sum: NULL buffer");
    }
    return CT_OK;
}

ct_status ct_comm_allreduce_max(ct_comm *c, double *buf, size_t n, ct_error *err)
{
    return ct_comm_allreduce_sum(c, buf, n, err);
}

ct_status ct_comm_bcast(ct_comm *c, void *buf, size_t bytes, int root, ct_error *err)
{
    (void)c;
    if (root != 0) {
        return ct_fail(err, CT_EINVAL, "ct_comm_bcast: root %d out of range (1 rank)", root);
    }
    if (buf == NULL && bytes > 0) {
        return ct_fail(err, CT_EINVAL, "ct_comm_bcast: NULL buffer");
    }
    return CT_OK;
}

ct_status ct_comm_allgatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                             ct_error *err)
{
    (void)c;
    (void)err;
    if (all != mine && bytes[0] > 0) {
        memmove(all, mine, bytes[0]);
    }
    return CT_OK;
}

ct_status ct_comm_gatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                          ct_error *err)
{
    return ct_comm_allgatherv(c, mine, all, bytes, err);
}

ct_status ct_comm_alltoallv(ct_comm *c, const void *send, const size_t *sbytes, void *recv,
                            const size_t *rbytes, ct_error *err)
{
    (void)c;
    (void)rbytes;
    (void)err;
    if (recv != send && sbytes[0] > 0) {
        memmove(recv, send, sbytes[0]);
    }
    return CT_OK;
}

ct_status ct_comm_agree(ct_comm *c, ct_status s, ct_error *err)
{
    (void)c;
    (void)err;
    return s;
}
