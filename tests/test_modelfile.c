/* test_modelfile.c - tier model files: the shipped models load, every bad
 * setting is a clear error naming file, line and key, and protected
 * attributes are refused as features. */
#include "testutil.h"

static void test_shipped_models(void **state)
{
    ct_error err;
    ct_tier_model m;
    (void)state;
    const char *names[6] = {"default", "vip4", "abc", "metal5", "loyalty3", "leads"};
    for (int i = 0; i < 6; i++) {
        char path[128];
        snprintf(path, sizeof path, "models/%s.ini", names[i]);
        assert_status(ct_tier_model_load(path, &m, &err), CT_OK);
        assert_string_equal(m.name, names[i]);
        assert_true(m.ntiers >= 3 && m.nfeat >= 2);
        for (size_t j = 0; j < m.nfeat; j++) {
            assert_null(ct_protected_attribute(m.features[j]));
        }
    }
    assert_status(ct_tier_model_load("models/vip4.ini", &m, &err), CT_OK);
    assert_int_equal(m.ntiers, 4);
    assert_string_equal(m.tiers[0], "VIP");
    assert_string_equal(m.tiers[3], "potential");
    assert_int_equal(m.assign, CT_ASSIGN_SHARES);
    assert_true(m.shares[0] == 0.05 && m.k_lo == 4 && m.k_hi == 10);
    assert_string_equal(m.actions[0], "Dedicated account manager, invitations, no-questions returns");
    assert_true(m.hysteresis == 0.05 && m.new_min_age == 4);
    assert_status(ct_tier_model_load("models/loyalty3.ini", &m, &err), CT_OK);
    assert_int_equal(m.assign, CT_ASSIGN_THRESHOLDS);
    assert_true(m.thresholds[0] == 0.7 && m.thresholds[1] == 0.3 && m.spend == 0);
    assert_status(ct_tier_model_load("models/abc.ini", &m, &err), CT_OK);
    assert_int_equal(m.purchase, CT_PARETO);
}

static void test_protected_guard(void **state)
{
    (void)state;
    const char *yes[] = {"race", "Customer_Religion", "sexual-orientation", "political_views",
                         "ethnicity", "gender", "HealthScore", "is_pregnant", "date_of_birth",
                         "age", "trade union member", "nationality", "disability_flag",
                         /* issue 14, case 3: names that passed before */
                         "religion2", "religionid", "ethnicgroup", "maritalstatus", "healthscore",
                         "birth_year", "yearOfBirth", "is_female", "skin_colour",
                         "religi\xc3\xb3n",      /* religión */
                         "r\xd0\xb0" "ce",        /* Cyrillic a */
                         "\xef\xbd\x92" "ace",    /* fullwidth r */
                         "reli\xe2\x80\x8bgion", /* a zero-width space inside */
                         "a b c d e f g h i j k l m n o p q religion"};
    const char *no[] = {"x", "t_x", "T", "m", "clv", "p_alive", "exp_purchases", "page_views",
                        "usage_hours", "stage", "region", "basket_size", "total",
                        "average_basket", "trace_count", "email_opens", "message_count",
                        "passage", "x2", "TotalSpend", "days_since_last"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (ct_protected_attribute(yes[i]) == NULL) {
            fail_msg("'%s' should be refused", yes[i]);
        }
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        const char *hit = ct_protected_attribute(no[i]);
        if (hit != NULL) {
            fail_msg("'%s' refused as '%s'", no[i], hit);
        }
    }
    assert_string_equal(ct_protected_attribute("sexual_orientation"), "sexual orientation");
}

static void test_bad_models(void **state)
{
    char path[512];
    ct_error err;
    ct_tier_model m;
    (void)state;
    tu_path(path, sizeof path, "bad.ini");
    struct {
        const char *text;
        ct_status want;
        const char *msg;
    } cases[] = {
        {"[model]\nname = x\ncolour = red\n", CT_ECONFIG, ":3: [model] colour: unknown key"},
        {"[modle]\nname = x\n", CT_ECONFIG, ":2: [modle] name: unknown section"},
        {"[clv]\nhorizon = soon\n", CT_ECONFIG, ":2: [clv] horizon: 'soon' must be a number"},
        {"[clv]\npurchase = weibull\n", CT_ECONFIG, "[clv] purchase: 'weibull' is not"},
        {"[tiers]\nnames = a, b, c\nshares = 0.5, 0.3, 0.3\n", CT_ECONFIG, "shares sum to 1.1"},
        {"[tiers]\nnames = a, b\nshares = 0.5, 0.3, 0.2\n", CT_ECONFIG, "3 shares for 2 tiers"},
        {"[kmeans]\nk = 2\n[tiers]\nnames = a, b, c\nassign = clusters\n", CT_ECONFIG,
         "needs k >= 3"},
        {"[features]\nuse = x, m, gender\n", CT_EPROTECTED,
         ":2: [features] use: feature 'gender' is a protected attribute"},
        {"[features]\nuse = x, m\n[protected]\naudit = m\n", CT_EPROTECTED,
         "declared for audit and used as a feature"},
        {"[tiers]\nnames = a, b, a\n", CT_ECONFIG, "tier name 'a' given twice"},
        {"[tiers]\nnames = a, b, c\nassign = thresholds\nthresholds = 1, 2\n", CT_ECONFIG,
         "thresholds must decrease"},
        {"[tiers]\nnames = a, b, c\nassign = thresholds\n", CT_ECONFIG, "needs 2 thresholds"},
        {"[loyalty]\nloyal = 0.2\nlost = 0.5\n", CT_ECONFIG, "lost = 0.5 is above loyal = 0.2"},
        {"[kmeans]\nk_range = 8:3\n", CT_ECONFIG, ":2: [kmeans] k_range"},
        {"[data]\nperiod = fortnight\n", CT_ECONFIG, ":2: [data] period"},
        {"[model]\nthis line is not ini\n", CT_ECONFIG, ":2: not an INI line"},
        {"[actions]\ngold = shine\n", CT_ECONFIG, "[actions] 'gold' is not a tier"},
        {"[clv]\ndiscount = 1.5\n", CT_ECONFIG, "rate per period in [0, 1)"},
        /* issue 14, cases 4 and 5: nothing silently cut or overridden, no empty model */
        {NULL, CT_ECONFIG, ":2: line of 202 bytes (at most 199"}, /* long_model */
        {"[clv]\nhorizon = 10\nhorizon = 20\n", CT_ECONFIG,
         ":3: [clv] horizon given again (first at line 2)"},
        {"[clv]\nhorizon = 10\n[clv]\ndiscount = 0.1\n", CT_ECONFIG,
         ":3: section [clv] again (first at line 1)"},
        {"", CT_ECONFIG, "no settings"},
        {"; only a comment\n[model]\n", CT_ECONFIG, "no settings"},
        {"[kmeans]\nseed = 99999999999999999999\n", CT_ECONFIG, "must be an integer from 0"},
        {"[tiers]\nnames = a, new, c\n", CT_ECONFIG, "'new' is also the new-customer tier"},
        {"[tiers]\nmin_group = 1e30\n", CT_ECONFIG, ":2: [tiers] min_group: '1e30' must be"},
        /* issue 14, case 1: the guard on rank_by too */
        {"[tiers]\nrank_by = religion\n", CT_EPROTECTED,
         ":2: [tiers] rank_by: 'religion' is a protected attribute"},
        {"[tiers]\nrank_by = m\n[protected]\naudit = m\n", CT_EPROTECTED,
         "declared for audit and used as rank_by"},
        /* issue 17: the guard on covariates; covariates need a named model */
        {"[clv]\npurchase = pareto\ncovariates_dropout = web, Sexual_Orientation\n",
         CT_EPROTECTED,
         ":3: [clv] covariates_dropout: covariate 'Sexual_Orientation' is a protected attribute"},
        {"[clv]\npurchase = pareto\ncovariates_purchase = web, segment\n[protected]\naudit = "
         "segment\n",
         CT_EPROTECTED, "column 'segment' is declared for audit and used as a covariate"},
        {"[clv]\npurchase = auto\ncovariates_purchase = web\n", CT_ECONFIG,
         "covariates need a named purchase model"},
        {"[clv]\npurchase = bgnbd\ncovariates_reference = web\n", CT_ECONFIG,
         "must be column=level"},
        /* every value check names the key and the value */
        {"[model]\nname = \n", CT_ECONFIG, "[model] name: '' must be 1..63 characters"},
        {"[data]\ncalibration_end = 1997-13-01\n", CT_ECONFIG,
         "[data] calibration_end: '1997-13-01' is not a date YYYY-MM-DD"},
        {"[clv]\nspend = lognormal\n", CT_ECONFIG, "'lognormal' is not gammagamma or none"},
        {"[clv]\npenalty = -1\n", CT_ECONFIG, "[clv] penalty: '-1' must be >= 0"},
        {"[clv]\npenalty_cov = x\n", CT_ECONFIG, "[clv] penalty_cov: 'x' must be >= 0"},
        {"[features]\nuse = \n", CT_ECONFIG, "must list 1..32 feature names"},
        {"[features]\ntransform = sqrt\n", CT_ECONFIG, "'sqrt' is not none or log1p"},
        {"[features]\nscale = minmax\n", CT_ECONFIG, "'minmax' is not none, zscore or robust"},
        {"[kmeans]\nk = 2.5\n", CT_ECONFIG, "[kmeans] k: '2.5' must be a whole number 1..1000"},
        {"[kmeans]\nn_init = 0\n", CT_ECONFIG, "[kmeans] n_init: '0' must be a whole number"},
        {"[tiers]\nnames = \n", CT_ECONFIG, "must list 1..16 tier names"},
        {"[tiers]\nassign = lottery\n", CT_ECONFIG,
         "'lottery' is not clusters, shares or thresholds"},
        {"[tiers]\nshares = a, b\n", CT_ECONFIG, "[tiers] shares: 'a, b' must be a list of numbers"},
        {"[tiers]\nstability = 0.5\n", CT_ECONFIG, "must be a whole number of draws in [0, 10000]"},
        {"[tiers]\nborderline = 0\n", CT_ECONFIG, "[tiers] borderline: '0' must be a share in (0, 1]"},
    };
    char long_model[512];
    snprintf(long_model, sizeof long_model, "[tiers]\n; %0200d\nrank_by = clv\n", 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tu_write(path, cases[k].text != NULL ? cases[k].text : long_model);
        ct_status s = ct_tier_model_load(path, &m, &err);
        if (s != cases[k].want || strstr(err.msg, cases[k].msg) == NULL ||
            strstr(err.msg, path) == NULL) {
            fail_msg("case %zu: got %s '%s', want %s '...%s...'", k, ct_strerror(s), err.msg,
                     ct_strerror(cases[k].want), cases[k].msg);
        }
    }
    assert_status(ct_tier_model_load("/nonexistent/model.ini", &m, &err), CT_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_models),
        cmocka_unit_test(test_protected_guard),
        cmocka_unit_test(test_bad_models),
    };
    return cmocka_run_group_tests_name("modelfile", tests, NULL, NULL);
}
