/* status.c - status codes and error records (see include/clvtier/status.h). */
#include "clvtier/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ct_strerror(ct_status s)
{
    switch (s) {
    case CT_OK:
        return "success";
    case CT_EINVAL:
        return "invalid argument";
    case CT_ENOMEM:
        return "out of memory";
    case CT_ENOENT:
        return "input missing";
    case CT_EIO:
        return "input/output error";
    case CT_ECREATE:
        return "cannot create output";
    case CT_EPARSE:
        return "cannot parse input";
    case CT_EDATA:
        return "invalid data";
    case CT_EFORMAT:
        return "bad file format";
    case CT_EDIM:
        return "inconsistent dimensions";
    case CT_ENOCONV:
        return "no convergence";
    case CT_ENUM:
        return "numerical failure";
    case CT_ECONFIG:
        return "invalid configuration";
    case CT_EPROTECTED:
        return "protected attribute refused";
    case CT_EINTERNAL:
        return "internal error";
    }
    return "unknown status";
}

void ct_error_clear(ct_error *err)
{
    if (err == NULL) {
        return;
    }
    memset(err, 0, sizeof *err);
}

static void vfill(ct_error *err, ct_status s, const char *file, uint64_t row, unsigned col,
                  const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void vfill(ct_error *err, ct_status s, const char *file, uint64_t row, unsigned col,
                  const char *fmt, va_list ap)
{
    size_t off = 0;

    err->status = s;
    err->row = row;
    err->col = col;
    snprintf(err->file, sizeof err->file, "%s", file != NULL ? file : "");
    err->msg[0] = '\0';
    if (file != NULL && file[0] != '\0') {
        int k;
        if (row > 0 && col > 0) {
            k = snprintf(err->msg, sizeof err->msg, "%s:%llu:%u: ", file, (unsigned long long)row,
                         col);
        } else if (row > 0) {
            k = snprintf(err->msg, sizeof err->msg, "%s:%llu: ", file, (unsigned long long)row);
        } else {
            k = snprintf(err->msg, sizeof err->msg, "%s: ", file);
        }
        if (k > 0) {
            off = (size_t)k < sizeof err->msg ? (size_t)k : sizeof err->msg - 1;
        }
    }
    vsnprintf(err->msg + off, sizeof err->msg - off, fmt, ap);
}

ct_status ct_fail(ct_error *err, ct_status s, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return s;
    }
    va_start(ap, fmt);
    vfill(err, s, NULL, 0, 0, fmt, ap);
    va_end(ap);
    return s;
}

ct_status ct_fail_at(ct_error *err, ct_status s, const char *file, uint64_t row, unsigned col,
                     const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return s;
    }
    va_start(ap, fmt);
    vfill(err, s, file, row, col, fmt, ap);
    va_end(ap);
    return s;
}
