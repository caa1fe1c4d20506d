/* publish_internal.h - the two ends of atomic output, shared by the HDF5
 * store and text outputs (not installed): a unique temp file next to NAME,
 * and its publication by rename + fsync of the directory (or, while
 * outputs are held, at ct_outputs_release).  publish.c. */
#ifndef CLVTIER_PUBLISH_INTERNAL_H
#define CLVTIER_PUBLISH_INTERNAL_H

#include "clvtier/publish.h"
#include "clvtier/status.h"

/* Create NAME.tmp-PID-XXXXXX (mkstemp; mode 0666 less the umask), registered
 * for ct_tmp_cleanup: *tmp is malloc'ed, *fd open for writing.  CT_ECREATE
 * naming `path` and errno's reason, or CT_ENOMEM. */
ct_status ct_tmp_create(const char *path, char **tmp, int *fd, ct_error *err);

/* Remove the temp files next to path (path.tmp-PID..., path.ingest-PID...)
 * left by processes that no longer run (killed with SIGKILL, a crash). */
void ct_tmp_sweep(const char *path);

/* Remove a temp file and forget it. */
void ct_tmp_remove(const char *tmp);

/* Count an intermediate file (a run's ingested CSV) among the temp files
 * ct_tmp_cleanup removes; ct_tmp_remove removes it at the end. */
void ct_tmp_track(const char *path);

/* Rename tmp onto path, then fsync the directory (best effort: the rename is
 * already durable on most file systems); while outputs are held, remember
 * it for ct_outputs_release instead. */
ct_status ct_publish(const char *tmp, const char *path, ct_error *err);

/* The temp file held for path, or NULL. */
const char *ct_publish_pending(const char *path);

/* Remove path, or the temp file held for it (an intermediate file). */
void ct_publish_remove(const char *path);

#endif
