/* digest.c - SHA-256 and HMAC-SHA256 pseudonyms over Nettle (see digest.h). */
#include "clvtier/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

static void to_hex(const uint8_t *d, size_t n, char *out)
{
    static const char H[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = H[d[i] >> 4];
        out[2 * i + 1] = H[d[i] & 15];
    }
    out[2 * n] = '\0';
}

ct_status ct_sha256_file(const char *path, char hex[CT_SHA256_HEX], ct_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    struct sha256_ctx c;
    uint8_t buf[65536], d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            close(fd);
            return ct_fail_at(err, CT_EIO, path, 0, 0, "read error: %s", strerror(e));
        }
        if (r == 0) {
            break;
        }
        sha256_update(&c, (size_t)r, buf);
    }
    close(fd);
    sha256_digest(&c, sizeof d, d);
    to_hex(d, sizeof d, hex);
    return CT_OK;
}

struct ct_pseudo {
    struct hmac_sha256_ctx ctx;
};

ct_status ct_pseudo_new(ct_pseudo **out, const char *key_path, ct_error *err)
{
    uint8_t key[4096];
    size_t n = 0;
    *out = NULL;
    int fd = open(key_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return ct_fail_at(err, CT_ENOENT, key_path, 0, 0, "cannot open key file: %s",
                          strerror(errno));
    }
    for (;;) {
        ssize_t r = read(fd, key + n, sizeof key - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
        if (n == sizeof key) {
            break;
        }
    }
    close(fd);
    while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r')) {
        n--;
    }
    if (n < 16) {
        return ct_fail_at(err, CT_EDATA, key_path, 0, 0,
                          "pseudonymisation key has %zu bytes; at least 16 are needed "
                          "(e.g. head -c 32 /dev/urandom | base64 > KEY)",
                          n);
    }
    ct_pseudo *p = malloc(sizeof *p);
    if (p == NULL) {
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    hmac_sha256_set_key(&p->ctx, n, key);
    memset(key, 0, sizeof key);
    *out = p;
    return CT_OK;
}

void ct_pseudo_free(ct_pseudo *p)
{
    if (p != NULL) {
        memset(p, 0, sizeof *p);
        free(p);
    }
}

void ct_pseudo_id(ct_pseudo *p, const char *id, size_t len, char out[33])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    hmac_sha256_update(&p->ctx, len, (const uint8_t *)id);
    hmac_sha256_digest(&p->ctx, sizeof d, d); /* also resets for the next id */
    to_hex(d, 16, out);
}
