/* test_ingest.c - transaction log -> /customers: CDNOW reproduction, row-order
 * independence, calibration/holdout, features, summaries, bad input. */
#include <math.h>
#include <zlib.h>

#include "testutil.h"

static ct_status ingest(const char *csv, const char *out, const ct_ingest_opts *o,
                        ct_ingest_report *rep, ct_error *err)
{
    return ct_ingest_csv(csv, out, o, rep, err);
}

static void read_customers(const char *h5, ct_customers *c)
{
    ct_error err;
    ct_file *f;
    assert_status(ct_file_open(&f, h5, &err), CT_OK);
    assert_status(ct_customers_read(f, "/customers", c, &err), CT_OK);
    ct_file_close(f);
}

/* The CDNOW 1/10th sample with a 39-week calibration must reproduce lifetimes'
 * cdnow_customers_summary_with_transactions.csv (Fader, Hardie & Lee 2005
 * data).  That file rounds to two decimals, so x, t_x and T must match after
 * rounding half away from zero, and m within 0.005 + 1e-9 (the reference
 * rounds the exact half-cent means 173.035 etc. upwards). */
static void test_ingest_cdnow_sample(void **state)
{
    char csv[512], out[512], ref[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_customers c;
    (void)state;
    tu_data(csv, sizeof csv, "CDNOW_sample.txt");
    tu_data(ref, sizeof ref, "cdnow_customers_summary_with_transactions.csv");
    tu_path(out, sizeof out, "cdnow_sample.h5");
    ct_ingest_opts_init(&o);
    o.header = 0;
    o.id_col = "2";
    o.date_col = "3";
    o.amount_col = "5";
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(1997, 9, 30);
    assert_status(ingest(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.rows, 6919);
    assert_int_equal(rep.customers, 2357);
    assert_int_equal(rep.delim, ' ');
    read_customers(out, &c);
    assert_int_equal(c.n, 2357);
    assert_non_null(c.x_star);

    FILE *fp = fopen(ref, "r");
    assert_non_null(fp);
    char line[256];
    assert_non_null(fgets(line, sizeof line, fp)); /* header */
    size_t i = 0, repeaters = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        long id;
        double x, tx, T, zbar;
        assert_int_equal(sscanf(line, "%ld,%lf,%lf,%lf,%lf", &id, &x, &tx, &T, &zbar), 5);
        assert_true(i < c.n);
        assert_int_equal(strtol(c.ids + i * c.id_width, NULL, 10), id); /* ids in numeric order */
        assert_true(c.x[i] == x);
        assert_close(round(c.t_x[i] * 100) / 100, tx, 1e-9);
        assert_close(round(c.T[i] * 100) / 100, T, 1e-9);
        assert_close(c.m[i], zbar, 0.005 + 1e-9);
        repeaters += x > 0;
        i++;
    }
    fclose(fp);
    assert_int_equal(i, 2357);
    assert_int_equal(repeaters, 946); /* SOURCES.md: 946 repeaters */
    ct_customers_free(&c);
}

static void test_ingest_cdnow_master(void **state)
{
    char csv[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_customers c;
    (void)state;
    tu_data(csv, sizeof csv, "CDNOW_master.txt");
    tu_path(out, sizeof out, "cdnow_master.h5");
    ct_ingest_opts_init(&o); /* header names customer_id, date, dollar_value */
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(1997, 9, 30);
    assert_status(ingest(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.rows, 69659);
    assert_int_equal(rep.customers, 23570);
    assert_int_equal(rep.transactions, 69659);
    read_customers(out, &c);
    double total = 0;
    ct_file *f;
    ct_table *t;
    assert_status(ct_file_open(&f, out, &err), CT_OK);
    assert_status(ct_table_open(&t, f, "/transactions", &err), CT_OK);
    double *amt;
    assert_status(ct_table_read_f64(t, "amount", &amt, &err), CT_OK);
    for (size_t k = 0; k < ct_table_nrows(t); k++) {
        total += amt[k];
    }
    free(amt);
    ct_table_close(t);
    ct_file_close(f);
    assert_close(total, 2500316.0, 0.5); /* SOURCES.md: sum of dollar_value 2,500,316 */
    /* Every CDNOW customer first bought in Q1 1997: T in (39 - 13, 39] weeks. */
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.T[i] > 26 && c.T[i] <= 39 + 1e-9);
        assert_true(c.t_x[i] <= c.T[i]);
    }
    ct_customers_free(&c);
}

/* Same rows in another order (and other line endings/quoting) give the same
 * /customers and /transactions. */
static void test_ingest_row_order_independent(void **state)
{
    char a[512], b[512], ha[512], hb[512];
    ct_error err;
    ct_ingest_opts o;
    (void)state;
    tu_path(a, sizeof a, "ord_a.csv");
    tu_path(b, sizeof b, "ord_b.csv");
    tu_path(ha, sizeof ha, "ord_a.h5");
    tu_path(hb, sizeof hb, "ord_b.h5");
    tu_write(a, "id,date,amount\n"
                "b7,2020-01-05,5\nx,2020-01-01,1\n10,2020-01-02,2\n9,2020-01-03,3\n"
                "b7,2020-01-05,1.5\n10,2020-01-09,4\n09,2020-01-04,6\nx,2020-02-01,7\n");
    tu_write(b, "\"amount\",\"id\",\"date\"\r\n"
                "7,\"x\",2020-02-01\r\n6,09,2020-01-04\r\n4,10,2020-01-09\r\n"
                "1.5,b7,2020-01-05\r\n3,9,2020-01-03\r\n2,\"10\",2020-01-02\r\n"
                "1,x,2020-01-01\r\n5,b7,2020-01-05\r\n");
    ct_ingest_opts_init(&o);
    assert_status(ct_ingest_csv(a, ha, &o, NULL, &err), CT_OK);
    assert_status(ct_ingest_csv(b, hb, &o, NULL, &err), CT_OK);
    ct_customers ca, cb;
    read_customers(ha, &ca);
    read_customers(hb, &cb);
    assert_int_equal(ca.n, 5);
    assert_int_equal(cb.n, 5);
    assert_int_equal(ca.id_width, cb.id_width);
    assert_memory_equal(ca.ids, cb.ids, ca.n * ca.id_width);
    assert_memory_equal(ca.x, cb.x, ca.n * sizeof(double));
    assert_memory_equal(ca.m, cb.m, ca.n * sizeof(double));
    assert_memory_equal(ca.T, cb.T, ca.n * sizeof(double));
    /* id order: numeric ids by value (9 and 09 are different ids, equal in
     * value, then ordered bytewise), then the others bytewise */
    const char *want[5] = {"09", "9", "10", "b7", "x"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(ca.ids + i * ca.id_width, want[i]);
    }
    /* b7 bought twice on one day: one purchase, x = 0 */
    assert_true(ca.x[3] == 0);
    /* 10: 2020-01-02 (2) then 2020-01-09 (4): x = 1, t_x = 7 days, m = 4 */
    assert_true(ca.x[2] == 1 && ca.t_x[2] == 7 && ca.m[2] == 4);
    assert_true(ca.T[2] == (double)(ct_days_from_civil(2020, 2, 1) - ct_days_from_civil(2020, 1, 2)));
    ct_customers_free(&ca);
    ct_customers_free(&cb);
}

static void test_ingest_calibration_holdout(void **state)
{
    char csv[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_customers c;
    (void)state;
    tu_path(csv, sizeof csv, "cal.csv");
    tu_path(out, sizeof out, "cal.h5");
    tu_write(csv, "customer_id\tdate\tvalue\n"
                  "a\t2021-01-01\t10\n"
                  "a\t2021-01-08\t20\n"
                  "a\t2021-01-08\t5\n"   /* same day: 25 */
                  "a\t2021-02-10\t30\n"  /* holdout */
                  "a\t2021-02-10\t2\n"   /* holdout, same day */
                  "a\t2021-02-20\t8\n"   /* holdout */
                  "b\t2021-01-20\t1\n"
                  "c\t2021-02-05\t3\n"   /* born after calibration end: left out */
                  "d\t2021-01-02\t4\n"
                  "d\t2021-12-31\t4\n"); /* after observation end: left out */
    ct_ingest_opts_init(&o);
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(2021, 1, 31);
    o.observation_end = ct_days_from_civil(2021, 3, 31);
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.after_observation, 1);
    assert_int_equal(rep.late_customers, 1);
    assert_int_equal(rep.late_transactions, 1);
    assert_int_equal(rep.customers, 3);
    assert_int_equal(rep.transactions, 8);
    read_customers(out, &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ids, "a");
    assert_true(c.x[0] == 1);
    assert_close(c.t_x[0], 1.0, 1e-12);
    assert_close(c.T[0], 30.0 / 7.0, 1e-12);
    assert_true(c.m[0] == 25);
    assert_true(c.x_star[0] == 2);
    assert_true(c.m_star[0] == 20); /* (32 + 8) / 2 */
    assert_string_equal(c.ids + c.id_width, "b");
    assert_true(c.x[1] == 0 && c.m[1] == 0 && c.x_star[1] == 0 && c.m_star[1] == 0);
    ct_file *f;
    assert_status(ct_file_open(&f, out, &err), CT_OK);
    char s[32];
    assert_status(ct_attr_get_str(f, "/customers", "period", s, sizeof s, &err), CT_OK);
    assert_string_equal(s, "week");
    assert_status(ct_attr_get_str(f, "/customers", "calibration_end", s, sizeof s, &err), CT_OK);
    assert_string_equal(s, "2021-01-31");
    ct_table *t;
    assert_status(ct_table_open(&t, f, "/customers", &err), CT_OK);
    long j = ct_table_find(t, "rfm");
    assert_true(j >= 0);
    ct_table_close(t);
    ct_file_close(f);
    ct_customers_free(&c);
}

static void test_ingest_features(void **state)
{
    char csv[512], feat[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report rep;
    (void)state;
    tu_path(csv, sizeof csv, "ft.csv");
    tu_path(feat, sizeof feat, "ft_features.csv");
    tu_path(out, sizeof out, "ft.h5");
    tu_write(csv, "id,date,amount\n1,2020-01-01,1\n2,2020-01-02,2\n3,2020-01-03,3\n");
    tu_write(feat, "id,age,visits\n3,40,7\n1,,2\nghost,1,1\nphantom,2,2\n");
    ct_ingest_opts_init(&o);
    o.features_path = feat;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.feature_unmatched, 2);
    assert_string_equal(rep.feature_unmatched_examples, "ghost, phantom");
    assert_int_equal(rep.customers_without_features, 1);
    assert_int_equal(rep.feature_columns, 2);
    ct_file *f;
    ct_table *t;
    assert_status(ct_file_open(&f, out, &err), CT_OK);
    assert_status(ct_table_open(&t, f, "/features", &err), CT_OK);
    assert_int_equal(ct_table_nrows(t), 3);
    double *age, *visits;
    assert_status(ct_table_read_f64(t, "age", &age, &err), CT_OK);
    assert_status(ct_table_read_f64(t, "visits", &visits, &err), CT_OK);
    assert_true(isnan(age[0]) && visits[0] == 2); /* customer 1: empty age */
    assert_true(isnan(age[1]) && isnan(visits[1])); /* customer 2: no row */
    assert_true(age[2] == 40 && visits[2] == 7);
    free(age);
    free(visits);
    ct_table_close(t);
    ct_file_close(f);
    /* a feature id twice is an error naming the line */
    tu_write(feat, "id,age\n1,3\n1,4\n");
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, ":3:1: customer id '1' appears twice"));
}

/* Each bad input: its status, a message naming file/line/column and value,
 * and no output left behind (the previous output untouched). */
static void test_ingest_bad_input(void **state)
{
    char csv[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    (void)state;
    tu_path(csv, sizeof csv, "bad.csv");
    tu_path(out, sizeof out, "bad.h5");
    ct_ingest_opts_init(&o);
    /* a good previous output */
    tu_write(csv, "id,date,amount\n1,2020-01-01,1\n");
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_OK);
    struct {
        const char *text;
        ct_status want;
        const char *msg;
        int allow_negative;
    } cases[] = {
        {"", CT_EDATA, "empty file", 0},
        {"id,date,amount\n", CT_EDATA, "header only", 0},
        {"\n\n", CT_EDATA, "no rows", 0},
        /* wrong delimiter: tab-separated read with --delimiter , (case 3) */
        {"id\tdate\tamount\n1\t2020-01-01\t3\n", CT_EINVAL, "no customer id column", 0},
        {"id,date,amount\n1,2020-02-30,3\n", CT_EPARSE, ":2:2: cannot parse date '2020-02-30'", 0},
        {"id,date,amount\n1,2020-01-01,3\n2,2020-01-01,x1\n", CT_EPARSE,
         ":3:3: cannot parse amount 'x1'", 0},
        /* returns are left out (--returns drop): nothing is left */
        {"id,date,amount\n1,2020-01-01,-3\n", CT_EDATA, "1 returns left out", 0},
        {"id,date,amount\n1,2020-01-01,NaN\n", CT_EDATA, "not a finite number 'NaN'", 0},
        /* issue 14, case 15: strtod's hexadecimal is not an amount */
        {"id,date,amount\n1,2020-01-01,0x10\n", CT_EPARSE, ":2:3: cannot parse amount '0x10'", 0},
        {"id,date,amount\n1,2020-01-01,inf\n", CT_EDATA, "not a finite number", 1},
        {"id,date,id\n1,2020-01-01,3\n", CT_EPARSE, "duplicate column name 'id'", 0},
        {"id,date,amount\n1,2020-01-01\n", CT_EPARSE, ":2:3: row has 2 column(s)", 0},
        {"id,date,amount\n,2020-01-01,1\n", CT_EDATA, ":2:1: empty customer id", 0},
        {"id,date,amount\n\"1,2020-01-01,1\n", CT_EPARSE, "unterminated", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tu_write(csv, cases[k].text);
        o.allow_negative = cases[k].allow_negative;
        o.delim = k == 3 ? ',' : 0;
        ct_error_clear(&err);
        ct_status s = ct_ingest_csv(csv, out, &o, NULL, &err);
        if (s != cases[k].want || strstr(err.msg, cases[k].msg) == NULL) {
            fail_msg("case %zu: got %s '%s', want %s '...%s...'", k, ct_strerror(s), err.msg,
                     ct_strerror(cases[k].want), cases[k].msg);
        }
        assert_non_null(strstr(err.msg, csv));
        assert_false(tu_count_temp());
    }
    o.allow_negative = 1;
    o.delim = 0;
    tu_write(csv, "id,date,amount\n1,2020-01-01,-3\n1,2020-01-02,5\n");
    ct_ingest_report rep;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.returns, 1);
    /* previous output still readable after all the failures above */
    ct_customers c;
    read_customers(out, &c);
    assert_int_equal(c.n, 1);
    ct_customers_free(&c);
    /* options that do not fit the file */
    ct_ingest_opts_init(&o);
    o.date_col = "7";
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "date column 7 out of range"));
    ct_ingest_opts_init(&o);
    o.calibration_end = ct_days_from_civil(2021, 1, 1);
    o.observation_end = ct_days_from_civil(2020, 1, 1);
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_EINVAL);
    ct_ingest_opts_init(&o);
    o.allow_negative = 1;
    assert_status(ct_ingest_csv("/nonexistent/tx.csv", out, &o, NULL, &err), CT_ENOENT);
    assert_status(ct_ingest_csv(csv, "/nonexistent/out.h5", &o, NULL, &err), CT_ECREATE);
    o.date_format = "%d/%m/%Y";
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_EPARSE);
    tu_write(csv, "id,date,amount\n1,31/01/2020,1\n");
    assert_status(ct_ingest_csv(csv, out, &o, NULL, &err), CT_OK);
}

static void test_ingest_summary_input(void **state)
{
    char csv[512], out[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_customers c;
    (void)state;
    tu_data(csv, sizeof csv, "donations.csv");
    tu_path(out, sizeof out, "don.h5");
    ct_ingest_opts_init(&o);
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    assert_int_equal(c.n, 22);
    assert_non_null(c.weight);
    double w = 0;
    for (size_t i = 0; i < c.n; i++) {
        w += c.weight[i];
        assert_true(c.T[i] == 6);
    }
    assert_true(w == 11104); /* SOURCES.md: 11,104 donors */
    ct_customers_free(&c);
    tu_data(csv, sizeof csv, "cdnow_customers_summary.csv");
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    assert_int_equal(c.n, 2357);
    assert_string_equal(c.ids + 2356 * c.id_width, "2357");
    assert_null(c.m);
    ct_customers_free(&c);
    tu_path(csv, sizeof csv, "badsum.csv");
    tu_write(csv, "frequency,recency,T\n1,5,4\n");
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "t_x = 5 > T = 4"));
    tu_write(csv, "frequency,recency\n1,5\n");
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_EFORMAT);
    tu_write(csv, "frequency,recency,T\n-1,0,4\n");
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_EDATA);
    tu_write(csv, "frequency,recency,T\n1,abc,4\n");
    assert_status(ct_ingest_summary(csv, out, &o, &rep, &err), CT_EPARSE);
}

/* The /customers of two ingests agree bit for bit (ids, x, m, x* when there
 * is a holdout); n > 0: and there are n of them. */
static void assert_same_customers(const char *a, const char *b, size_t n)
{
    ct_customers ca, cb;
    read_customers(a, &ca);
    read_customers(b, &cb);
    if (n > 0) {
        assert_int_equal(ca.n, n);
    }
    assert_int_equal(ca.n, cb.n);
    assert_memory_equal(ca.ids, cb.ids, ca.n * ca.id_width);
    assert_memory_equal(ca.x, cb.x, ca.n * sizeof(double));
    assert_memory_equal(ca.m, cb.m, ca.n * sizeof(double));
    assert_true((ca.x_star == NULL) == (cb.x_star == NULL));
    if (ca.x_star != NULL) {
        assert_memory_equal(ca.x_star, cb.x_star, ca.n * sizeof(double));
    }
    ct_customers_free(&ca);
    ct_customers_free(&cb);
}

/* Files over 8 MiB without quotes are parsed in a second thread: the result
 * must be the serial one, and errors must name the same line. */
static void test_ingest_pipeline_equals_serial(void **state)
{
    char csv[512], a[512], b[512];
    ct_error err, err2;
    ct_ingest_opts o;
    ct_synth_opts so;
    ct_ingest_report ra, rb;
    (void)state;
    tu_path(csv, sizeof csv, "big.csv");
    tu_path(a, sizeof a, "big_serial.h5");
    tu_path(b, sizeof b, "big_pipe.h5");
    ct_synth_opts_init(&so);
    so.n = 120000;
    so.r = 1.5;
    so.alpha = 4;
    so.T = 78;
    so.cohort = 20;
    assert_status(ct_synth_csv(&so, csv, NULL, &err), CT_OK);
    struct stat st;
    assert_int_equal(stat(csv, &st), 0);
    assert_true(st.st_size > (12 << 20));
    ct_ingest_opts_init(&o);
    o.period = CT_PERIOD_WEEK;
    o.calibration_end = ct_days_from_civil(2021, 3, 1);
    o.threads = 1;
    assert_status(ct_ingest_csv(csv, a, &o, &ra, &err), CT_OK);
    o.threads = 0;
    assert_status(ct_ingest_csv(csv, b, &o, &rb, &err), CT_OK);
    assert_int_equal(ra.rows, rb.rows);
    assert_int_equal(ra.transactions, rb.transactions);
    assert_same_customers(a, b, 0);
    /* a bad row near the end */
    FILE *fp = fopen(csv, "a");
    fputs("C999,2021-02-30,3.00\n", fp);
    fclose(fp);
    uint64_t line = ra.rows + 2; /* header + rows + the new one */
    o.threads = 1;
    assert_status(ct_ingest_csv(csv, a, &o, NULL, &err), CT_EPARSE);
    o.threads = 0;
    assert_status(ct_ingest_csv(csv, b, &o, NULL, &err2), CT_EPARSE);
    assert_string_equal(err.msg, err2.msg);
    assert_int_equal(err.row, line);
    /* skipped instead: both paths count it and give the same customers */
    o.skip_bad_rows = 1;
    o.threads = 1;
    assert_status(ct_ingest_csv(csv, a, &o, &ra, &err), CT_OK);
    o.threads = 0;
    assert_status(ct_ingest_csv(csv, b, &o, &rb, &err), CT_OK);
    assert_int_equal(ra.bad_date, 1);
    assert_int_equal(rb.bad_date, 1);
    assert_int_equal(ra.rows, rb.rows);
    assert_int_equal(ra.transactions, rb.transactions);
    assert_int_equal(ra.customers, rb.customers);
}

/* Quoted fields (unescaped in the tokenizer's row buffer) and ids converted
 * from Latin-1 live outside the mapped file: the parser thread copies them
 * into its batch, so the pipelined result on such a file is still the
 * serial one, with orders spanning lines and a cancellation. */
static void test_ingest_pipeline_quoted_latin1(void **state)
{
    char csv[512], a[512], b[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report ra, rb;
    (void)state;
    tu_path(csv, sizeof csv, "bigq.csv");
    tu_path(a, sizeof a, "bigq_serial.h5");
    tu_path(b, sizeof b, "bigq_pipe.h5");
    FILE *fp = fopen(csv, "w");
    assert_non_null(fp);
    fputs("order,customer,date,quantity,price\n", fp);
    for (int i = 0; i < 400000; i++) { /* two lines an order; ids like "Ren\xe9 ""12""" */
        int ord = i / 2, cust = (int)(((unsigned)ord * 2654435761u) % 30011u);
        fprintf(fp, "%s%d,\"Ren\xe9 \"\"%d\"\"\",2020-%02d-%02d,%d,%d.%02d\n",
                ord % 97 == 5 ? "C" : "", ord, cust, 1 + ord % 12, 1 + ord % 28, 1 + i % 3,
                i % 50, i % 100);
    }
    fclose(fp);
    struct stat st;
    assert_int_equal(stat(csv, &st), 0);
    assert_true(st.st_size > (12 << 20));
    ct_ingest_opts_init(&o);
    o.period = CT_PERIOD_WEEK;
    o.encoding = CT_ENC_LATIN1;
    o.id_col = "customer";
    o.order_col = "order";
    o.quantity_col = "quantity";
    o.price_col = "price";
    o.cancel_prefix = "C";
    o.returns = CT_RETURNS_NET;
    o.threads = 1;
    assert_status(ct_ingest_csv(csv, a, &o, &ra, &err), CT_OK);
    o.threads = 0;
    assert_status(ct_ingest_csv(csv, b, &o, &rb, &err), CT_OK);
    assert_int_equal(ra.rows, 400000);
    assert_int_equal(ra.rows, rb.rows);
    assert_int_equal(ra.orders, rb.orders);
    assert_int_equal(ra.returns, rb.returns);
    assert_true(ra.returns > 0);
    assert_int_equal(ra.transactions, rb.transactions);
    assert_same_customers(a, b, 30011);
    ct_customers ca;
    read_customers(a, &ca); /* the Latin-1 e-acute stored as UTF-8, "" unescaped */
    assert_non_null(memmem(ca.ids, ca.id_width, "Ren\xc3\xa9 \"", 7));
    ct_customers_free(&ca);
}

/* A gzip log is parsed while it is decompressed, the mapped part growing
 * under the tokenizer: rows, CRLF line ends and quoted fields with line
 * breaks that straddle the growing end must come out as from the plain
 * file; a corrupt stream is an error even when the rows before it parse; a
 * bad row early stops the decompression and names its line. */
static void test_ingest_gzip_streamed(void **state)
{
    char csv[512], gz[512], a[512], b[512];
    ct_error err;
    ct_ingest_opts o;
    ct_ingest_report ra, rb;
    (void)state;
    tu_path(csv, sizeof csv, "stream.csv");
    tu_path(gz, sizeof gz, "stream.csv.gz");
    tu_path(a, sizeof a, "stream_plain.h5");
    tu_path(b, sizeof b, "stream_gz.h5");
    FILE *fp = fopen(csv, "wb");
    gzFile zf = gzopen(gz, "wb1");
    assert_non_null(fp);
    assert_non_null(zf);
    const char *head = "id,date,amount,note\r\n";
    fputs(head, fp);
    gzputs(zf, head);
    char row[256];
    for (int i = 0; i < 700000; i++) { /* ~25 MB: several of the reader's 4 MiB steps */
        int n = snprintf(row, sizeof row, "%d,2020-%02d-%02d,%d.%02d,%s\r\n",
                         (int)(((unsigned)i * 2654435761u) % 50021u), 1 + i % 12, 1 + i % 28,
                         1 + i % 40, i % 100,
                         i % 7 == 0 ? "\"a note, with a comma\r\nand a line break\"" : "plain");
        fwrite(row, 1, (size_t)n, fp);
        assert_int_equal(gzwrite(zf, row, (unsigned)n), n);
    }
    fclose(fp);
    assert_int_equal(gzclose(zf), Z_OK);
    ct_ingest_opts_init(&o);
    o.period = CT_PERIOD_WEEK;
    assert_status(ct_ingest_csv(csv, a, &o, &ra, &err), CT_OK);
    assert_status(ct_ingest_csv(gz, b, &o, &rb, &err), CT_OK);
    assert_int_equal(ra.rows, 700000);
    assert_int_equal(rb.rows, ra.rows);
    assert_int_equal(rb.transactions, ra.transactions);
    assert_same_customers(a, b, 50021);
    /* cut short: the decompressor's error, not a parse of the rows before */
    struct stat st;
    assert_int_equal(stat(gz, &st), 0);
    assert_int_equal(truncate(gz, st.st_size * 2 / 3), 0);
    assert_status(ct_ingest_csv(gz, b, &o, NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "truncated gzip"));
    /* a bad date on line 3 of a big stream: that line, promptly */
    zf = gzopen(gz, "wb1");
    gzputs(zf, "id,date,amount\n1,2020-01-01,3\n2,2020-02-30,4\n");
    for (int i = 0; i < 700000; i++) {
        gzprintf(zf, "%d,2020-01-02,1.50\n", i);
    }
    assert_int_equal(gzclose(zf), Z_OK);
    assert_status(ct_ingest_csv(gz, b, &o, NULL, &err), CT_EPARSE);
    assert_int_equal(err.row, 3);
    assert_non_null(strstr(err.msg, "2020-02-30"));
}

/* tests/data/retail_dirty.csv: a shop export of line items (UTF-8 BOM, CRLF,
 * quoted commas and doubled quotes) with every kind of dirt, and what it
 * must become, worked out by hand.  Lines (file line numbers):
 *   2-3  536365 17850 2010-12-01: 6 x 2.55 + 6 x 3.39 = 15.30 + 20.34 = 35.64
 *   4    536366 17850 2010-12-01: 6 x 1.85 = 11.10 (a second invoice, same day)
 *   5    536367 13047 2010-12-01: 32 x 1.69 = 54.08
 *   6    C536379 14527: a cancellation (prefix C, quantity -1, 27.50)
 *   7    536380 13047 2010-12-02: a return (quantity -2 x 1.45 = -2.90)
 *   8    536381 13047: one free item (price 0): an order of amount 0
 *   9    536382: no customer id (a guest sale)
 *   10   536383: date 'not-a-date'
 *   11-12 536384 12583 2010-12-05: 4 x 4.25 + 24 x 2.95 = 17.00 + 70.80 = 87.80
 *   13   536384 with customer 17850: an order with two customer ids
 *   14   536386 13047 2010-12-09: 8 x 1.65 = 13.20
 * --returns drop, skipping bad rows and missing ids: customers 12583, 13047,
 * 17850 (id order) with x = 0, 1, 0 (17850's two invoices are one purchase
 * day), totals 87.80, 54.08 + 13.20 = 67.28, 35.64 + 11.10 = 46.74; 13047's
 * m = 13.20 (the repeat purchase); 5 transactions of 6 orders (536381 is
 * free); left out: 1 missing id, 1 bad date, 1 two-customer line, 2 returns,
 * 1 zero order.  --returns keep adds 14527 (x = 0, total -27.50) and 13047's
 * return day (x = 2, total 64.38). */
/* Column `name` of /customers of h5 (malloc'ed). */
static double *customer_col(const char *h5, const char *name)
{
    ct_error err;
    ct_file *f;
    ct_table *t;
    double *v = NULL;
    assert_status(ct_file_open(&f, h5, &err), CT_OK);
    assert_status(ct_table_open(&t, f, "/customers", &err), CT_OK);
    assert_status(ct_table_read_f64(t, name, &v, &err), CT_OK);
    ct_table_close(t);
    ct_file_close(f);
    return v;
}

static void ingest_retail(ct_ingest_opts *o)
{
    ct_ingest_opts_init(o);
    o->id_col = "CustomerID";
    o->date_col = "InvoiceDate";
    o->quantity_col = "Quantity";
    o->price_col = "UnitPrice";
    o->order_col = "InvoiceNo";
    o->cancel_prefix = "C";
    o->missing_id_skip = 1;
    o->skip_bad_rows = 1;
}

static void test_ingest_line_items(void **state)
{
    (void)state;
    const char *log = "tests/data/retail_dirty.csv";
    char out[512], bad[512], text[4096];
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_error err;
    ct_customers c;
    tu_path(out, sizeof out, "retail.h5");
    tu_path(bad, sizeof bad, "retail_bad.csv");

    ingest_retail(&o);
    o.bad_rows_path = bad;
    assert_status(ct_ingest_csv(log, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    double *total = customer_col(out, "total");
    assert_int_equal(c.n, 3);
    static const char *const ID[3] = {"12583", "13047", "17850"};
    static const double X[3] = {0, 1, 0}, TOT[3] = {87.80, 67.28, 46.74};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(c.ids + i * c.id_width, ID[i]);
        assert_true(c.x[i] == X[i]);
        /* exact to the cent: the sums are within a rounding of the decimal value */
        assert_true(fabs(total[i] - TOT[i]) < 1e-9);
    }
    free(total);
    assert_true(fabs(c.m[1] - 13.20) < 1e-9);
    assert_int_equal(rep.rows, 13);
    assert_int_equal(rep.transactions, 5);
    assert_int_equal(rep.orders, 6);
    assert_int_equal(rep.missing_id, 1);
    assert_int_equal(rep.bad_date, 1);
    assert_int_equal(rep.order_conflicts, 1);
    assert_int_equal(rep.returns_dropped, 2);
    assert_int_equal(rep.zero_orders, 1);
    ct_customers_free(&c);
    /* the rejected rows, with their line numbers, reasons and text */
    FILE *fp = fopen(bad, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    assert_non_null(strstr(text, "file,line,reason,row\ntests/data/retail_dirty.csv,9,empty "
                                 "customer id,\"536382,"));
    assert_non_null(strstr(text, "retail_dirty.csv,10,\"cannot parse date 'not-a-date'"));
    assert_non_null(strstr(text, "retail_dirty.csv,13,order '536384' has two customer ids "
                                 "('12583' and '17850')"));

    /* returns kept as negative transactions */
    ingest_retail(&o);
    o.returns = CT_RETURNS_KEEP;
    assert_status(ct_ingest_csv(log, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    total = customer_col(out, "total");
    assert_int_equal(c.n, 4);
    assert_string_equal(c.ids + 2 * c.id_width, "14527");
    assert_true(c.x[1] == 2 && fabs(total[1] - 64.38) < 1e-9);
    assert_true(c.x[2] == 0 && fabs(total[2] + 27.50) < 1e-9);
    free(total);
    assert_int_equal(rep.returns, 2);
    ct_customers_free(&c);

    /* fail (the defaults): the first bad line, named, and nothing written */
    ct_ingest_opts_init(&o);
    ingest_retail(&o);
    o.missing_id_skip = 0;
    o.skip_bad_rows = 0;
    tu_path(out, sizeof out, "retail_fail.h5");
    assert_status(ct_ingest_csv(log, out, &o, NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "retail_dirty.csv:9:7: empty customer id (--missing-id skip"));
    o.missing_id_skip = 1;
    assert_status(ct_ingest_csv(log, out, &o, NULL, &err), CT_EPARSE);
    assert_non_null(strstr(err.msg, ":10:5: cannot parse date 'not-a-date'"));
    o.skip_bad_rows = 1;
    o.max_bad_rows = 2;
    assert_status(ct_ingest_csv(log, out, &o, NULL, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, "3 of 13 rows rejected"));
    assert_false(tu_exists(out));
    assert_false(tu_count_temp());
}

/* Issue 14, case 13: "AB\0CD" and "AB\0XY" would both be stored as "AB":
 * an id with a NUL byte is refused, naming line and column. */
static void test_ingest_nul_in_id(void **state)
{
    (void)state;
    char csv[512], out[512];
    static const char text[] = "id,date,amount\nAB\0CD,2020-01-01,1\nAB\0XY,2020-01-02,2\n";
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_error err;
    tu_path(csv, sizeof csv, "nul.csv");
    tu_path(out, sizeof out, "nul.h5");
    FILE *fp = fopen(csv, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, sizeof text - 1, fp), sizeof text - 1);
    fclose(fp);
    ct_ingest_opts_init(&o);
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, ":2:1: customer id contains a NUL byte"));
    o.skip_bad_rows = 1;
    o.max_bad_rows = 0;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_EDATA); /* nothing left */
    assert_int_equal(rep.bad_id, 2);
}

/* --returns net: a cancellation comes off the order it cancels (its id without
 * the prefix), a return without a known order off the latest purchase on or
 * before its day; no purchase event is made and no spend goes below 0.
 *   customer 1: A1 on 01-01 = 10 + 5, A2 on 01-02 = 7, CA1 on 01-03 = -5
 *     -> days 01-01 (10) and 01-02 (7): x = 1, total 17
 *   customer 2: B1 on 01-01 = 20, CB1 on 01-05 = -25 -> day 01-01 at 0: x = 0,
 *     total 0 (counted in net_zero)
 *   customer 3: only a return (R9, -4): no purchase to net against
 *   customer 4: D1 on 01-02 = 8, a return line D2 on 01-04 = -3 (no order D2
 *     with purchases) -> the latest purchase on or before 01-04: 5 */
static void test_ingest_returns_net(void **state)
{
    (void)state;
    char csv[512], out[512];
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_error err;
    ct_customers c;
    tu_path(csv, sizeof csv, "net.csv");
    tu_path(out, sizeof out, "net.h5");
    tu_write(csv, "order,id,date,qty,price\n"
                  "CA1,1,2020-01-03,-1,5\n" /* before the order it cancels: still netted */
                  "A1,1,2020-01-01,1,10\nA1,1,2020-01-01,1,5\nA2,1,2020-01-02,1,7\n"
                  "B1,2,2020-01-01,2,10\nCB1,2,2020-01-05,-1,25\n"
                  "CR9,3,2020-01-02,-1,4\n"
                  "D1,4,2020-01-02,1,8\nD2,4,2020-01-04,-1,3\n");
    ct_ingest_opts_init(&o);
    o.order_col = "order";
    o.quantity_col = "qty";
    o.price_col = "price";
    o.cancel_prefix = "C";
    o.returns = CT_RETURNS_NET;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    double *total = customer_col(out, "total");
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ids + 0 * c.id_width, "1");
    assert_string_equal(c.ids + 1 * c.id_width, "2");
    assert_string_equal(c.ids + 2 * c.id_width, "4");
    assert_true(c.x[0] == 1 && total[0] == 17.0);
    assert_true(c.x[1] == 0 && total[1] == 0.0);
    assert_true(c.x[2] == 0 && total[2] == 5.0);
    assert_int_equal(rep.returns, 4);
    assert_int_equal(rep.returns_unmatched, 1);
    assert_int_equal(rep.net_zero, 1);
    assert_int_equal(rep.transactions, 4);
    free(total);
    ct_customers_free(&c);
}

/* --encoding: Latin-1 and CP1252 ids are stored as UTF-8; under UTF-8 (the
 * default) an id that is not valid UTF-8 is a bad row. */
static void test_ingest_encodings(void **state)
{
    (void)state;
    char csv[512], out[512];
    ct_ingest_opts o;
    ct_ingest_report rep;
    ct_error err;
    ct_customers c;
    tu_path(csv, sizeof csv, "latin1.csv");
    tu_path(out, sizeof out, "latin1.h5");
    /* "Jos\xe9" (Latin-1 é), "\x80uro" (CP1252's euro sign), "Zoë" in UTF-8 */
    tu_write(csv, "id,date,amount\nJos\xe9,2020-01-01,1\n\x80uro,2020-01-02,2\n"
                  "Zo\xc3\xab,2020-01-03,3\n");
    ct_ingest_opts_init(&o);
    o.encoding = CT_ENC_CP1252;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    read_customers(out, &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.ids + 0 * c.id_width, "Jos\xc3\xa9");
    assert_string_equal(c.ids + 1 * c.id_width, "Zo\xc3\x83\xc2\xab"); /* UTF-8 read as CP1252 */
    assert_string_equal(c.ids + 2 * c.id_width, "\xe2\x82\xacuro");
    ct_customers_free(&c);
    ct_ingest_opts_init(&o);
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_EDATA);
    assert_non_null(strstr(err.msg, ":2:1: customer id is not valid UTF-8 (see --encoding"));
    o.skip_bad_rows = 1;
    assert_status(ct_ingest_csv(csv, out, &o, &rep, &err), CT_OK);
    assert_int_equal(rep.bad_encoding, 2);
    assert_int_equal(rep.customers, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_cdnow_sample),
        cmocka_unit_test(test_ingest_cdnow_master),
        cmocka_unit_test(test_ingest_row_order_independent),
        cmocka_unit_test(test_ingest_calibration_holdout),
        cmocka_unit_test(test_ingest_features),
        cmocka_unit_test(test_ingest_bad_input),
        cmocka_unit_test(test_ingest_summary_input),
        cmocka_unit_test(test_ingest_pipeline_equals_serial),
        cmocka_unit_test(test_ingest_pipeline_quoted_latin1),
        cmocka_unit_test(test_ingest_gzip_streamed),
        cmocka_unit_test(test_ingest_line_items),
        cmocka_unit_test(test_ingest_encodings),
        cmocka_unit_test(test_ingest_returns_net),
        cmocka_unit_test(test_ingest_nul_in_id),
    };
    return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
