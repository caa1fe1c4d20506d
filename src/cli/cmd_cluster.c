/* cmd_cluster.c - `clvtier cluster`. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HELP[] =
    "usage: clvtier cluster DATA.h5 --features a,b,c [--transform none|log1p]\n"
    "       [--scale none|zscore|robust] (-k K | --k-range LO:HI)\n"
    "       [--init kmeans++|kmeans-parallel|random|FILE.csv] [--n-init N] [--max-iter N]\n"
    "       [--tol T] [--algorithm auto|lloyd|hamerly|yinyang] [--float32] [--seed S]\n"
    "       [--threads N] [--scores SCORES.h5] [--stream [--block-rows N]]\n"
    "       -o CLUSTERS.h5 [--json]\n"
    "\n"
    "k-means over per-customer features.  Feature names are looked up in the\n"
    "tables /customers, /features and /scores of DATA.h5 (and /scores of\n"
    "--scores FILE); rows are customers, weighted by /customers/weight when\n"
    "present.  With --k-range, every k is fitted and scored (inertia,\n"
    "Calinski-Harabasz, Davies-Bouldin, silhouette on a sample of --sample rows)\n"
    "and the k with the highest silhouette is kept.  Writes /clusters (label per\n"
    "customer, centroids scaled and in original units, scaling) and /clusters_k.\n"
    "\n"
    "options:\n"
    "      --features LIST    comma-separated feature names (required)\n"
    "      --transform T      none (default) | log1p\n"
    "      --scale S          none | zscore (default) | robust (median/IQR)\n"
    "  -k K                   number of clusters\n"
    "      --k-range LO:HI    try k = LO..HI\n"
    "      --init I           auto (default) | kmeans++ | kmeans-parallel | random |\n"
    "                         FILE.csv (k rows of centroids in original units)\n"
    "      --n-init N         restarts, the lowest inertia kept (default 3)\n"
    "      --max-iter N       Lloyd iterations per run (default 300)\n"
    "      --tol T            relative tolerance (default 1e-4)\n"
    "      --algorithm A      auto (default: lloyd for k < 16 or float32 data with up\n"
    "                         to 32 features; yinyang for k >= 128 with 24-32\n"
    "                         features; else hamerly) | lloyd | hamerly | yinyang\n"
    "                         (Hamerly's bounds skip rows whose centre cannot have\n"
    "                         changed, Yinyang's also groups of centres; the labels\n"
    "                         are Lloyd's)\n"
    "      --float32          cluster single-precision data (half the memory traffic)\n"
    "      --seed S           random seed (default 0)\n"
    "      --threads N        threads (default: all cores; results do not depend on it)\n"
    "      --sample N         rows for the silhouette (default 4000)\n"
    "      --scores FILE      also look features up in FILE's /scores\n"
    "      --stream           data larger than memory: Lloyd over row blocks read from\n"
    "                         the file each iteration (needs -k; scale none or zscore,\n"
    "                         both exact; init from a ~1M-row sample unless FILE.csv;\n"
    "                         memory: a block plus 4 bytes a customer)\n"
    "      --block-rows N     rows per block with --stream (default 262144)\n"
    "  -o, --output FILE      output HDF5 (written atomically)\n"
    "      --json             result as JSON on stdout (instead of the profile table)\n"
    "  -q, --quiet            nothing on stderr but errors\n"
    "  -h, --help             this help\n";

enum { O_FEAT = 256, O_TF, O_SC, O_KR, O_INIT, O_NINIT, O_MAXIT, O_TOL, O_F32, O_SEED, O_THREADS,
       O_SAMPLE, O_SCORES, O_ALGO, O_STREAM, O_BLOCK };

static void show_k(void *ctx, size_t k, const ct_kmeans_result *r, const ct_kscore *ks)
{
    (void)ctx;
    fprintf(stderr, "clvtier cluster: k = %zu: inertia %.6g, CH %.4g, DB %.4g, silhouette %.4f\n",
            k, r->inertia, ks->calinski_harabasz, ks->davies_bouldin, ks->silhouette);
}

/* The profile table, or JSON. */
static void show_result(const cli_common *c, const ct_cluster_summary *r, char names[][64])
{
    size_t k = r->k, d = r->d, nk = r->nk, empty = 0;
    double tot = 0;
    for (size_t q = 0; q < k; q++) {
        tot += r->weight[q];
        empty += !(r->weight[q] > 0);
    }
    if (empty > 0) {
        /* k-means refills an empty cluster with the farthest rows; one left
         * empty at the end most often means fewer distinct rows than k */
        cli_warn(c,
                 "%zu of the %zu clusters ended empty (the features may take fewer than %zu "
                 "distinct values); a smaller -k fits as well",
                 empty, k, k);
    }
    if (c->json) {
        printf("{\"k\": %zu, \"inertia\": %.17g, \"iterations\": %u, \"converged\": %s, "
               "\"empty_clusters\": %zu, "
               "\"seconds\": %.3f, \"algorithm\": \"%s\", \"distances_skipped\": [",
               k, r->inertia, r->iterations, r->converged ? "true" : "false", empty, r->seconds,
               r->algorithm == CT_KM_ALGO_YINYANG   ? "yinyang"
               : r->algorithm == CT_KM_ALGO_HAMERLY ? "hamerly"
                                                    : "lloyd");
        for (size_t q = 0; q < r->npasses; q++) {
            printf("%s%.4f", q ? ", " : "", r->skipped[q]);
        }
        printf("], \"features\": [");
        for (size_t j = 0; j < d; j++) {
            printf("%s\"%s\"", j ? ", " : "", names[j]);
        }
        printf("], \"clusters\": [");
        for (size_t q = 0; q < k; q++) {
            printf("%s{\"label\": %zu, \"weight\": %.17g, \"share\": %.6f, \"mean\": {", q ? ", " : "",
                   q, r->weight[q], r->weight[q] / tot);
            for (size_t j = 0; j < d; j++) {
                double mv = r->mean[q * d + j];
                printf("%s\"%s\": ", j ? ", " : "", names[j]);
                if (isfinite(mv)) {
                    printf("%.10g", mv);
                } else {
                    printf("null");
                }
            }
            printf("}}");
        }
        printf("], \"k_scores\": [");
        for (size_t q = 0; q < nk; q++) {
            printf("%s{\"k\": %zu, \"inertia\": %.10g", q ? ", " : "", r->klo + q, r->ks[q].inertia);
            if (nk > 1) {
                printf(", \"calinski_harabasz\": %.10g, \"davies_bouldin\": %.10g, "
                       "\"silhouette\": %.10g",
                       r->ks[q].calinski_harabasz, r->ks[q].davies_bouldin, r->ks[q].silhouette);
            }
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("k = %zu%s, inertia %.6g, %u iterations%s (%.2f s)\n", k,
           nk > 1 ? " (highest silhouette)" : "", r->inertia, r->iterations,
           r->converged ? "" : " (NOT converged)", r->seconds);
    printf("%7s %12s %7s", "cluster", "customers", "share");
    for (size_t j = 0; j < d; j++) {
        printf(" %12.12s", names[j]);
    }
    printf("\n");
    for (size_t q = 0; q < k; q++) {
        printf("%7zu %12.0f %6.1f%%", q, r->weight[q], 100 * r->weight[q] / tot);
        for (size_t j = 0; j < d; j++) {
            printf(" %12.5g", r->mean[q * d + j]);
        }
        printf("\n");
    }
}

/* Options into st (the defaults set by the caller); -1 to go on, else the
 * exit code. */
static int parse_options(int argc, char **argv, cli_common *c, ct_cluster_stage *st)
{
    static const struct option LONG[] = {{"features", required_argument, NULL, O_FEAT},
                                         {"transform", required_argument, NULL, O_TF},
                                         {"scale", required_argument, NULL, O_SC},
                                         {"k-range", required_argument, NULL, O_KR},
                                         {"init", required_argument, NULL, O_INIT},
                                         {"n-init", required_argument, NULL, O_NINIT},
                                         {"max-iter", required_argument, NULL, O_MAXIT},
                                         {"tol", required_argument, NULL, O_TOL},
                                         {"float32", no_argument, NULL, O_F32},
                                         {"algorithm", required_argument, NULL, O_ALGO},
                                         {"stream", no_argument, NULL, O_STREAM},
                                         {"block-rows", required_argument, NULL, O_BLOCK},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"sample", required_argument, NULL, O_SAMPLE},
                                         {"scores", required_argument, NULL, O_SCORES},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    size_t v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "k:o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case O_FEAT:
            st->features = optarg;
            break;
        case O_TF: {
            static const char *const TF[] = {"none", "log1p"};
            int ch = cli_choice(optarg, TF, 2);
            if (ch < 0) {
                return cli_usage(c, "unknown transform '%s' (none, log1p)", optarg);
            }
            st->transform = ch == 1 ? CT_TF_LOG1P : CT_TF_NONE;
            break;
        }
        case O_SC: {
            static const char *const SC[] = {"none", "zscore", "robust"};
            static const ct_scaling SCV[] = {CT_SC_NONE, CT_SC_ZSCORE, CT_SC_ROBUST};
            int ch = cli_choice(optarg, SC, 3);
            if (ch < 0) {
                return cli_usage(c, "unknown scaling '%s' (none, zscore, robust)", optarg);
            }
            st->scaling = SCV[ch];
            break;
        }
        case 'k':
            if (cli_parse_size(optarg, &v) != 0 || v < 1) {
                return cli_usage(c, "-k '%s' must be >= 1", optarg);
            }
            st->klo = st->khi = v;
            break;
        case O_KR: {
            char *colon = strchr(optarg, ':');
            size_t a, b;
            if (colon == NULL) {
                return cli_usage(c, "--k-range '%s' must be LO:HI", optarg);
            }
            *colon = '\0';
            if (cli_parse_size(optarg, &a) != 0 || cli_parse_size(colon + 1, &b) != 0 || a < 1 ||
                b < a || b - a > 200) {
                return cli_usage(c, "--k-range must be LO:HI with 1 <= LO <= HI <= LO+200");
            }
            st->klo = a;
            st->khi = b;
            break;
        }
        case O_INIT: {
            static const char *const IN[] = {"auto", "kmeans++", "kmeans-parallel", "kmeans||",
                                             "random"};
            static const ct_km_init INV[] = {CT_KM_INIT_AUTO, CT_KM_INIT_KMEANSPP,
                                             CT_KM_INIT_PARALLEL, CT_KM_INIT_PARALLEL,
                                             CT_KM_INIT_RANDOM};
            int ch = cli_choice(optarg, IN, 5);
            st->km.init = ch >= 0 ? INV[ch] : CT_KM_INIT_GIVEN;
            st->init_file = ch >= 0 ? NULL : optarg; /* else a file of centroids */
            break;
        }
        case O_NINIT:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000) {
                return cli_usage(c, "--n-init '%s' must be 1..1000", optarg);
            }
            st->km.n_init = (unsigned)v;
            break;
        case O_MAXIT:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000000) {
                return cli_usage(c, "--max-iter '%s' must be 1..1000000", optarg);
            }
            st->km.max_iter = (unsigned)v;
            break;
        case O_TOL:
            if (cli_parse_double(optarg, &st->km.tol) != 0 || st->km.tol < 0) {
                return cli_usage(c, "--tol '%s' must be >= 0", optarg);
            }
            break;
        case O_F32:
            st->f32 = 1;
            break;
        case O_STREAM:
            st->stream = 1;
            break;
        case O_BLOCK:
            if (cli_parse_size(optarg, &st->block_rows) != 0 || st->block_rows == 0) {
                return cli_usage(c, "--block-rows '%s' must be a positive number", optarg);
            }
            break;
        case O_ALGO: {
            static const char *const AL[] = {"auto", "lloyd", "hamerly", "yinyang"};
            static const ct_km_algo ALV[] = {CT_KM_ALGO_AUTO, CT_KM_ALGO_LLOYD, CT_KM_ALGO_HAMERLY,
                                             CT_KM_ALGO_YINYANG};
            int ch = cli_choice(optarg, AL, 4);
            if (ch < 0) {
                return cli_usage(c, "--algorithm '%s' is not auto, lloyd, hamerly or yinyang",
                                 optarg);
            }
            st->km.algorithm = ALV[ch];
            break;
        }
        case O_SEED:
            if (cli_parse_u64(optarg, &st->km.seed) != 0) {
                return cli_usage(c, "--seed '%s' is not a non-negative integer", optarg);
            }
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &st->km.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_SAMPLE:
            if (cli_parse_size(optarg, &st->sample) != 0 || st->sample < 10) {
                return cli_usage(c, "--sample '%s' must be >= 10", optarg);
            }
            break;
        case O_SCORES:
            st->scores = optarg;
            break;
        case 'o':
            st->output = optarg;
            break;
        default: {
            int ec = cli_option(c, opt, HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    return -1;
}

int cmd_cluster(int argc, char **argv, cli_common *c)
{
    ct_cluster_stage st;
    memset(&st, 0, sizeof st);
    st.transform = CT_TF_NONE;
    st.scaling = CT_SC_ZSCORE;
    st.sample = 4000;
    ct_kmeans_opts_init(&st.km);
    st.km.n_init = 3;
    int ec = parse_options(argc, argv, c, &st);
    if (ec >= 0) {
        return ec;
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing DATA.h5" : "too many arguments");
    }
    if (st.features == NULL || st.output == NULL) {
        return cli_usage(c, "missing %s", st.features == NULL ? "--features" : "-o CLUSTERS.h5");
    }
    if (st.klo == 0 && st.init_file == NULL) {
        return cli_usage(c, "give -k K or --k-range LO:HI");
    }
    char names[CT_CLUSTER_MAXF][64], buf[4096];
    size_t d = 0;
    snprintf(buf, sizeof buf, "%s", st.features);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (d == CT_CLUSTER_MAXF) {
            return cli_usage(c, "at most %d features", CT_CLUSTER_MAXF);
        }
        snprintf(names[d++], 64, "%s", tok);
    }
    if (d == 0) {
        return cli_usage(c, "--features is empty");
    }
    if (c->ranks > 1) {
        st.stream = 1; /* clvtier-mpi: the rows are split over the ranks */
        st.comm = ct_comm_world();
    }
    if (st.stream && st.klo != st.khi && st.init_file == NULL) {
        return cli_usage(c, "--stream fits one k: give -k K (or --init FILE.csv)");
    }
    if (st.stream && (st.scaling == CT_SC_ROBUST || st.f32)) {
        return cli_usage(c, "--stream supports --scale none or zscore (robust scaling needs every "
                            "row in memory) and not --float32");
    }
    st.data = argv[optind];
    st.command = c->cmdline;
    st.names = (const char(*)[64])names;
    st.d = d;
    st.on_k = c->quiet ? NULL : show_k;
    const char *in3[3] = {st.data, st.scores, st.init_file}, *out1[1] = {st.output};
    int pc = cli_check_paths(c, in3, 3, out1, 1);
    if (pc != 0) {
        return pc;
    }
    ct_cluster_summary sum;
    ct_error err;
    ct_status s = ct_stage_cluster(&st, &sum, &err);
    if (s != CT_OK) {
        return sum.usage_error ? cli_usage(c, "%s", err.msg) : cli_fail(c, &err);
    }
    if (c->rank == 0) {
        show_result(c, &sum, names);
    }
    ct_cluster_summary_free(&sum);
    return 0;
}
