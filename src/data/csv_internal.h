/* csv_internal.h - a fast RFC 4180 tokenizer over a read-only memory map.
 * Not installed: ingest and the summary/feature readers use it. */
#ifndef CLVTIER_CSV_INTERNAL_H
#define CLVTIER_CSV_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "clvtier/status.h"

#define CT_DELIM_AUTO 0
#define CT_DELIM_SPACE ' ' /* runs of blanks (spaces/tabs) separate fields */

typedef struct ct_field {
    const char *p; /* not NUL-terminated */
    size_t n;
    size_t off; /* internal: offset of a quoted field's text in scratch */
} ct_field;

typedef struct ct_csv {
    const char *path;
    const char *data;
    size_t size, pos;
    uint64_t line;      /* 1-based line where the current row starts */
    size_t row_start;   /* offset of the current row's first byte */
    uint64_t next_line; /* line where the next row starts */
    int delim;
    ct_field *f;
    size_t nf, capf;
    char *scratch; /* unescaped quoted fields of the current row */
    size_t scap;
    int fd;
    size_t dropped; /* pages below this offset were given back (MADV_DONTNEED) */
    /* A log being decompressed (ct_csv_open_stream): data is a reserved
     * address range, mapped from the file as it grows; size is what is
     * mapped so far, eof once it is all of it. */
    struct ct_dstream *ds;
    size_t reserve, hint;
    int eof;
} ct_csv;

/* Open `path` read-only and map it.  CT_ENOENT when missing; CT_EDATA when
 * empty (0 bytes). */
ct_status ct_csv_open(ct_csv *c, const char *path, int delim, ct_error *err);
/* As ct_csv_open on an open descriptor (taken over: closed by ct_csv_close);
 * path names the input in messages. */
ct_status ct_csv_open_fd(ct_csv *c, int fd, const char *path, int delim, ct_error *err);
/* As ct_csv_open_fd on the descriptor of a log that ds is still writing
 * (ct_decompress_start; ds NULL: a plain file).  Rows are read as the data
 * arrives; ds is ended (its thread stopped) by ct_csv_finish or close. */
ct_status ct_csv_open_stream(ct_csv *c, int fd, const char *path, int delim,
                             struct ct_dstream *ds, ct_error *err);
/* After the last row: the decompression's own status (corrupt or truncated
 * data: CT_EDATA); CT_OK for plain files. */
ct_status ct_csv_finish(ct_csv *c, ct_error *err);
/* The input's size in bytes, or for a log still being decompressed an
 * estimate (for sizing tables and progress). */
size_t ct_csv_size_hint(const ct_csv *c);
void ct_csv_close(ct_csv *c);
/* Pick the delimiter from the first non-empty line: ',' if present, else tab,
 * else blank runs.  Only when c->delim is CT_DELIM_AUTO. */
void ct_csv_sniff(ct_csv *c);
/* Next non-empty row into c->f[0..c->nf).  Returns 1 (row), 0 (end), or -1
 * with err filled (unterminated quote, out of memory). */
int ct_csv_next(ct_csv *c, ct_error *err);

/* Copy field into a NUL-terminated buffer (cut to cap-1 bytes) for messages. */
void ct_field_str(const ct_field *f, char *buf, size_t cap);
/* Parse a decimal number (fast path for plain decimals, strtod otherwise).
 * Returns 0 on success, -1 if the whole field is not a number. */
int ct_parse_double(const char *p, size_t n, double *v);
const char *ct_delim_name(int delim);
/* Write s[0..len) as one CSV field (RFC 4180: quoted when it holds a comma,
 * quote or line break).  guard: a field that a spreadsheet would take for a
 * formula (= + - @ tab CR first) is quoted and prefixed with ' so it stays
 * text (OWASP's advice), and control bytes (ESC, ...) are written as \xNN. */
void ct_csv_quote(FILE *fp, const char *s, size_t len, int guard);

#endif
