/* mem_internal.h - allocation helpers (not installed). */
#ifndef CLVTIER_MEM_INTERNAL_H
#define CLVTIER_MEM_INTERNAL_H

#include <stddef.h>

/* Zeroed memory for large randomly-probed tables (hash slots) and other
 * large zeroed arrays: blocks of 4 MiB and more are 2 MiB aligned and asked
 * for transparent huge pages, since random probes would otherwise miss the
 * TLB on nearly every access (and each 4 KiB page's first touch faults).
 * Free with free(). NULL when out of memory. */
void *ct_calloc_table(size_t n, size_t size);

/* Uninitialised memory for large arrays written once and streamed (4 MiB and
 * more: 2 MiB aligned, transparent huge pages asked for, so the first
 * touch takes one page fault per 2 MiB instead of per 4 KiB: a large share
 * of a fit's time on virtual machines).  Free with free(). NULL when out of
 * memory or n * size overflows. */
void *ct_malloc_big(size_t n, size_t size);

#endif
