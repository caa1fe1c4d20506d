/* mem_internal.h - allocation helpers (not installed). */
#ifndef CLVTIER_MEM_INTERNAL_H
#define CLVTIER_MEM_INTERNAL_H

#include <stddef.h>

/* Zeroed memory for large randomly-probed tables (hash slots): blocks of
 * 4 MiB and more are 2 MiB aligned and asked for transparent huge pages,
 * since random probes would otherwise miss the TLB on nearly every access.
 * Free with free(). NULL when out of memory. */
void *ct_calloc_table(size_t n, size_t size);

#endif
