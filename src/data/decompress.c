/* decompress.c - compressed logs (gzip, xz, zstd; told apart by their magic
 * bytes, not their names) streamed through zlib, liblzma or libzstd into an
 * unlinked temporary file, in a thread of their own, while the CSV reader
 * maps and parses the part already written (csv.c): memory stays bounded by
 * the buffers here, the tokenizer keeps its one fast path, and parsing
 * overlaps decompression.  Concatenated members/frames are read to the end. */
#include "data/decompress_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define BUF ((size_t)1 << 18)

typedef enum { RAW, GZIP, XZ, ZSTD } kind;

static kind sniff(const unsigned char *m, size_t n)
{
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        return GZIP;
    }
    if (n >= 6 && memcmp(m, "\xFD" "7zXZ\0", 6) == 0) {
        return XZ;
    }
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD) {
        return ZSTD;
    }
    return RAW;
}

const char *ct_compression_name(int k)
{
    static const char *const N[] = {"none", "gzip", "xz", "zstd"};
    return k >= 0 && k <= ZSTD ? N[k] : "?";
}

/* All of buf[0..n) to fd. */
static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Readers are woken every this many bytes (and at the end). */
#define NOTIFY ((size_t)4 << 20)

typedef struct stream {
    const char *path;
    int in, out;
    unsigned char *ib, *ob;
    kind k;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t written, told; /* bytes in the file; bytes readers were told of */
    int done, stop;       /* the thread has finished; the reader gave up */
    ct_status st;
    ct_error err;
} stream;

struct ct_dstream {
    stream z;
    size_t in_size;
};

/* n more bytes are in the file; -1 when the reader has stopped. */
static int wrote(stream *z, size_t n)
{
    pthread_mutex_lock(&z->mu);
    z->written += n;
    int stop = z->stop;
    if (z->written - z->told >= NOTIFY) {
        z->told = z->written;
        pthread_cond_broadcast(&z->cv);
    }
    pthread_mutex_unlock(&z->mu);
    return stop ? -1 : 0;
}

/* Decompressed bytes to the file: 0, or -1 (write error: errno; or the
 * reader stopped: errno 0). */
static int emit(stream *z, const void *buf, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (write_all(z->out, buf, n) != 0) {
        return -1;
    }
    if (wrote(z, n) != 0) {
        errno = 0;
        return -1;
    }
    return 0;
}

static ct_status bad_data(const stream *z, const char *what, const char *why, ct_error *err)
{
    return ct_fail_at(err, CT_EDATA, z->path, 0, 0, "corrupt or truncated %s data (%s)", what,
                      why);
}

static ct_status io_fail(const stream *z, const char *what, ct_error *err)
{
    if (errno == 0) { /* not an error: the reader stopped first */
        return ct_fail_at(err, CT_EIO, z->path, 0, 0, "decompression stopped");
    }
    return ct_fail_at(err, CT_EIO, z->path, 0, 0, "cannot %s: %s", what, strerror(errno));
}

static ct_status gunzip(stream *z, ct_error *err)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 15 + 32) != Z_OK) {
        return ct_fail(err, CT_ENOMEM, "out of memory (zlib)");
    }
    ct_status st = CT_OK;
    int rc = Z_OK, eof = 0;
    while (st == CT_OK && !(eof && s.avail_in == 0)) {
        if (s.avail_in == 0 && !eof) {
            ssize_t r = read(z->in, z->ib, BUF);
            if (r < 0) {
                st = io_fail(z, "read", err);
                break;
            }
            eof = r == 0;
            s.next_in = z->ib;
            s.avail_in = (uInt)r;
            if (eof) {
                break;
            }
        }
        s.next_out = z->ob;
        s.avail_out = (uInt)BUF;
        rc = inflate(&s, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            st = bad_data(z, "gzip", s.msg != NULL ? s.msg : "inflate failed", err);
            break;
        }
        if (emit(z, z->ob, BUF - s.avail_out) != 0) {
            st = io_fail(z, "write the decompressed log", err);
        }
        if (rc == Z_STREAM_END && s.avail_in > 0) {
            inflateReset(&s); /* another gzip member follows */
        }
    }
    if (st == CT_OK && rc != Z_STREAM_END) {
        st = bad_data(z, "gzip", "the stream ends early", err);
    }
    inflateEnd(&s);
    return st;
}

static ct_status unxz(stream *z, ct_error *err)
{
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
        return ct_fail(err, CT_ENOMEM, "out of memory (liblzma)");
    }
    ct_status st = CT_OK;
    lzma_action act = LZMA_RUN;
    for (;;) {
        if (s.avail_in == 0 && act == LZMA_RUN) {
            ssize_t r = read(z->in, z->ib, BUF);
            if (r < 0) {
                st = io_fail(z, "read", err);
                break;
            }
            s.next_in = z->ib;
            s.avail_in = (size_t)r;
            act = r == 0 ? LZMA_FINISH : LZMA_RUN;
        }
        s.next_out = z->ob;
        s.avail_out = BUF;
        lzma_ret rc = lzma_code(&s, act);
        if (emit(z, z->ob, BUF - s.avail_out) != 0) {
            st = io_fail(z, "write the decompressed log", err);
            break;
        }
        if (rc == LZMA_STREAM_END) {
            break;
        }
        if (rc != LZMA_OK) {
            st = bad_data(z, "xz", rc == LZMA_BUF_ERROR ? "the stream ends early" : "lzma_code",
                          err);
            break;
        }
    }
    lzma_end(&s);
    return st;
}

static ct_status unzstd(stream *z, ct_error *err)
{
    ZSTD_DStream *d = ZSTD_createDStream();
    if (d == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory (libzstd)");
    }
    ct_status st = CT_OK;
    size_t last = 0; /* 0 when the last frame ended */
    for (;;) {
        ssize_t r = read(z->in, z->ib, BUF);
        if (r < 0) {
            st = io_fail(z, "read", err);
            break;
        }
        if (r == 0) {
            break;
        }
        ZSTD_inBuffer in = {z->ib, (size_t)r, 0};
        while (in.pos < in.size && st == CT_OK) {
            ZSTD_outBuffer out = {z->ob, BUF, 0};
            last = ZSTD_decompressStream(d, &out, &in);
            if (ZSTD_isError(last)) {
                st = bad_data(z, "zstd", ZSTD_getErrorName(last), err);
            } else if (emit(z, z->ob, out.pos) != 0) {
                st = io_fail(z, "write the decompressed log", err);
            }
        }
        if (st != CT_OK) {
            break;
        }
    }
    if (st == CT_OK && last != 0) {
        st = bad_data(z, "zstd", "the stream ends early", err);
    }
    ZSTD_freeDStream(d);
    return st;
}

static void *run(void *arg)
{
    stream *z = arg;
    ct_status st = z->k == GZIP ? gunzip(z, &z->err)
                   : z->k == XZ ? unxz(z, &z->err)
                                : unzstd(z, &z->err);
    pthread_mutex_lock(&z->mu);
    z->st = st;
    z->done = 1;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static void stream_free(ct_dstream *ds)
{
    free(ds->z.ib);
    free(ds->z.ob);
    if (ds->z.in >= 0) {
        close(ds->z.in);
    }
    free(ds);
}

ct_status ct_decompress_start(const char *path, int *fd, int *compression, ct_dstream **out,
                              ct_error *err)
{
    unsigned char magic[8];
    *fd = -1;
    *compression = RAW;
    *out = NULL;
    int in = open(path, O_RDONLY);
    if (in < 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    ssize_t got = pread(in, magic, sizeof magic, 0);
    kind k = sniff(magic, got > 0 ? (size_t)got : 0);
    if (k == RAW) {
        *fd = in; /* the caller maps it */
        return CT_OK;
    }
    ct_dstream *ds = calloc(1, sizeof *ds);
    if (ds == NULL) {
        close(in);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    stream *z = &ds->z;
    z->path = path;
    z->in = in;
    z->k = k;
    struct stat st;
    ds->in_size = fstat(in, &st) == 0 ? (size_t)st.st_size : 0;
    const char *dir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/clvtier-log-XXXXXX", dir != NULL && *dir ? dir : "/tmp");
    z->out = mkstemp(tmp);
    if (z->out < 0) {
        int e = errno;
        stream_free(ds);
        return ct_fail_at(err, CT_EIO, tmp, 0, 0,
                          "cannot create a temporary file for the decompressed log: %s "
                          "(set TMPDIR)",
                          strerror(e));
    }
    unlink(tmp); /* gone with the descriptor, whatever happens */
    z->ib = malloc(BUF);
    z->ob = malloc(BUF);
    if (z->ib == NULL || z->ob == NULL) {
        close(z->out);
        stream_free(ds);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->cv, NULL);
    if (pthread_create(&z->th, NULL, run, z) != 0) {
        z->th = pthread_self(); /* no thread: decompress it all now */
        run(z);
    }
    *fd = z->out;
    *compression = (int)k;
    *out = ds;
    return CT_OK;
}

size_t ct_dstream_wait(ct_dstream *ds, size_t have, int *done)
{
    stream *z = &ds->z;
    pthread_mutex_lock(&z->mu);
    while (!z->done && z->told <= have) {
        pthread_cond_wait(&z->cv, &z->mu);
    }
    size_t w = z->done ? z->written : z->told;
    *done = z->done;
    pthread_mutex_unlock(&z->mu);
    return w;
}

size_t ct_dstream_input_size(const ct_dstream *ds)
{
    return ds->in_size;
}

ct_status ct_dstream_end(ct_dstream *ds, ct_error *err)
{
    if (ds == NULL) {
        return CT_OK;
    }
    stream *z = &ds->z;
    pthread_mutex_lock(&z->mu);
    int stopped = !z->done;
    z->stop = 1;
    pthread_mutex_unlock(&z->mu);
    if (!pthread_equal(z->th, pthread_self())) {
        pthread_join(z->th, NULL);
    }
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->cv);
    ct_status st = stopped ? CT_OK : z->st; /* stopped early: the reader's error counts */
    if (st != CT_OK && err != NULL) {
        *err = z->err;
    }
    stream_free(ds);
    return st;
}
