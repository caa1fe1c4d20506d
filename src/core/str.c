/* str.c - small string helpers shared by the layers (core/str_internal.h). */
#include "core/str_internal.h"

#include <stdio.h>

void ct_join_names(char *buf, size_t cap, const char *names, size_t stride, size_t n,
                   const char *last, char sep)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n + (last != NULL); i++) {
        const char *p = i < n ? names + i * stride : last;
        int w = snprintf(buf + len, cap - len, "%s%s", i ? (char[]){sep, 0} : "", p);
        if (w < 0 || (size_t)w >= cap - len) {
            break;
        }
        len += (size_t)w;
    }
}

