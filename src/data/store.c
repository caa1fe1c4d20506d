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
#include "data/store_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


const char *ct_version(void)
{
    return CT_VERSION;
}


/* ---- helpers ------------------------------------------------------------ */

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

static void h5_discard(ct_file *f)
{
    h5s_poison(f);
    H5Fclose(f->fid);
    H5Eclear2(H5E_DEFAULT);
}

/* ---- opening and committing ------------------------------------------- */

int ct_file_is_hdf5(const char *path)
{
    h5_init();
    htri_t is = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    return is > 0;
}

/* Whether another process holds an exclusive lock on path (HDF5 takes one
 * while it has a file open for writing). */
static int locked_by_writer(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    int locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return locked;
}

ct_status ct_file_open(ct_file **out, const char *path, ct_error *err)
{
    struct stat st;
    ct_file *f;

    *out = NULL;
    h5_init();
    const char *src = ct_publish_pending(path); /* an output of this run, held */
    if (src == NULL) {
        src = path;
    }
    if (stat(src, &st) != 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "is a directory, not an HDF5 file");
    }
    if (access(src, R_OK) != 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot read: %s", strerror(errno));
    }
    htri_t is = H5Fis_hdf5(src);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ct_fail_at(err, CT_EFORMAT, path, 0, 0,
                          "not an HDF5 file (no HDF5 signature; %lld bytes)", (long long)st.st_size);
    }
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = h5s_dupstr(path)) == NULL) {
        free(f);
        return ct_fail(err, CT_ENOMEM, "out of memory opening %s", path);
    }
    f->fid = H5Fopen(src, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->fid < 0) {
        ct_status s = locked_by_writer(src)
                          ? ct_fail_at(err, CT_EIO, path, 0, 0,
                                       "is locked: another process has it open for writing "
                                       "(try again when that one has finished)")
                          : h5s_fail(err, CT_EFORMAT, path,
                                     "cannot open HDF5 file (truncated or damaged?)");
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
ct_status h5s_agree(const ct_file *f, ct_status s, ct_error *err)
{
    return f->comm != NULL ? ct_comm_agree(f->comm, s, err) : s;
}

int h5s_is_root(const ct_file *f)
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
hid_t h5s_xfer_plist(const ct_file *f)
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
    ct_status st = f != NULL && h != NULL && (f->path = h5s_dupstr(path)) != NULL
                       ? CT_OK
                       : ct_fail(err, CT_ENOMEM, "out of memory creating %s", path);
    if (f != NULL) {
        f->comm = comm;
    }
    if (st == CT_OK && h5s_is_root(f)) {
        char *tmp = NULL;
        st = ct_tmp_create(path, &tmp, &fd, err);
        if (st == CT_OK) {
            close(fd);
            if (strlen(tmp) < sizeof h->tmp) {
                memcpy(h->tmp, tmp, strlen(tmp) + 1);
            } else {
                ct_tmp_remove(tmp);
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
    if (st == CT_OK && (f->tmp = h5s_dupstr(h->tmp)) == NULL) {
        st = ct_fail(err, CT_ENOMEM, "out of memory creating %s", path);
    }
    st = comm != NULL ? ct_comm_agree(comm, st, err) : st;
    if (st != CT_OK) {
        if (f != NULL && h5s_is_root(f) && h != NULL && h->tmp[0] != '\0') {
            ct_tmp_remove(h->tmp);
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
    ct_status s = f->fid >= 0 ? CT_OK : h5s_fail(err, CT_ECREATE, path, "cannot create HDF5 output");
    s = h5s_agree(f, s, err);
    if (s != CT_OK) {
        if (f->fid >= 0) {
            H5Fclose(f->fid);
        }
        if (h5s_is_root(f)) {
            ct_tmp_remove(f->tmp);
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

void ct_file_writeback(ct_file *f)
{
    void *handle = NULL;
    if (f == NULL || !f->writable || f->comm != NULL || f->poisoned ||
        H5Fflush(f->fid, H5F_SCOPE_LOCAL) < 0 ||
        H5Fget_vfd_handle(f->fid, H5P_DEFAULT, &handle) < 0 || handle == NULL) {
        H5Eclear2(H5E_DEFAULT);
        return; /* a flush that fails poisons nothing here: the commit retries it */
    }
    (void)sync_file_range(*(int *)handle, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* Flush, close, fsync and rename a serial file (on failure the caller
 * closes and removes the temp file). */
static ct_status commit_serial(ct_file *f, ct_error *err)
{
    /* Fill time "never" leaves unwritten chunks unallocated, so the file is
     * small until the flush below: that is where disk-full shows up. */
    if (H5Fflush(f->fid, H5F_SCOPE_GLOBAL) < 0) {
        h5s_poison(f);
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
        return h5s_fail(err, CT_EIO, f->path, "cannot write output");
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
        s = h5s_fail(err, CT_EIO, f->path, "cannot write output");
    }
    s = h5s_agree(f, s, err);
    if (s != CT_OK) {
        return s;
    }
    s = H5Fclose(f->fid) >= 0 ? CT_OK : h5s_fail(err, CT_EIO, f->path, "cannot write output");
    f->fid = H5I_INVALID_HID;
    s = h5s_agree(f, s, err);
    if (s == CT_OK && h5s_is_root(f)) {
        if (fsync_file(f->tmp) != 0) {
            s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot fsync output: %s",
                           strerror(errno));
        } else {
            s = ct_publish(f->tmp, f->path, err);
        }
    }
    return h5s_agree(f, s, err);
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
    s = h5s_agree(f, s, err);
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
    if (f->writable && f->tmp != NULL && h5s_is_root(f)) {
        ct_tmp_remove(f->tmp);
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

/* ---- groups and matrices ---------------------------------------------- */

/* Open `group`, creating it and its parents if absent (writable files). */
hid_t h5s_group_open_create(ct_file *f, const char *group)
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
    hid_t g = h5s_group_open_create(f, path);
    if (g < 0) {
        h5s_poison(f);
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
        h5s_poison(f);
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
    hid_t fsp = H5Scopy(sp), xfer = h5s_xfer_plist(f);
    if (!h5s_is_root(f)) {
        H5Sselect_none(fsp);
    }
    if (d < 0 ||
        (nrows * ncols > 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, fsp, fsp, xfer, data) < 0)) {
        h5s_poison(f);
        s = ct_fail_at(err, CT_EIO, f->path, 0, 0, "cannot write output: %s", f->why);
    }
    H5Sclose(fsp);
    if (xfer != H5P_DEFAULT) {
        H5Pclose(xfer);
    }
    s = h5s_agree(f, s, err);
    if (d >= 0 && h5s_close_dataset(f, d) < 0 && s == CT_OK) {
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
            s = h5s_fail(err, CT_EFORMAT, f->path, "cannot read matrix");
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

