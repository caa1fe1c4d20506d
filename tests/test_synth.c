/* test_synth.c - simulated customers: determinism across threads and seeds,
 * and agreement with the models' closed-form expectations. */
#include <gsl/gsl_sf_hyperg.h>
#include <math.h>

#include "testutil.h"

/* BG/NBD: E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
 * (Fader, Hardie & Lee 2005, eq. 9). */
static double bgnbd_ex(double r, double alpha, double a, double b, double t)
{
    double z = t / (alpha + t);
    return (a + b - 1) / (a - 1) *
           (1 - pow(alpha / (alpha + t), r) * gsl_sf_hyperg_2F1(r, b, a + b - 1, z));
}

/* Pareto/NBD: E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]
 * (Schmittlein, Morrison & Colombo 1987, eq. 17). */
static double pareto_ex(double r, double alpha, double s, double beta, double t)
{
    return r * beta / (alpha * (s - 1)) * (1 - pow(beta / (beta + t), s - 1));
}

static void mean_sd(const double *x, size_t n, double *mean, double *se)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) {
        m += x[i];
    }
    m /= (double)n;
    for (size_t i = 0; i < n; i++) {
        v += (x[i] - m) * (x[i] - m);
    }
    *mean = m;
    *se = sqrt(v / (double)(n - 1) / (double)n);
}

static void test_synth_threads_and_seeds(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers a, b, c;
    (void)state;
    ct_synth_opts_init(&o);
    o.n = 30001;
    o.cohort = 10;
    o.threads = 1;
    assert_status(ct_synth_customers(&o, &a, &err), CT_OK);
    o.threads = 3;
    assert_status(ct_synth_customers(&o, &b, &err), CT_OK);
    assert_memory_equal(a.x, b.x, o.n * sizeof(double));
    assert_memory_equal(a.t_x, b.t_x, o.n * sizeof(double));
    assert_memory_equal(a.m, b.m, o.n * sizeof(double));
    assert_memory_equal(a.ids, b.ids, o.n * a.id_width);
    o.seed = 2;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    assert_memory_not_equal(a.x, c.x, o.n * sizeof(double));
    for (size_t i = 0; i < a.n; i++) {
        assert_true(a.t_x[i] <= a.T[i] && a.T[i] > 42 - 1e-12 && a.T[i] <= 52);
        assert_true(a.x[i] > 0 || a.t_x[i] == 0);
    }
    assert_string_equal(a.ids, "C000001");
    ct_customers_free(&a);
    ct_customers_free(&b);
    ct_customers_free(&c);
}

/* Tolerance: 4 standard errors of the simulated mean (a false alarm about
 * once in 16,000 runs; the seed is fixed, so the test is deterministic). */
static void test_synth_matches_model_means(void **state)
{
    ct_error err;
    ct_synth_opts o;
    ct_customers c;
    double m, se;
    (void)state;
    ct_synth_opts_init(&o);
    o.n = 200000;
    o.r = 0.8;
    o.alpha = 4;
    o.a = 1.5;
    o.b = 3;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    mean_sd(c.x, c.n, &m, &se);
    assert_close(m, bgnbd_ex(o.r, o.alpha, o.a, o.b, o.T), 4 * se);
    /* Gamma-Gamma: E[mean spend] = p gamma / (q - 1) */
    double *avg = malloc(c.n * sizeof *avg);
    for (size_t i = 0; i < c.n; i++) {
        avg[i] = c.total[i] / (double)c.ntx[i];
    }
    mean_sd(avg, c.n, &m, &se);
    assert_close(m, o.p * o.gamma / (o.q - 1), 4 * se);
    free(avg);
    ct_customers_free(&c);

    o.model = CT_SYNTH_PARETO;
    o.r = 0.55;
    o.alpha = 10.58;
    o.a = 0.61; /* s */
    o.b = 11.67; /* beta */
    o.T = 78;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    mean_sd(c.x, c.n, &m, &se);
    assert_close(m, pareto_ex(o.r, o.alpha, o.a, o.b, o.T), 4 * se);
    ct_customers_free(&c);
}

static void test_synth_csv(void **state)
{
    char p1[512], p2[512], h[512];
    ct_error err;
    ct_synth_opts o;
    uint64_t n1, n2;
    (void)state;
    tu_path(p1, sizeof p1, "s1.csv");
    tu_path(p2, sizeof p2, "s2.csv");
    tu_path(h, sizeof h, "s.h5");
    ct_synth_opts_init(&o);
    o.n = 20000;
    o.threads = 1;
    assert_status(ct_synth_csv(&o, p1, &n1, &err), CT_OK);
    o.threads = 2;
    assert_status(ct_synth_csv(&o, p2, &n2, &err), CT_OK);
    assert_int_equal(n1, n2);
    assert_int_equal(system("true"), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p1, p2);
    assert_int_equal(system(cmd), 0);
    /* The log holds the same customers as the summary of the same seed. */
    ct_customers c;
    assert_status(ct_synth_customers(&o, &c, &err), CT_OK);
    uint64_t tx = 0;
    for (size_t i = 0; i < c.n; i++) {
        tx += (uint64_t)c.ntx[i];
    }
    assert_int_equal(tx, n1);
    /* ... and ingesting it gives the same customers and repeat counts, up to
     * purchases that fall on one calendar day. */
    ct_ingest_opts io;
    ct_ingest_report rep;
    ct_ingest_opts_init(&io);
    io.period = CT_PERIOD_WEEK;
    assert_status(ct_ingest_csv(p1, h, &io, &rep, &err), CT_OK);
    assert_int_equal(rep.customers, o.n);
    assert_int_equal(rep.transactions, n1);
    ct_customers d;
    ct_file *f;
    assert_status(ct_file_open(&f, h, &err), CT_OK);
    assert_status(ct_customers_read(f, "/customers", &d, &err), CT_OK);
    ct_file_close(f);
    /* Recount distinct purchase days per customer straight from the CSV
     * (synth writes each customer's rows together, in time order). */
    FILE *fp = fopen(p1, "r");
    char line[128], prev_id[32] = "", prev_day[16] = "";
    size_t k = (size_t)-1, days = 0;
    double *want = calloc(c.n, sizeof *want);
    assert_non_null(fgets(line, sizeof line, fp));
    while (fgets(line, sizeof line, fp) != NULL) {
        char *id = strtok(line, ","), *day = strtok(NULL, ",");
        if (strcmp(id, prev_id) != 0) {
            k++;
            days = 0;
            snprintf(prev_id, sizeof prev_id, "%s", id);
            prev_day[0] = '\0';
        }
        if (strcmp(day, prev_day) != 0) {
            days++;
            snprintf(prev_day, sizeof prev_day, "%s", day);
        }
        want[k] = (double)days - 1;
    }
    fclose(fp);
    assert_int_equal(k + 1, c.n);
    for (size_t i = 0; i < c.n; i++) {
        assert_string_equal(c.ids + i * c.id_width, d.ids + i * d.id_width);
        assert_true(d.x[i] == want[i]);
        assert_true(d.x[i] <= c.x[i]); /* only same-day purchases merge */
    }
    free(want);
    ct_customers_free(&c);
    ct_customers_free(&d);
    o.r = -1;
    assert_status(ct_synth_csv(&o, p1, &n1, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "parameter r"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_threads_and_seeds),
        cmocka_unit_test(test_synth_matches_model_means),
        cmocka_unit_test(test_synth_csv),
    };
    return cmocka_run_group_tests_name("synth", tests, NULL, NULL);
}
