/* cmd_fit.c - `clvtier fit`, `clvtier score`, `clvtier validate`. */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char FIT_HELP[] =
    "usage: clvtier fit DATA.h5 --model M[,M...] -o FIT.h5 [options]\n"
    "\n"
    "Fit CLV models by maximum likelihood to /customers of DATA.h5 and store the\n"
    "estimates, standard errors, log-likelihood, AIC and BIC in FIT.h5\n"
    "(/fits/<model>).  Models: bgnbd, pareto, mbgnbd, bgbb (purchases) and\n"
    "gammagamma (spend); e.g. --model bgnbd,gammagamma fits both.\n"
    "--model auto fits BG/NBD, MBG/NBD, Pareto/NBD (and BG/BB on discrete data)\n"
    "and chooses by the data: with a calibration/holdout split, the smallest BIC\n"
    "among the models whose holdout mean squared error (per customer) is within\n"
    "one standard error of the best; without one, the smallest BIC.  score and\n"
    "validate then use the chosen fit.\n"
    "\n"
    "options:\n"
    "  -m, --model M[,M]     model(s) to fit; auto: choose the purchase model\n"
    "  -o, --output FILE     output HDF5 file (written atomically)\n"
    "      --penalty L       L2 penalty on the parameters (default 0)\n"
    "      --starts N        starting points (default 3; the best optimum is kept)\n"
    "      --max-iter N      iterations per start (default 500)\n"
    "      --seed S          seed of the extra starting points (default 1)\n"
    "      --threads N       threads (default: all cores; results do not depend on it)\n"
    "      --table GROUP     table to fit (default /customers)\n"
    "      --covariates-purchase C1,C2   covariates of the purchase process: columns of\n"
    "                                    /features, or of /dynamic_covariates (time-\n"
    "                                    varying, pareto only)\n"
    "      --covariates-dropout C1,C2    covariates of the drop-out process\n"
    "                        (numeric columns of DATA.h5's /features; bgnbd, mbgnbd,\n"
    "                        pareto; CLVTools' parametrisation: alpha_i = alpha\n"
    "                        exp(-g'z), a_i, b_i = a, b exp(g'z), beta_i = beta exp(-g'z))\n"
    "      --same-cov C1,C2  one coefficient for both processes (CLVTools' constraint)\n"
    "                        a text column (a category) enters as dummies col=level, one\n"
    "                        per level but the reference: the first in sorted order, or\n"
    "      --cov-reference COL=LEVEL,...  the given one\n"
    "      --penalty-cov L   L2 penalty on the covariate coefficients (default 0)\n"
    "      --covariate-missing error|drop   a customer missing a covariate: an error\n"
    "                        naming them (default), or left out of the fit\n"
    "      --json            machine-readable result on stdout\n"
    "  -q, --quiet           no table on stderr\n"
    "  -h, --help            this help\n";

enum { O_PEN = 256, O_STARTS, O_MAXIT, O_SEED, O_THREADS, O_TABLE, O_FIT, O_SPEND,
       O_HORIZON, O_DISCOUNT, O_MAXX, O_TSTAR, O_COMPRESS, O_INTERVALS, O_LEVEL, O_DERT,
       O_ALIVE_AT, O_COV_P, O_COV_D, O_SAME_COV, O_PEN_COV, O_COV_MISSING, O_COV_REF };

/* split: clvtier-mpi's fit, every rank its share of the rows (collective);
 * else all rows. */
static void print_fit(FILE *fp, const ct_fit *f)
{
    fprintf(fp, "%s: %.0f customers (%zu distinct rows)%s\n", ct_clv_model_name(f->model),
            f->nobs, f->ndistinct, f->penalty > 0 ? " [penalised]" : "");
    fprintf(fp, "  %-14s %14s %14s\n", "param", "estimate", "std. error");
    for (size_t j = 0; j < f->k; j++) {
        char nm[80];
        cli_term_str(nm, sizeof nm, ct_fit_param_name(f, j));
        fprintf(fp, "  %-14s %14.6g %14.6g\n", nm, f->par[j], f->se[j]);
    }
    fprintf(fp, "  log-likelihood %.4f   AIC %.4f   BIC %.4f\n", f->ll, f->aic, f->bic);
    if (f->dynamic) {
        fprintf(fp, "  covariates vary in time (Bachmann, Meierer & Naef 2021)\n");
    }
    if (f->ncoef > 0) {
        fprintf(fp, "  vs. no covariates: log-likelihood %.4f, LR = %.4f on %zu df, p = %.3g%s\n",
                f->ll0, f->lr, f->ncoef, f->lr_p,
                f->penalty_cov > 0 ? " (penalised fit: the test is approximate)" : "");
    }
    fprintf(fp, "  %s after %u iterations (%zu passes over the rows), |gradient| %.2g\n",
            f->converged ? "converged" : "NOT converged", f->iterations, f->nevals, f->grad_norm);
    if (f->sub_rows > 0) {
        fprintf(fp, "  start: fit to a subsample of %zu rows (%zu passes)%s\n", f->sub_rows,
                f->sub_evals, f->fallback ? "; it did not converge on all rows: full search" : "");
    }
    if (f->model == CT_GAMMAGAMMA) {
        fprintf(fp, "  corr(x, m) among repeat buyers: %.4f%s\n", f->corr_xm,
                fabs(f->corr_xm) > 0.3 ? "  (WARNING: the model assumes spend independent of "
                                         "frequency)"
                                       : "");
    }
}

static void json_num(double v)
{
    if (isfinite(v)) {
        printf("%.17g", v);
    } else {
        printf("null");
    }
}

/* ", \"name\": value" for each of n named numbers. */
static void json_nums(const char *const *names, const double *v, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        printf(", \"%s\": ", names[j]);
        json_num(v[j]);
    }
}

static const char *const IC_NAMES[3] = {"ll", "aic", "bic"};

static void print_fit_json(const ct_fit *f)
{
    printf("{\"model\": \"%s\", \"params\": {", ct_clv_model_name(f->model));
    for (size_t j = 0; j < f->k; j++) {
        printf(j ? ", " : "");
        cli_json_str(stdout, ct_fit_param_name(f, j));
        printf(": ");
        json_num(f->par[j]);
    }
    printf("}, \"se\": {");
    for (size_t j = 0; j < f->k; j++) {
        printf(j ? ", " : "");
        cli_json_str(stdout, ct_fit_param_name(f, j));
        printf(": ");
        json_num(f->se[j]);
    }
    printf("}");
    if (f->ncoef > 0) {
        static const char *const LR[4] = {"ll_without_covariates", "lr_statistic", "lr_p_value",
                                          "penalty_covariates"};
        printf(", \"covariates\": [");
        for (size_t j = 0; j < f->ncoef; j++) {
            static const char *const PROC[4] = {"", "purchase", "dropout", "both"};
            printf("%s{\"column\": ", j ? ", " : "");
            cli_json_str(stdout, f->coef_col[j]);
            printf(", \"process\": \"%s\"}", PROC[f->coef_proc[j] & 3]);
        }
        printf("], \"time_varying\": %s, \"lr_df\": %zu", f->dynamic ? "true" : "false",
               f->ncoef);
        json_nums(LR, (const double[4]){f->ll0, f->lr, f->lr_p, f->penalty_cov}, 4);
    }
    json_nums(IC_NAMES, (const double[3]){f->ll, f->aic, f->bic}, 3);
    printf(", \"n\": %.17g, \"distinct_rows\": %zu, \"converged\": %s, \"iterations\": %u, "
           "\"evaluations\": %zu",
           f->nobs, f->ndistinct, f->converged ? "true" : "false", f->iterations, f->nevals);
    printf(", \"subsample_rows\": %zu, \"subsample_evaluations\": %zu, \"fallback\": %s",
           f->sub_rows, f->sub_evals, f->fallback ? "true" : "false");
    if (f->model == CT_GAMMAGAMMA) {
        printf(", \"corr_x_m\": ");
        json_num(f->corr_xm);
    }
    printf("}");
}

/* The candidates of --model auto, the rule and the choice. */
static void print_choice(FILE *fp, const ct_model_choice *ch)
{
    fprintf(fp, "model choice: %s\n", ct_clv_choice_rule(ch->holdout));
    fprintf(fp, "  %-8s %14s %14s %14s %11s %10s %10s %10s\n", "model", "log-lik", "AIC", "BIC",
            "holdout MSE", "+- s.e.", "MAE", "aggregate");
    for (size_t j = 0; j < ch->n; j++) {
        const ct_clv_candidate *cd = &ch->cand[j];
        if (cd->status != CT_OK) {
            fprintf(fp, "  %-8s not fitted: %s\n", ct_clv_model_name(cd->model), cd->message);
            continue;
        }
        fprintf(fp, "  %-8s %14.4f %14.4f %14.4f %11.6g %10.2g %10.6g %+9.3f%%%s\n",
                ct_clv_model_name(cd->model), cd->fit.ll, cd->fit.aic, cd->fit.bic, cd->mse,
                cd->mse_se, cd->mae, 100 * cd->agg, j == ch->best ? "  <- chosen" : "");
    }
}

static void print_choice_json(const ct_model_choice *ch)
{
    printf("{\"chosen\": \"%s\", \"rule\": \"%s\", \"holdout_periods\": ",
           ct_clv_model_name(ch->cand[ch->best].model), ct_clv_choice_rule(ch->holdout));
    json_num(ch->holdout ? ch->t_star : (double)NAN);
    printf(", \"candidates\": [");
    for (size_t j = 0; j < ch->n; j++) {
        const ct_clv_candidate *cd = &ch->cand[j];
        int ok = cd->status == CT_OK;
        printf("%s{\"model\": \"%s\", \"fitted\": %s", j ? ", " : "",
               ct_clv_model_name(cd->model), ok ? "true" : "false");
        if (!ok) {
            printf(", \"error\": ");
            cli_json_str(stdout, cd->message);
        } else {
            static const char *const HOLD[4] = {"holdout_mse", "holdout_mse_se", "holdout_mae",
                                                "holdout_agg_error"};
            json_nums(IC_NAMES, (const double[3]){cd->fit.ll, cd->fit.aic, cd->fit.bic}, 3);
            json_nums(HOLD, (const double[4]){cd->mse, cd->mse_se, cd->mae, cd->agg}, 4);
        }
        printf("}");
    }
    printf("]}");
}

static void show_fit(void *ctx, const ct_fit *f, double seconds)
{
    (void)ctx;
    print_fit(stderr, f);
    fprintf(stderr, "  (%.2f s)\n", seconds);
}

int cmd_fit(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"model", required_argument, NULL, 'm'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"penalty", required_argument, NULL, O_PEN},
                                         {"starts", required_argument, NULL, O_STARTS},
                                         {"max-iter", required_argument, NULL, O_MAXIT},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"table", required_argument, NULL, O_TABLE},
                                         {"covariates-purchase", required_argument, NULL, O_COV_P},
                                         {"covariates-dropout", required_argument, NULL, O_COV_D},
                                         {"same-cov", required_argument, NULL, O_SAME_COV},
                                         {"penalty-cov", required_argument, NULL, O_PEN_COV},
                                         {"covariate-missing", required_argument, NULL,
                                          O_COV_MISSING},
                                         {"cov-reference", required_argument, NULL, O_COV_REF},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ct_fit_opts fo;
    ct_cov_spec cov = {NULL, NULL, NULL, NULL, 0};
    const char *out = NULL, *models = NULL, *table = "/customers";
    int opt;
    size_t v;

    ct_fit_opts_init(&fo);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case 'm':
            models = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case O_PEN:
            if (cli_parse_double(optarg, &fo.penalty) != 0 || fo.penalty < 0) {
                return cli_usage(c, "--penalty '%s' must be a number >= 0", optarg);
            }
            break;
        case O_STARTS:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000) {
                return cli_usage(c, "--starts '%s' must be 1..1000", optarg);
            }
            fo.starts = (unsigned)v;
            break;
        case O_MAXIT:
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000000) {
                return cli_usage(c, "--max-iter '%s' must be 1..1000000", optarg);
            }
            fo.max_iter = (unsigned)v;
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &fo.seed) != 0) {
                return cli_usage(c, "--seed '%s' is not a non-negative integer", optarg);
            }
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &fo.threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_TABLE:
            table = optarg;
            break;
        case O_COV_P:
            cov.purchase = optarg;
            break;
        case O_COV_D:
            cov.dropout = optarg;
            break;
        case O_SAME_COV:
            cov.same = optarg;
            break;
        case O_COV_REF:
            if (strchr(optarg, '=') == NULL) {
                return cli_usage(c, "--cov-reference '%s': use COLUMN=LEVEL,...", optarg);
            }
            cov.reference = optarg;
            break;
        case O_PEN_COV:
            if (cli_parse_double(optarg, &fo.penalty_cov) != 0 || fo.penalty_cov < 0) {
                return cli_usage(c, "--penalty-cov '%s' must be a number >= 0", optarg);
            }
            break;
        case O_COV_MISSING:
            if (strcmp(optarg, "error") != 0 && strcmp(optarg, "drop") != 0) {
                return cli_usage(c, "--covariate-missing '%s': use error or drop", optarg);
            }
            cov.drop_missing = strcmp(optarg, "drop") == 0;
            break;
        default: {
            int ec = cli_option(c, opt, FIT_HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing DATA.h5" : "too many arguments");
    }
    if (models == NULL) {
        return cli_usage(c, "missing --model (bgnbd, pareto, mbgnbd, bgbb, gammagamma)");
    }
    if (out == NULL) {
        return cli_usage(c, "missing -o FIT.h5");
    }
    ct_clv_model list[8];
    size_t nm = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", models);
    char *save = NULL;
    int choose = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "auto") == 0) {
            if (choose) {
                return cli_usage(c, "model 'auto' given twice");
            }
            choose = 1;
            continue;
        }
        if (nm == 8 || ct_clv_model_parse(tok, &list[nm]) != 0) {
            return cli_usage(c, "unknown model '%s' (bgnbd, pareto, mbgnbd, bgbb, gammagamma)",
                             tok);
        }
        for (size_t k = 0; k < nm; k++) {
            if (list[k] == list[nm]) {
                return cli_usage(c, "model '%s' given twice", tok);
            }
        }
        if (choose && list[nm] != CT_GAMMAGAMMA) {
            return cli_usage(c, "--model auto chooses the purchase model: '%s' beside it can "
                                "only be gammagamma", tok);
        }
        nm++;
    }
    for (size_t k = 0; choose && k < nm; k++) {
        if (list[k] != CT_GAMMAGAMMA) {
            return cli_usage(c, "--model auto chooses the purchase model: '%s' beside it can "
                                "only be gammagamma", ct_clv_model_name(list[k]));
        }
    }
    const char *in1[1] = {argv[optind]}, *out1[1] = {out};
    int ec = cli_check_paths(c, in1, 1, out1, 1);
    if (ec != 0) {
        return ec;
    }
    ct_fit fits[9];
    ct_error err;
    ct_model_choice ch;
    if (ct_cov_spec_empty(&cov) && (cov.same != NULL || fo.penalty_cov > 0)) {
        return cli_usage(c, "--same-cov and --penalty-cov need --covariates-purchase or "
                            "--covariates-dropout");
    }
    ct_fit_stage st = {argv[optind], table, out, c->cmdline, list, nm, fo,
                       c->ranks > 1 ? ct_comm_world() : NULL, c->quiet ? NULL : show_fit, NULL,
                       choose ? &ch : NULL, &cov, 0};
    if (ct_stage_fit(&st, fits, &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    if (c->rank != 0) {
        return 0; /* rank 0 wrote */
    }
    if (st.cov_dropped > 0 && !c->quiet) {
        fprintf(stderr, "%zu customer(s) with a missing covariate left out of the fit\n",
                st.cov_dropped);
    }
    size_t nf = nm + (size_t)choose;
    if (choose && !c->quiet) {
        print_choice(stderr, &ch);
    }
    if (c->json) {
        if (nf == 1 && !choose) {
            print_fit_json(&fits[0]);
            printf("\n");
        } else {
            printf("{\"fits\": [");
            for (size_t k = 0; k < nf; k++) {
                printf(k ? ", " : "");
                print_fit_json(&fits[k]);
            }
            printf("]");
            if (choose) {
                printf(", \"choice\": ");
                print_choice_json(&ch);
            }
            printf("}\n");
        }
    }
    return 0;
}

/* Purchase fit from `path`: its first non-spend model; *gg gets a
 * gammagamma fit from the same file when present (has_gg = 1). */
static const char SCORE_HELP[] =
    "usage: clvtier score DATA.h5 --fit FIT.h5 [--spend-fit FIT.h5] --horizon H\n"
    "                     --discount D -o SCORES.h5 [--compress[=LEVEL]] [--json]\n"
    "\n"
    "Score every customer of DATA.h5: P(alive), expected purchases in the next H\n"
    "periods, expected spend per purchase (Gamma-Gamma; else the customer's own m)\n"
    "and CLV = E[spend] * sum_{k=1..H} (E[Y(k)] - E[Y(k-1)]) / (1+D)^k.\n"
    "A gammagamma fit stored in FIT.h5 is used unless --spend-fit names another.\n"
    "\n"
    "options:\n"
    "      --fit FILE         purchase model fit (from clvtier fit)\n"
    "      --spend-fit FILE   Gamma-Gamma fit\n"
    "      --horizon H        periods ahead (default 52)\n"
    "      --discount D       discount rate per period (default 0)\n"
    "  -o, --output FILE      output HDF5 with table /scores (written atomically)\n"
    "      --threads N        threads (default: all cores)\n"
    "      --compress[=LEVEL] shuffle + deflate the columns (default level 1)\n"
    "      --intervals[=delta|bootstrap:N] also p_alive_lo/_hi, exp_purchases_lo/_hi,\n"
    "                         clv_lo/_hi: delta-method bounds from the fits'\n"
    "                         covariances, on the logit (P(alive)) and log (purchases,\n"
    "                         CLV) scale; or the quantiles over N parameter draws\n"
    "                         from them (seeded by --seed); and purchases_lo/_hi\n"
    "      --seed S           seed of the bootstrap draws (default 1)\n"
    "      --level L          their confidence level (default 0.9)\n"
    "      --dert DELTA       also dert (discounted expected residual transactions,\n"
    "                         continuous discounting at DELTA per period) and\n"
    "                         clv_dert = dert x expected spend\n"
    "      --alive-at T1,...  also p_alive_at_<T>: P(alive T periods from now)\n"
    "      --json             summary as JSON on stdout\n"
    "  -q, --quiet            nothing on stderr but errors\n"
    "  -h, --help             this help\n";

/* Sums of P(alive), expected purchases and CLV over this rank's rows (its
 * first row a multiple of CT_SUM_BLOCK) per block of CT_SUM_BLOCK rows,
 * added in block order over the ranks: the same bits for any rank count.
 * out[3] is the number of rows. */
int cmd_score(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"fit", required_argument, NULL, O_FIT},
                                         {"spend-fit", required_argument, NULL, O_SPEND},
                                         {"horizon", required_argument, NULL, O_HORIZON},
                                         {"discount", required_argument, NULL, O_DISCOUNT},
                                         {"output", required_argument, NULL, 'o'},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"compress", optional_argument, NULL, O_COMPRESS},
                                         {"intervals", optional_argument, NULL, O_INTERVALS},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"level", required_argument, NULL, O_LEVEL},
                                         {"dert", required_argument, NULL, O_DERT},
                                         {"alive-at", required_argument, NULL, O_ALIVE_AT},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *fitp = NULL, *spendp = NULL, *out = NULL;
    double horizon = 52, discount = 0, level = 0.9, dert = 0, at[CT_MAX_ALIVE_AT];
    int intervals = 0;
    size_t draws = 0;
    uint64_t bseed = 1;
    size_t nat = 0;
    unsigned threads = 0;
    int deflate = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:qh", LONG, NULL)) != -1) {
        switch (opt) {
        case O_FIT:
            fitp = optarg;
            break;
        case O_SPEND:
            spendp = optarg;
            break;
        case O_HORIZON:
            if (cli_parse_double(optarg, &horizon) != 0 || horizon < 0 || horizon > 1e5) {
                return cli_usage(c, "--horizon '%s' must be in [0, 100000] periods", optarg);
            }
            break;
        case O_DISCOUNT:
            if (cli_parse_double(optarg, &discount) != 0 || discount < 0) {
                return cli_usage(c, "--discount '%s' must be a rate >= 0", optarg);
            }
            break;
        case 'o':
            out = optarg;
            break;
        case O_THREADS:
            if (cli_threads(c, optarg, &threads) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_COMPRESS:
            if (cli_deflate(c, optarg, &deflate) != 0) {
                return EX_USAGE_;
            }
            break;
        case O_INTERVALS:
            intervals = 1;
            if (optarg != NULL && strncmp(optarg, "bootstrap:", 10) == 0) {
                if (cli_parse_size(optarg + 10, &draws) != 0 || draws < 2 || draws > 100000) {
                    return cli_usage(c, "--intervals '%s': bootstrap:N with N in 2..100000",
                                     optarg);
                }
            } else if (optarg != NULL && strcmp(optarg, "delta") != 0) {
                return cli_usage(c, "--intervals '%s': delta or bootstrap:N", optarg);
            }
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &bseed) != 0) {
                return cli_usage(c, "--seed '%s' is not a non-negative integer", optarg);
            }
            break;
        case O_DERT:
            if (cli_parse_double(optarg, &dert) != 0 || !(dert > 0) || dert > 10) {
                return cli_usage(c, "--dert '%s' must be a continuous rate per period in (0, 10]",
                                 optarg);
            }
            break;
        case O_ALIVE_AT: {
            char buf[256], *save = NULL;
            snprintf(buf, sizeof buf, "%s", optarg);
            nat = 0;
            for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                if (nat == CT_MAX_ALIVE_AT || cli_parse_double(t, &at[nat]) != 0 ||
                    !(at[nat] >= 0) || at[nat] > 1e5) {
                    return cli_usage(c, "--alive-at '%s': up to %d period counts in [0, 100000]",
                                     optarg, CT_MAX_ALIVE_AT);
                }
                nat++;
            }
            break;
        }
        case O_LEVEL:
            if (cli_parse_double(optarg, &level) != 0 || !(level > 0 && level < 1)) {
                return cli_usage(c, "--level '%s' must be in (0, 1)", optarg);
            }
            break;
        default: {
            int ec = cli_option(c, opt, SCORE_HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing DATA.h5" : "too many arguments");
    }
    if (fitp == NULL || out == NULL) {
        return cli_usage(c, "missing %s", fitp == NULL ? "--fit FIT.h5" : "-o SCORES.h5");
    }
    const char *in3[3] = {argv[optind], fitp, spendp}, *out1[1] = {out};
    int ec = cli_check_paths(c, in3, 3, out1, 1);
    if (ec != 0) {
        return ec;
    }
    ct_error err;
    ct_score_summary sum;
    ct_score_stage st = {argv[optind], fitp,     spendp,  out,
                         c->cmdline,   horizon,  discount, threads,
                         deflate,      c->ranks > 1 ? ct_comm_world() : NULL,
                         intervals ? level : 0.0, dert, nat, at, draws, bseed};
    if (ct_stage_score(&st, &sum, &err) != CT_OK) {
        return cli_fail(c, &err);
    }
    size_t n = sum.n;
    double spa = sum.sum_p_alive, sey = sum.exp_purchases, sclv = sum.total_clv;
    double secs = sum.seconds;
    ct_clv_model pm = sum.model;
    int has_gg = sum.has_gg;
    if (c->rank != 0) {
        return 0;
    }
    if (!c->quiet) {
        fprintf(stderr,
                "clvtier score: %zu customers, %s%s, horizon %g, discount %g: mean P(alive) "
                "%.4f, expected purchases %.1f, total CLV %.2f (%.2f s) -> %s\n",
                n, ct_clv_model_name(pm), has_gg ? " + gammagamma" : "", horizon, discount,
                n ? spa / (double)n : 0.0, sey, sclv, secs, out);
    }
    if (c->json) {
        printf("{\"n\": %zu, \"model\": \"%s\", \"spend_model\": \"%s\", \"horizon\": %g, "
               "\"discount\": %g, \"mean_p_alive\": %.17g, \"expected_purchases\": %.17g, "
               "\"total_clv\": %.17g, \"seconds\": %.3f}\n",
               n, ct_clv_model_name(pm), has_gg ? "gammagamma" : "observed m", horizon,
               discount, n ? spa / (double)n : 0.0, sey, sclv, secs);
    }
    return 0;
}

static const char VAL_HELP[] =
    "usage: clvtier validate DATA.h5 --fit FIT.h5 [--max J] [--holdout T] [--json]\n"
    "\n"
    "Print the tables papers print: expected vs observed numbers of customers\n"
    "with 0, 1, ..., J-1 and J+ repeat purchases in the calibration period, and\n"
    "(when DATA.h5 has a holdout) mean actual vs predicted holdout purchases by\n"
    "calibration frequency.\n"
    "\n"
    "options:\n"
    "      --fit FILE      purchase model fit\n"
    "      --max J         last frequency bucket, J+ (default 7)\n"
    "      --holdout T     holdout length in periods (default: from DATA.h5)\n"
    "      --curve T       also print E[X(t)], t = 1..T: a new customer's expected\n"
    "                      repeat purchases (the cumulative forecast curve)\n"
    "      --json          tables as JSON on stdout\n"
    "  -h, --help          this help\n";

int cmd_validate(int argc, char **argv, cli_common *c)
{
    static const struct option LONG[] = {{"fit", required_argument, NULL, O_FIT},
                                         {"curve", required_argument, NULL, O_HORIZON},
                                         {"max", required_argument, NULL, O_MAXX},
                                         {"holdout", required_argument, NULL, O_TSTAR},
                                         {"json", no_argument, NULL, CLI_JSON},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *fitp = NULL;
    size_t jmax = 8, curve = 0;
    double tstar = -1;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", LONG, NULL)) != -1) {
        switch (opt) {
        case O_FIT:
            fitp = optarg;
            break;
        case O_HORIZON:
            if (cli_parse_size(optarg, &curve) != 0 || curve < 1 || curve > 10000) {
                return cli_usage(c, "--curve '%s' must be 1..10000 periods", optarg);
            }
            break;
        case O_MAXX: {
            size_t v;
            if (cli_parse_size(optarg, &v) != 0 || v < 1 || v > 1000) {
                return cli_usage(c, "--max '%s' must be 1..1000", optarg);
            }
            jmax = v + 1;
            break;
        }
        case O_TSTAR:
            if (cli_parse_double(optarg, &tstar) != 0 || tstar <= 0) {
                return cli_usage(c, "--holdout '%s' must be > 0", optarg);
            }
            break;
        default: {
            int ec = cli_option(c, opt, VAL_HELP, argc, argv);
            if (ec >= 0) {
                return ec;
            }
            break;
        }
        }
    }
    if (optind != argc - 1) {
        return cli_usage(c, optind >= argc ? "missing DATA.h5" : "too many arguments");
    }
    if (fitp == NULL) {
        return cli_usage(c, "missing --fit FIT.h5");
    }
    ct_error err;
    ct_validation *v = malloc(sizeof *v);
    if (v == NULL) {
        ct_fail(&err, CT_ENOMEM, "out of memory");
        return cli_fail(c, &err);
    }
    if (ct_stage_validate(argv[optind], fitp, jmax, tstar, curve, v, &err) != CT_OK) {
        free(v);
        return cli_fail(c, &err);
    }
    const ct_fit pf = v->fit;
    const double *exp_ = v->expected, *obs = v->observed, *cnt = v->count, *act = v->actual,
                 *pred = v->predicted, *ex = v->expected_new;
    int hold = v->has_holdout;
    tstar = v->holdout_periods;
    if (c->json) {
        printf("{\"model\": \"%s\", \"repeat_purchases\": [", ct_clv_model_name(pf.model));
        for (size_t j = 0; j < jmax; j++) {
            printf("%s{\"x\": \"%zu%s\", \"expected\": %.10g, \"observed\": %.10g}",
                   j ? ", " : "", j, j + 1 == jmax ? "+" : "", exp_[j], obs[j]);
        }
        printf("]");
        if (hold) {
            printf(", \"holdout_periods\": %.10g, \"holdout\": [", tstar);
            for (size_t j = 0; j < jmax; j++) {
                printf("%s{\"x\": \"%zu%s\", \"customers\": %.10g, \"actual\": %.10g, "
                       "\"predicted\": %.10g}",
                       j ? ", " : "", j, j + 1 == jmax ? "+" : "", cnt[j], act[j], pred[j]);
            }
            printf("]");
        }
        if (v->has_calib) {
            printf(", \"calibration\": {\"brier\": %.10g, \"deciles\": [", v->brier);
            for (size_t j = 0; j < CT_CALIB_BINS; j++) {
                printf("%s{\"customers\": %.10g, \"predicted\": %.10g, \"observed\": %.10g}",
                       j ? ", " : "", v->cal_n[j], v->cal_pred[j], v->cal_obs[j]);
            }
            printf("]}");
        }
        if (curve > 0) {
            printf(", \"expected_new\": [");
            for (size_t t = 0; t < curve; t++) {
                printf("%s%.10g", t ? ", " : "", ex[t]);
            }
            printf("]");
        }
        printf("}\n");
        free(v->expected_new);
        free(v);
        return 0;
    }
    printf("%s: repeat purchases in the calibration period\n", ct_clv_model_name(pf.model));
    printf("  %6s %12s %12s\n", "x", "expected", "observed");
    for (size_t j = 0; j < jmax; j++) {
        printf("  %5zu%s %12.1f %12.0f\n", j, j + 1 == jmax ? "+" : " ", exp_[j], obs[j]);
    }
    if (hold) {
        printf("\nholdout (%.4g periods): mean purchases by calibration frequency\n", tstar);
        printf("  %6s %10s %10s %10s\n", "x", "customers", "actual", "predicted");
        for (size_t j = 0; j < jmax; j++) {
            printf("  %5zu%s %10.0f %10.3f %10.3f\n", j, j + 1 == jmax ? "+" : " ", cnt[j], act[j],
                   pred[j]);
        }
    }
    if (v->has_calib) {
        printf("\ncalibration: P(a purchase in the holdout) by decile of the prediction\n");
        printf("  %6s %10s %10s %10s\n", "decile", "customers", "predicted", "observed");
        for (size_t j = 0; j < CT_CALIB_BINS; j++) {
            printf("  %6zu %10.0f %10.4f %10.4f\n", j + 1, v->cal_n[j], v->cal_pred[j],
                   v->cal_obs[j]);
        }
        printf("  Brier score %.5f\n", v->brier);
    }
    if (curve > 0) {
        printf("\nE[X(t)]: expected repeat purchases of a new customer by t\n");
        for (size_t t = 0; t < curve; t++) {
            printf("  %6zu %12.6f\n", t + 1, ex[t]);
        }
    }
    free(v->expected_new);
    free(v);
    return 0;
}
