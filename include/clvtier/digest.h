/* digest.h - SHA-256 of a file and keyed pseudonyms (HMAC-SHA256), from
 * Nettle (Debian nettle-dev: a small, audited C library; writing SHA-256 by
 * hand buys nothing).  Data layer. */
#ifndef CLVTIER_DIGEST_H
#define CLVTIER_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_SHA256_HEX 65 /* 64 hex digits + NUL */

/* hex = lower-case SHA-256 of the file's bytes (opened read-only). */
ct_status ct_sha256_file(const char *path, char hex[CT_SHA256_HEX], ct_error *err);

/* A keyed pseudonym: the first 16 bytes of HMAC-SHA256(key, id) as 32
 * lower-case hex digits.  Without the key the ids cannot be recovered or
 * tested by guessing; with the same key the same id always maps to the same
 * pseudonym, so files from two runs still join. */
typedef struct ct_pseudo ct_pseudo;

/* Key from a file: its bytes, at least 16 (a trailing newline is dropped).
 * CT_ENOENT when unreadable, CT_EDATA when too short. */
ct_status ct_pseudo_new(ct_pseudo **out, const char *key_path, ct_error *err);
void ct_pseudo_free(ct_pseudo *p);
void ct_pseudo_id(ct_pseudo *p, const char *id, size_t len, char out[33]);

#ifdef __cplusplus
}
#endif

#endif
