/* tz.c - named time zones from the system's TZif files (RFC 8536), for
 * turning timestamps with a UTC offset into local dates (ingest --timezone).
 * Read once; lookups are a binary search over the zone's transitions.
 * Instants before the first transition take the zone's first local time type
 * (RFC 8536, 3.2); instants after the last listed one take the last offset
 * (Debian's tzdata lists transitions through 2037; the file's POSIX TZ
 * footer rule for later years is not applied). */
#include "clvtier/dates.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ct_tz {
    int64_t *at;  /* transition instants, seconds since 1970 UTC, ascending */
    int32_t *off; /* UT offset in seconds from at[i] on */
    size_t n;
    int32_t off0; /* before the first transition */
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

void ct_tz_free(ct_tz *tz)
{
    if (tz != NULL) {
        free(tz->at);
        free(tz->off);
        free(tz);
    }
}

/* The TZif data b[0..n) into tz; 0, or -1 when it is not valid TZif. */
static int parse_tzif(const unsigned char *b, size_t n, ct_tz *tz)
{
    if (n < 44 || memcmp(b, "TZif", 4) != 0) {
        return -1;
    }
    int v2 = b[4] >= '2';
    size_t tsz = 4, pos = 0;
    for (int pass = 0; pass < (v2 ? 2 : 1); pass++) {
        if (pos + 44 > n || memcmp(b + pos, "TZif", 4) != 0) {
            return -1;
        }
        size_t isut = be32(b + pos + 20), isstd = be32(b + pos + 24), leap = be32(b + pos + 28),
               timecnt = be32(b + pos + 32), typecnt = be32(b + pos + 36),
               charcnt = be32(b + pos + 40);
        size_t body = timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) +
                      isstd + isut;
        if (typecnt == 0 || timecnt > 100000 || typecnt > 256 || pos + 44 + body > n) {
            return -1;
        }
        if (pass == 0 && v2) { /* skip the 32-bit block: the 64-bit one follows */
            pos += 44 + body;
            tsz = 8;
            continue;
        }
        const unsigned char *t = b + pos + 44, *idx = t + timecnt * tsz, *types = idx + timecnt;
        tz->at = malloc((timecnt ? timecnt : 1) * sizeof *tz->at);
        tz->off = malloc((timecnt ? timecnt : 1) * sizeof *tz->off);
        if (tz->at == NULL || tz->off == NULL) {
            return -1;
        }
        tz->off0 = (int32_t)be32(types);
        for (size_t i = 0; i < timecnt; i++) {
            tz->at[i] = tsz == 8 ? be64(t + 8 * i) : (int64_t)(int32_t)be32(t + 4 * i);
            if (idx[i] >= typecnt || (i > 0 && tz->at[i] <= tz->at[i - 1])) {
                return -1;
            }
            int32_t off = (int32_t)be32(types + 6 * idx[i]);
            if (off < -25 * 3600 || off > 26 * 3600) {
                return -1;
            }
            tz->off[i] = off;
        }
        tz->n = timecnt;
        return 0;
    }
    return -1;
}

ct_status ct_tz_load(const char *name, ct_tz **out, ct_error *err)
{
    *out = NULL;
    if (name == NULL || name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
        strlen(name) > 200) {
        return ct_fail(err, CT_EINVAL,
                       "time zone '%.200s' is not a zone name such as Europe/Berlin or UTC",
                       name != NULL ? name : "");
    }
    const char *dir = getenv("TZDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir != NULL && dir[0] ? dir : "/usr/share/zoneinfo",
             name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        if (strcmp(name, "UTC") == 0) { /* no tzdata installed: UTC needs none */
            ct_tz *tz = calloc(1, sizeof *tz);
            if (tz == NULL) {
                return ct_fail(err, CT_ENOMEM, "out of memory");
            }
            *out = tz;
            return CT_OK;
        }
        return ct_fail(err, CT_EINVAL, "unknown time zone '%s' (cannot read %s: %s)", name, path,
                       strerror(errno));
    }
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf != NULL ? fread(buf, 1, 1 << 20, fp) : 0;
    fclose(fp);
    ct_tz *tz = calloc(1, sizeof *tz);
    if (buf == NULL || tz == NULL) {
        free(buf);
        free(tz);
        return ct_fail(err, CT_ENOMEM, "out of memory");
    }
    int bad = parse_tzif(buf, n, tz);
    free(buf);
    if (bad) {
        ct_tz_free(tz);
        return ct_fail(err, CT_EINVAL, "time zone '%s': %s is not a TZif file (RFC 8536)", name,
                       path);
    }
    *out = tz;
    return CT_OK;
}

int32_t ct_tz_offset(const ct_tz *tz, int64_t t)
{
    if (tz->n == 0 || t < tz->at[0]) {
        return tz->off0;
    }
    size_t lo = 0, hi = tz->n; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return tz->off[lo];
}
