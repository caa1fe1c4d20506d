/* fuzz_common.h - helpers of the libFuzzer targets (make fuzz): the input
 * goes to a file (clvtier reads files), in a per-process scratch folder. */
#ifndef CLVTIER_FUZZ_COMMON_H
#define CLVTIER_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A scratch folder of this process (created once) and path/name in it. */
static inline const char *fuzz_path(const char *name)
{
    static char dir[256], path[512];
    if (dir[0] == '\0') {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/clvtier-fuzz-%ld", t != NULL ? t : "/tmp", (long)getpid());
        (void)mkdir(dir, 0700);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Write data to the scratch file name; its path, or NULL. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t n)
{
    const char *p = fuzz_path(name);
    FILE *fp = fopen(p, "wb");
    if (fp == NULL) {
        return NULL;
    }
    size_t w = fwrite(data, 1, n, fp);
    fclose(fp);
    return w == n ? p : NULL;
}

#endif
