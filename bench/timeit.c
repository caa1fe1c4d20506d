/* timeit.c - run a command N times; print the best and median wall time and
 * the largest peak RSS (from wait4's rusage).  Used by the bench scripts so
 * that timings need no tool beyond the project itself.
 *   timeit [-n N] [-q] -- COMMAND [ARG ...]
 * Output (one line): "best_s=.. median_s=.. maxrss_kb=.. runs=N". -q sends
 * the command's stdout/stderr to /dev/null. Exit 1 if any run failed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = 3, quiet = 0, i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            break;
        }
    }
    if (i >= argc || n < 1 || n > 100) {
        fprintf(stderr, "usage: timeit [-n N] [-q] -- COMMAND [ARG ...]\n");
        return 64;
    }
    double *t = malloc((size_t)n * sizeof *t);
    long maxrss = 0;
    int failed = 0;
    for (int r = 0; r < n; r++) {
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0) {
            if (quiet) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
            }
            execvp(argv[i], argv + i);
            _exit(127);
        }
        int status;
        struct rusage ru;
        if (pid < 0 || wait4(pid, &status, 0, &ru) < 0) {
            perror("timeit");
            return 1;
        }
        t[r] = now() - t0;
        maxrss = ru.ru_maxrss > maxrss ? ru.ru_maxrss : maxrss;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed = 1;
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("best_s=%.4f median_s=%.4f maxrss_kb=%ld runs=%d\n", t[0], t[n / 2], maxrss, n);
    free(t);
    return failed;
}
