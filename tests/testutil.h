/* testutil.h - helpers for the cmocka unit tests. */
#ifndef CLVTIER_TESTUTIL_H
#define CLVTIER_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clvtier/clvtier.h"

/* ../shared/data (CT_DATA overrides). */
static inline const char *tu_data_dir(void)
{
    const char *d = getenv("CT_DATA");
    return d != NULL && d[0] != '\0' ? d : "../shared/data";
}

/* A fresh per-process scratch directory under $CT_TMP (default build/tmp). */
static inline const char *tu_tmp_dir(void)
{
    static char dir[200];
    if (dir[0] == '\0') {
        const char *base = getenv("CT_TMP");
        if (base == NULL || base[0] == '\0') {
            base = "build/tmp";
        }
        mkdir(base, 0777);
        snprintf(dir, sizeof dir, "%s/t%ld", base, (long)getpid());
        mkdir(dir, 0777);
    }
    return dir;
}

static inline void tu_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tu_tmp_dir(), name);
}

static inline void tu_data(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tu_data_dir(), name);
}

static inline void tu_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in the scratch dir whose name contains ".tmp-". */
static inline int tu_count_temp(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.tmp-' >/dev/null", tu_tmp_dir());
    return system(cmd) == 0;
}

#define assert_status(expr, want)                                                              \
    do {                                                                                       \
        ct_status st_ = (expr);                                                                \
        if (st_ != (want)) {                                                                   \
            fail_msg("%s: got %s, want %s (%s)", #expr, ct_strerror(st_), ct_strerror(want),   \
                     err.msg);                                                                 \
        }                                                                                      \
    } while (0)

#define assert_close(a, b, tol)                                                                \
    do {                                                                                       \
        double a_ = (a), b_ = (b);                                                             \
        if (!(fabs(a_ - b_) <= (tol))) {                                                       \
            fail_msg("%s = %.12g, %s = %.12g, |diff| %.3g > %.3g", #a, a_, #b, b_,             \
                     fabs(a_ - b_), (double)(tol));                                            \
        }                                                                                      \
    } while (0)

#endif
