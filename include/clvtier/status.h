/* status.h - status codes and the caller-owned error record.
 *
 * Every fallible library call returns a ct_status and, on failure, fills the
 * ct_error passed as its last argument (which may be NULL).  The message is a
 * complete sentence that names the file, row, column and value at fault when
 * the failure is tied to input data; the same facts are also kept in fields. */
#ifndef CLVTIER_STATUS_H
#define CLVTIER_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Append only: numeric values are part of the ABI. */
typedef enum ct_status {
    CT_OK = 0,
    CT_EINVAL,     /* invalid argument or option from the caller */
    CT_ENOMEM,     /* out of memory */
    CT_ENOENT,     /* input file missing or unreadable */
    CT_EIO,        /* read/write error (disk full, file too large, ...) */
    CT_ECREATE,    /* output cannot be created */
    CT_EPARSE,     /* input text cannot be parsed */
    CT_EDATA,      /* input parsed but its values are invalid */
    CT_EFORMAT,    /* not a readable (or not a complete) clvtier/HDF5 file */
    CT_EDIM,       /* inconsistent sizes */
    CT_ENOCONV,    /* an iterative method did not converge */
    CT_ENUM,       /* numerical failure (overflow, singular matrix, ...) */
    CT_ECONFIG,    /* invalid configuration (model file) */
    CT_EPROTECTED, /* a protected attribute was requested as a feature */
    CT_EINTERNAL   /* broken invariant: a bug in clvtier */
} ct_status;

typedef struct ct_error {
    ct_status status;
    char msg[1024]; /* complete message, e.g. "tx.csv:17:3: cannot parse date '1997-13-01'" */
    char file[512]; /* file at fault, "" if none */
    uint64_t row;   /* 1-based line or row at fault, 0 if none */
    unsigned col;   /* 1-based column at fault, 0 if none */
} ct_error;

/* Short description of a status code; never NULL. */
const char *ct_strerror(ct_status s);

/* Reset an error record to "no error". err may be NULL. */
void ct_error_clear(ct_error *err);

/* Fill err (if not NULL) and return s.  Use as `return ct_fail(err, CT_EDIM, "k=%zu > n=%zu", k, n);` */
ct_status ct_fail(ct_error *err, ct_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As ct_fail, tied to a place in an input file: the message is prefixed
 * "FILE:ROW:COL: " (ROW/COL left out when 0). */
ct_status ct_fail_at(ct_error *err, ct_status s, const char *file, uint64_t row, unsigned col,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Once-only library initialisation (idempotent, thread-safe): switches
 * GSL's aborting error handler off.  Every entry point that can reach GSL
 * calls it; callers never need to. */
void ct_init(void);

/* The one error idiom of the library.  In a function with a local
 * `ct_status s` and a `done:` label before its cleanup:
 *     CT_TRY(ct_file_open(&f, path, err));
 * runs the call, keeps its status in s, and on failure jumps to done; the
 * cleanup then runs once, whatever failed, and the function returns s. */
#define CT_TRY(call)                                                                           \
    do {                                                                                       \
        s = (call);                                                                            \
        if (s != CT_OK) {                                                                      \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

/* Fail with ct_fail's arguments and jump to done (CT_TRY's cleanup). */
#define CT_FAIL(...)                                                                           \
    do {                                                                                       \
        s = ct_fail(__VA_ARGS__);                                                              \
        goto done;                                                                             \
    } while (0)

/* Return the call's status when it fails (a function with nothing to clean
 * up). */
#define CT_CHECK(call)                                                                         \
    do {                                                                                       \
        ct_status ct_check_s_ = (call);                                                        \
        if (ct_check_s_ != CT_OK) {                                                            \
            return ct_check_s_;                                                                \
        }                                                                                      \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
