/* test_tier.c - clusters onto tier ladders: planted tiers are recovered
 * through k-means + the vip4 model; the three assignment rules, new
 * customers, loyalty classes and bad input. */
#include <math.h>

#include "pipeline/stages.h"
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

/* Hysteresis: two clusters on a line at 0 and 10 (tiers 0 and 1).  A
 * customer who was in tier 1 and now sits at 4.9 (distance 4.9 to tier 0's
 * centroid, 5.1 to tier 1's) stays in tier 1 with a 5% margin (5.1 <=
 * 1.05 * 4.9) but moves at 3 (7 > 1.05 * 3); with margin 0 both move. */
static void test_hysteresis(void **state)
{
    ct_error err;
    ct_tier_model m;
    ct_tiering t;
    (void)state;
    ct_tier_model_init(&m);
    m.ntiers = 2;
    m.assign = CT_ASSIGN_CLUSTERS;
    int32_t lab[4] = {0, 0, 0, 1};
    double met[4] = {10, 10, 10, 1}, X[4] = {0, 4.9, 3, 10}, C[2] = {0, 10};
    size_t rows[4] = {0, 1, 2, 3};
    int8_t prev[4] = {0, 1, 1, -1}; /* the last one is new since the last run */
    for (int pass = 0; pass < 2; pass++) {
        assert_status(ct_tier_assign(&m, lab, 2, met, NULL, NULL, NULL, 4, &t, &err), CT_OK);
        const int8_t now[4] = {0, 0, 0, 1};
        assert_memory_equal(t.tier, now, 4);
        size_t kept = ct_tier_hysteresis(&t, prev, X, rows, 4, C, 1, NULL, pass == 0 ? 0.05 : 0.0);
        const int8_t want0[4] = {0, 1, 0, 1}, want1[4] = {0, 0, 0, 1};
        assert_int_equal(kept, pass == 0 ? 1 : 0);
        assert_memory_equal(t.tier, pass == 0 ? want0 : want1, 4);
        assert_true(t.weight[0] == (pass == 0 ? 2.0 : 3.0) && t.weight[1] == (pass == 0 ? 2.0 : 1.0));
        ct_tiering_free(&t);
    }
}

/* Audit: a protected code that equals the tier gives Cramer's V = 1 and
 * flags the feature that separates the groups (eta^2 = 1 - within/total);
 * an unrelated code gives V = 0 and eta^2 = 0. */
static void test_audit(void **state)
{
    ct_error err;
    ct_audit a;
    (void)state;
    const int8_t tier[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    const double same[8] = {1, 1, 1, 1, 2, 2, 2, 2}, unrel[8] = {1, 1, 2, 2, 1, 1, 2, 2};
    const double f0[8] = {9, 11, 9, 11, 1, 3, 1, 3}; /* group means 10 and 2, within var 1 */
    const double *feat[1] = {f0};
    assert_status(ct_audit_compute("g", same, tier, 3, feat, 1, NULL, 8, &a, &err), CT_OK);
    assert_int_equal(a.ngroups, 2);
    assert_string_equal(a.group[0], "1");
    assert_true(fabs(a.cramers_v - 1.0) < 1e-12);
    /* SS_total = 8 * (16 + 1) = 136, SS_between = 8 * 16 = 128 */
    assert_true(fabs(a.eta2[0] - 128.0 / 136.0) < 1e-12);
    assert_true(a.eta2[0] >= CT_AUDIT_PROXY_ETA2);
    assert_true(a.count[0][0] == 4 && a.count[1][1] == 4 && a.count[0][1] == 0);
    assert_status(ct_audit_compute("g", unrel, tier, 3, feat, 1, NULL, 8, &a, &err), CT_OK);
    assert_true(fabs(a.cramers_v) < 1e-12);
    assert_true(a.eta2[0] < 1e-12);
    /* many distinct values: quartile groups; NaN: a "missing" group */
    double many[8] = {1, 2, 3, 4, 5, 6, 7, (double)NAN}, lots[20];
    int8_t t20[20] = {0};
    for (int i = 0; i < 20; i++) {
        lots[i] = i;
    }
    assert_status(ct_audit_compute("g", many, tier, 3, feat, 1, NULL, 8, &a, &err), CT_OK);
    assert_string_equal(a.group[a.ngroups - 1], "missing");
    const double *f20[1] = {lots};
    assert_status(ct_audit_compute("g", lots, t20, 3, f20, 1, NULL, 20, &a, &err), CT_OK);
    assert_int_equal(a.ngroups, 4);
    assert_string_equal(a.group[0], "< 5");
    assert_true(a.count[0][0] == 5 && a.count[3][0] == 5);
}

/* The Hungarian method against brute force over all permutations. */
static void test_hungarian(void **state)
{
    ct_error err;
    (void)state;
    ct_rng *g = ct_rng_new(99, 0);
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)ct_rng_below(g, 6), m = n + (size_t)ct_rng_below(g, 3);
        double cost[64];
        for (size_t q = 0; q < n * m; q++) {
            cost[q] = (double)ct_rng_below(g, 20); /* many ties */
        }
        size_t as[8];
        assert_status(ct_hungarian(cost, n, m, as, &err), CT_OK);
        double got = 0;
        for (size_t i = 0; i < n; i++) {
            got += cost[i * m + as[i]];
            for (size_t j = 0; j < i; j++) {
                assert_true(as[i] != as[j]);
            }
        }
        /* brute force: all injective maps rows -> columns */
        double best = 1e300;
        size_t idx[8] = {0};
        for (;;) {
            int ok = 1;
            for (size_t i = 0; i < n && ok; i++) {
                for (size_t j = 0; j < i; j++) {
                    ok &= idx[i] != idx[j];
                }
            }
            if (ok) {
                double s = 0;
                for (size_t i = 0; i < n; i++) {
                    s += cost[i * m + idx[i]];
                }
                best = s < best ? s : best;
            }
            size_t p = 0;
            while (p < n && ++idx[p] == m) {
                idx[p++] = 0;
            }
            if (p == n) {
                break;
            }
        }
        assert_true(got == best);
    }
    ct_rng_free(g);
    double bad[2] = {1, (double)NAN};
    size_t as[2];
    assert_status(ct_hungarian(bad, 1, 2, as, &err), CT_EINVAL);
    assert_status(ct_hungarian(bad, 2, 1, as, &err), CT_EINVAL);
}

static void test_match_centroids(void **state)
{
    ct_error err;
    (void)state;
    double old_c[8] = {0, 0, 10, 0, 0, 10, 10, 10};
    /* the same centroids, moved a little and in another order */
    double new_c[8] = {10.1, 9.9, 0.2, 0.1, 9.8, 0.3, 0.1, 10.2};
    int32_t map[5];
    assert_status(ct_match_centroids(old_c, 4, new_c, 4, 2, map, &err), CT_OK);
    const int32_t want[4] = {3, 0, 1, 2};
    assert_memory_equal(map, want, sizeof want);
    /* one more cluster than before: it gets the next label */
    double new5[10] = {10.1, 9.9, 0.2, 0.1, 50, 50, 9.8, 0.3, 0.1, 10.2};
    assert_status(ct_match_centroids(old_c, 4, new5, 5, 2, map, &err), CT_OK);
    const int32_t want5[5] = {3, 0, 4, 1, 2};
    assert_memory_equal(map, want5, sizeof want5);
    /* one fewer: every new cluster finds a distinct old label */
    assert_status(ct_match_centroids(old_c, 4, new_c, 3, 2, map, &err), CT_OK);
    const int32_t want3[3] = {3, 0, 1};
    assert_memory_equal(map, want3, sizeof want3);
}

static void test_migration(void **state)
{
    ct_error err;
    (void)state;
    /* 3 tiers + new (code 3); ids are 8-byte fixed width */
    char old_ids[5][8] = {"a", "b", "c", "d", "e"};
    int8_t old_t[5] = {0, 1, 2, 2, 3};
    char new_ids[5][8] = {"b", "c", "e", "f", "a"};
    int8_t new_t[5] = {0, 2, 1, 3, 0};
    double cnt[5 * 5];
    assert_status(ct_tier_migration(&old_ids[0][0], 8, old_t, 5, 3, &new_ids[0][0], 8, new_t, 5, 3,
                                    cnt, &err),
                  CT_OK);
    /* a: 0 -> 0, b: 1 -> 0, c: 2 -> 2, d: 2 -> gone, e: new -> 1, f: absent -> new */
    double want[25] = {0};
    want[0 * 5 + 0] = 1;
    want[1 * 5 + 0] = 1;
    want[2 * 5 + 2] = 1;
    want[2 * 5 + 4] = 1;
    want[3 * 5 + 1] = 1;
    want[4 * 5 + 3] = 1;
    assert_memory_equal(cnt, want, sizeof want);
    /* the same run twice: an identity matrix of tier sizes */
    assert_status(ct_tier_migration(&old_ids[0][0], 8, old_t, 5, 3, &old_ids[0][0], 8, old_t, 5, 3,
                                    cnt, &err),
                  CT_OK);
    for (size_t r = 0; r < 5; r++) {
        for (size_t c = 0; c < 5; c++) {
            double v = cnt[r * 5 + c];
            assert_true(r == c ? v == (r == 0 || r == 1 || r == 3 ? 1 : r == 2 ? 2 : 0) : v == 0);
        }
    }
    char dup[2][8] = {"a", "a"};
    int8_t t2[2] = {0, 0};
    assert_status(ct_tier_migration(&dup[0][0], 8, t2, 2, 3, &new_ids[0][0], 8, new_t, 5, 3, cnt,
                                    &err),
                  CT_EDATA);
    assert_non_null(strstr(err.msg, "'a' appears twice"));
}

/* run's k-means over ranks (stage_cluster.c: rows moved to their reduction
 * blocks, the scaler fitted on the stream, the k range and the final
 * distributed Lloyd) on the serial communicator: the same k, scaler,
 * centroids, labels and k scores as the one-process path, bit for bit, for
 * a k range and a fixed k, weighted and not (tests/mpi: 2 and 4 ranks). */
static void test_cluster_ranks_equal_serial(void **state)
{
    ct_error err;
    (void)state;
    size_t n = 6000, d = 3;
    double *X = malloc(n * d * sizeof *X), *w = malloc(n * sizeof *w);
    ct_rng *g = ct_rng_new(23, 0);
    for (size_t i = 0; i < n; i++) {
        size_t c = i % 5;
        for (size_t q = 0; q < d; q++) {
            X[i * d + q] = (double)(c * (q + 1)) * 3.0 + ct_rng_uniform(g) * 40.0 * (q == 2);
        }
        w[i] = 0.5 + (double)(i % 3);
    }
    ct_rng_free(g);
    for (int v = 0; v < 4; v++) {
        ct_tier_model m;
        ct_tier_model_init(&m);
        m.nfeat = d;
        m.k_lo = 2;
        m.k_hi = v < 2 ? 6 : 4;
        m.k_lo = v < 2 ? 2 : 4;
        m.transform = v % 2 ? CT_TF_LOG1P : CT_TF_NONE;
        m.scale = CT_SC_ZSCORE;
        m.seed = 11;
        const double *wv = v % 2 ? w : NULL;
        double *Xs = malloc(n * d * sizeof *Xs);
        memcpy(Xs, X, n * d * sizeof *Xs);
        ct_scaler sa, sb;
        ct_kmeans_result ka, kb;
        ct_kscore qa[8], qb[8];
        size_t na = 0, nb = 0;
        int32_t *lab = malloc(n * sizeof *lab);
        memset(&sa, 0, sizeof sa);
        memset(&sb, 0, sizeof sb);
        assert_status(ct_cluster_model_serial(&m, Xs, wv, n, 2, &sa, &ka, qa, &na, &err), CT_OK);
        assert_status(ct_cluster_model_ranks(ct_comm_world(), &m, X, wv, n, n, 0, 2, &sb, &kb,
                                             lab, qb, &nb, &err),
                      CT_OK);
        assert_int_equal(ka.k, kb.k);
        assert_int_equal(na, nb);
        assert_memory_equal(sa.center, sb.center, d * sizeof *sa.center);
        assert_memory_equal(sa.scale, sb.scale, d * sizeof *sa.scale);
        assert_memory_equal(ka.centroids, kb.centroids, ka.k * d * sizeof *ka.centroids);
        assert_memory_equal(ka.labels, lab, n * sizeof *lab);
        for (size_t q = 0; q <= m.k_hi - m.k_lo; q++) {
            assert_memory_equal(&qa[q], &qb[q], sizeof qa[q]);
        }
        ct_kmeans_result_free(&ka);
        ct_kmeans_result_free(&kb);
        ct_scaler_free(&sa);
        ct_scaler_free(&sb);
        free(Xs);
        free(lab);
    }
    /* robust scaling is refused over ranks (it needs every row's order) */
    ct_tier_model m;
    ct_tier_model_init(&m);
    m.nfeat = d;
    m.k_lo = m.k_hi = 3;
    m.scale = CT_SC_ROBUST;
    ct_scaler sc;
    ct_kmeans_result km;
    ct_kscore qs[1];
    size_t ns = 0;
    int32_t *lab = malloc(n * sizeof *lab);
    memset(&sc, 0, sizeof sc);
    assert_status(ct_cluster_model_ranks(ct_comm_world(), &m, X, NULL, n, n, 0, 1, &sc, &km, lab,
                                         qs, &ns, &err),
                  CT_ECONFIG);
    ct_scaler_free(&sc);
    free(lab);
    free(X);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_tiers_recovered),
        cmocka_unit_test(test_cluster_ranks_equal_serial),
        cmocka_unit_test(test_assignment_rules),
        cmocka_unit_test(test_hungarian),
        cmocka_unit_test(test_match_centroids),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_hysteresis),
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests_name("tier", tests, NULL, NULL);
}
