/* store.h - HDF5 column store: one chunked 1-D dataset per column.
 *
 * Files written here follow ../shared/DESIGN.md: group attributes
 * `column-order`, `encoding-type=dataframe`, `_index`; root attributes
 * `clvtier_version`, `created`, `command`, and `complete=1` written last.
 * Output is atomic: ct_file_create writes NAME.tmp-PID next to NAME, and
 * ct_file_commit closes, fsyncs, renames and fsyncs the directory; any other
 * end (ct_file_close on a writable file, a crash) leaves NAME untouched.
 *
 * Reading accepts clvtier files (refused unless complete=1) and groups of
 * equal-length 1-D datasets written by other tools (h5py, pandas, anndata).
 * The HDF5 library is not thread-safe here: call the store from one thread. */
#ifndef CLVTIER_STORE_H
#define CLVTIER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_dtype {
    CT_INT8,
    CT_INT32,
    CT_INT64,
    CT_FLOAT32,
    CT_FLOAT64,
    CT_STRING /* fixed-length (or, on read, variable-length) UTF-8 */
} ct_dtype;

/* Default rows per chunk (DESIGN.md: 256 Ki). */
#define CT_CHUNK_ROWS ((size_t)262144)

const char *ct_dtype_name(ct_dtype t);
size_t ct_dtype_size(ct_dtype t); /* bytes per element; 0 for CT_STRING */

typedef struct ct_file ct_file;

struct ct_comm;

typedef struct ct_create_opts {
    int deflate;         /* 0 = uncompressed (default); 1..9 = shuffle + deflate level */
    const char *command; /* command line recorded in the root attribute, may be NULL */
    /* clvtier-mpi: every rank of comm writes this one file together through
     * parallel HDF5 (MPI-IO), collectively.  NULL (or one rank): this
     * process alone.  Parallel rules: every rank makes the same calls, in
     * the same order, with the same arguments (groups, datasets,
     * attributes, commit, close), except that ct_tw_append takes each
     * rank's own rows, which go into the column in rank order; small data
     * (attributes, matrices) must be equal on every rank.  Data writes are
     * collective MPI-IO, which is what lets HDF5 compress (deflate) in
     * parallel.  A failure on one rank is returned by the same call on
     * every rank.  Rank 0 makes the temp file and renames it once every
     * rank has closed it. */
    struct ct_comm *comm;
} ct_create_opts;

/* Open an existing file read-only.  Fails with CT_ENOENT (missing/unreadable),
 * CT_EFORMAT (not HDF5, truncated, or a clvtier file without complete=1). */
ct_status ct_file_open(ct_file **out, const char *path, ct_error *err);

/* 1 if `path` is an HDF5 file (HDF5's own test: the signature may follow a
 * user block), else 0. */
int ct_file_is_hdf5(const char *path);

/* Start writing `path` (through a temp file in the same directory). opts may
 * be NULL.  Fails with CT_ECREATE. */
ct_status ct_file_create(ct_file **out, const char *path, const ct_create_opts *opts,
                         ct_error *err);

/* A hint that most of a writable (serial) file is written: its data starts
 * going to disk now (sync_file_range), so that the commit's fsync has less
 * left to wait for.  Nothing is published; errors show at the commit. */
void ct_file_writeback(ct_file *f);

/* Finish a writable file: complete=1, close, fsync, rename, fsync directory.
 * Frees f whatever the outcome; on failure the temp file is removed. */
ct_status ct_file_commit(ct_file *f, ct_error *err);

/* Close a file opened for reading, or abandon a writable one (its temp file is
 * removed, the destination untouched).  NULL is a no-op. */
void ct_file_close(ct_file *f);

const char *ct_file_path(const ct_file *f);
/* 1 if the file was written by clvtier (has root attribute clvtier_version). */
int ct_file_is_clvtier(const ct_file *f);
/* 1 if `path` names an existing group / dataset. */
int ct_file_has_group(const ct_file *f, const char *path);
int ct_file_has_dataset(const ct_file *f, const char *path);

/* Create group `path` (and its parents) if it does not exist. */
ct_status ct_file_make_group(ct_file *f, const char *path, ct_error *err);
/* An external link at `path` to `target_path` in the file `target_file`
 * (stored as its absolute path), so a stage that extends a result refers to
 * the input's large tables instead of copying them; readers follow it
 * transparently (read-only). */
ct_status ct_file_link_external(ct_file *f, const char *path, const char *target_file,
                                const char *target_path, ct_error *err);
/* Names of the direct sub-groups of `path`, written into names[0..cap) (each
 * cut to 63 bytes); *n receives how many there are. */
ct_status ct_file_list_groups(const ct_file *f, const char *path, char names[][64], size_t cap,
                              size_t *n, ct_error *err);

/* Attributes on the object at `obj` ("/" for the root); set replaces. */
ct_status ct_attr_set_str(ct_file *f, const char *obj, const char *name, const char *value,
                          ct_error *err);
ct_status ct_attr_set_f64(ct_file *f, const char *obj, const char *name, double value,
                          ct_error *err);
ct_status ct_attr_set_i64(ct_file *f, const char *obj, const char *name, int64_t value,
                          ct_error *err);
ct_status ct_attr_set_f64v(ct_file *f, const char *obj, const char *name, const double *v,
                           size_t n, ct_error *err);
/* Get: CT_EFORMAT when missing or of the wrong kind. get_str copies at most
 * cap-1 bytes plus NUL. */
ct_status ct_attr_get_f64(const ct_file *f, const char *obj, const char *name, double *value,
                          ct_error *err);
ct_status ct_attr_get_i64(const ct_file *f, const char *obj, const char *name, int64_t *value,
                          ct_error *err);
ct_status ct_attr_get_str(const ct_file *f, const char *obj, const char *name, char *buf,
                          size_t cap, ct_error *err);
ct_status ct_attr_get_f64v(const ct_file *f, const char *obj, const char *name, double *v,
                           size_t cap, size_t *n, ct_error *err);
int ct_attr_exists(const ct_file *f, const char *obj, const char *name);

/* Write a small row-major 2-D f64 dataset (e.g. centroids) at `path`. */
ct_status ct_file_write_matrix(ct_file *f, const char *path, const double *data, size_t nrows,
                               size_t ncols, ct_error *err);
/* Read it back; *data is malloc'ed (caller frees). */
ct_status ct_file_read_matrix(const ct_file *f, const char *path, double **data, size_t *nrows,
                              size_t *ncols, ct_error *err);

/* ---- walking a file (for `clvtier inspect`) ---------------------------- */
typedef enum ct_node_kind { CT_NODE_GROUP, CT_NODE_DATASET } ct_node_kind;

typedef struct ct_node_info {
    const char *path;
    ct_node_kind kind;
    int rank;          /* datasets: number of dimensions */
    uint64_t dims[4];  /* datasets: first dimensions */
    const char *dtype; /* datasets: "int32", "float64", "string[16]", "vlen-string", ... */
    int compressed;    /* datasets: 1 if a deflate filter is set */
} ct_node_info;

typedef struct ct_attr_info {
    const char *obj;   /* object path */
    const char *name;
    const char *value; /* rendered as text (arrays as [a, b, ...], long ones cut) */
} ct_attr_info;

typedef int (*ct_node_fn)(void *ctx, const ct_node_info *node);
typedef int (*ct_attr_fn)(void *ctx, const ct_attr_info *attr);

/* Visit every group and dataset (depth first, by name); a non-zero return
 * from fn stops the walk. */
ct_status ct_file_walk(const ct_file *f, ct_node_fn fn, void *ctx, ct_error *err);
/* Visit the attributes of one object. */
ct_status ct_file_attrs(const ct_file *f, const char *obj, ct_attr_fn fn, void *ctx,
                        ct_error *err);

/* ---- writing a table --------------------------------------------------- */
typedef struct ct_colspec {
    const char *name;
    ct_dtype type;
    size_t width; /* CT_STRING: bytes per value in the buffers given to append */
} ct_colspec;

typedef struct ct_tw ct_tw;

/* Create table `group` (intermediate groups created) with the given columns.
 * nrows_hint sizes the chunks (0 = unknown, use CT_CHUNK_ROWS).  index_col
 * names the column recorded as `_index` (may be NULL). */
ct_status ct_tw_create(ct_tw **out, ct_file *f, const char *group, const ct_colspec *cols,
                       size_t ncols, size_t nrows_hint, const char *index_col, ct_error *err);
/* Append nrows values to column j (data in the column's type; strings as
 * nrows x width bytes, NUL-padded).  Columns are appended independently.
 * A parallel file: collective; each rank passes its own rows (0 is fine),
 * appended in rank order. */
ct_status ct_tw_append(ct_tw *w, size_t j, const void *data, size_t nrows, ct_error *err);
/* Every rank's nrows together (a parallel file; else nrows): the hint
 * ct_tw_create needs, the same on every rank. */
ct_status ct_file_total_rows(const ct_file *f, size_t nrows, size_t *total, ct_error *err);
/* Column j (CT_FLOAT32) takes doubles in ct_tw_append from now on and
 * stores them as floats: round < 0 toward -inf, > 0 toward +inf (the stored
 * value never above, or never below, the double), 0 to nearest. */
ct_status ct_tw_from_double(ct_tw *w, size_t j, int round, ct_error *err);
/* Check that every column has the same length, write the group attributes,
 * and free w (also on failure). */
ct_status ct_tw_close(ct_tw *w, ct_error *err);
/* Free w without finishing (the file should then be abandoned). NULL is a no-op. */
void ct_tw_abort(ct_tw *w);
/* A whole table at once: create it, append data[j] (nrows values of column
 * j) for every column, close.  On failure nothing is left half-open.  A
 * parallel file: each rank's nrows rows, in rank order. */
ct_status ct_tw_write_table(ct_file *f, const char *group, const ct_colspec *cols, size_t ncols,
                            const void *const *data, size_t nrows, const char *index_col,
                            ct_error *err);


/* ---- reading a table --------------------------------------------------- */
typedef struct ct_table ct_table;

/* Open group `group` as a table: clvtier/anndata groups use their column
 * order; other groups take their 1-D datasets by name.  Columns of unequal
 * length are an error (CT_EDIM).  Sub-groups and n-D datasets are skipped. */
ct_status ct_table_open(ct_table **out, const ct_file *f, const char *group, ct_error *err);
void ct_table_close(ct_table *t);

size_t ct_table_nrows(const ct_table *t);
size_t ct_table_ncols(const ct_table *t);
const char *ct_table_colname(const ct_table *t, size_t j);
ct_dtype ct_table_coltype(const ct_table *t, size_t j);
/* Column index of `name`, or -1. */
long ct_table_find(const ct_table *t, const char *name);
/* Rows per chunk of column j (for chunk-aligned streaming). */
size_t ct_table_chunk(const ct_table *t, size_t j);

/* Read rows [row0, row0+n) of column j converted to numeric type `as`
 * (HDF5 converts; strings refused with CT_EFORMAT). */
ct_status ct_table_read(const ct_table *t, size_t j, size_t row0, size_t n, ct_dtype as,
                        void *buf, ct_error *err);
/* Whole column j as f64 (malloc'ed, caller frees). */
ct_status ct_table_read_f64(const ct_table *t, const char *name, double **out, ct_error *err);

/* Strings: byte width needed to hold the longest value (scans variable-length
 * columns), then rows read into n x width bytes, NUL-padded. */
ct_status ct_table_strwidth(const ct_table *t, size_t j, size_t *width, ct_error *err);
ct_status ct_table_read_str(const ct_table *t, size_t j, size_t row0, size_t n, char *buf,
                            size_t width, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
