/* comm_mpi.c - ct_comm over MPI_COMM_WORLD (built with make MPI=1).
 * Sums are gathered and added in rank order, so every rank holds the same
 * bits whatever reduction tree the MPI library would pick. */
#include "clvtier/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

struct ct_comm {
    int rank, size;
};

static ct_comm world = {-1, 0};

ct_comm *ct_comm_world(void)
{
    if (world.size == 0) {
        int init = 0;
        MPI_Initialized(&init);
        if (init) {
            MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
            MPI_Comm_size(MPI_COMM_WORLD, &world.size);
        } else { /* a library caller without MPI_Init: one rank */
            world.rank = 0;
            world.size = 1;
        }
    }
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

static ct_status mpi_fail(ct_error *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ct_fail(err, CT_EIO, "%s: %.*s", what, len, msg);
}

/* Byte counts and displacements as MPI's ints. */
static ct_status counts(const ct_comm *c, const size_t *bytes, int **cnt, int **dsp,
                        ct_error *err)
{
    *cnt = malloc((size_t)c->size * sizeof **cnt);
    *dsp = malloc((size_t)c->size * sizeof **dsp);
    if (*cnt == NULL || *dsp == NULL) {
        free(*cnt);
        free(*dsp);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    size_t off = 0;
    for (int r = 0; r < c->size; r++) {
        if (bytes[r] > INT_MAX || off > INT_MAX) {
            free(*cnt);
            free(*dsp);
            return ct_fail(err, CT_EINVAL, "gather of more than 2 GiB");
        }
        (*cnt)[r] = (int)bytes[r];
        (*dsp)[r] = (int)off;
        off += bytes[r];
    }
    return CT_OK;
}

ct_status ct_comm_allgatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                             ct_error *err)
{
    if (c == NULL || c->size == 1) {
        if (all != mine && bytes[0] > 0) {
            memmove(all, mine, bytes[0]);
        }
        return CT_OK;
    }
    int *cnt, *dsp;
    ct_status s = counts(c, bytes, &cnt, &dsp, err);
    if (s != CT_OK) {
        return s;
    }
    int rc = MPI_Allgatherv(mine, cnt[c->rank], MPI_BYTE, all, cnt, dsp, MPI_BYTE, MPI_COMM_WORLD);
    free(cnt);
    free(dsp);
    return rc == MPI_SUCCESS ? CT_OK : mpi_fail(err, rc, "MPI_Allgatherv");
}

ct_status ct_comm_gatherv(ct_comm *c, const void *mine, void *all, const size_t *bytes,
                          ct_error *err)
{
    if (c == NULL || c->size == 1) {
        return ct_comm_allgatherv(c, mine, all, bytes, err);
    }
    int *cnt, *dsp;
    ct_status s = counts(c, bytes, &cnt, &dsp, err);
    if (s != CT_OK) {
        return s;
    }
    int rc = MPI_Gatherv(mine, cnt[c->rank], MPI_BYTE, all, cnt, dsp, MPI_BYTE, 0, MPI_COMM_WORLD);
    free(cnt);
    free(dsp);
    return rc == MPI_SUCCESS ? CT_OK : mpi_fail(err, rc, "MPI_Gatherv");
}

ct_status ct_comm_alltoallv(ct_comm *c, const void *send, const size_t *sbytes, void *recv,
                            const size_t *rbytes, ct_error *err)
{
    if (c == NULL || c->size == 1) {
        if (recv != send && sbytes[0] > 0) {
            memmove(recv, send, sbytes[0]);
        }
        return CT_OK;
    }
    int *sc, *sd, *rc_, *rd;
    ct_status s = counts(c, sbytes, &sc, &sd, err);
    if (s != CT_OK) {
        return s;
    }
    s = counts(c, rbytes, &rc_, &rd, err);
    if (s != CT_OK) {
        free(sc);
        free(sd);
        return s;
    }
    int rc = MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rc_, rd, MPI_BYTE, MPI_COMM_WORLD);
    free(sc);
    free(sd);
    free(rc_);
    free(rd);
    return rc == MPI_SUCCESS ? CT_OK : mpi_fail(err, rc, "MPI_Alltoallv");
}

ct_status ct_comm_allreduce_sum(ct_comm *c, double *buf, size_t n, ct_error *err)
{
    if (c == NULL || c->size == 1 || n == 0) {
        return CT_OK;
    }
    size_t P = (size_t)c->size;
    double *all = malloc(P * n * sizeof *all);
    size_t *bytes = malloc(P * sizeof *bytes);
    if (all == NULL || bytes == NULL) {
        free(all);
        free(bytes);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < P; r++) {
        bytes[r] = n * sizeof *buf;
    }
    ct_status s = ct_comm_allgatherv(c, buf, all, bytes, err);
    if (s == CT_OK) {
        for (size_t i = 0; i < n; i++) {
            double t = 0;
            for (size_t r = 0; r < P; r++) {
                t += all[r * n + i];
            }
            buf[i] = t;
        }
    }
    free(all);
    free(bytes);
    return s;
}

ct_status ct_comm_allreduce_max(ct_comm *c, double *buf, size_t n, ct_error *err)
{
    if (c == NULL || c->size == 1 || n == 0) {
        return CT_OK;
    }
    if (n > INT_MAX) {
        return ct_fail(err, CT_EINVAL, "allreduce of %zu values", n);
    }
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CT_OK : mpi_fail(err, rc, "MPI_Allreduce");
}

ct_status ct_comm_bcast(ct_comm *c, void *buf, size_t bytes, int root, ct_error *err)
{
    if (c == NULL || c->size == 1) {
        return root == 0 ? CT_OK : ct_fail(err, CT_EINVAL, "ct_comm_bcast: root %d", root);
    }
    unsigned char *p = buf;
    while (bytes > 0) { /* MPI counts are int */
        int now = bytes > (size_t)INT_MAX ? INT_MAX : (int)bytes;
        int rc = MPI_Bcast(p, now, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            return mpi_fail(err, rc, "MPI_Bcast");
        }
        p += now;
        bytes -= (size_t)now;
    }
    return CT_OK;
}

ct_status ct_comm_agree(ct_comm *c, ct_status s, ct_error *err)
{
    if (c == NULL || c->size == 1) {
        return s;
    }
    /* the lowest failing rank speaks for all */
    int mine = s != CT_OK ? c->rank : c->size, first = c->size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == c->size) {
        return CT_OK;
    }
    ct_error e;
    memset(&e, 0, sizeof e);
    if (c->rank == first && err != NULL) {
        e = *err;
    }
    e.status = c->rank == first ? s : e.status;
    MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, first, MPI_COMM_WORLD);
    if (err != NULL) {
        *err = e;
    }
    return e.status;
}
