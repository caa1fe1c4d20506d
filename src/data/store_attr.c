/* store_attr.c - attributes of groups and datasets: set, get, test. */
#include "data/store_h5.h"
#include "data/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- attributes --------------------------------------------------------- */

static ct_status attr_write(ct_file *f, const char *obj, const char *name, hid_t ftype,
                            hid_t mtype, hid_t space, const void *buf, ct_error *err)
{
    hid_t o, a;
    if (!f->writable) {
        return ct_fail_at(err, CT_EINVAL, f->path, 0, 0, "file is open read-only");
    }
    o = H5Oopen(f->fid, obj, H5P_DEFAULT);
    if (o < 0) {
        return h5s_fail(err, CT_EIO, f->path, "cannot open object for attribute");
    }
    if (H5Aexists(o, name) > 0) {
        H5Adelete(o, name);
    }
    a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
        h5s_poison(f);
        ct_status s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
        if (a >= 0) {
            H5Aclose(a);
        }
        H5Oclose(o);
        return s;
    }
    H5Aclose(a);
    H5Oclose(o);
    return CT_OK;
}

ct_status ct_attr_set_str(ct_file *f, const char *obj, const char *name, const char *value,
                          ct_error *err)
{
    hid_t t = h5s_vlen_str_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    ct_status s = attr_write(f, obj, name, t, t, sp, &value, err);
    H5Sclose(sp);
    H5Tclose(t);
    return s;
}

ct_status h5s_attr_set_strv(ct_file *f, const char *obj, const char *name,
                            const char *const *vals, size_t n, ct_error *err)
{
    hsize_t dim = n;
    hid_t t = h5s_vlen_str_type();
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    ct_status s = attr_write(f, obj, name, t, t, sp, vals, err);
    H5Sclose(sp);
    H5Tclose(t);
    return s;
}

ct_status ct_attr_set_f64(ct_file *f, const char *obj, const char *name, double value,
                          ct_error *err)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    ct_status s = attr_write(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, &value, err);
    H5Sclose(sp);
    return s;
}

ct_status ct_attr_set_i64(ct_file *f, const char *obj, const char *name, int64_t value,
                          ct_error *err)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    ct_status s = attr_write(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, sp, &value, err);
    H5Sclose(sp);
    return s;
}

ct_status ct_attr_set_f64v(ct_file *f, const char *obj, const char *name, const double *v,
                           size_t n, ct_error *err)
{
    hsize_t dim = n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    ct_status s = attr_write(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sp, v, err);
    H5Sclose(sp);
    return s;
}

int ct_attr_exists(const ct_file *f, const char *obj, const char *name)
{
    if (strcmp(obj, "/") != 0 && !ct_file_has_group(f, obj) && !ct_file_has_dataset(f, obj)) {
        return 0;
    }
    htri_t e = H5Aexists_by_name(f->fid, obj, name, H5P_DEFAULT);
    H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

static hid_t attr_open(const ct_file *f, const char *obj, const char *name, ct_error *err)
{
    if (!ct_attr_exists(f, obj, name)) {
        ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "attribute '%s' missing on %s", name, obj);
        return H5I_INVALID_HID;
    }
    /* Open the object first: through an external link, H5Aopen_by_name on
     * the linking file reads variable-length strings from the wrong file's
     * heap (HDF5 1.10); an object id carries the right file. */
    hid_t o = H5Oopen(f->fid, obj, H5P_DEFAULT);
    hid_t a = o >= 0 ? H5Aopen(o, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (o >= 0) {
        H5Oclose(o);
    }
    if (a < 0) {
        h5s_fail(err, CT_EFORMAT, f->path, "cannot open attribute");
    }
    return a;
}

static ct_status attr_get_num(const ct_file *f, const char *obj, const char *name, hid_t mtype,
                              void *value, ct_error *err)
{
    hid_t a = attr_open(f, obj, name, err);
    if (a < 0) {
        return err != NULL ? err->status : CT_EFORMAT;
    }
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    ct_status s = CT_OK;
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || npts != 1) {
        s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "attribute '%s' on %s is not a number",
                       name, obj);
    } else if (H5Aread(a, mtype, value) < 0) {
        s = h5s_fail(err, CT_EFORMAT, f->path, "cannot read attribute");
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

ct_status ct_attr_get_f64(const ct_file *f, const char *obj, const char *name, double *value,
                          ct_error *err)
{
    return attr_get_num(f, obj, name, H5T_NATIVE_DOUBLE, value, err);
}

ct_status ct_attr_get_i64(const ct_file *f, const char *obj, const char *name, int64_t *value,
                          ct_error *err)
{
    return attr_get_num(f, obj, name, H5T_NATIVE_INT64, value, err);
}

ct_status ct_attr_get_f64v(const ct_file *f, const char *obj, const char *name, double *v,
                           size_t cap, size_t *n, ct_error *err)
{
    hid_t a = attr_open(f, obj, name, err);
    if (a < 0) {
        return err != NULL ? err->status : CT_EFORMAT;
    }
    hid_t sp = H5Aget_space(a);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    ct_status s = CT_OK;
    if (npts < 0 || (size_t)npts > cap) {
        s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "attribute '%s' on %s has %lld values (max %zu)",
                       name, obj, (long long)npts, cap);
    } else if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) {
        s = h5s_fail(err, CT_EFORMAT, f->path, "cannot read attribute");
    } else {
        *n = (size_t)npts;
    }
    H5Sclose(sp);
    H5Aclose(a);
    return s;
}

ct_status ct_attr_get_str(const ct_file *f, const char *obj, const char *name, char *buf,
                          size_t cap, ct_error *err)
{
    hid_t a = attr_open(f, obj, name, err);
    ct_status s = CT_OK;
    if (a < 0) {
        return err != NULL ? err->status : CT_EFORMAT;
    }
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "attribute '%s' on %s is not a string",
                       name, obj);
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = h5s_vlen_str_type();
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0) {
            s = h5s_fail(err, CT_EFORMAT, f->path, "cannot read attribute");
        } else {
            snprintf(buf, cap, "%s", v != NULL ? v : "");
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t w = H5Tget_size(t);
        char *tmp = calloc(1, w + 1);
        hid_t mt = h5s_fixed_str_type(w);
        if (tmp == NULL || H5Aread(a, mt, tmp) < 0) {
            s = h5s_fail(err, CT_EFORMAT, f->path, "cannot read attribute");
        } else {
            snprintf(buf, cap, "%s", tmp);
        }
        free(tmp);
        H5Tclose(mt);
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

