/* centroids.c - initial k-means centroids from a small text file:
 * k rows of d numbers (comma, space or tab separated; an optional header). */
#include "clvtier/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXD 64

ct_status ct_centroids_read(const char *path, size_t d, double **C, size_t *k, ct_error *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open initial centroids");
    }
    char line[8192];
    size_t rows = 0, cap = 16, lineno = 0;
    double *v = malloc(cap * d * sizeof *v);
    ct_status s = v != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    while (s == CT_OK && fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        char *p = line, *end;
        size_t j = 0;
        double tmp[MAXD];
        while (*p != '\0' && *p != '\n' && j < MAXD) {
            while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\r') {
                p++;
            }
            if (*p == '\0' || *p == '\n') {
                break;
            }
            tmp[j] = strtod(p, &end);
            if (end == p) {
                break;
            }
            j++;
            p = end;
        }
        if (j == 0) {
            continue; /* a header or an empty line */
        }
        if (j != d) {
            s = ct_fail_at(err, CT_EDATA, path, lineno, 0,
                           "%zu numbers, want %zu (one per feature)", j, d);
            break;
        }
        if (rows == cap) {
            double *v2 = realloc(v, 2 * cap * d * sizeof *v);
            if (v2 == NULL) {
                s = ct_fail(err, CT_ENOMEM, "out of memory");
                break;
            }
            v = v2;
            cap *= 2;
        }
        memcpy(v + rows * d, tmp, d * sizeof *v);
        rows++;
    }
    fclose(fp);
    if (s != CT_OK) {
        free(v);
        return s;
    }
    *C = v;
    *k = rows;
    return CT_OK;
}
