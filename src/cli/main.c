/* main.c - `clvtier <command> [options]`: dispatch, --help, --version. */
#include "cli.h"

#ifdef CT_MPI
#include <mpi.h>
#endif

#include <getopt.h>
#include <malloc.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, cli_common *c);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"run", cmd_run, "a tier model end to end: ingest, fit, score, cluster, tiers, reports"},
    {"tier", cmd_tier, "re-tier an existing result under a (new) tier model"},
    {"report", cmd_report, "report.html, summary.json, report.md, tiers.csv from a result"},
    {"ingest", cmd_ingest, "transaction log or RFM summary (CSV) -> HDF5 customer summaries"},
    {"synth", cmd_synth, "simulate BG/NBD or Pareto/NBD customers (CSV log or HDF5 summary)"},
    {"fit", cmd_fit, "fit CLV models (BG/NBD, Pareto/NBD, MBG/NBD, BG/BB, Gamma-Gamma)"},
    {"score", cmd_score, "P(alive), expected purchases, spend and CLV per customer"},
    {"validate", cmd_validate, "expected vs observed repeat purchases; holdout comparison"},
    {"cluster", cmd_cluster, "k-means over customer features; choice of k; cluster profiles"},
    {"inspect", cmd_inspect, "list the tables, columns and attributes of an HDF5 file"},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: clvtier <command> [options]\n\n"
                "Customer tiering: probabilistic CLV, k-means and business tiers over HDF5.\n\n"
                "commands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        fprintf(fp, "  %-9s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    }
    fprintf(fp, "\n'clvtier <command> --help' describes each command.\n"
                "Exit status: 0 success, 64 usage, 65 bad data, 66 missing input,\n"
                "73 cannot create output, 74 I/O error, 78 bad configuration.\n");
}

/* OpenBLAS starts a pool of threads when it is loaded, unless
 * OPENBLAS_NUM_THREADS says otherwise; clvtier runs its own thread blocks and
 * uses BLAS single-threaded inside them, so the pool only spins and costs
 * CPU.  When the user has not chosen, run again with the variable set (it is
 * read before main, hence the exec).  Falls through if the exec fails. */
static void single_threaded_blas(char **argv)
{
    if (getenv("OPENBLAS_NUM_THREADS") != NULL) {
        return;
    }
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0) {
        execv("/proc/self/exe", argv);
    }
}

static int run(int argc, char **argv, int rank, int ranks);

/* SIGTERM, SIGINT, SIGHUP: remove this process's temp files (outputs being
 * written, a run's intermediate files), then die of the signal as usual. */
static void on_signal(int sig)
{
    ct_tmp_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Streaming commands free and allocate the same few MB per block; glibc
 * would give them back to the kernel (munmap, heap trimming) and fault them
 * in again for the next block: on a VM that fault costs more than the work
 * (score of 10M customers: 38 blocks).  Blocks up to 32 MB are kept for
 * reuse; peak RSS is unchanged (a freed block's pages serve the next). */
static void keep_freed_blocks(void)
{
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int main(int argc, char **argv)
{
    keep_freed_blocks();
    single_threaded_blas(argv);
#ifdef CT_MPI
    /* clvtier-mpi: `cluster` (rows split by blocks, sums gathered in block
     * order), `fit` (rows split by chunks, likelihood and gradient summed
     * over ranks), `score` (each rank its share, written collectively),
     * `run` (fits, scores, k-means, tiers and output over the ranks) and
     * `tier` run on every rank; every other command runs on rank 0 while
     * the others wait, so their files are written once. */
    int rank = 0, ranks = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int distributed = argc >= 2 && (strcmp(argv[1], "cluster") == 0 || strcmp(argv[1], "fit") == 0 ||
                                    strcmp(argv[1], "score") == 0 || strcmp(argv[1], "run") == 0 ||
                                    strcmp(argv[1], "tier") == 0);
    int rc = 0;
    if (distributed || rank == 0) {
        rc = run(argc, argv, rank, ranks);
    }
    if (!distributed && rank == 0) { /* every rank leaves with rank 0's exit status */
        for (int r = 1; r < ranks; r++) {
            MPI_Send(&rc, 1, MPI_INT, r, 0, MPI_COMM_WORLD);
        }
    } else if (!distributed) {
        /* wait without spinning: a busy-polling receive would take a core
         * from rank 0 on an oversubscribed node */
        MPI_Request req;
        int done = 0;
        MPI_Irecv(&rc, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, &req);
        while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    MPI_Finalize();
    return rc;
#else
    return run(argc, argv, 0, 1);
#endif
}

static int run(int argc, char **argv, int rank, int ranks)
{
    cli_common c;

    /* With `ulimit -f`, a write past the limit must fail with EFBIG (so the
     * temp file is removed and the old output kept), not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    memset(&c, 0, sizeof c);
    c.cmd = "";
    c.rank = rank;
    c.ranks = ranks;
    c.quiet = rank != 0;
    opterr = 0; /* the commands report bad options themselves, on one line */
    if (argc < 2) {
        fprintf(stderr, "clvtier: missing command (see 'clvtier --help')\n");
        return EX_USAGE_;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("clvtier %s\n", ct_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) == 0) {
            c.cmd = COMMANDS[i].name;
            c.cmdline = cli_join_args(argc, argv);
            int rc = COMMANDS[i].run(argc - 1, argv + 1, &c);
            free(c.cmdline);
            return rc;
        }
    }
    fprintf(stderr, "clvtier: unknown command '%s' (see 'clvtier --help')\n", argv[1]);
    return EX_USAGE_;
}
