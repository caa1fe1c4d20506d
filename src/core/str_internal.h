/* str_internal.h - small string helpers (not installed). */
#ifndef CLVTIER_STR_INTERNAL_H
#define CLVTIER_STR_INTERNAL_H

#include <stddef.h>

/* Join n strings found every `stride` bytes from `names`, then `last` (may
 * be NULL), separated by sep, into buf (cap bytes; cut at a whole name). */
void ct_join_names(char *buf, size_t cap, const char *names, size_t stride, size_t n,
                   const char *last, char sep);

#endif
