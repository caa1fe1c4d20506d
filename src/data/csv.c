/* csv.c - RFC 4180 tokenizer (quotes, "" escapes, CRLF) over mmap, plus a fast
 * decimal parser.  Ref: RFC 4180; W. Clinger, "How to read floating point
 * numbers accurately", PLDI 1990 (the exact fast path: integer mantissa
 * < 2^53 divided by an exact power of ten <= 10^22 is correctly rounded). */
#include "data/csv_internal.h"
#include "data/decompress_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

ct_status ct_csv_open(ct_csv *c, const char *path, int delim, ct_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        memset(c, 0, sizeof *c);
        c->fd = -1;
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    return ct_csv_open_fd(c, fd, path, delim, err);
}

ct_status ct_csv_open_fd(ct_csv *c, int fd, const char *path, int delim, ct_error *err)
{
    struct stat st;

    memset(c, 0, sizeof *c);
    c->path = path;
    c->delim = delim;
    c->line = c->next_line = 1;
    c->fd = fd;
    if (fstat(c->fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        close(c->fd);
        c->fd = -1;
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot read: %s", strerror(e));
    }
    if (st.st_size == 0) {
        close(c->fd);
        c->fd = -1;
        return ct_fail_at(err, CT_EDATA, path, 0, 0, "empty file (0 bytes)");
    }
    c->size = (size_t)st.st_size;
    c->eof = 1;
    void *m = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, c->fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return ct_fail_at(err, CT_EIO, path, 0, 0, "cannot map: %s", strerror(e));
    }
    (void)madvise(m, c->size, MADV_SEQUENTIAL);
    c->data = m;
    if (c->size >= 3 && memcmp(c->data, "\xEF\xBB\xBF", 3) == 0) {
        c->pos = 3; /* a UTF-8 byte order mark (spreadsheet exports) */
    }
    return CT_OK;
}

/* ---- logs being decompressed: the reserved range mapped as it fills ---- */

#define PAGE ((size_t)4096)

/* Map what the decompressing thread has written beyond c->size (waiting
 * for it): 1 more data, 0 none (the end), -1 error. */
static int stream_more(ct_csv *c, ct_error *err)
{
    if (c->eof) {
        return 0;
    }
    int done; /* at least a page more, or the end */
    size_t w = ct_dstream_wait(c->ds, c->size + PAGE, &done);
    /* whole pages while it is written; at the end all (the page holding the
     * end of the file may be mapped whole) */
    size_t upto = done ? (w + PAGE - 1) / PAGE * PAGE : w / PAGE * PAGE;
    size_t from = (c->size + PAGE - 1) / PAGE * PAGE;
    if (done && w == c->size) {
        c->eof = 1;
        return 0;
    }
    if (upto > c->reserve) {
        ct_fail_at(err, CT_ENOMEM, c->path, 0, 0,
                   "decompressed log larger than the %zu GiB reserved for it "
                   "(decompress it first)",
                   c->reserve >> 30);
        return -1;
    }
    if (upto > from &&
        mmap((void *)(uintptr_t)(c->data + from), upto - from, PROT_READ, MAP_PRIVATE | MAP_FIXED,
             c->fd, (off_t)from) == MAP_FAILED) {
        ct_fail_at(err, CT_EIO, c->path, 0, 0, "cannot map the decompressed log: %s",
                   strerror(errno));
        return -1;
    }
    size_t was = c->size;
    c->size = done ? w : upto;
    c->eof = done;
    return c->size > was ? 1 : 0;
}

ct_status ct_csv_open_stream(ct_csv *c, int fd, const char *path, int delim,
                             struct ct_dstream *ds, ct_error *err)
{
    if (ds == NULL) {
        return ct_csv_open_fd(c, fd, path, delim, err);
    }
    memset(c, 0, sizeof *c);
    c->path = path;
    c->delim = delim;
    c->line = c->next_line = 1;
    c->fd = fd;
    c->ds = ds;
    c->hint = 5 * ct_dstream_input_size(ds);
    /* address space only (no memory): the log is mapped into it piece by
     * piece, so the rows already handed out never move */
    void *m = MAP_FAILED;
    for (size_t r = (size_t)1 << 40; m == MAP_FAILED && r >= ((size_t)1 << 32); r >>= 2) {
        m = mmap(NULL, r, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        c->reserve = r;
    }
    if (m == MAP_FAILED) { /* (ulimit -v) decompress it all first, map it whole */
        int done = 0;
        for (size_t w = 0; !done;) {
            w = ct_dstream_wait(ds, w + PAGE, &done);
        }
        ct_status st = ct_dstream_end(ds, err);
        if (st != CT_OK) {
            close(fd);
            c->fd = -1;
            return st;
        }
        return ct_csv_open_fd(c, fd, path, delim, err);
    }
    c->data = m;
    while (c->size < 65536 && !c->eof) { /* enough for the header, the BOM and sniffing */
        if (stream_more(c, err) < 0) {
            ct_csv_close(c);
            return err->status;
        }
    }
    if (c->size == 0) {
        ct_status st = ct_csv_finish(c, err);
        ct_csv_close(c);
        return st != CT_OK ? st : ct_fail_at(err, CT_EDATA, path, 0, 0, "empty file (0 bytes)");
    }
    if (c->size >= 3 && memcmp(c->data, "\xEF\xBB\xBF", 3) == 0) {
        c->pos = 3;
    }
    return CT_OK;
}

ct_status ct_csv_finish(ct_csv *c, ct_error *err)
{
    ct_status st = ct_dstream_end(c->ds, err);
    c->ds = NULL;
    return st;
}

size_t ct_csv_size_hint(const ct_csv *c)
{
    return c->eof || c->ds == NULL ? c->size : c->hint > c->size ? c->hint : c->size;
}

void ct_csv_close(ct_csv *c)
{
    if (c->ds != NULL) {
        (void)ct_dstream_end(c->ds, NULL); /* its thread stops writing to c->fd */
    }
    if (c->reserve != 0) {
        munmap((void *)(uintptr_t)c->data, c->reserve);
    } else if (c->data != NULL) {
        munmap((void *)(uintptr_t)c->data, c->size);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->f);
    free(c->scratch);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

const char *ct_delim_name(int delim)
{
    switch (delim) {
    case ',':
        return "comma";
    case '\t':
        return "tab";
    case ';':
        return "semicolon";
    case CT_DELIM_SPACE:
        return "whitespace";
    default:
        return "auto";
    }
}

void ct_csv_sniff(ct_csv *c)
{
    if (c->delim != CT_DELIM_AUTO) {
        return;
    }
    size_t i = c->pos;
    while (i < c->size && (c->data[i] == '\n' || c->data[i] == '\r')) {
        i++;
    }
    const char *nl = memchr(c->data + i, '\n', c->size - i);
    size_t end = nl != NULL ? (size_t)(nl - c->data) : c->size;
    if (memchr(c->data + i, ',', end - i) != NULL) {
        c->delim = ',';
    } else if (memchr(c->data + i, '\t', end - i) != NULL) {
        c->delim = '\t';
    } else {
        c->delim = CT_DELIM_SPACE;
    }
}

static inline int push_field(ct_csv *c, const char *p, size_t n)
{
    if (__builtin_expect(c->nf == c->capf, 0)) {
        size_t nc = c->capf ? c->capf * 2 : 16;
        ct_field *q = realloc(c->f, nc * sizeof *q);
        if (q == NULL) {
            return -1;
        }
        c->f = q;
        c->capf = nc;
    }
    c->f[c->nf].p = p;
    c->f[c->nf].n = n;
    c->f[c->nf].off = 0;
    c->nf++;
    return 0;
}

/* End of the unquoted field that starts at i: the first delimiter, CR or LF
 * at or after i, or n.  Sixteen bytes at a time where SSE2 is there (x86-64
 * always); the loads stay inside d[0..n). */
static size_t field_end(const char *d, size_t i, size_t n, int delim)
{
#ifdef __SSE2__
    const __m128i vd = _mm_set1_epi8((char)delim), vn = _mm_set1_epi8('\n'),
                  vr = _mm_set1_epi8('\r');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vd), _mm_cmpeq_epi8(v, vn)),
                                   _mm_cmpeq_epi8(v, vr));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0) {
            return i + (size_t)__builtin_ctz(m);
        }
    }
#endif
    while (i < n && d[i] != delim && d[i] != '\n' && d[i] != '\r') {
        i++;
    }
    return i;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Parse a quoted field starting at c->pos (on the opening quote).  The
 * unescaped text is appended to scratch; the field keeps p = NULL and its
 * scratch offset until the row ends (scratch may move while it grows). */
static int quoted(ct_csv *c, size_t *spos, ct_error *err)
{
    size_t i = c->pos + 1;
    size_t start = *spos;
    for (;;) {
        const char *q = memchr(c->data + i, '"', c->size - i);
        if (q == NULL) {
            ct_fail_at(err, CT_EPARSE, c->path, c->line, (unsigned)c->nf + 1,
                       "unterminated quoted field");
            return -1;
        }
        size_t k = (size_t)(q - c->data) - i;
        if (*spos + k + 1 > c->scap) {
            size_t nc = (*spos + k + 1) * 2 + 64;
            char *s = realloc(c->scratch, nc);
            if (s == NULL) {
                ct_fail(err, CT_ENOMEM, "out of memory");
                return -1;
            }
            c->scratch = s;
            c->scap = nc;
        }
        memcpy(c->scratch + *spos, c->data + i, k);
        for (size_t j = 0; j < k; j++) {
            if (c->data[i + j] == '\n') {
                c->next_line++;
            }
        }
        *spos += k;
        i += k + 1;
        if (i < c->size && c->data[i] == '"') {
            c->scratch[(*spos)++] = '"';
            i++;
            continue;
        }
        break;
    }
    c->pos = i;
    if (push_field(c, NULL, *spos - start) != 0) {
        ct_fail(err, CT_ENOMEM, "out of memory");
        return -1;
    }
    c->f[c->nf - 1].off = start;
    return 0;
}

static int next_row(ct_csv *c, ct_error *err);

int ct_csv_next(ct_csv *c, ct_error *err)
{
    for (;;) {
        size_t pos = c->pos;
        uint64_t line = c->next_line;
        int r = next_row(c, err);
        if (c->eof || (r == 1 && c->pos < c->size)) {
            return r;
        }
        /* a log still being decompressed: a row that reaches the end of
         * what is mapped (or an error there) may go on; map more, read it again */
        int m = stream_more(c, err);
        if (m < 0) {
            return -1;
        }
        c->pos = pos;
        c->next_line = line;
    }
}

static int next_row(ct_csv *c, ct_error *err)
{
    const char *d = c->data;
    size_t n = c->size;
    int delim = c->delim == CT_DELIM_AUTO ? ',' : c->delim;
    size_t spos = 0;
    int any_quoted = 0;

    /* Give consumed pages back every 8 MiB so that resident memory does not
     * grow with the input.  Keep the last 16 MiB: a consumer of parsed rows
     * (ingest's pipeline) may still read their ids there. */
    if (c->pos - c->dropped >= ((size_t)24 << 20)) {
        size_t page = 4096, upto = (c->pos - ((size_t)16 << 20)) / page * page;
        (void)madvise((void *)(uintptr_t)(c->data + c->dropped), upto - c->dropped,
                      MADV_DONTNEED);
        c->dropped = upto;
    }
    for (;;) {
        c->nf = 0;
        spos = 0;
        any_quoted = 0;
        c->line = c->next_line;
        if (c->pos >= n) {
            return 0;
        }
        size_t i = c->pos;
        c->row_start = i;
        /* Skip empty (and, in blank mode, blank-only) lines. */
        if (d[i] == '\n' || d[i] == '\r') {
            if (d[i] == '\n') {
                c->next_line++;
            }
            c->pos = i + 1;
            continue;
        }
        if (delim == CT_DELIM_SPACE) {
            while (i < n && is_blank(d[i])) {
                i++;
            }
            if (i >= n || d[i] == '\n' || d[i] == '\r') {
                c->pos = i;
                continue;
            }
            c->pos = i;
        }
        for (;;) {
            i = c->pos;
            if (i < n && d[i] == '"') {
                if (quoted(c, &spos, err) != 0) {
                    return -1;
                }
                any_quoted = 1;
                i = c->pos;
                if (delim == CT_DELIM_SPACE) {
                    while (i < n && is_blank(d[i])) {
                        i++;
                    }
                    c->pos = i;
                    if (i < n && d[i] != '\n' && d[i] != '\r') {
                        continue; /* next field */
                    }
                } else if (i < n && d[i] == delim) {
                    c->pos = i + 1;
                    continue;
                } else if (i < n && d[i] != '\n' && d[i] != '\r') {
                    ct_fail_at(err, CT_EPARSE, c->path, c->line, (unsigned)c->nf,
                               "text after closing quote");
                    return -1;
                }
            } else {
                size_t s = i;
                if (delim == CT_DELIM_SPACE) {
                    while (i < n && !is_blank(d[i]) && d[i] != '\n' && d[i] != '\r') {
                        i++;
                    }
                } else {
                    i = field_end(d, i, n, delim);
                }
                if (push_field(c, d + s, i - s) != 0) {
                    ct_fail(err, CT_ENOMEM, "out of memory");
                    return -1;
                }
                if (delim == CT_DELIM_SPACE) {
                    while (i < n && is_blank(d[i])) {
                        i++;
                    }
                    c->pos = i;
                    if (i < n && d[i] != '\n' && d[i] != '\r') {
                        continue;
                    }
                } else if (i < n && d[i] == delim) {
                    c->pos = i + 1;
                    if (c->pos >= n || d[c->pos] == '\n' || d[c->pos] == '\r') {
                        /* trailing delimiter: one more, empty field */
                        if (push_field(c, d + c->pos, 0) != 0) {
                            ct_fail(err, CT_ENOMEM, "out of memory");
                            return -1;
                        }
                        i = c->pos;
                    } else {
                        continue;
                    }
                }
            }
            /* end of row: consume the line ending */
            if (i < n && d[i] == '\r') {
                i++;
            }
            if (i < n && d[i] == '\n') {
                i++;
                c->next_line++;
            }
            c->pos = i;
            break;
        }
        if (any_quoted) {
            for (size_t k = 0; k < c->nf; k++) {
                if (c->f[k].p == NULL) {
                    c->f[k].p = c->scratch != NULL ? c->scratch + c->f[k].off : "";
                }
            }
        }
        return 1;
    }
}

void ct_field_str(const ct_field *f, char *buf, size_t cap)
{
    size_t k = f->n < cap - 1 ? f->n : cap - 1;
    memcpy(buf, f->p, k);
    buf[k] = '\0';
}

static const double pow10tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int ct_parse_double(const char *p, size_t n, double *v)
{
    size_t i = 0;
    int neg = 0;
    uint64_t mant = 0;

    while (n > 0 && is_blank(p[n - 1])) {
        n--;
    }
    while (i < n && is_blank(p[i])) {
        i++;
    }
    if (i == n) {
        return -1;
    }
    size_t start = i;
    if (p[i] == '-' || p[i] == '+') {
        neg = p[i] == '-';
        i++;
    }
    /* digits [. digits]: at most 18 of them fit the mantissa exactly */
    size_t d0 = i, nfrac = 0;
    for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
        mant = mant * 10 + (uint64_t)(p[i] - '0');
    }
    size_t nint = i - d0;
    if (i < n && p[i] == '.') {
        size_t f0 = ++i;
        for (; i < n && (unsigned)(p[i] - '0') <= 9; i++) {
            mant = mant * 10 + (uint64_t)(p[i] - '0');
        }
        nfrac = i - f0;
    }
    if (i != n) {
        goto slow; /* exponents, "inf", "nan", text: strtod decides */
    }
    if (nint + nfrac == 0) {
        return -1; /* "", "-", "." */
    }
    if (nint + nfrac <= 18 && mant < (1ULL << 53)) {
        double x = (double)mant / pow10tab[nfrac];
        *v = neg ? -x : x;
        return 0;
    }
slow:;
    char buf[128];
    size_t k = n - start;
    if (k >= sizeof buf) {
        return -1;
    }
    memcpy(buf, p + start, k);
    buf[k] = '\0';
    if (strpbrk(buf, "xXpP") != NULL) {
        return -1; /* strtod's hexadecimal floats ("0x10") are not amounts */
    }
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (end != buf + k || end == buf) {
        return -1;
    }
    *v = x;
    return 0;
}

void ct_csv_quote(FILE *fp, const char *s, size_t len, int guard)
{
    int quote = 0;
    for (size_t i = 0; i < len; i++) {
        quote |= s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    }
    /* a spreadsheet would run a field that starts like a formula (OWASP:
     * prefix '); control bytes (ESC ...) are written as \xNN text */
    int formula = guard && len > 0 && strchr("=+-@\t\r", s[0]) != NULL, ctrl = 0;
    for (size_t i = 0; guard && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        ctrl |= (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f;
    }
    if (!quote && !formula && !ctrl) {
        fwrite(s, 1, len, fp);
        return;
    }
    fputc('"', fp);
    if (formula) {
        fputc('\'', fp);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (s[i] == '"') {
            fputc('"', fp);
        }
        if (guard && ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f)) {
            fprintf(fp, "\\x%02x", ch);
            continue;
        }
        fputc(s[i], fp);
    }
    fputc('"', fp);
}
