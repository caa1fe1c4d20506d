/* store_h5.h - what the store's files share (not installed): the file
 * handle and the HDF5 helpers of store.c.  store.c opens, creates and
 * commits files and writes groups and matrices; store_attr.c reads and
 * writes attributes; store_walk.c walks a file; store_write.c and
 * store_read.c are the table writer and reader. */
#ifndef CLVTIER_STORE_H5_H
#define CLVTIER_STORE_H5_H

#include <hdf5.h>

#include "clvtier/comm.h"
#include "clvtier/store.h"

/* clvtier-mpi linked against parallel HDF5: files written by every rank at
 * once (ct_create_opts.comm). */
#if defined(CT_MPI) && defined(H5_HAVE_PARALLEL)
#include <mpi.h>
#define CT_PAR_HDF5 1
#endif

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
    size_t unflushed; /* bytes written since the last h5s_writeback kick */
};

char *h5s_dupstr(const char *s);
ct_status h5s_fail(ct_error *err, ct_status s, const char *file, const char *what);
hid_t h5s_fixed_str_type(size_t width);
hid_t h5s_vlen_str_type(void);
hid_t h5s_native_type(ct_dtype t);
hid_t h5s_file_type(ct_dtype t);
void h5s_poison(ct_file *f);
void h5s_writeback(ct_file *f, size_t bytes);
herr_t h5s_close_dataset(ct_file *f, hid_t did);
ct_status h5s_agree(const ct_file *f, ct_status s, ct_error *err);
int h5s_is_root(const ct_file *f);
hid_t h5s_xfer_plist(const ct_file *f);
ct_status h5s_attr_set_strv(ct_file *f, const char *obj, const char *name,
                            const char *const *vals, size_t n, ct_error *err);
hid_t h5s_group_open_create(ct_file *f, const char *group);

#endif
