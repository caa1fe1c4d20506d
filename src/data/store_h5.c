/* store_h5.c - the HDF5 helpers every part of the store uses: HDF5's own
 * error text, types, a failed write's poisoning, links that exist. */
#include "data/store_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *h5s_dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

typedef struct h5msg {
    char text[400];
} h5msg;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *ctx)
{
    h5msg *m = ctx;
    (void)n;
    /* Keep the innermost description: it is the most specific. */
    if (e->desc == NULL || e->desc[0] == '\0') {
        return 0;
    }
    /* The sec2 driver's messages span lines and dump pointers; its errno
     * text ("error message = 'File too large'") is the useful part. */
    const char *em = strstr(e->desc, "error message = '");
    if (em != NULL) {
        em += strlen("error message = '");
        const char *q = strchr(em, '\'');
        int k = q != NULL ? (int)(q - em) : (int)strlen(em);
        snprintf(m->text, sizeof m->text, "%.*s", k, em);
    } else {
        snprintf(m->text, sizeof m->text, "%s", e->desc);
    }
    for (char *c = m->text; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t') {
            *c = ' ';
        }
    }
    return 0;
}

/* The innermost message on HDF5's error stack ("" if none); clears the stack. */
static void h5_last(h5msg *m)
{
    m->text[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, m);
    H5Eclear2(H5E_DEFAULT);
}

ct_status h5s_fail(ct_error *err, ct_status s, const char *file, const char *what)
{
    h5msg m;
    h5_last(&m);
    if (m.text[0] != '\0') {
        return ct_fail_at(err, s, file, 0, 0, "%s (HDF5: %s)", what, m.text);
    }
    return ct_fail_at(err, s, file, 0, 0, "%s", what);
}

const char *ct_dtype_name(ct_dtype t)
{
    switch (t) {
    case CT_INT8:
        return "int8";
    case CT_INT32:
        return "int32";
    case CT_INT64:
        return "int64";
    case CT_FLOAT32:
        return "float32";
    case CT_FLOAT64:
        return "float64";
    case CT_STRING:
        return "string";
    }
    return "?";
}

size_t ct_dtype_size(ct_dtype t)
{
    switch (t) {
    case CT_INT8:
        return 1;
    case CT_INT32:
        return 4;
    case CT_INT64:
        return 8;
    case CT_FLOAT32:
        return 4;
    case CT_FLOAT64:
        return 8;
    case CT_STRING:
        return 0;
    }
    return 0;
}

hid_t h5s_native_type(ct_dtype t)
{
    switch (t) {
    case CT_INT8:
        return H5T_NATIVE_INT8;
    case CT_INT32:
        return H5T_NATIVE_INT32;
    case CT_INT64:
        return H5T_NATIVE_INT64;
    case CT_FLOAT32:
        return H5T_NATIVE_FLOAT;
    case CT_FLOAT64:
        return H5T_NATIVE_DOUBLE;
    case CT_STRING:
        break;
    }
    return H5I_INVALID_HID;
}

hid_t h5s_file_type(ct_dtype t)
{
    switch (t) {
    case CT_INT8:
        return H5T_STD_I8LE;
    case CT_INT32:
        return H5T_STD_I32LE;
    case CT_INT64:
        return H5T_STD_I64LE;
    case CT_FLOAT32:
        return H5T_IEEE_F32LE;
    case CT_FLOAT64:
        return H5T_IEEE_F64LE;
    case CT_STRING:
        break;
    }
    return H5I_INVALID_HID;
}

/* Fixed-length NUL-padded UTF-8 string type of `width` bytes (caller closes). */
hid_t h5s_fixed_str_type(size_t width)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) {
        return t;
    }
    if (H5Tset_size(t, width) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

hid_t h5s_vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) {
        return t;
    }
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Close a file being written that is to be thrown away.  When its writes
 * fail (disk full, ulimit -f), HDF5 1.10 cannot flush at H5Fclose, keeps the
 * file open internally and crashes in its exit handler.  So point the sec2
 * driver's descriptor at /dev/null first: the final flush then succeeds
 * (into nothing) and the file is released. */
void h5s_poison(ct_file *f)
{
    void *handle = NULL;
    if (f->poisoned || f->fid <= 0) {
        return;
    }
    if (f->why[0] == '\0') {
        h5msg m;
        h5_last(&m);
        snprintf(f->why, sizeof f->why, "%.*s", (int)sizeof f->why - 1,
                 m.text[0] != '\0' ? m.text : "write failed");
    }
    /* (a parallel file's handle is an MPI_File: its writes fail collectively
     * and its close needs no help) */
    if (f->comm == NULL && H5Fget_vfd_handle(f->fid, H5P_DEFAULT, &handle) >= 0 &&
        handle != NULL) {
        int fd = *(int *)handle;
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            (void)dup2(null, fd);
            close(null);
        }
    }
    f->poisoned = 1;
}

/* Start the kernel's write-out of what a serial file has written so far,
 * once every CT_WRITEBACK_BYTES (bytes: what the caller just wrote).  The
 * commit's fsync then waits for the tail alone, not for the whole file: a
 * streamed 1 GB output of `score --intervals` spent 0.57 s in that fsync,
 * after the last block.  Nothing waits here (SYNC_FILE_RANGE_WRITE only
 * queues the pages); durability is still the commit's fsync.  A failed
 * start poisons the file, so its error cannot be consumed here and missed
 * by that fsync. */
#define CT_WRITEBACK_BYTES ((size_t)32 << 20)

void h5s_writeback(ct_file *f, size_t bytes)
{
#ifdef SYNC_FILE_RANGE_WRITE
    void *handle = NULL;
    f->unflushed += bytes;
    if (f->comm != NULL || f->poisoned || f->unflushed < CT_WRITEBACK_BYTES) {
        return;
    }
    f->unflushed = 0;
    if (H5Fget_vfd_handle(f->fid, H5P_DEFAULT, &handle) >= 0 && handle != NULL &&
        sync_file_range(*(int *)handle, 0, 0, SYNC_FILE_RANGE_WRITE) != 0) {
        snprintf(f->why, sizeof f->why, "%s", strerror(errno));
        h5s_poison(f);
    }
    H5Eclear2(H5E_DEFAULT);
#else
    (void)f;
    (void)bytes;
#endif
}

/* Flush, then close a dataset of a writable file: a failed flush poisons the
 * file first, so that the close cannot fail and leak the dataset. */
herr_t h5s_close_dataset(ct_file *f, hid_t did)
{
    herr_t rc = 0;
    if (f->writable && f->comm == NULL && H5Dflush(did) < 0) {
        rc = -1;
        h5s_poison(f);
    }
    if (H5Dclose(did) < 0) {
        rc = -1;
    }
    return rc;
}

static int link_is(const ct_file *f, const char *path, H5O_type_t type)
{
    H5O_info_t info;
    if (strcmp(path, "/") == 0) {
        return type == H5O_TYPE_GROUP;
    }
    /* Check each prefix exists so H5Oget_info_by_name does not fail noisily. */
    char buf[512];
    size_t n = strlen(path);
    if (n >= sizeof buf) {
        return 0;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            htri_t e = H5Lexists(f->fid, buf, H5P_DEFAULT);
            buf[i] = c;
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
        }
    }
    if (H5Oget_info_by_name(f->fid, path, &info, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    return info.type == type;
}

int ct_file_has_group(const ct_file *f, const char *path)
{
    return link_is(f, path, H5O_TYPE_GROUP);
}

int ct_file_has_dataset(const ct_file *f, const char *path)
{
    return link_is(f, path, H5O_TYPE_DATASET);
}

