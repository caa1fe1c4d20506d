/* par.c - fixed-block thread parallelism (pthreads).
 * Blocks are claimed dynamically, but each block's result goes to its own slot,
 * so the reduction order (block order) never depends on scheduling. */
#include "clvtier/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

size_t ct_par_nblocks(size_t n, size_t block)
{
    if (block == 0) {
        return 0;
    }
    return n / block + (n % block != 0);
}

unsigned ct_par_default_threads(void)
{
    const char *s = getenv("CT_THREADS");
    if (s != NULL && s[0] != '\0') {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1024) {
            return (unsigned)v;
        }
    }
    long p = sysconf(_SC_NPROCESSORS_ONLN);
    return p >= 1 && p <= 1024 ? (unsigned)p : 1u;
}

typedef struct par_job {
    size_t n, block, nblocks;
    ct_par_fn fn;
    void *ctx;
    atomic_size_t next;
    pthread_mutex_t lock;
    size_t fail_block; /* lowest failing block, nblocks if none */
    ct_status fail_status;
    ct_error fail_err;
} par_job;

static void *worker(void *arg)
{
    par_job *job = arg;
    ct_error local;

    for (;;) {
        size_t b = atomic_fetch_add(&job->next, 1);
        if (b >= job->nblocks) {
            break;
        }
        size_t begin = b * job->block;
        size_t end = begin + job->block < job->n ? begin + job->block : job->n;
        ct_error_clear(&local);
        ct_status s = job->fn(job->ctx, b, begin, end, &local);
        if (s != CT_OK) {
            pthread_mutex_lock(&job->lock);
            if (b < job->fail_block) {
                job->fail_block = b;
                job->fail_status = s;
                job->fail_err = local;
            }
            pthread_mutex_unlock(&job->lock);
        }
    }
    return NULL;
}

ct_status ct_par_for(size_t n, size_t block, unsigned nthreads, ct_par_fn fn, void *ctx,
                     ct_error *err)
{
    par_job job;
    pthread_t *tid = NULL;
    unsigned started = 0;

    if (fn == NULL || block == 0) {
        return ct_fail(err, CT_EINVAL, "ct_par_for: fn is NULL or block is 0");
    }
    memset(&job, 0, sizeof job);
    job.n = n;
    job.block = block;
    job.nblocks = ct_par_nblocks(n, block);
    job.fn = fn;
    job.ctx = ctx;
    atomic_init(&job.next, 0);
    job.fail_block = job.nblocks;
    job.fail_status = CT_OK;
    if (job.nblocks == 0) {
        return CT_OK;
    }
    if (nthreads == 0) {
        nthreads = ct_par_default_threads();
    }
    if (nthreads > job.nblocks) {
        nthreads = (unsigned)job.nblocks;
    }
    pthread_mutex_init(&job.lock, NULL);
    if (nthreads > 1) {
        tid = malloc(sizeof *tid * (nthreads - 1));
        if (tid != NULL) {
            for (; started < nthreads - 1; started++) {
                if (pthread_create(&tid[started], NULL, worker, &job) != 0) {
                    break; /* fewer threads: same result, just slower */
                }
            }
        }
    }
    worker(&job);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
    }
    free(tid);
    pthread_mutex_destroy(&job.lock);
    if (job.fail_status != CT_OK) {
        if (err != NULL) {
            *err = job.fail_err;
        }
        return job.fail_status;
    }
    return CT_OK;
}

double ct_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
