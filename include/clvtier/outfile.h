/* outfile.h - atomic text output: NAME.tmp-PID, then fsync + rename.
 * A crash or an error leaves NAME as it was. */
#ifndef CLVTIER_OUTFILE_H
#define CLVTIER_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_outfile ct_outfile;

/* Open a temp file next to path.  CT_ECREATE when that is impossible. */
ct_status ct_outfile_open(ct_outfile **out, const char *path, ct_error *err);
/* The stream to write to (buffered). */
FILE *ct_outfile_stream(ct_outfile *o);
/* Write n bytes; CT_EIO on failure (disk full, file too large). */
ct_status ct_outfile_write(ct_outfile *o, const void *buf, size_t n, ct_error *err);
/* Flush, fsync, close, rename into place, fsync the directory; frees o. */
ct_status ct_outfile_commit(ct_outfile *o, ct_error *err);
/* Remove the temp file, leave the destination untouched; frees o. NULL ok. */
void ct_outfile_abort(ct_outfile *o);

#ifdef __cplusplus
}
#endif

#endif
