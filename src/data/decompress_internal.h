/* decompress_internal.h - compressed input logs (not installed). */
#ifndef CLVTIER_DECOMPRESS_INTERNAL_H
#define CLVTIER_DECOMPRESS_INTERNAL_H

#include "clvtier/status.h"

/* Open the log at path read-only.  A gzip, xz or zstd file (by its magic
 * bytes) is decompressed into an unlinked temporary file (in $TMPDIR or
 * /tmp) whose descriptor comes back; otherwise the file's own descriptor.
 * *compression: 0 none, 1 gzip, 2 xz, 3 zstd.  Corrupt or truncated data is
 * CT_EDATA naming the file; the caller closes *fd. */
ct_status ct_decompress_open(const char *path, int *fd, int *compression, ct_error *err);
const char *ct_compression_name(int compression);

#endif
