/* store_write.c - the table writer: chunked, extendible 1-D columns,
 * appended in row blocks (in rank order on a parallel file). */
#include "data/store_h5.h"
#include "data/store_internal.h"

#include "core/simd_internal.h"

#include <float.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- table writer ------------------------------------------------------- */

typedef struct tw_col {
    char *name;
    ct_dtype type;
    size_t width;
    hid_t did, mtype; /* mtype owned only for strings */
    size_t n;
    int from_double, round; /* ct_tw_from_double's */
} tw_col;

struct ct_tw {
    ct_file *f;
    char *group;
    char *index;
    hid_t gid;
    size_t ncols;
    tw_col *col;
    float *narrow; /* from_double columns' floats, cap values */
    size_t cap;
};

/* Close everything w holds; -1 if a dataset could not be written out. */
static int tw_release(ct_tw *w)
{
    int rc = 0;
    for (size_t j = 0; j < w->ncols; j++) {
        if (w->col[j].did > 0 && h5s_close_dataset(w->f, w->col[j].did) < 0) {
            rc = -1;
        }
        if (w->col[j].type == CT_STRING && w->col[j].mtype > 0) {
            H5Tclose(w->col[j].mtype);
        }
        free(w->col[j].name);
    }
    if (w->gid > 0) {
        H5Gclose(w->gid);
    }
    H5Eclear2(H5E_DEFAULT);
    free(w->col);
    free(w->narrow);
    free(w->group);
    free(w->index);
    free(w);
    return rc;
}

void ct_tw_abort(ct_tw *w)
{
    if (w != NULL) {
        (void)tw_release(w);
    }
}

ct_status ct_tw_create(ct_tw **out, ct_file *f, const char *group, const ct_colspec *cols,
                       size_t ncols, size_t nrows_hint, const char *index_col, ct_error *err)
{
    ct_tw *w;
    hsize_t chunk, zero = 0, unlim = H5S_UNLIMITED;

    *out = NULL;
    if (!f->writable) {
        return ct_fail_at(err, CT_EINVAL, f->path, 0, 0, "file is open read-only");
    }
    for (size_t j = 0; j < ncols; j++) {
        for (size_t i = 0; i < j; i++) {
            if (strcmp(cols[i].name, cols[j].name) == 0) {
                return ct_fail_at(err, CT_EINVAL, f->path, 0, 0,
                                  "table %s: column '%s' given twice", group, cols[j].name);
            }
        }
        if (cols[j].type == CT_STRING && cols[j].width == 0) {
            return ct_fail_at(err, CT_EINVAL, f->path, 0, 0,
                              "table %s: string column '%s' has width 0", group, cols[j].name);
        }
    }
    w = calloc(1, sizeof *w);
    if (w == NULL || (w->col = calloc(ncols ? ncols : 1, sizeof *w->col)) == NULL) {
        free(w);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    w->f = f;
    w->ncols = ncols;
    w->group = h5s_dupstr(group);
    w->index = index_col != NULL ? h5s_dupstr(index_col) : NULL;
    if (w->group == NULL || (index_col != NULL && w->index == NULL)) {
        w->gid = -1;
        ct_tw_abort(w);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    w->gid = h5s_group_open_create(f, group);
    if (w->gid < 0) {
        ct_tw_abort(w);
        return h5s_fail(err, CT_EIO, f->path, "cannot create table group");
    }
    chunk = nrows_hint > 0 && nrows_hint < CT_CHUNK_ROWS ? nrows_hint : CT_CHUNK_ROWS;
    hid_t sp = H5Screate_simple(1, &zero, &unlim);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    if (f->deflate > 0) {
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)f->deflate);
    }
    ct_status s = CT_OK;
    for (size_t j = 0; j < ncols && s == CT_OK; j++) {
        tw_col *c = &w->col[j];
        hid_t ft;
        c->name = h5s_dupstr(cols[j].name);
        c->type = cols[j].type;
        c->width = cols[j].width;
        if (c->type == CT_STRING) {
            c->mtype = h5s_fixed_str_type(c->width);
            ft = c->mtype;
        } else {
            c->mtype = h5s_native_type(c->type);
            ft = h5s_file_type(c->type);
        }
        if (c->name == NULL) {
            c->did = -1;
            s = ct_fail(err, CT_ENOMEM, "out of memory");
            break;
        }
        c->did = H5Dcreate2(w->gid, c->name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (c->did < 0) {
            s = h5s_fail(err, CT_EIO, f->path, "cannot create column dataset");
        }
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (s != CT_OK) {
        ct_tw_abort(w);
        return s;
    }
    *out = w;
    return CT_OK;
}

/* Where this rank's nrows go in a parallel append: after the rows of the
 * ranks before it; *total is every rank's together. */
static ct_status part_offsets(const ct_file *f, size_t nrows, size_t *before, size_t *total,
                              ct_error *err)
{
    *before = 0;
    *total = nrows;
    return f->comm != NULL ? ct_comm_counts(f->comm, nrows, 0, NULL, before, total, err) : CT_OK;
}

/* The doubles v[0..n) as floats, rounded as `round` says (ct_tw_from_double):
 * rounded to nearest, then moved one float toward -inf (round < 0) where
 * that landed above the double, or toward +inf (round > 0) where below; on
 * the bits, without a branch on the data (half the values move: a branch
 * there mispredicted and cost more than the narrowing saved in writing). */
#if defined(__x86_64__)
/* AVX-512: the conversion itself rounds as asked (embedded rounding), 8
 * values an instruction; the same floats as the loop below. */
__attribute__((target("avx512f"))) static size_t narrow_512(const double *v, size_t n, int round,
                                                            float *out)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d x = _mm512_loadu_pd(v + i);
        __m256 f = round < 0   ? _mm512_cvt_roundpd_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
                   : round > 0 ? _mm512_cvt_roundpd_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC)
                               : _mm512_cvtpd_ps(x);
        _mm256_storeu_ps(out + i, f);
    }
    return i;
}
#endif

static void narrow_doubles(const double *v, size_t n, int round, float *out)
{
    const int up = round > 0;
    size_t i0 = 0;
#if defined(__x86_64__)
    if (ct_simd_level() == 2) {
        i0 = narrow_512(v, n, round, out);
    }
#endif
    for (size_t i = i0; i < n; i++) {
        float f = (float)v[i];
        int move = round < 0 ? (double)f > v[i] : round > 0 ? (double)f < v[i] : 0;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        /* away from 0 is +1 on the bits, toward 0 is -1 */
        uint32_t step = (f > 0) == up ? 1u : UINT32_MAX;
        u += step & (0u - (uint32_t)move);
        memcpy(&out[i], &u, sizeof u);
        if (f == 0 && move) { /* from 0: the least subnormal of that sign */
            out[i] = up ? FLT_TRUE_MIN : -FLT_TRUE_MIN;
        }
    }
}

ct_status ct_tw_append(ct_tw *w, size_t j, const void *data, size_t nrows, ct_error *err)
{
    tw_col *c;
    size_t before, total;

    if (j >= w->ncols) {
        return ct_fail(err, CT_EINVAL, "ct_tw_append: column %zu out of range", j);
    }
    ct_status s = part_offsets(w->f, nrows, &before, &total, err);
    if (s != CT_OK || total == 0) {
        return s;
    }
    c = &w->col[j];
    if (c->from_double && nrows > 0) {
        if (nrows > w->cap) {
            float *p = realloc(w->narrow, nrows * sizeof *p);
            if (p == NULL) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
            } else {
                w->narrow = p;
                w->cap = nrows;
            }
        }
        if (s == CT_OK) {
            narrow_doubles(data, nrows, c->round, w->narrow);
            data = w->narrow;
        }
    }
    s = h5s_agree(w->f, s, err);
    if (s != CT_OK) {
        return s;
    }
    hsize_t start = c->n + before, count = nrows, newsize = c->n + total;
    if (H5Dset_extent(c->did, &newsize) < 0) {
        h5s_poison(w->f);
        s = ct_fail_at(err, CT_EIO, w->f->path, 0, 0, "cannot write output: %s", w->f->why);
    }
    s = h5s_agree(w->f, s, err);
    if (s != CT_OK) {
        return s;
    }
    hid_t fsp = H5Dget_space(c->did);
    hid_t msp = H5Screate_simple(1, &count, NULL);
    hid_t xfer = h5s_xfer_plist(w->f);
    if (nrows > 0) {
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL);
    } else { /* a parallel append without rows here still takes part */
        H5Sselect_none(fsp);
        H5Sselect_none(msp);
    }
    herr_t rc = H5Dwrite(c->did, c->mtype, msp, fsp, xfer, data);
    if (xfer != H5P_DEFAULT) {
        H5Pclose(xfer);
    }
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        h5s_poison(w->f);
        s = ct_fail_at(err, CT_EIO, w->f->path, 0, 0, "cannot write output: %s", w->f->why);
    }
    s = h5s_agree(w->f, s, err);
    if (s == CT_OK) {
        c->n += total;
        h5s_writeback(w->f, nrows * H5Tget_size(c->mtype));
    }
    return s;
}

ct_status ct_file_total_rows(const ct_file *f, size_t nrows, size_t *total, ct_error *err)
{
    size_t before;
    return part_offsets(f, nrows, &before, total, err);
}

ct_status ct_tw_from_double(ct_tw *w, size_t j, int round, ct_error *err)
{
    if (j >= w->ncols || w->col[j].type != CT_FLOAT32) {
        return ct_fail(err, CT_EINVAL, "ct_tw_from_double: column %zu is not float32", j);
    }
    w->col[j].from_double = 1;
    w->col[j].round = round;
    return CT_OK;
}

ct_status ct_tw_close(ct_tw *w, ct_error *err)
{
    ct_status s = CT_OK;
    const char **order = NULL;
    size_t norder = 0;

    for (size_t j = 1; j < w->ncols; j++) {
        if (w->col[j].n != w->col[0].n) {
            s = ct_fail_at(err, CT_EINTERNAL, w->f->path, 0, 0,
                           "table %s: column '%s' has %zu rows, '%s' has %zu", w->group,
                           w->col[j].name, w->col[j].n, w->col[0].name, w->col[0].n);
            ct_tw_abort(w);
            return s;
        }
    }
    /* anndata's dataframe encoding: column-order lists the non-index columns. */
    order = calloc(w->ncols + 1, sizeof *order);
    if (order == NULL) {
        ct_tw_abort(w);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < w->ncols; j++) {
        if (w->index == NULL || strcmp(w->col[j].name, w->index) != 0) {
            order[norder++] = w->col[j].name;
        }
    }
    s = h5s_attr_set_strv(w->f, w->group, "column-order", order, norder, err);
    if (s == CT_OK) {
        s = ct_attr_set_str(w->f, w->group, "encoding-type", "dataframe", err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_str(w->f, w->group, "encoding-version", "0.2.0", err);
    }
    if (s == CT_OK && w->index != NULL) {
        s = ct_attr_set_str(w->f, w->group, "_index", w->index, err);
    }
    if (s == CT_OK) {
        s = ct_attr_set_i64(w->f, w->group, "nrows", (int64_t)(w->ncols ? w->col[0].n : 0), err);
    }
    free(order);
    ct_file *f = w->f;
    if (tw_release(w) < 0 && s == CT_OK) {
        s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
    }
    return s;
}

ct_status ct_tw_write_table(ct_file *f, const char *group, const ct_colspec *cols, size_t ncols,
                            const void *const *data, size_t nrows, const char *index_col,
                            ct_error *err)
{
    ct_tw *w;
    size_t before, total; /* a parallel file: chunks sized by every rank's rows */
    ct_status s = part_offsets(f, nrows, &before, &total, err);
    if (s != CT_OK) {
        return s;
    }
    s = ct_tw_create(&w, f, group, cols, ncols, total, index_col, err);
    if (s != CT_OK) {
        return s;
    }
    /* Whole columns at once: HDF5 splits them into chunks itself. */
    for (size_t j = 0; j < ncols && s == CT_OK; j++) {
        s = ct_tw_append(w, j, data[j], nrows, err);
    }
    if (s != CT_OK) {
        ct_tw_abort(w);
        return s;
    }
    return ct_tw_close(w, err);
}

size_t ct_file_own_rows(const ct_file *f, size_t n)
{
    return h5s_is_root(f) ? n : 0;
}

