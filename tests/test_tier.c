/* test_tier.c - clusters onto tier ladders: planted tiers are recovered
 * through k-means + the vip4 model; the three assignment rules, new
 * customers, loyalty classes and bad input. */
#include <math.h>

#include "testutil.h"

/* Four planted value groups (5%, 15%, 40%, 40% of customers) with
 * well-separated log CLV and frequency; 1% of customers are new. */
static void test_planted_tiers_recovered(void **state)
{
    ct_error err;
    ct_tier_model m;
    (void)state;
    assert_status(ct_tier_model_load("models/vip4.ini", &m, &err), CT_OK);
    size_t n = 20000, d = 2;
    double *X = malloc(n * d * sizeof *X), *clv = malloc(n * sizeof *clv);
    double *pa = malloc(n * sizeof *pa), *age = malloc(n * sizeof *age);
    int8_t *truth = malloc(n);
    ct_rng *g = ct_rng_new(17, 0);
    const double level[4] = {2000, 400, 60, 8}, freq[4] = {30, 10, 3, 0.5};
    for (size_t i = 0; i < n; i++) {
        double u = ct_rng_uniform(g);
        int t = u < 0.05 ? 0 : u < 0.20 ? 1 : u < 0.60 ? 2 : 3;
        truth[i] = (int8_t)t;
        clv[i] = level[t] * exp(0.2 * (ct_rng_uniform(g) - 0.5));
        X[i * d] = log1p(clv[i]);
        X[i * d + 1] = log1p(freq[t] * (1 + 0.2 * (ct_rng_uniform(g) - 0.5)));
        pa[i] = ct_rng_uniform(g);
        age[i] = i % 100 == 0 ? 1.0 : 20.0;
    }
    ct_kmeans_opts o;
    ct_kmeans_result r;
    ct_kmeans_opts_init(&o);
    o.k = 4;
    o.n_init = 3;
    o.seed = 2;
    assert_status(ct_kmeans_fit(X, n, d, NULL, &o, &r, &err), CT_OK);
    ct_tiering t;
    assert_status(ct_tier_assign(&m, r.labels, 4, clv, pa, age, NULL, n, &t, &err), CT_OK);
    size_t newc = 0;
    for (size_t i = 0; i < n; i++) {
        if (age[i] < m.new_min_age) {
            assert_int_equal(t.tier[i], 4); /* the separate new tier */
            newc++;
        } else {
            assert_int_equal(t.tier[i], truth[i]);
        }
        int want = pa[i] >= 0.7 ? 0 : pa[i] <= 0.3 ? 2 : 1;
        assert_int_equal(t.loyalty[i], want);
    }
    assert_true(t.weight[4] == (double)newc);
    assert_true(t.cluster_mean[t.cluster_rank[0]] > t.cluster_mean[t.cluster_rank[3]]);
    /* the same input gives the same tiers */
    ct_tiering t2;
    assert_status(ct_tier_assign(&m, r.labels, 4, clv, pa, age, NULL, n, &t2, &err), CT_OK);
    assert_memory_equal(t.tier, t2.tier, n);
    ct_tiering_free(&t);
    ct_tiering_free(&t2);
    ct_kmeans_result_free(&r);
    ct_rng_free(g);
    free(X);
    free(clv);
    free(pa);
    free(age);
    free(truth);
}

static void test_assignment_rules(void **state)
{
    ct_error err;
    ct_tier_model m;
    ct_tiering t;
    (void)state;
    /* 5 clusters with means 50, 40, 30, 20, 10 (cluster j has mean 50 - 10 j) */
    int32_t lab[10] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4};
    double met[10] = {49, 51, 39, 41, 29, 31, 19, 21, 9, 11};
    ct_tier_model_init(&m);
    m.ntiers = 3;
    m.assign = CT_ASSIGN_CLUSTERS;
    m.k_lo = m.k_hi = 5;
    assert_status(ct_tier_assign(&m, lab, 5, met, NULL, NULL, NULL, 10, &t, &err), CT_OK);
    const int8_t want_c[10] = {0, 0, 1, 1, 2, 2, 2, 2, 2, 2};
    assert_memory_equal(t.tier, want_c, 10);
    ct_tiering_free(&t);
    m.assign = CT_ASSIGN_SHARES; /* bands 0.2 | 0.3 | 0.5 of customers */
    m.shares[0] = 0.2;
    m.shares[1] = 0.3;
    m.shares[2] = 0.5;
    assert_status(ct_tier_assign(&m, lab, 5, met, NULL, NULL, NULL, 10, &t, &err), CT_OK);
    /* cluster middles at 0.1, 0.3, 0.5, 0.7, 0.9 -> tiers 0, 1, 2, 2, 2 */
    const int8_t want_s[10] = {0, 0, 1, 1, 2, 2, 2, 2, 2, 2};
    assert_memory_equal(t.tier, want_s, 10);
    ct_tiering_free(&t);
    m.assign = CT_ASSIGN_THRESHOLDS;
    m.thresholds[0] = 35;
    m.thresholds[1] = 15;
    assert_status(ct_tier_assign(&m, lab, 5, met, NULL, NULL, NULL, 10, &t, &err), CT_OK);
    const int8_t want_t[10] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2};
    assert_memory_equal(t.tier, want_t, 10);
    ct_tiering_free(&t);
    lab[3] = 7;
    assert_status(ct_tier_assign(&m, lab, 5, met, NULL, NULL, NULL, 10, &t, &err), CT_EDATA);
    lab[3] = 1;
    met[2] = (double)NAN;
    assert_status(ct_tier_assign(&m, lab, 5, met, NULL, NULL, NULL, 10, &t, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "customer row 3"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_tiers_recovered),
        cmocka_unit_test(test_assignment_rules),
    };
    return cmocka_run_group_tests_name("tier", tests, NULL, NULL);
}
