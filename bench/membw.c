/* membw.c - the machine's memory bandwidth, for the benchmarks' floors.
 * Prints "read_GBps=.. copy_GBps=.." : best of 7 passes over 256 MiB
 * (reading: a sum over doubles; copying: memcpy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    size_t n = (size_t)32 << 20; /* doubles: 256 MiB */
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (a == NULL || b == NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = (double)i;
        b[i] = 0;
    }
    double best_r = 1e9, best_c = 1e9, sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = now(), s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < n; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        double t1 = now();
        memcpy(b, a, n * sizeof *a);
        double t2 = now();
        sink += s0 + s1 + s2 + s3 + b[n / 2];
        best_r = t1 - t0 < best_r ? t1 - t0 : best_r;
        best_c = t2 - t1 < best_c ? t2 - t1 : best_c;
    }
    double bytes = (double)(n * sizeof *a);
    printf("read_GBps=%.2f copy_GBps=%.2f sink=%g\n", bytes / best_r / 1e9,
           2 * bytes / best_c / 1e9, sink > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    return 0;
}
