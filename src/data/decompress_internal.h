/* decompress_internal.h - compressed input logs (not installed). */
#ifndef CLVTIER_DECOMPRESS_INTERNAL_H
#define CLVTIER_DECOMPRESS_INTERNAL_H

#include <stddef.h>

#include "clvtier/status.h"

/* Open the log at path read-only.  A plain file: its own descriptor in
 * *fd, *ds = NULL.  A gzip, xz or zstd file (by its magic bytes): a thread
 * starts decompressing it into an unlinked temporary file (in $TMPDIR or
 * /tmp) whose descriptor comes back in *fd, and *ds follows its progress.
 * *compression: 0 none, 1 gzip, 2 xz, 3 zstd.  The caller closes *fd after
 * ct_dstream_end. */
typedef struct ct_dstream ct_dstream;
ct_status ct_decompress_start(const char *path, int *fd, int *compression, ct_dstream **ds,
                              ct_error *err);
/* The bytes decompressed so far, once more than `have` are or the stream has
 * ended (*done = 1: then all of them). */
size_t ct_dstream_wait(ct_dstream *ds, size_t have, int *done);
/* The compressed file's size. */
size_t ct_dstream_input_size(const ct_dstream *ds);
/* Stop the thread if it still runs, wait for it, free ds (NULL: nothing).
 * Its status when it had finished: corrupt or truncated data is CT_EDATA
 * naming the file, a failed write CT_EIO; CT_OK when it was stopped. */
ct_status ct_dstream_end(ct_dstream *ds, ct_error *err);
const char *ct_compression_name(int compression);

#endif
