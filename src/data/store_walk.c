/* store_walk.c - every group, dataset and attribute of a file, described. */
#include "data/store_h5.h"
#include "data/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- walking ------------------------------------------------------------ */

static void describe_type(hid_t t, char *buf, size_t cap)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    switch (cls) {
    case H5T_INTEGER:
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", sz * 8);
        break;
    case H5T_FLOAT:
        snprintf(buf, cap, "float%zu", sz * 8);
        break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) > 0) {
            snprintf(buf, cap, "vlen-string");
        } else {
            snprintf(buf, cap, "string[%zu]", sz);
        }
        break;
    case H5T_ENUM:
        snprintf(buf, cap, "enum%zu", sz * 8);
        break;
    default:
        snprintf(buf, cap, "other");
        break;
    }
}

typedef struct walk_ctx {
    ct_node_fn fn;
    void *ctx;
    int stop;
} walk_ctx;

static herr_t visit_cb(hid_t root, const char *name, const H5O_info_t *info, void *op)
{
    walk_ctx *w = op;
    char path[600], dt[64] = "";
    ct_node_info node;

    if (strcmp(name, ".") == 0) {
        return 0;
    }
    snprintf(path, sizeof path, "/%s", name);
    memset(&node, 0, sizeof node);
    node.path = path;
    node.dtype = dt;
    if (info->type == H5O_TYPE_GROUP) {
        node.kind = CT_NODE_GROUP;
    } else if (info->type == H5O_TYPE_DATASET) {
        node.kind = CT_NODE_DATASET;
        hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
        if (d >= 0) {
            hid_t sp = H5Dget_space(d), t = H5Dget_type(d), pl = H5Dget_create_plist(d);
            hsize_t dims[8] = {0};
            int rank = H5Sget_simple_extent_ndims(sp);
            if (rank > 0) {
                H5Sget_simple_extent_dims(sp, dims, NULL);
            }
            node.rank = rank;
            for (int i = 0; i < rank && i < 4; i++) {
                node.dims[i] = dims[i];
            }
            describe_type(t, dt, sizeof dt);
            int nf = H5Pget_nfilters(pl);
            for (int i = 0; i < nf; i++) {
                unsigned flags;
                size_t nel = 0;
                char fname[32];
                if (H5Pget_filter2(pl, (unsigned)i, &flags, &nel, NULL, sizeof fname, fname,
                                   NULL) == H5Z_FILTER_DEFLATE) {
                    node.compressed = 1;
                }
            }
            H5Pclose(pl);
            H5Tclose(t);
            H5Sclose(sp);
            H5Dclose(d);
        }
    } else {
        return 0;
    }
    if (w->fn(w->ctx, &node) != 0) {
        w->stop = 1;
        return 1;
    }
    return 0;
}

ct_status ct_file_walk(const ct_file *f, ct_node_fn fn, void *ctx, ct_error *err)
{
    walk_ctx w = {fn, ctx, 0};
    if (H5Ovisit(f->fid, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &w) < 0) {
        return h5s_fail(err, CT_EFORMAT, f->path, "cannot walk file");
    }
    return CT_OK;
}

typedef struct attr_ctx {
    const char *obj;
    ct_attr_fn fn;
    void *ctx;
} attr_ctx;

static void render_attr(hid_t a, char *buf, size_t cap)
{
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5T_class_t cls = H5Tget_class(t);
    size_t off = 0;
    buf[0] = '\0';
    if (n < 0) {
        n = 0;
    }
    if (cls == H5T_STRING) {
        int vl = H5Tis_variable_str(t) > 0;
        size_t w = vl ? sizeof(char *) : H5Tget_size(t);
        char *raw = calloc((size_t)n + 1, w + 1);
        hid_t mt = vl ? h5s_vlen_str_type() : h5s_fixed_str_type(w);
        if (raw != NULL && H5Aread(a, mt, raw) >= 0) {
            for (hssize_t i = 0; i < n && off + 8 < cap; i++) {
                const char *s;
                char fixed[512];
                if (vl) {
                    s = ((char **)(void *)raw)[i];
                } else {
                    size_t k = w < sizeof fixed - 1 ? w : sizeof fixed - 1;
                    memcpy(fixed, raw + (size_t)i * w, k);
                    fixed[k] = '\0';
                    s = fixed;
                }
                int k = snprintf(buf + off, cap - off, n > 1 ? "%s%s" : "%s%s",
                                 i == 0 ? (n > 1 ? "[" : "") : ", ", s != NULL ? s : "");
                if (k > 0) {
                    off += (size_t)k < cap - off ? (size_t)k : cap - off - 1;
                }
            }
            if (n > 1 && off + 2 < cap) {
                buf[off++] = ']';
                buf[off] = '\0';
            }
            if (vl) {
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
            }
        }
        H5Tclose(mt);
        free(raw);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        double *v = malloc(((size_t)n + 1) * sizeof *v);
        if (v != NULL && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
            for (hssize_t i = 0; i < n && off + 32 < cap; i++) {
                int k = snprintf(buf + off, cap - off, "%s%.10g",
                                 i == 0 ? (n > 1 ? "[" : "") : ", ", v[i]);
                if (k > 0) {
                    off += (size_t)k;
                }
            }
            if (n > 1 && off + 2 < cap) {
                buf[off++] = ']';
                buf[off] = '\0';
            }
        }
        free(v);
    } else {
        snprintf(buf, cap, "(unrenderable)");
    }
    H5Sclose(sp);
    H5Tclose(t);
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *ainfo, void *op)
{
    attr_ctx *c = op;
    char value[2048];
    (void)ainfo;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        return 0;
    }
    render_attr(a, value, sizeof value);
    H5Aclose(a);
    ct_attr_info info = {c->obj, name, value};
    return c->fn(c->ctx, &info) != 0 ? 1 : 0;
}

ct_status ct_file_attrs(const ct_file *f, const char *obj, ct_attr_fn fn, void *ctx,
                        ct_error *err)
{
    attr_ctx c = {obj, fn, ctx};
    hsize_t idx = 0;
    hid_t o = H5Oopen(f->fid, obj, H5P_DEFAULT);
    if (o < 0) {
        return h5s_fail(err, CT_EFORMAT, f->path, "cannot open object");
    }
    herr_t rc = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &c);
    H5Oclose(o);
    if (rc < 0) {
        return h5s_fail(err, CT_EFORMAT, f->path, "cannot list attributes");
    }
    return CT_OK;
}

