/* store.c - HDF5 column store (DESIGN.md "The HDF5 file", HDF5-NOTES.md).
 *
 * One chunked, extendible 1-D dataset per column; fill time "never";
 * optional shuffle+deflate.  Writes go to NAME.tmp-PID and are published by
 * ct_file_commit (complete=1 last, H5Fclose checked, fsync, rename, fsync of
 * the directory) so a crash leaves either the old file or the new one. */
#include "clvtier/store.h"
#include "data/store_internal.h"
#include "clvtier/comm.h"
#include "clvtier/version.h"
#include "data/publish_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* clvtier-mpi linked against parallel HDF5: files written by every rank at
 * once (ct_create_opts.comm). */
#if defined(CT_MPI) && defined(H5_HAVE_PARALLEL)
#include <mpi.h>
#define CT_PAR_HDF5 1
#endif

const char *ct_version(void)
{
    return CT_VERSION;
}

struct ct_file {
    hid_t fid;
    int writable;
    int poisoned; /* a write failed: the descriptor now points at /dev/null */
    char why[200]; /* HDF5's reason for the first failed write */
    int deflate;
    int clvtier;
    char *path; /* destination */
    char *tmp;  /* temp file being written (writable only) */
    ct_comm *comm; /* parallel file: every rank of comm writes it (else NULL) */
};

/* ---- helpers ------------------------------------------------------------ */

static char *dupstr(const char *s)
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

static ct_status h5fail(ct_error *err, ct_status s, const char *file, const char *what)
{
    h5msg m;
    h5_last(&m);
    if (m.text[0] != '\0') {
        return ct_fail_at(err, s, file, 0, 0, "%s (HDF5: %s)", what, m.text);
    }
    return ct_fail_at(err, s, file, 0, 0, "%s", what);
}

static void h5_init(void)
{
    /* When a write fails for good (file size limit), HDF5 1.10 cannot finish
     * H5Fclose and its atexit handler then crashes on the half-closed file.
     * Skip that handler: the OS releases everything at exit anyway.  (Has no
     * effect, harmlessly, when the host program initialised HDF5 first.) */
    (void)H5dont_atexit();
    /* The library never prints: HDF5's automatic error printing goes off and
     * its error stack is turned into ct_error messages instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
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

static hid_t native_type(ct_dtype t)
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

static hid_t file_type(ct_dtype t)
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
static hid_t fixed_str_type(size_t width)
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

static hid_t vlen_str_type(void)
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

static int fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Close a file being written that is to be thrown away.  When its writes
 * fail (disk full, ulimit -f), HDF5 1.10 cannot flush at H5Fclose, keeps the
 * file open internally and crashes in its exit handler.  So point the sec2
 * driver's descriptor at /dev/null first: the final flush then succeeds
 * (into nothing) and the file is released. */
static void h5_poison(ct_file *f)
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

static void h5_discard(ct_file *f)
{
    h5_poison(f);
    H5Fclose(f->fid);
    H5Eclear2(H5E_DEFAULT);
}

/* Flush, then close a dataset of a writable file: a failed flush poisons the
 * file first, so that the close cannot fail and leak the dataset. */
static herr_t close_dataset(ct_file *f, hid_t did)
{
    herr_t rc = 0;
    if (f->writable && f->comm == NULL && H5Dflush(did) < 0) {
        rc = -1;
        h5_poison(f);
    }
    if (H5Dclose(did) < 0) {
        rc = -1;
    }
    return rc;
}

/* ---- opening and committing ------------------------------------------- */

int ct_file_is_hdf5(const char *path)
{
    h5_init();
    htri_t is = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    return is > 0;
}

ct_status ct_file_open(ct_file **out, const char *path, ct_error *err)
{
    struct stat st;
    ct_file *f;

    *out = NULL;
    h5_init();
    if (stat(path, &st) != 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "is a directory, not an HDF5 file");
    }
    if (access(path, R_OK) != 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot read: %s", strerror(errno));
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ct_fail_at(err, CT_EFORMAT, path, 0, 0,
                          "not an HDF5 file (no HDF5 signature; %lld bytes)", (long long)st.st_size);
    }
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = dupstr(path)) == NULL) {
        free(f);
        return ct_fail(err, CT_ENOMEM, "out of memory opening %s", path);
    }
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->fid < 0) {
        ct_status s = h5fail(err, CT_EFORMAT, path, "cannot open HDF5 file (truncated or damaged?)");
        free(f->path);
        free(f);
        return s;
    }
    f->clvtier = H5Aexists(f->fid, "clvtier_version") > 0;
    if (f->clvtier) {
        int64_t complete = 0;
        if (!ct_attr_exists(f, "/", "complete") ||
            ct_attr_get_i64(f, "/", "complete", &complete, NULL) != CT_OK || complete != 1) {
            ct_file_close(f);
            return ct_fail_at(err, CT_EFORMAT, path, 0, 0,
                              "incomplete clvtier file (no complete=1: its writer did not finish)");
        }
    }
    *out = f;
    return CT_OK;
}

static void utc_now(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The temp file's name and the creation time: made by rank 0 of a parallel
 * file and sent to the others, so every rank writes the same attributes. */
typedef struct create_hdr {
    char tmp[4096];
    char when[32];
} create_hdr;

/* Parallel files: the outcome of a step every rank took (any rank's failure
 * becomes every rank's), so that all go on or all stop together. */
static ct_status agree(const ct_file *f, ct_status s, ct_error *err)
{
    return f->comm != NULL ? ct_comm_agree(f->comm, s, err) : s;
}

static int is_root(const ct_file *f)
{
    return f->comm == NULL || ct_comm_rank(f->comm) == 0;
}

/* HDF5 file access: the sec2 driver, or MPI-IO for a parallel file. */
static hid_t create_fapl(const ct_file *f)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#ifdef CT_PAR_HDF5
    if (f->comm != NULL && fapl >= 0) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        /* metadata written once, collectively, not by every rank */
        H5Pset_coll_metadata_write(fapl, 1);
    }
#else
    (void)f;
#endif
    return fapl;
}

/* Transfer property list: collective MPI-IO for a parallel file (needed for
 * compressed datasets, and the fast path for the rest). */
static hid_t xfer_plist(const ct_file *f)
{
#ifdef CT_PAR_HDF5
    if (f->comm != NULL) {
        hid_t x = H5Pcreate(H5P_DATASET_XFER);
        H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE);
        return x;
    }
#else
    (void)f;
#endif
    return H5P_DEFAULT;
}

ct_status ct_file_create(ct_file **out, const char *path, const ct_create_opts *opts,
                         ct_error *err)
{
    ct_file *f;
    int fd;
    ct_comm *comm = opts != NULL && ct_comm_size(opts->comm) > 1 ? opts->comm : NULL;

    *out = NULL;
    h5_init();
#ifndef CT_PAR_HDF5
    if (comm != NULL) {
        return ct_fail_at(err, CT_EINVAL, path, 0, 0,
                          "writing one file from several ranks needs clvtier-mpi built against "
                          "parallel HDF5");
    }
#endif
    f = calloc(1, sizeof *f);
    create_hdr *h = calloc(1, sizeof *h);
    ct_status st = f != NULL && h != NULL && (f->path = dupstr(path)) != NULL
                       ? CT_OK
                       : ct_fail(err, CT_ENOMEM, "out of memory creating %s", path);
    if (f != NULL) {
        f->comm = comm;
    }
    if (st == CT_OK && is_root(f)) {
        char *tmp = NULL;
        st = ct_tmp_create(path, &tmp, &fd, err);
        if (st == CT_OK) {
            close(fd);
            if (strlen(tmp) < sizeof h->tmp) {
                memcpy(h->tmp, tmp, strlen(tmp) + 1);
            } else {
                unlink(tmp);
                st = ct_fail_at(err, CT_ECREATE, path, 0, 0, "output path too long");
            }
            free(tmp);
        }
        utc_now(h->when, sizeof h->when);
    }
    st = comm != NULL ? ct_comm_agree(comm, st, err) : st;
    if (st == CT_OK && comm != NULL) {
        st = ct_comm_bcast(comm, h, sizeof *h, 0, err);
    }
    if (st == CT_OK && (f->tmp = dupstr(h->tmp)) == NULL) {
        st = ct_fail(err, CT_ENOMEM, "out of memory creating %s", path);
    }
    st = comm != NULL ? ct_comm_agree(comm, st, err) : st;
    if (st != CT_OK) {
        if (f != NULL && is_root(f) && h != NULL && h->tmp[0] != '\0') {
            unlink(h->tmp);
        }
        if (f != NULL) {
            free(f->path);
            free(f->tmp);
        }
        free(f);
        free(h);
        return st;
    }
    f->writable = 1;
    f->clvtier = 1;
    f->deflate = opts != NULL ? opts->deflate : 0;
    hid_t fapl = create_fapl(f);
    f->fid = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    ct_status s = f->fid >= 0 ? CT_OK : h5fail(err, CT_ECREATE, path, "cannot create HDF5 output");
    s = agree(f, s, err);
    if (s != CT_OK) {
        if (f->fid >= 0) {
            H5Fclose(f->fid);
        }
        if (is_root(f)) {
            unlink(f->tmp);
        }
        free(f->path);
        free(f->tmp);
        free(f);
        free(h);
        return s;
    }
    *out = f;
    s = ct_attr_set_str(f, "/", "clvtier_version", CT_VERSION, err);
    if (s == CT_OK) {
        s = ct_attr_set_str(f, "/", "created", h->when, err);
    }
    if (s == CT_OK && opts != NULL && opts->command != NULL) {
        s = ct_attr_set_str(f, "/", "command", opts->command, err);
    }
    free(h);
    if (s != CT_OK) {
        ct_file_close(f);
        *out = NULL;
    }
    return s;
}

/* Flush, close, fsync and rename a serial file (on failure the caller
 * closes and removes the temp file). */
static ct_status commit_serial(ct_file *f, ct_error *err)
{
    /* Fill time "never" leaves unwritten chunks unallocated, so the file is
     * small until the flush below: that is where disk-full shows up. */
    if (H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0) {
        h5_poison(f);
        return ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
    }
    /* H5Fclose extends the file to its allocated end with ftruncate; when that
     * fails (file size limit) HDF5 1.10 leaves the file half-closed.  So extend
     * it here first, where a failure can still be handled cleanly. */
    hsize_t size = 0;
    void *handle = NULL;
    if (H5Fget_filesize(f->fid, &size) >= 0 &&
        H5Fget_vfd_handle(f->fid, H5P_DEFAULT, &handle) >= 0 && handle != NULL) {
        int fd = *(int *)handle;
        struct stat st;
        if (fstat(fd, &st) == 0 && (hsize_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) {
            return ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s",
                              strerror(errno));
        }
    }
    H5Eclear2(H5E_DEFAULT);
    herr_t rc = H5Fclose(f->fid);
    f->fid = H5I_INVALID_HID;
    if (rc < 0) {
        return h5fail(err, CT_EIO, f->path, "cannot write output");
    }
    if (fsync_file(f->tmp) != 0) {
        return ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot fsync output: %s", strerror(errno));
    }
    return ct_publish(f->tmp, f->path, err);
}

/* A parallel file's commit: every rank flushes and closes it together;
 * then rank 0 alone fsyncs and renames it, and tells the others. */
static ct_status commit_parallel(ct_file *f, ct_error *err)
{
    ct_status s = CT_OK;
    if (H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0) {
        s = h5fail(err, CT_EIO, f->path, "cannot write output");
    }
    s = agree(f, s, err);
    if (s != CT_OK) {
        return s;
    }
    s = H5Fclose(f->fid) >= 0 ? CT_OK : h5fail(err, CT_EIO, f->path, "cannot write output");
    f->fid = H5I_INVALID_HID;
    s = agree(f, s, err);
    if (s == CT_OK && is_root(f)) {
        if (fsync_file(f->tmp) != 0) {
            s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot fsync output: %s",
                           strerror(errno));
        } else {
            s = ct_publish(f->tmp, f->path, err);
        }
    }
    return agree(f, s, err);
}

ct_status ct_file_commit(ct_file *f, ct_error *err)
{
    ct_status s;

    if (f == NULL || !f->writable) {
        ct_file_close(f);
        return ct_fail(err, CT_EINVAL, "ct_file_commit: file not open for writing");
    }
    s = f->poisoned ? ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why)
                    : CT_OK;
    s = agree(f, s, err);
    if (s != CT_OK) {
        ct_file_close(f);
        return s;
    }
    s = ct_attr_set_i64(f, "/", "complete", 1, err);
    if (s != CT_OK) {
        ct_file_close(f);
        return s;
    }
    s = f->comm != NULL ? commit_parallel(f, err) : commit_serial(f, err);
    if (s == CT_OK) { /* published: nothing to remove */
        free(f->tmp);
        f->tmp = NULL;
        f->writable = 0;
    }
    ct_file_close(f); /* on failure: closes and removes the temp file */
    return s;
}

void ct_file_close(ct_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fid > 0) {
        if (f->writable && f->tmp != NULL) {
            h5_discard(f);
        } else {
            H5Fclose(f->fid);
            H5Eclear2(H5E_DEFAULT);
        }
    }
    if (f->writable && f->tmp != NULL && is_root(f)) {
        unlink(f->tmp);
    }
    free(f->tmp);
    free(f->path);
    free(f);
}

const char *ct_file_path(const ct_file *f)
{
    return f->path;
}

int ct_file_is_clvtier(const ct_file *f)
{
    return f->clvtier;
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
        return h5fail(err, CT_EIO, f->path, "cannot open object for attribute");
    }
    if (H5Aexists(o, name) > 0) {
        H5Adelete(o, name);
    }
    a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
        h5_poison(f);
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
    hid_t t = vlen_str_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    ct_status s = attr_write(f, obj, name, t, t, sp, &value, err);
    H5Sclose(sp);
    H5Tclose(t);
    return s;
}

static ct_status attr_set_strv(ct_file *f, const char *obj, const char *name,
                               const char *const *values, size_t n, ct_error *err)
{
    hsize_t dim = n;
    hid_t t = vlen_str_type();
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    ct_status s = attr_write(f, obj, name, t, t, sp, values, err);
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
        h5fail(err, CT_EFORMAT, f->path, "cannot open attribute");
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
        s = h5fail(err, CT_EFORMAT, f->path, "cannot read attribute");
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
        s = h5fail(err, CT_EFORMAT, f->path, "cannot read attribute");
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
        hid_t mt = vlen_str_type();
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0) {
            s = h5fail(err, CT_EFORMAT, f->path, "cannot read attribute");
        } else {
            snprintf(buf, cap, "%s", v != NULL ? v : "");
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t w = H5Tget_size(t);
        char *tmp = calloc(1, w + 1);
        hid_t mt = fixed_str_type(w);
        if (tmp == NULL || H5Aread(a, mt, tmp) < 0) {
            s = h5fail(err, CT_EFORMAT, f->path, "cannot read attribute");
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

/* ---- groups and matrices ---------------------------------------------- */

/* Open `group`, creating it and its parents if absent (writable files). */
static hid_t group_open_create(ct_file *f, const char *group)
{
    if (ct_file_has_group(f, group)) {
        return H5Gopen2(f->fid, group, H5P_DEFAULT);
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(f->fid, group, lcpl, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    H5Pclose(lcpl);
    return g;
}

ct_status ct_file_make_group(ct_file *f, const char *path, ct_error *err)
{
    if (!f->writable) {
        return ct_fail_at(err, CT_EINVAL, f->path, 0, 0, "file is open read-only");
    }
    hid_t g = group_open_create(f, path);
    if (g < 0) {
        h5_poison(f);
        return ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot create group %s: %s", path, f->why);
    }
    H5Gclose(g);
    return CT_OK;
}

ct_status ct_file_link_external(ct_file *f, const char *path, const char *target_file,
                                const char *target_path, ct_error *err)
{
    char abs[PATH_MAX];
    if (!f->writable) {
        return ct_fail_at(err, CT_EINVAL, f->path, 0, 0, "file is open read-only");
    }
    if (realpath(target_file, abs) == NULL) {
        return ct_fail_at(err, CT_ENOENT, target_file, 0, 0, "cannot resolve path: %s",
                          strerror(errno));
    }
    if (H5Lcreate_external(abs, target_path, f->fid, path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
        h5_poison(f);
        return ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot link %s to %s:%s: %s", path, abs,
                          target_path, f->why);
    }
    return CT_OK;
}

typedef struct glist {
    char (*names)[64];
    size_t cap, n;
} glist;

static herr_t glist_cb(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    glist *l = op;
    H5O_info_t oi;
    (void)info;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP) {
        if (l->n < l->cap) {
            snprintf(l->names[l->n], 64, "%s", name);
        }
        l->n++;
    }
    return 0;
}

ct_status ct_file_list_groups(const ct_file *f, const char *path, char names[][64], size_t cap,
                              size_t *n, ct_error *err)
{
    glist l = {names, cap, 0};
    hsize_t idx = 0;
    *n = 0;
    if (!ct_file_has_group(f, path)) {
        return ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "no group %s in this file", path);
    }
    hid_t g = H5Gopen2(f->fid, path, H5P_DEFAULT);
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, glist_cb, &l);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    if (rc < 0) {
        return ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "cannot list %s", path);
    }
    *n = l.n;
    return CT_OK;
}

ct_status ct_file_write_matrix(ct_file *f, const char *path, const double *data, size_t nrows,
                               size_t ncols, ct_error *err)
{
    hsize_t dims[2] = {nrows, ncols};
    if (!f->writable) {
        return ct_fail_at(err, CT_EINVAL, f->path, 0, 0, "file is open read-only");
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f->fid, path, H5T_IEEE_F64LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ct_status s = CT_OK;
    /* a parallel file: the same matrix on every rank, written by rank 0 */
    hid_t fsp = H5Scopy(sp), xfer = xfer_plist(f);
    if (!is_root(f)) {
        H5Sselect_none(fsp);
    }
    if (d < 0 ||
        (nrows * ncols > 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, fsp, fsp, xfer, data) < 0)) {
        h5_poison(f);
        s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
    }
    H5Sclose(fsp);
    if (xfer != H5P_DEFAULT) {
        H5Pclose(xfer);
    }
    s = agree(f, s, err);
    if (d >= 0 && close_dataset(f, d) < 0 && s == CT_OK) {
        s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
    }
    H5Sclose(sp);
    H5Pclose(lcpl);
    return s;
}

ct_status ct_file_read_matrix(const ct_file *f, const char *path, double **data, size_t *nrows,
                              size_t *ncols, ct_error *err)
{
    *data = NULL;
    if (!ct_file_has_dataset(f, path)) {
        return ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "dataset %s missing", path);
    }
    hid_t d = H5Dopen2(f->fid, path, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(sp);
    ct_status s = CT_OK;
    if (rank < 1 || rank > 2) {
        s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0, "dataset %s is not 1-D or 2-D", path);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        size_t cnt = (size_t)dims[0] * (size_t)dims[1];
        *data = malloc((cnt > 0 ? cnt : 1) * sizeof(double));
        if (*data == NULL) {
            s = ct_fail(err, CT_ENOMEM, "out of memory reading %s", path);
        } else if (cnt > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                      *data) < 0) {
            s = h5fail(err, CT_EFORMAT, f->path, "cannot read matrix");
            free(*data);
            *data = NULL;
        } else {
            *nrows = (size_t)dims[0];
            *ncols = (size_t)dims[1];
        }
    }
    H5Sclose(sp);
    H5Dclose(d);
    return s;
}

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
        return h5fail(err, CT_EFORMAT, f->path, "cannot walk file");
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
        hid_t mt = vl ? vlen_str_type() : fixed_str_type(w);
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
        return h5fail(err, CT_EFORMAT, f->path, "cannot open object");
    }
    herr_t rc = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &c);
    H5Oclose(o);
    if (rc < 0) {
        return h5fail(err, CT_EFORMAT, f->path, "cannot list attributes");
    }
    return CT_OK;
}

/* ---- table writer ------------------------------------------------------- */

typedef struct tw_col {
    char *name;
    ct_dtype type;
    size_t width;
    hid_t did, mtype; /* mtype owned only for strings */
    size_t n;
} tw_col;

struct ct_tw {
    ct_file *f;
    char *group;
    char *index;
    hid_t gid;
    size_t ncols;
    tw_col *col;
};

/* Close everything w holds; -1 if a dataset could not be written out. */
static int tw_release(ct_tw *w)
{
    int rc = 0;
    for (size_t j = 0; j < w->ncols; j++) {
        if (w->col[j].did > 0 && close_dataset(w->f, w->col[j].did) < 0) {
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
    w->group = dupstr(group);
    w->index = index_col != NULL ? dupstr(index_col) : NULL;
    w->gid = group_open_create(f, group);
    if (w->gid < 0 || w->group == NULL) {
        ct_tw_abort(w);
        return h5fail(err, CT_EIO, f->path, "cannot create table group");
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
        c->name = dupstr(cols[j].name);
        c->type = cols[j].type;
        c->width = cols[j].width;
        if (c->type == CT_STRING) {
            c->mtype = fixed_str_type(c->width);
            ft = c->mtype;
        } else {
            c->mtype = native_type(c->type);
            ft = file_type(c->type);
        }
        c->did = H5Dcreate2(w->gid, c->name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (c->name == NULL || c->did < 0) {
            s = h5fail(err, CT_EIO, f->path, "cannot create column dataset");
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
    hsize_t start = c->n + before, count = nrows, newsize = c->n + total;
    if (H5Dset_extent(c->did, &newsize) < 0) {
        h5_poison(w->f);
        s = ct_fail_at(err, CT_EIO, w->f->path, 0, 0, "cannot write output: %s", w->f->why);
    }
    s = agree(w->f, s, err);
    if (s != CT_OK) {
        return s;
    }
    hid_t fsp = H5Dget_space(c->did);
    hid_t msp = H5Screate_simple(1, &count, NULL);
    hid_t xfer = xfer_plist(w->f);
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
        h5_poison(w->f);
        s = ct_fail_at(err, CT_EIO, w->f->path, 0, 0, "cannot write output: %s", w->f->why);
    }
    s = agree(w->f, s, err);
    if (s == CT_OK) {
        c->n += total;
    }
    return s;
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
    s = attr_set_strv(w->f, w->group, "column-order", order, norder, err);
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
    return is_root(f) ? n : 0;
}

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
        h5fail(err, CT_EFORMAT, t->f->path, "cannot open column");
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
    c.name = dupstr(name);
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
            return -1;
        }
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n] = dupstr(name);
    return l->v[l->n++] != NULL ? 0 : -1;
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
        hid_t mt = vl ? vlen_str_type() : fixed_str_type(w);
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
    if (t == NULL || (t->group = dupstr(group)) == NULL) {
        free(t);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    t->f = f;
    t->gid = H5Gopen2(f->fid, group, H5P_DEFAULT);
    if (t->gid < 0) {
        s = h5fail(err, CT_EFORMAT, f->path, "cannot open table group");
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
            s = ct_fail_at(err, CT_EFORMAT, f->path, 0, 0,
                           "table %s: attribute column-order is not a list of names", group);
        }
    } else {
        hsize_t idx = 0;
        if (H5Literate(t->gid, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &names) < 0) {
            s = h5fail(err, CT_EFORMAT, f->path, "cannot list table columns");
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
        return h5fail(err, CT_EIO, t->f->path, "cannot read column");
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
    return read_sel(t, j, row0, n, native_type(as), buf, err);
}

ct_status ct_table_read_f64(const ct_table *t, const char *name, double **out, ct_error *err)
{
    long j = ct_table_find(t, name);
    *out = NULL;
    if (j < 0) {
        return ct_fail_at(err, CT_EFORMAT, t->f->path, 0, 0, "table %s has no column '%s'",
                          t->group, name);
    }
    double *v = malloc((t->nrows > 0 ? t->nrows : 1) * sizeof *v);
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
    hid_t mt = vlen_str_type();
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
        hid_t mt = fixed_str_type(width);
        s = read_sel(t, j, row0, n, mt, buf, err);
        H5Tclose(mt);
        return s;
    }
    /* HDF5 1.10 does not convert vlen -> fixed: read pointers and copy. */
    char **v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    hid_t mt = vlen_str_type();
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
