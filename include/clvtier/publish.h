/* publish.h - the rules every command's outputs follow: checked before
 * anything runs (every input readable, no output an input or another
 * output, every output's directory writable), written to unique temp files
 * next to them (removed on SIGTERM/SIGINT by ct_tmp_cleanup), and published
 * by rename - one run's outputs all together at its end. */
#ifndef CLVTIER_PUBLISH_H
#define CLVTIER_PUBLISH_H

#include <stddef.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs (NULL entries skipped) readable; outputs (NULL skipped) neither an
 * input nor another output (same path, or same device and inode, or the same
 * resolved path), their directories existing and writable.  CT_ENOENT,
 * CT_EINVAL or CT_ECREATE naming the file at fault. */
ct_status ct_paths_check(const char *const *in, size_t nin, const char *const *out, size_t nout,
                         ct_error *err);

/* Whether a and b name the same file: 1 or 0; -1 when it cannot tell (out
 * of memory resolving a path that does not exist yet). */
int ct_same_file(const char *a, const char *b);

/* From now on, the outputs paths[0..n) (NULL entries skipped; the array
 * must live until ct_outputs_release) are written and closed but not
 * renamed into place; reading one of them (ct_file_open) reads its temp
 * file.  Other files (intermediate ones) are published as usual. */
void ct_outputs_hold(const char *const *paths, size_t n);

/* s == CT_OK: rename every held output into place, in the order written;
 * else (or when a rename fails) remove every held temp file.  Stops holding;
 * returns the status. */
ct_status ct_outputs_release(ct_status s, ct_error *err);

/* Remove every temp file this process has open (async-signal-safe: for a
 * SIGTERM/SIGINT handler, which then re-raises the signal). */
void ct_tmp_cleanup(void);

#ifdef __cplusplus
}
#endif
#endif
