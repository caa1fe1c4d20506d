/* store_internal.h - MPI plumbing of the store for the data layer's own
 * writers (not installed). */
#ifndef CLVTIER_STORE_INTERNAL_H
#define CLVTIER_STORE_INTERNAL_H

#include "clvtier/store.h"

/* The rows this process appends of a small table that every rank holds
 * whole: n on a serial file and on rank 0 of a parallel one, else 0. */
size_t ct_file_own_rows(const ct_file *f, size_t n);

#endif
