/* store_read.c - the table reader: a group of equal-length 1-D columns,
 * clvtier's or another tool's (h5py, pandas/anndata). */
#include "data/store_h5.h"
#include "data/store_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/mem_internal.h"
#include <string.h>

/* ---- table reader ------------------------------------------------------- */

typedef struct tr_col {
    char *name;
    ct_dtype type;
    int vlen;
    size_t width; /* fixed strings: stored width */
    size_t chunk;
    hid_t did;
} tr_col;

struct ct_table {
    const ct_file *f;
    char *group;
    hid_t gid;
    size_t nrows, ncols, cap;
    tr_col *col;
};

void ct_table_close(ct_table *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t j = 0; j < t->ncols; j++) {
        H5Dclose(t->col[j].did);
        free(t->col[j].name);
    }
    if (t->gid >= 0) {
        H5Gclose(t->gid);
    }
    H5Eclear2(H5E_DEFAULT);
    free(t->col);
    free(t->group);
    free(t);
}

/* Add dataset `name` of the group as a column; returns 0 when skipped
 * (not 1-D or unsupported type), 1 when added, -1 on error. */
static int add_column(ct_table *t, const char *name, ct_error *err)
{
    if (H5Lexists(t->gid, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0, "table %s: column '%s' listed but missing",
                   t->group, name);
        return -1;
    }
    H5O_info_t info;
    if (H5Oget_info_by_name(t->gid, name, &info, H5P_DEFAULT) < 0 ||
        info.type != H5O_TYPE_DATASET) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    hid_t d = H5Dopen2(t->gid, name, H5P_DEFAULT);
    if (d < 0) {
        h5s_fail(err, CT_EFORMAT, t->f->path, "cannot open column");
        return -1;
    }
    hid_t sp = H5Dget_space(d), ty = H5Dget_type(d), pl = H5Dget_create_plist(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dim = 0, chunk = 0;
    H5T_class_t cls = H5Tget_class(ty);
    size_t sz = H5Tget_size(ty);
    tr_col c;
    memset(&c, 0, sizeof c);
    int ok = rank == 1;
    if (ok) {
        H5Sget_simple_extent_dims(sp, &dim, NULL);
        if (H5Pget_layout(pl) == H5D_CHUNKED) {
            H5Pget_chunk(pl, 1, &chunk);
        }
        if (cls == H5T_INTEGER || cls == H5T_ENUM) {
            c.type = sz == 1 ? CT_INT8 : sz <= 4 ? CT_INT32 : CT_INT64;
            if (cls == H5T_INTEGER && H5Tget_sign(ty) == H5T_SGN_NONE && sz >= 4) {
                c.type = CT_INT64;
            }
        } else if (cls == H5T_FLOAT) {
            c.type = sz <= 4 ? CT_FLOAT32 : CT_FLOAT64;
        } else if (cls == H5T_STRING) {
            c.type = CT_STRING;
            c.vlen = H5Tis_variable_str(ty) > 0;
            c.width = c.vlen ? 0 : sz;
        } else {
            ok = 0;
        }
    }
    H5Pclose(pl);
    H5Tclose(ty);
    H5Sclose(sp);
    if (!ok) {
        H5Dclose(d);
        return 0;
    }
    /* The declared size against the storage the file really holds, before
     * anyone allocates for it: deflate packs at most ~1032:1, so a column
     * declaring over 2048 times its stored bytes (and over 1 MiB) is a lie
     * (a damaged or hostile file), not data.  Variable-length strings store
     * their text on the heap: they are not checked here. */
    double declared = (double)dim * (double)(c.vlen ? 0 : sz);
    double stored = (double)H5Dget_storage_size(d);
    if (declared > 1048576.0 && declared > 2048.0 * stored) {
        ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0,
                   "table %s: column '%s' declares %llu rows (%.3g bytes) but the file holds "
                   "%.3g bytes of it: damaged or not a real table",
                   t->group, name, (unsigned long long)dim, declared, stored);
        H5Dclose(d);
        return -1;
    }
    if (t->ncols > 0 && (size_t)dim != t->nrows) {
        ct_fail_at(err, CT_EDIM, t->f->path, 0, 0,
                   "table %s: column '%s' has %llu rows but '%s' has %zu", t->group, name,
                   (unsigned long long)dim, t->col[0].name, t->nrows);
        H5Dclose(d);
        return -1;
    }
    if (t->ncols == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        tr_col *p = realloc(t->col, nc * sizeof *p);
        if (p == NULL) {
            H5Dclose(d);
            ct_fail(err, CT_ENOMEM, "out of memory");
            return -1;
        }
        t->col = p;
        t->cap = nc;
    }
    c.name = h5s_dupstr(name);
    c.did = d;
    c.chunk = chunk > 0 ? (size_t)chunk : CT_CHUNK_ROWS;
    if (c.name == NULL) {
        H5Dclose(d);
        ct_fail(err, CT_ENOMEM, "out of memory");
        return -1;
    }
    t->nrows = (size_t)dim;
    t->col[t->ncols++] = c;
    return 1;
}

typedef struct name_list {
    char **v;
    size_t n, cap;
    int nomem; /* list_cb ran out of memory */
} name_list;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    name_list *l = op;
    (void)g;
    (void)info;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->v, nc * sizeof *p);
        if (p == NULL) {
            l->nomem = 1;
            return -1;
        }
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n] = h5s_dupstr(name);
    if (l->v[l->n] == NULL) {
        l->nomem = 1;
        return -1;
    }
    l->n++;
    return 0;
}

static void free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

/* Column names from a string-array attribute (column-order). */
static ct_status read_strv_attr(hid_t obj, const char *name, name_list *l)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) {
        return CT_EFORMAT;
    }
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    ct_status s = CT_OK;
    if (H5Tget_class(t) != H5T_STRING || n < 0) {
        s = CT_EFORMAT;
    } else if (n > 0) {
        int vl = H5Tis_variable_str(t) > 0;
        size_t w = vl ? sizeof(char *) : H5Tget_size(t);
        char *raw = calloc((size_t)n, w + 1);
        hid_t mt = vl ? h5s_vlen_str_type() : h5s_fixed_str_type(w);
        if (raw == NULL || H5Aread(a, mt, raw) < 0) {
            s = CT_EFORMAT;
        } else {
            for (hssize_t i = 0; i < n && s == CT_OK; i++) {
                char fixed[512];
                const char *v;
                if (vl) {
                    v = ((char **)(void *)raw)[i];
                } else {
                    size_t k = w < sizeof fixed - 1 ? w : sizeof fixed - 1;
                    memcpy(fixed, raw + (size_t)i * w, k);
                    fixed[k] = '\0';
                    v = fixed;
                }
                if (list_cb(obj, v != NULL ? v : "", NULL, l) != 0) {
                    s = CT_ENOMEM;
                }
            }
            if (vl) {
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
            }
        }
        H5Tclose(mt);
        free(raw);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return s;
}

ct_status ct_table_open(ct_table **out, const ct_file *f, const char *group, ct_error *err)
{
    ct_table *t;
    name_list names = {0};
    ct_status s = CT_OK;

    *out = NULL;
    if (!ct_file_has_group(f, group)) {
        return ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "no table %s in this file", group);
    }
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->group = h5s_dupstr(group)) == NULL) {
        free(t);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    t->f = f;
    t->gid = H5Gopen2(f->fid, group, H5P_DEFAULT);
    if (t->gid < 0) {
        s = h5s_fail(err, CT_EFORMAT, f->path, "cannot open table group");
        ct_table_close(t);
        return s;
    }
    if (H5Aexists(t->gid, "column-order") > 0) {
        /* clvtier / anndata: _index first, then column-order. */
        if (H5Aexists(t->gid, "_index") > 0) {
            char idx[256];
            hid_t a = H5Aopen(t->gid, "_index", H5P_DEFAULT);
            hid_t ty = H5Aget_type(a);
            if (H5Tget_class(ty) == H5T_STRING) {
                H5Tclose(ty);
                H5Aclose(a);
                if (ct_attr_get_str(f, group, "_index", idx, sizeof idx, NULL) == CT_OK &&
                    list_cb(t->gid, idx, NULL, &names) != 0) {
                    s = ct_fail(err, CT_ENOMEM, "out of memory");
                }
            } else {
                H5Tclose(ty);
                H5Aclose(a);
            }
        }
        if (s == CT_OK && read_strv_attr(t->gid, "column-order", &names) != CT_OK) {
            s = names.nomem ? ct_fail(err, CT_ENOMEM, "out of memory")
                            : ct_fail_at(err, CT_EFORMAT, f->path, 0, 0,
                                         "table %s: attribute column-order is not a list of names",
                                         group);
        }
    } else {
        hsize_t idx = 0;
        if (H5Literate(t->gid, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &names) < 0) {
            s = names.nomem ? ct_fail(err, CT_ENOMEM, "out of memory")
                            : h5s_fail(err, CT_EFORMAT, f->path, "cannot list table columns");
        }
    }
    for (size_t i = 0; i < names.n && s == CT_OK; i++) {
        if (add_column(t, names.v[i], err) < 0) {
            s = err != NULL ? err->status : CT_EFORMAT;
        }
    }
    free_names(&names);
    H5Eclear2(H5E_DEFAULT);
    if (s == CT_OK && t->ncols == 0) {
        s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "table %s has no 1-D columns", group);
    }
    if (s != CT_OK) {
        ct_table_close(t);
        return s;
    }
    *out = t;
    return CT_OK;
}

size_t ct_table_nrows(const ct_table *t)
{
    return t->nrows;
}

size_t ct_table_ncols(const ct_table *t)
{
    return t->ncols;
}

const char *ct_table_colname(const ct_table *t, size_t j)
{
    return j < t->ncols ? t->col[j].name : NULL;
}

ct_dtype ct_table_coltype(const ct_table *t, size_t j)
{
    return t->col[j].type;
}

long ct_table_find(const ct_table *t, const char *name)
{
    for (size_t j = 0; j < t->ncols; j++) {
        if (strcmp(t->col[j].name, name) == 0) {
            return (long)j;
        }
    }
    return -1;
}

size_t ct_table_chunk(const ct_table *t, size_t j)
{
    return t->col[j].chunk;
}

static ct_status read_sel(const ct_table *t, size_t j, size_t row0, size_t n, hid_t mtype,
                          void *buf, ct_error *err)
{
    hsize_t start = row0, count = n;
    if (row0 > t->nrows || n > t->nrows - row0) {
        return ct_fail_at(err, CT_EINVAL, t->f->path, 0, 0,
                          "table %s: rows [%zu, %zu) out of range (%zu rows)", t->group, row0,
                          row0 + n, t->nrows);
    }
    if (n == 0) {
        return CT_OK;
    }
    hid_t fsp = H5Dget_space(t->col[j].did);
    hid_t msp = H5Screate_simple(1, &count, NULL);
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL);
    herr_t rc = H5Dread(t->col[j].did, mtype, msp, fsp, H5P_DEFAULT, buf);
    H5Sclose(msp);
    H5Sclose(fsp);
    if (rc < 0) {
        char what[400];
        snprintf(what, sizeof what, "cannot read column '%s' of %s (rows %zu to %zu)",
                 t->col[j].name, t->group, row0 + 1, row0 + n);
        return h5s_fail(err, CT_EIO, t->f->path, what);
    }
    return CT_OK;
}

ct_status ct_table_read(const ct_table *t, size_t j, size_t row0, size_t n, ct_dtype as,
                        void *buf, ct_error *err)
{
    if (j >= t->ncols) {
        return ct_fail(err, CT_EINVAL, "ct_table_read: column %zu out of range", j);
    }
    if (t->col[j].type == CT_STRING || as == CT_STRING) {
        return ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0,
                          "table %s: column '%s' is text, not numbers", t->group, t->col[j].name);
    }
    return read_sel(t, j, row0, n, h5s_native_type(as), buf, err);
}

ct_status ct_table_read_f64(const ct_table *t, const char *name, double **out, ct_error *err)
{
    long j = ct_table_find(t, name);
    *out = NULL;
    if (j < 0) {
        return ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0, "table %s has no column '%s'",
                          t->group, name);
    }
    double *v = ct_malloc_big(t->nrows, sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory reading column '%s' (%zu rows)", name,
                       t->nrows);
    }
    ct_status s = ct_table_read(t, (size_t)j, 0, t->nrows, CT_FLOAT64, v, err);
    if (s != CT_OK) {
        free(v);
        return s;
    }
    *out = v;
    return CT_OK;
}

#define STR_BLOCK ((size_t)65536)

ct_status ct_table_strwidth(const ct_table *t, size_t j, size_t *width, ct_error *err)
{
    const tr_col *c = &t->col[j];
    if (c->type != CT_STRING) {
        return ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0, "table %s: column '%s' is not text",
                          t->group, c->name);
    }
    if (!c->vlen) {
        *width = c->width;
        return CT_OK;
    }
    size_t maxw = 1;
    char **v = malloc(STR_BLOCK * sizeof *v);
    hid_t mt = h5s_vlen_str_type();
    ct_status s = v == NULL ? ct_fail(err, CT_ENOMEM, "out of memory") : CT_OK;
    for (size_t r = 0; r < t->nrows && s == CT_OK; r += STR_BLOCK) {
        size_t n = t->nrows - r < STR_BLOCK ? t->nrows - r : STR_BLOCK;
        s = read_sel(t, j, r, n, mt, v, err);
        if (s == CT_OK) {
            for (size_t i = 0; i < n; i++) {
                size_t k = v[i] != NULL ? strlen(v[i]) : 0;
                maxw = k > maxw ? k : maxw;
                H5free_memory(v[i]);
            }
        }
    }
    H5Tclose(mt);
    free(v);
    *width = maxw;
    return s;
}

ct_status ct_table_read_str(const ct_table *t, size_t j, size_t row0, size_t n, char *buf,
                            size_t width, ct_error *err)
{
    const tr_col *c = &t->col[j];
    ct_status s;
    if (c->type != CT_STRING) {
        return ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0, "table %s: column '%s' is not text",
                          t->group, c->name);
    }
    if (!c->vlen) {
        if (c->width > width) {
            return ct_fail(err, CT_EINVAL, "ct_table_read_str: width %zu < stored %zu", width,
                           c->width);
        }
        hid_t mt = h5s_fixed_str_type(width);
        /* the file's character set (h5py's numpy 'S' strings are ASCII):
         * HDF5 converts between pads but not between character sets */
        hid_t ft = H5Dget_type(c->did);
        if (ft >= 0 && mt >= 0) {
            H5Tset_cset(mt, H5Tget_cset(ft));
        }
        if (ft >= 0) {
            H5Tclose(ft);
        }
        s = read_sel(t, j, row0, n, mt, buf, err);
        H5Tclose(mt);
        return s;
    }
    /* HDF5 1.10 does not convert vlen -> fixed: read pointers and copy. */
    char **v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    hid_t mt = h5s_vlen_str_type();
    s = read_sel(t, j, row0, n, mt, v, err);
    int have = s == CT_OK;
    for (size_t i = 0; i < n && s == CT_OK; i++) {
        size_t k = v[i] != NULL ? strlen(v[i]) : 0;
        if (k > width) {
            s = ct_fail_at(err, CT_EDATA, t->f->path, row0 + i + 1, 0,
                           "table %s: column '%s' value longer than %zu bytes", t->group, c->name,
                           width);
            break;
        }
        memset(buf + i * width, 0, width);
        if (k > 0) {
            memcpy(buf + i * width, v[i], k);
        }
    }
    if (have) {
        for (size_t i = 0; i < n; i++) {
            H5free_memory(v[i]);
        }
    }
    H5Tclose(mt);
    free(v);
    return s;
}

