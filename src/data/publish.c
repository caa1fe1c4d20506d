/* publish.c - the two ends of atomic output (temp file, rename), the
 * registry of live temp files (removed on SIGTERM/SIGINT by the CLI's
 * handler), one run's outputs held and published together, and the check of
 * a command's inputs and outputs before it starts. */
#include "clvtier/publish.h"
#include "data/publish_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the registry of temp files ------------------------------------------ */

/* Fixed slots, so the signal handler reads them without locks or malloc:
 * a slot is written whole before it is marked used. */
#define TMP_SLOTS 64
#define TMP_LEN 4096

static char tmp_name[TMP_SLOTS][TMP_LEN];
static volatile sig_atomic_t tmp_used[TMP_SLOTS];

static void tmp_register(const char *tmp)
{
    if (strlen(tmp) >= TMP_LEN) {
        return;
    }
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (!tmp_used[i]) {
            memcpy(tmp_name[i], tmp, strlen(tmp) + 1);
            tmp_used[i] = 1;
            return;
        }
    }
}

static void tmp_unregister(const char *tmp)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (tmp_used[i] && strcmp(tmp_name[i], tmp) == 0) {
            tmp_used[i] = 0;
            return;
        }
    }
}

void ct_tmp_cleanup(void)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (tmp_used[i]) {
            (void)unlink(tmp_name[i]);
            tmp_used[i] = 0;
        }
    }
}

void ct_tmp_track(const char *path)
{
    tmp_register(path);
}

void ct_tmp_remove(const char *tmp)
{
    if (tmp != NULL) {
        (void)unlink(tmp);
        tmp_unregister(tmp);
    }
}

/* The process id in a temp file's name after "B.": tmp-PID[-XXXXXX] or
 * ingest-PID.h5[...]; 0 when the name is not one of ours. */
static long tmp_owner(const char *rest)
{
    const char *p = NULL;
    if (strncmp(rest, "tmp-", 4) == 0) {
        p = rest + 4;
    } else if (strncmp(rest, "ingest-", 7) == 0) {
        p = rest + 7;
    }
    if (p == NULL || *p < '0' || *p > '9') {
        return 0;
    }
    char *end;
    long pid = strtol(p, &end, 10);
    if (*end != '\0' && *end != '-' && *end != '.') {
        return 0;
    }
    return pid > 0 ? pid : 0;
}

void ct_tmp_sweep(const char *path)
{
    char *d = strdup(path), *b = strdup(path);
    DIR *dir = d != NULL && b != NULL ? opendir(dirname(d)) : NULL;
    if (dir != NULL) {
        const char *base = basename(b);
        size_t nb = strlen(base);
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strncmp(e->d_name, base, nb) != 0 || e->d_name[nb] != '.') {
                continue;
            }
            long pid = tmp_owner(e->d_name + nb + 1);
            if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                (void)unlinkat(dirfd(dir), e->d_name, 0); /* its writer is gone */
            }
        }
        closedir(dir);
    }
    free(d);
    free(b);
}

ct_status ct_tmp_create(const char *path, char **tmp, int *fd, ct_error *err)
{
    ct_tmp_sweep(path);
    size_t n = strlen(path) + 48;
    *tmp = malloc(n);
    if (*tmp == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory creating %s", path);
    }
    /* A unique name (mkstemp: O_EXCL, so never an existing file or link), in
     * the output's directory so the rename stays on one file system.  A
     * stale temp file of a killed run can never block a later one. */
    snprintf(*tmp, n, "%s.tmp-%ld-XXXXXX", path, (long)getpid());
    *fd = mkstemp(*tmp);
    if (*fd < 0) {
        ct_status s = ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot create output: %s",
                                 strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return s;
    }
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(*fd, 0666 & ~mask); /* mkstemp makes 0600 */
    tmp_register(*tmp);
    return CT_OK;
}

/* ---- publication, now or held -------------------------------------------- */

typedef struct held {
    char *tmp, *path;
} held;

static const char *const *hold_paths; /* the outputs held (caller's array) */
static size_t nhold_paths;
static held *hold_list;
static size_t nheld;

static int is_held(const char *path)
{
    for (size_t i = 0; i < nhold_paths; i++) {
        if (hold_paths[i] != NULL && strcmp(hold_paths[i], path) == 0) {
            return 1;
        }
    }
    return 0;
}

static ct_status rename_now(const char *tmp, const char *path, ct_error *err)
{
    if (rename(tmp, path) != 0) {
        return ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot rename temp file into place: %s",
                          strerror(errno));
    }
    tmp_unregister(tmp);
    char *d = strdup(path);
    if (d != NULL) {
        int fd = open(dirname(d), O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        free(d);
    }
    return CT_OK;
}

ct_status ct_publish(const char *tmp, const char *path, ct_error *err)
{
    if (!is_held(path)) {
        return rename_now(tmp, path, err);
    }
    for (size_t i = 0; i < nheld; i++) { /* the same output again: the new one wins */
        if (strcmp(hold_list[i].path, path) == 0) {
            ct_tmp_remove(hold_list[i].tmp);
            free(hold_list[i].tmp);
            hold_list[i].tmp = strdup(tmp);
            return hold_list[i].tmp != NULL ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    held *nl = realloc(hold_list, (nheld + 1) * sizeof *nl);
    if (nl == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    hold_list = nl;
    hold_list[nheld].tmp = strdup(tmp);
    hold_list[nheld].path = strdup(path);
    if (hold_list[nheld].tmp == NULL || hold_list[nheld].path == NULL) {
        free(hold_list[nheld].tmp);
        free(hold_list[nheld].path);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    nheld++;
    return CT_OK;
}

const char *ct_publish_pending(const char *path)
{
    for (size_t i = 0; i < nheld; i++) {
        if (strcmp(hold_list[i].path, path) == 0) {
            return hold_list[i].tmp;
        }
    }
    return NULL;
}

void ct_publish_remove(const char *path)
{
    for (size_t i = 0; i < nheld; i++) {
        if (strcmp(hold_list[i].path, path) == 0) {
            ct_tmp_remove(hold_list[i].tmp);
            free(hold_list[i].tmp);
            free(hold_list[i].path);
            hold_list[i] = hold_list[--nheld];
            return;
        }
    }
    (void)unlink(path);
}

void ct_outputs_hold(const char *const *paths, size_t n)
{
    hold_paths = paths;
    nhold_paths = n;
}

ct_status ct_outputs_release(ct_status s, ct_error *err)
{
    for (size_t i = 0; i < nheld; i++) {
        if (s == CT_OK) {
            s = rename_now(hold_list[i].tmp, hold_list[i].path, err);
        }
        if (s != CT_OK) {
            ct_tmp_remove(hold_list[i].tmp);
        }
        free(hold_list[i].tmp);
        free(hold_list[i].path);
    }
    free(hold_list);
    hold_list = NULL;
    nheld = 0;
    hold_paths = NULL;
    nhold_paths = 0;
    return s;
}

/* ---- inputs and outputs, checked before a command starts ----------------- */

/* The resolved path of a file that may not exist yet: its directory
 * resolved, then its name; NULL when the directory does not exist. */
static char *resolved(const char *path)
{
    char *r = realpath(path, NULL);
    if (r != NULL) {
        return r;
    }
    char *d = strdup(path), *b = strdup(path);
    char *rd = d != NULL ? realpath(dirname(d), NULL) : NULL;
    if (rd != NULL && b != NULL) {
        const char *base = basename(b);
        size_t n = strlen(rd) + strlen(base) + 2;
        r = malloc(n);
        if (r != NULL) {
            snprintf(r, n, "%s/%s", rd, base);
        }
    }
    free(rd);
    free(d);
    free(b);
    return r;
}

/* Whether a and b name the same file (either need not exist); -1: out of
 * memory, unknown. */
int ct_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0) {
        return 1;
    }
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) {
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }
    errno = 0;
    char *ra = resolved(a);
    int nomem = ra == NULL && errno == ENOMEM;
    errno = 0;
    char *rb = resolved(b);
    nomem |= rb == NULL && errno == ENOMEM;
    int same = nomem ? -1 : ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

static ct_status check_output_dir(const char *path, ct_error *err)
{
    char *d = strdup(path);
    if (d == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    const char *dir = dirname(d);
    struct stat st;
    ct_status s = CT_OK;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        s = ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot create output: directory %s does not exist",
                       dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        s = ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot create output: directory %s: %s", dir,
                       strerror(errno));
    } else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        s = ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot create output: it is a directory");
    }
    free(d);
    return s;
}

ct_status ct_paths_check(const char *const *in, size_t nin, const char *const *out, size_t nout,
                         ct_error *err)
{
    for (size_t i = 0; i < nin; i++) {
        if (in[i] != NULL && access(in[i], R_OK) != 0) {
            return ct_fail_at(err, CT_ENOENT, in[i], 0, 0, "cannot open: %s", strerror(errno));
        }
    }
    for (size_t j = 0; j < nout; j++) {
        if (out[j] == NULL) {
            continue;
        }
        for (size_t i = 0; i < nin + j; i++) { /* the inputs, then the outputs before it */
            const char *o = i < nin ? in[i] : out[i - nin];
            int same = o != NULL ? ct_same_file(o, out[j]) : 0;
            if (same < 0) {
                return ct_fail_at(err, CT_ENOMEM, out[j], 0, 0, "out of memory");
            }
            if (same) {
                return ct_fail_at(err, CT_EINVAL, out[j], 0, 0,
                                  i < nin ? "is both an input and an output (nothing was written)"
                                          : "is given for two outputs (nothing was written)");
            }
        }
        CT_CHECK(check_output_dir(out[j], err));
    }
    return CT_OK;
}
