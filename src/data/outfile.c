/* outfile.c - atomic text output (temp file, fsync, rename, fsync directory). */
#include "clvtier/outfile.h"
#include "data/publish_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ct_outfile {
    FILE *fp;
    char *path, *tmp;
};

ct_status ct_outfile_open(ct_outfile **out, const char *path, ct_error *err)
{
    ct_outfile *o = calloc(1, sizeof *o);
    int fd = -1;
    *out = NULL;
    if (o == NULL || (o->path = strdup(path)) == NULL) {
        free(o);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    ct_status s = ct_tmp_create(path, &o->tmp, &fd, err);
    if (s == CT_OK && (o->fp = fdopen(fd, "w")) == NULL) {
        s = ct_fail_at(err, CT_ECREATE, path, 0, 0, "cannot create output: %s", strerror(errno));
        close(fd);
        ct_tmp_remove(o->tmp);
    }
    if (s != CT_OK) {
        free(o->path);
        free(o->tmp);
        free(o);
        return s;
    }
    setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    *out = o;
    return CT_OK;
}

FILE *ct_outfile_stream(ct_outfile *o)
{
    return o->fp;
}

ct_status ct_outfile_write(ct_outfile *o, const void *buf, size_t n, ct_error *err)
{
    if (n > 0 && fwrite(buf, 1, n, o->fp) != n) {
        return ct_fail_at(err, CT_EIO, o->path, 0, 0, "cannot write output: %s", strerror(errno));
    }
    return CT_OK;
}

ct_status ct_outfile_commit(ct_outfile *o, ct_error *err)
{
    ct_status s = CT_OK;
    if (fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0) {
        s = ct_fail_at(err, CT_EIO, o->path, 0, 0, "cannot write output: %s", strerror(errno));
    }
    if (fclose(o->fp) != 0 && s == CT_OK) {
        s = ct_fail_at(err, CT_EIO, o->path, 0, 0, "cannot write output: %s", strerror(errno));
    }
    o->fp = NULL;
    if (s == CT_OK) {
        s = ct_publish(o->tmp, o->path, err);
    }
    if (s == CT_OK) {
        free(o->tmp);
        o->tmp = NULL;
    }
    ct_outfile_abort(o);
    return s;
}

void ct_outfile_abort(ct_outfile *o)
{
    if (o == NULL) {
        return;
    }
    if (o->fp != NULL) {
        fclose(o->fp);
    }
    if (o->tmp != NULL) {
        ct_tmp_remove(o->tmp);
    }
    free(o->tmp);
    free(o->path);
    free(o);
}
