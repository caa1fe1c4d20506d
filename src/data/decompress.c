/* decompress.c - compressed logs (gzip, xz, zstd; told apart by their magic
 * bytes, not their names) streamed through zlib, liblzma or libzstd into an
 * unlinked temporary file, which the CSV reader then maps like any other:
 * memory stays bounded by the buffers here, and the tokenizer keeps its one
 * fast path.  Concatenated members/frames are read to the end. */
#include "data/decompress_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

typedef struct stream {
    const char *path;
    int in, out;
    unsigned char *ib, *ob;
} stream;

static ct_status bad_data(const stream *z, const char *what, const char *why, ct_error *err)
{
    return ct_fail_at(err, CT_EDATA, z->path, 0, 0, "corrupt or truncated %s data (%s)", what,
                      why);
}

static ct_status io_fail(const stream *z, const char *what, ct_error *err)
{
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
        if (write_all(z->out, z->ob, BUF - s.avail_out) != 0) {
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
        if (write_all(z->out, z->ob, BUF - s.avail_out) != 0) {
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
            } else if (write_all(z->out, z->ob, out.pos) != 0) {
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

ct_status ct_decompress_open(const char *path, int *fd, int *compression, ct_error *err)
{
    unsigned char magic[8];
    stream z = {path, -1, -1, NULL, NULL};
    *fd = -1;
    *compression = RAW;
    z.in = open(path, O_RDONLY);
    if (z.in < 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    ssize_t got = pread(z.in, magic, sizeof magic, 0);
    kind k = sniff(magic, got > 0 ? (size_t)got : 0);
    if (k == RAW) {
        *fd = z.in; /* the caller maps it */
        return CT_OK;
    }
    const char *dir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/clvtier-log-XXXXXX", dir != NULL && *dir ? dir : "/tmp");
    z.out = mkstemp(tmp);
    ct_status st = CT_OK;
    if (z.out < 0) {
        st = ct_fail_at(err, CT_EIO, tmp, 0, 0, "cannot create a temporary file for the "
                                                "decompressed log: %s (set TMPDIR)",
                        strerror(errno));
    } else {
        unlink(tmp); /* gone with the descriptor, whatever happens */
        z.ib = malloc(BUF);
        z.ob = malloc(BUF);
        st = z.ib && z.ob ? CT_OK : ct_fail(err, CT_ENOMEM, "out of memory");
    }
    if (st == CT_OK) {
        st = k == GZIP ? gunzip(&z, err) : k == XZ ? unxz(&z, err) : unzstd(&z, err);
    }
    free(z.ib);
    free(z.ob);
    close(z.in);
    if (st != CT_OK) {
        if (z.out >= 0) {
            close(z.out);
        }
        return st;
    }
    *fd = z.out;
    *compression = (int)k;
    return CT_OK;
}
