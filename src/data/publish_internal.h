/* publish_internal.h - the two ends of atomic output, shared by the HDF5
 * store and text outputs (not installed): a temp file NAME.tmp-PID created
 * exclusively next to NAME, and its publication by rename + fsync of the
 * directory. */
#ifndef CLVTIER_PUBLISH_INTERNAL_H
#define CLVTIER_PUBLISH_INTERNAL_H

#include "clvtier/status.h"

/* Create NAME.tmp-PID (O_EXCL): *tmp is malloc'ed, *fd open for writing.
 * CT_ECREATE naming `path` and errno's reason, or CT_ENOMEM. */
ct_status ct_tmp_create(const char *path, char **tmp, int *fd, ct_error *err);

/* Rename tmp onto path, then fsync the directory (best effort: the rename is
 * already durable on most file systems). */
ct_status ct_publish(const char *tmp, const char *path, ct_error *err);

#endif
