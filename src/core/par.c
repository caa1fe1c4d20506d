/* par.c - fixed-block thread parallelism (pthreads).
 * Blocks are claimed dynamically, but each block's result goes to its own slot,
 * so the reduction order (block order) never depends on scheduling. */
#include "clvtier/par.h"

#include <pthread.h>
#include <signal.h>
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

/* ---- the pool ---------------------------------------------------------------
 * Workers persist between calls: creating and joining a thread cost about
 * 55 us a call on a VM, and Lloyd calls ct_par_for once an iteration, the k
 * choice of `run` over a thousand times.  One call at a time owns the pool
 * (a call made while it is owned, from a block or from another thread, makes
 * threads of its own, as every call did before); the owner hands its job
 * to nthreads - 1 workers, each through a mailbox of its own, runs blocks
 * itself and waits until they have all finished.  Which thread runs a
 * block never changes a result (see the top of this file).
 *
 * Waiting spins for up to POOL_SPIN seconds before it sleeps on a condition
 * variable: on a VM a wake-up through the kernel costs 25-30 us, about half
 * of what a thread's start did.  Workers block every signal (a signal's
 * handler runs on a thread of the program's own) and are never joined: they
 * wait until the process ends.  A child of fork() starts with an empty pool
 * (pthread_atfork). */
#define POOL_SPIN 100e-6
#define POOL_MAX 1024 /* pooled workers at most (ct_par_default_threads' bound) */

/* A worker's mailbox: the owner writes job, then gen (release); the worker
 * waits for gen to move.  Only an idle worker's box is written (the owner
 * waits for every worker it gave a job), so job is always gen's. */
typedef struct pool_slot {
    atomic_ulong gen;
    _Atomic(par_job *) job;
    unsigned long start; /* gen when its worker was started (before pthread_create) */
    char pad[64 - sizeof(atomic_ulong) - sizeof(_Atomic(par_job *)) - sizeof(unsigned long)];
} pool_slot;

typedef struct par_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int busy;                /* a call owns the pool (mu) */
    unsigned nworkers;       /* started (mu) */
    unsigned sleepers;       /* workers waiting on go (mu) */
    atomic_int owner_sleeping; /* the owner waits on done */
    atomic_uint finished;    /* workers done with the owner's job */
    pool_slot slot[POOL_MAX];
} par_pool;

static par_pool pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                        .go = PTHREAD_COND_INITIALIZER,
                        .done = PTHREAD_COND_INITIALIZER};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Whether a wait begun at t0, on its i-th look, should go on spinning (the
 * clock is read every 64th look): if so, after a pause. */
static int keep_spinning(unsigned i, double t0)
{
    if (i % 64 == 0 && ct_seconds() - t0 > POOL_SPIN) {
        return 0;
    }
    cpu_relax();
    return 1;
}

/* Spin until the slot's generation differs from seen or POOL_SPIN has
 * passed: the generation. */
static unsigned long spin_gen(const pool_slot *sl, unsigned long seen)
{
    double t0 = ct_seconds();
    unsigned long g;
    for (unsigned i = 1;
         (g = atomic_load_explicit(&sl->gen, memory_order_acquire)) == seen && keep_spinning(i, t0);
         i++) {
    }
    return g;
}

/* pthread_create with every signal blocked in the new thread (a signal's
 * handler runs on a thread of the program's own): pthread_create's result. */
static int start_quiet(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void *pool_worker(void *arg)
{
    pool_slot *sl = arg;
    unsigned long seen = sl->start;
    for (;;) {
        unsigned long g = spin_gen(sl, seen);
        if (g == seen) {
            pthread_mutex_lock(&pool.mu);
            pool.sleepers++;
            while ((g = atomic_load_explicit(&sl->gen, memory_order_acquire)) == seen) {
                pthread_cond_wait(&pool.go, &pool.mu);
            }
            pool.sleepers--;
            pthread_mutex_unlock(&pool.mu);
        }
        seen = g;
        worker(atomic_load_explicit(&sl->job, memory_order_relaxed));
        atomic_fetch_add(&pool.finished, 1);
        if (atomic_load(&pool.owner_sleeping)) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

/* In a child of fork() only the forking thread exists: no workers, no owner. */
static void pool_child(void)
{
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.go, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.busy = 0;
    pool.nworkers = pool.sleepers = 0;
    atomic_store(&pool.owner_sleeping, 0);
}

static void pool_setup(void)
{
    pthread_atfork(NULL, NULL, pool_child);
}

/* Start workers up to `count` (by the owner, mu held): how many of them
 * take part, which may be fewer (same results, just slower). */
static unsigned pool_grow(unsigned count)
{
    count = count < POOL_MAX ? count : POOL_MAX;
    while (pool.nworkers < count) {
        pthread_t t;
        pool_slot *sl = &pool.slot[pool.nworkers];
        sl->start = atomic_load(&sl->gen);
        if (start_quiet(&t, pool_worker, sl) != 0) {
            break;
        }
        pthread_detach(t);
        pool.nworkers++;
    }
    return pool.nworkers < count ? pool.nworkers : count;
}

/* Run job with up to nthreads - 1 pooled workers and the caller: 0 when
 * the pool is owned by another call (the caller then starts threads of its
 * own). */
static int pool_run(par_job *job, unsigned nthreads)
{
    pthread_once(&pool_once, pool_setup);
    pthread_mutex_lock(&pool.mu);
    if (pool.busy) {
        pthread_mutex_unlock(&pool.mu);
        return 0;
    }
    pool.busy = 1;
    unsigned want = pool_grow(nthreads - 1);
    atomic_store(&pool.finished, 0);
    for (unsigned i = 0; i < want; i++) {
        atomic_store_explicit(&pool.slot[i].job, job, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool.slot[i].gen, 1, memory_order_release);
    }
    if (pool.sleepers > 0) {
        pthread_cond_broadcast(&pool.go);
    }
    pthread_mutex_unlock(&pool.mu);
    worker(job);
    double t0 = ct_seconds();
    for (unsigned i = 1; atomic_load(&pool.finished) < want && keep_spinning(i, t0); i++) {
    }
    pthread_mutex_lock(&pool.mu);
    if (atomic_load(&pool.finished) < want) {
        atomic_store(&pool.owner_sleeping, 1);
        while (atomic_load(&pool.finished) < want) {
            pthread_cond_wait(&pool.done, &pool.mu);
        }
        atomic_store(&pool.owner_sleeping, 0);
    }
    pool.busy = 0;
    pthread_mutex_unlock(&pool.mu);
    return 1;
}

/* Threads of this call's own (the pool is owned by another call), with
 * every signal blocked as the pool's. */
static void run_own(par_job *job, unsigned nthreads)
{
    pthread_t *tid = malloc(sizeof *tid * (nthreads - 1));
    unsigned started = 0;
    for (; tid != NULL && started < nthreads - 1; started++) {
        if (start_quiet(&tid[started], worker, job) != 0) {
            break; /* fewer threads: same result, just slower */
        }
    }
    worker(job);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
    }
    free(tid);
}

ct_status ct_par_for(size_t n, size_t block, unsigned nthreads, ct_par_fn fn, void *ctx,
                     ct_error *err)
{
    par_job job;

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
    if (nthreads <= 1) {
        worker(&job);
    } else if (!pool_run(&job, nthreads)) {
        run_own(&job, nthreads);
    }
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
