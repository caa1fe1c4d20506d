/* csv.c - RFC 4180 tokenizer (quotes, "" escapes, CRLF) over mmap, plus a fast
 * decimal parser.  Ref: RFC 4180; W. Clinger, "How to read floating point
 * numbers accurately", PLDI 1990 (the exact fast path: integer mantissa
 * < 2^53 divided by an exact power of ten <= 10^22 is correctly rounded). */
#include "data/csv_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

void ct_csv_close(ct_csv *c)
{
    if (c->data != NULL) {
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

static int push_field(ct_csv *c, const char *p, size_t n)
{
    if (c->nf == c->capf) {
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

int ct_csv_next(ct_csv *c, ct_error *err)
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
                    while (i < n && d[i] != delim && d[i] != '\n' && d[i] != '\r') {
                        i++;
                    }
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
    int ndig = 0, frac = 0, seen_point = 0;

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
    for (; i < n; i++) {
        char ch = p[i];
        if (ch >= '0' && ch <= '9') {
            if (ndig >= 18) {
                goto slow;
            }
            mant = mant * 10 + (uint64_t)(ch - '0');
            if (mant != 0 || seen_point) {
                ndig++;
            }
            frac += seen_point;
        } else if (ch == '.' && !seen_point) {
            seen_point = 1;
        } else {
            goto slow;
        }
    }
    if (i == start + (size_t)(p[start] == '-' || p[start] == '+') ||
        (seen_point && n - start == 1 + (size_t)(p[start] == '-' || p[start] == '+'))) {
        return -1; /* "", "-", "." */
    }
    if (mant < (1ULL << 53) && frac <= 22) {
        double x = (double)mant / pow10tab[frac];
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
