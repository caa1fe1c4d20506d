/* test_store.c - HDF5 column store: round trips, foreign tables, atomic
 * output, refusal of incomplete/truncated/non-HDF5 files. */
#include <float.h>
#include <hdf5.h>
#include <math.h>

#include "testutil.h"

static void write_table(const char *path, int deflate)
{
    ct_error err;
    ct_file *f;
    ct_tw *w;
    ct_create_opts o = {deflate, "test", NULL};
    const ct_colspec spec[6] = {{"id", CT_STRING, 8},      {"i8", CT_INT8, 0},
                                {"i32", CT_INT32, 0},      {"i64", CT_INT64, 0},
                                {"f32", CT_FLOAT32, 0},    {"f64", CT_FLOAT64, 0}};
    enum { N = 1000 };
    static char ids[N][8];
    static int8_t a[N];
    static int32_t b[N];
    static int64_t c[N];
    static float d[N];
    static double e[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 8, "c%d", i);
        a[i] = (int8_t)(i % 100);
        b[i] = i * 1000;
        c[i] = (int64_t)i << 40;
        d[i] = (float)i * 0.5f;
        e[i] = i / 3.0;
    }
    assert_status(ct_file_create(&f, path, &o, &err), CT_OK);
    assert_status(ct_tw_create(&w, f, "/tab", spec, 6, N, "id", &err), CT_OK);
    /* columns appended independently, in uneven blocks */
    assert_status(ct_tw_append(w, 0, ids, 300, &err), CT_OK);
    assert_status(ct_tw_append(w, 0, ids[300], N - 300, &err), CT_OK);
    assert_status(ct_tw_append(w, 1, a, N, &err), CT_OK);
    assert_status(ct_tw_append(w, 2, b, N, &err), CT_OK);
    assert_status(ct_tw_append(w, 3, c, 10, &err), CT_OK);
    assert_status(ct_tw_append(w, 3, c + 10, N - 10, &err), CT_OK);
    assert_status(ct_tw_append(w, 4, d, N, &err), CT_OK);
    assert_status(ct_tw_append(w, 5, e, N, &err), CT_OK);
    assert_status(ct_tw_close(w, &err), CT_OK);
    assert_status(ct_attr_set_f64(f, "/tab", "pi", 3.25, &err), CT_OK);
    assert_status(ct_attr_set_str(f, "/tab", "who", "clvtier", &err), CT_OK);
    double v[3] = {1, 2, 3};
    assert_status(ct_attr_set_f64v(f, "/", "vec", v, 3, &err), CT_OK);
    double m[6] = {1, 2, 3, 4, 5, 6};
    assert_status(ct_file_write_matrix(f, "/grp/mat", m, 2, 3, &err), CT_OK);
    assert_status(ct_file_commit(f, &err), CT_OK);
}

static void check_table(const char *path)
{
    ct_error err;
    ct_file *f;
    ct_table *t;
    assert_status(ct_file_open(&f, path, &err), CT_OK);
    assert_true(ct_file_is_clvtier(f));
    assert_true(ct_file_has_group(f, "/tab"));
    assert_false(ct_file_has_group(f, "/nope/deeper"));
    assert_true(ct_file_has_dataset(f, "/tab/f64"));
    assert_status(ct_table_open(&t, f, "/tab", &err), CT_OK);
    assert_int_equal(ct_table_nrows(t), 1000);
    assert_int_equal(ct_table_ncols(t), 6);
    assert_string_equal(ct_table_colname(t, 0), "id"); /* _index first */
    assert_string_equal(ct_table_colname(t, 5), "f64");
    assert_int_equal(ct_table_coltype(t, 1), CT_INT8);
    assert_int_equal(ct_table_coltype(t, 3), CT_INT64);
    assert_int_equal(ct_table_coltype(t, 4), CT_FLOAT32);
    double buf[10];
    assert_status(ct_table_read(t, 5, 990, 10, CT_FLOAT64, buf, &err), CT_OK);
    assert_true(buf[9] == 999 / 3.0);
    int64_t ib[2];
    assert_status(ct_table_read(t, 3, 998, 2, CT_INT64, ib, &err), CT_OK);
    assert_true(ib[1] == (int64_t)999 << 40);
    assert_status(ct_table_read(t, 2, 1, 1, CT_FLOAT64, buf, &err), CT_OK); /* converts */
    assert_true(buf[0] == 1000.0);
    assert_status(ct_table_read(t, 5, 995, 10, CT_FLOAT64, buf, &err), CT_EINVAL);
    assert_status(ct_table_read(t, 0, 0, 1, CT_FLOAT64, buf, &err), CT_EFORMAT);
    size_t w;
    assert_status(ct_table_strwidth(t, 0, &w, &err), CT_OK);
    assert_int_equal(w, 8);
    char ids[3 * 16];
    assert_status(ct_table_read_str(t, 0, 997, 3, ids, 16, &err), CT_OK);
    assert_string_equal(ids + 16, "c998");
    double *col;
    assert_status(ct_table_read_f64(t, "i8", &col, &err), CT_OK);
    assert_true(col[199] == 99);
    free(col);
    assert_status(ct_table_read_f64(t, "missing", &col, &err), CT_EFORMAT);
    ct_table_close(t);
    double pi, vec[4];
    size_t nv;
    char s[32];
    assert_status(ct_attr_get_f64(f, "/tab", "pi", &pi, &err), CT_OK);
    assert_true(pi == 3.25);
    assert_status(ct_attr_get_str(f, "/tab", "who", s, sizeof s, &err), CT_OK);
    assert_string_equal(s, "clvtier");
    assert_status(ct_attr_get_str(f, "/tab", "_index", s, sizeof s, &err), CT_OK);
    assert_string_equal(s, "id");
    assert_status(ct_attr_get_f64v(f, "/", "vec", vec, 4, &nv, &err), CT_OK);
    assert_int_equal(nv, 3);
    assert_status(ct_attr_get_f64(f, "/tab", "nothere", &pi, &err), CT_EFORMAT);
    double *m;
    size_t r, cc;
    assert_status(ct_file_read_matrix(f, "/grp/mat", &m, &r, &cc, &err), CT_OK);
    assert_int_equal(r, 2);
    assert_int_equal(cc, 3);
    assert_true(m[5] == 6);
    free(m);
    /* writes to a read-only file are refused */
    assert_status(ct_attr_set_f64(f, "/", "x", 1, &err), CT_EINVAL);
    ct_file_close(f);
}

static void test_store_round_trip(void **state)
{
    char path[512];
    (void)state;
    tu_path(path, sizeof path, "rt.h5");
    write_table(path, 0);
    check_table(path);
    tu_path(path, sizeof path, "rtz.h5");
    write_table(path, 4);
    check_table(path);
    assert_false(tu_count_temp());
}

/* Doubles stored as float32 by ct_tw_from_double: rounded down, up or to
 * nearest, each value at most one float from the double and on the asked
 * side of it (signs, 0, tiny values below the least subnormal, values past
 * FLT_MAX, NaN); a column that is not float32 is refused. */
static void test_store_narrowed_doubles(void **state)
{
    enum { N = 14 };
    const double v[N] = {0.1, -0.1, 1.0 / 3, -2.0 / 3, 1.0, 0.0, 1e-50, -1e-50,
                         123456789.123, 3.0e38, 1e39, -1e39, (double)NAN, 0.5 + 1e-12};
    const ct_colspec spec[4] = {
        {"lo", CT_FLOAT32, 0}, {"hi", CT_FLOAT32, 0}, {"near", CT_FLOAT32, 0}, {"d", CT_FLOAT64, 0}};
    char path[512];
    ct_error err;
    ct_file *f;
    ct_tw *w;
    ct_create_opts o = {0, "test", NULL};
    (void)state;
    tu_path(path, sizeof path, "narrow.h5");
    assert_status(ct_file_create(&f, path, &o, &err), CT_OK);
    assert_status(ct_tw_create(&w, f, "/t", spec, 4, N, NULL, &err), CT_OK);
    assert_status(ct_tw_from_double(w, 3, -1, &err), CT_EINVAL); /* float64 column */
    assert_status(ct_tw_from_double(w, 0, -1, &err), CT_OK);
    assert_status(ct_tw_from_double(w, 1, 1, &err), CT_OK);
    assert_status(ct_tw_from_double(w, 2, 0, &err), CT_OK);
    for (size_t j = 0; j < 4; j++) { /* in two blocks: the scratch is reused */
        assert_status(ct_tw_append(w, j, v, 5, &err), CT_OK);
        assert_status(ct_tw_append(w, j, v + 5, N - 5, &err), CT_OK);
    }
    assert_status(ct_tw_close(w, &err), CT_OK);
    assert_status(ct_file_commit(f, &err), CT_OK);
    ct_table *t;
    float lo[N], hi[N], ne[N];
    assert_status(ct_file_open(&f, path, &err), CT_OK);
    assert_status(ct_table_open(&t, f, "/t", &err), CT_OK);
    assert_int_equal(ct_table_coltype(t, 0), CT_FLOAT32);
    assert_status(ct_table_read(t, 0, 0, N, CT_FLOAT32, lo, &err), CT_OK);
    assert_status(ct_table_read(t, 1, 0, N, CT_FLOAT32, hi, &err), CT_OK);
    assert_status(ct_table_read(t, 2, 0, N, CT_FLOAT32, ne, &err), CT_OK);
    ct_table_close(t);
    ct_file_close(f);
    for (int i = 0; i < N; i++) {
        if (isnan(v[i])) {
            assert_true(isnan(lo[i]) && isnan(hi[i]) && isnan(ne[i]));
            continue;
        }
        assert_true((double)lo[i] <= v[i] && (double)hi[i] >= v[i]);
        assert_true(ne[i] == (float)v[i]);
        /* adjacent floats (or equal, where the double is a float) */
        assert_true(lo[i] == hi[i] ? (double)lo[i] == v[i] : nextafterf(lo[i], INFINITY) == hi[i]);
    }
    assert_true(lo[4] == 1.0f && hi[4] == 1.0f && lo[5] == 0.0f && hi[5] == 0.0f);
    assert_true(lo[6] == 0.0f && hi[6] == FLT_TRUE_MIN && lo[7] == -FLT_TRUE_MIN);
    assert_true(lo[10] == FLT_MAX && isinf(hi[10]) && isinf(lo[11]) && hi[11] == -FLT_MAX);
}

static void test_store_abandon_keeps_old(void **state)
{
    char path[512];
    ct_error err;
    ct_file *f;
    (void)state;
    tu_path(path, sizeof path, "keep.h5");
    write_table(path, 0);
    assert_status(ct_file_create(&f, path, NULL, &err), CT_OK);
    assert_status(ct_attr_set_i64(f, "/", "half", 1, &err), CT_OK);
    ct_file_close(f); /* abandoned: the old file stays, the temp file goes */
    check_table(path);
    assert_false(tu_count_temp());
    assert_status(ct_file_create(&f, "/nonexistent-dir/x.h5", NULL, &err), CT_ECREATE);
    assert_non_null(strstr(err.msg, "No such file"));
}

static void test_store_refuses_bad_files(void **state)
{
    char path[512], trunc[512];
    ct_error err;
    ct_file *f;
    (void)state;
    assert_status(ct_file_open(&f, "/nonexistent.h5", &err), CT_ENOENT);
    tu_path(path, sizeof path, "text.h5");
    tu_write(path, "id,date\n");
    assert_status(ct_file_open(&f, path, &err), CT_EFORMAT);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    /* truncated copy of a real file */
    tu_path(path, sizeof path, "full.h5");
    write_table(path, 0);
    tu_path(trunc, sizeof trunc, "trunc.h5");
    FILE *in = fopen(path, "rb"), *out = fopen(trunc, "wb");
    char buf[2048];
    size_t k = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, k, out);
    fclose(in);
    fclose(out);
    assert_status(ct_file_open(&f, trunc, &err), CT_EFORMAT);
    /* a clvtier file whose writer died before complete=1 */
    tu_path(path, sizeof path, "incomplete.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(fid, "clvtier_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int one = 1;
    H5Awrite(a, H5T_NATIVE_INT, &one);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(fid);
    assert_status(ct_file_open(&f, path, &err), CT_EFORMAT);
    assert_non_null(strstr(err.msg, "incomplete"));
}

/* Element types by name and size; what a read-only file, a directory, a
 * missing group or link target and a 3-D dataset are told. */
static void test_store_refusals_and_types(void **state)
{
    char path[512], dir[512];
    ct_error err;
    ct_file *f;
    (void)state;
    const ct_dtype T[6] = {CT_INT8, CT_INT32, CT_INT64, CT_FLOAT32, CT_FLOAT64, CT_STRING};
    const char *name[6] = {"int8", "int32", "int64", "float32", "float64", "string"};
    const size_t size[6] = {1, 4, 8, 4, 8, 0};
    for (int t = 0; t < 6; t++) {
        assert_string_equal(ct_dtype_name(T[t]), name[t]);
        assert_int_equal(ct_dtype_size(T[t]), size[t]);
    }
    assert_string_equal(ct_dtype_name((ct_dtype)99), "?");
    assert_int_equal(ct_dtype_size((ct_dtype)99), 0);
    tu_path(dir, sizeof dir, "adir.h5");
    mkdir(dir, 0755);
    assert_status(ct_file_open(&f, dir, &err), CT_ENOENT);
    assert_non_null(strstr(err.msg, "is a directory"));
    tu_path(path, sizeof path, "ro.h5");
    write_table(path, 0);
    assert_status(ct_file_open(&f, path, &err), CT_OK);
    assert_status(ct_file_make_group(f, "/g", &err), CT_EINVAL);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_status(ct_file_link_external(f, "/l", path, "/tab", &err), CT_EINVAL);
    double m[4] = {1, 2, 3, 4};
    assert_status(ct_file_write_matrix(f, "/m", m, 2, 2, &err), CT_EINVAL);
    char names[4][64];
    size_t nn;
    assert_status(ct_file_list_groups(f, "/nothere", names, 4, &nn, &err), CT_EFORMAT);
    assert_non_null(strstr(err.msg, "no group /nothere"));
    assert_status(ct_file_commit(f, &err), CT_EINVAL); /* closes it */
    /* a link to a file that does not exist */
    tu_path(path, sizeof path, "links.h5");
    assert_status(ct_file_create(&f, path, NULL, &err), CT_OK);
    assert_status(ct_file_link_external(f, "/l", "/nonexistent-dir/t.h5", "/tab", &err),
                  CT_ENOENT);
    ct_file_close(f);
    /* a 3-D dataset is not a matrix */
    tu_path(path, sizeof path, "cube.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {2, 2, 2};
    double v[8] = {0};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(fid, "cube", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(fid);
    assert_status(ct_file_open(&f, path, &err), CT_OK);
    double *out = NULL;
    size_t r, c;
    assert_status(ct_file_read_matrix(f, "/cube", &out, &r, &c, &err), CT_EFORMAT);
    assert_non_null(strstr(err.msg, "not 1-D or 2-D"));
    assert_null(out);
    ct_file_close(f);
    assert_false(tu_count_temp());
}

/* A group of 1-D datasets as h5py writes them: no clvtier attributes. */
static void test_store_foreign_table(void **state)
{
    char path[512];
    ct_error err;
    ct_file *f;
    ct_table *t;
    (void)state;
    tu_path(path, sizeof path, "foreign.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(fid, "feat", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 4, n2[2] = {2, 2};
    hid_t sp = H5Screate_simple(1, &n, NULL), sp2 = H5Screate_simple(2, n2, NULL);
    double x[4] = {1, 2, 3, 4};
    uint16_t u[4] = {7, 8, 9, 10};
    hid_t d = H5Dcreate2(g, "x", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    d = H5Dcreate2(g, "u", H5T_STD_U16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, u);
    H5Dclose(d);
    d = H5Dcreate2(g, "matrix", H5T_IEEE_F64LE, sp2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    /* variable-length strings, as h5py writes Python str */
    hid_t vt = H5Tcopy(H5T_C_S1);
    H5Tset_size(vt, H5T_VARIABLE);
    const char *names[4] = {"ann", "bob", "carolina", ""};
    d = H5Dcreate2(g, "name", vt, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, vt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names);
    H5Dclose(d);
    H5Tclose(vt);
    hid_t g2 = H5Gcreate2(fid, "uneven", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    d = H5Dcreate2(g2, "a", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    hsize_t three = 3;
    hid_t sp3 = H5Screate_simple(1, &three, NULL);
    d = H5Dcreate2(g2, "b", H5T_IEEE_F64LE, sp3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    H5Sclose(sp3);
    H5Gclose(g2);
    H5Sclose(sp);
    H5Sclose(sp2);
    H5Gclose(g);
    H5Fclose(fid);

    assert_status(ct_file_open(&f, path, &err), CT_OK);
    assert_false(ct_file_is_clvtier(f));
    assert_status(ct_table_open(&t, f, "/feat", &err), CT_OK);
    assert_int_equal(ct_table_ncols(t), 3); /* matrix skipped; name, u, x by name */
    assert_int_equal(ct_table_nrows(t), 4);
    long ju = ct_table_find(t, "u");
    assert_true(ju >= 0);
    double v[4];
    assert_status(ct_table_read(t, (size_t)ju, 0, 4, CT_FLOAT64, v, &err), CT_OK);
    assert_true(v[3] == 10);
    long jn = ct_table_find(t, "name");
    size_t w;
    assert_status(ct_table_strwidth(t, (size_t)jn, &w, &err), CT_OK);
    assert_int_equal(w, 8);
    char s[4 * 8];
    assert_status(ct_table_read_str(t, (size_t)jn, 0, 4, s, 8, &err), CT_OK);
    assert_memory_equal(s + 16, "carolina", 8);
    assert_status(ct_table_read_str(t, (size_t)jn, 0, 4, s, 4, &err), CT_EDATA);
    ct_table_close(t);
    assert_status(ct_table_open(&t, f, "/uneven", &err), CT_EDIM);
    assert_status(ct_table_open(&t, f, "/absent", &err), CT_EFORMAT);
    ct_file_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_store_narrowed_doubles),
        cmocka_unit_test(test_store_abandon_keeps_old),
        cmocka_unit_test(test_store_refuses_bad_files),
        cmocka_unit_test(test_store_refusals_and_types),
        cmocka_unit_test(test_store_foreign_table),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
