/* schema_customers.c - the one reader and writer of /customers (ct_customers). */
#include "clvtier/schema.h"
#include "clvtier/comm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem_internal.h"
#include <string.h>

ct_status ct_customers_write(ct_file *f, const ct_customers *c, ct_error *err)
{
    ct_colspec spec[20];
    const void *data[20];
    size_t k = 0;

#define COL(nm, ty, ptr)                                                                       \
    do {                                                                                       \
        if ((ptr) != NULL) {                                                                   \
            spec[k].name = (nm);                                                               \
            spec[k].type = (ty);                                                               \
            spec[k].width = 0;                                                                 \
            data[k++] = (ptr);                                                                 \
        }                                                                                      \
    } while (0)
    if (c->ids != NULL) {
        spec[k].name = "id";
        spec[k].type = CT_STRING;
        spec[k].width = c->id_width;
        data[k++] = c->ids;
    }
    COL("x", CT_FLOAT64, c->x);
    COL("t_x", CT_FLOAT64, c->t_x);
    COL("T", CT_FLOAT64, c->T);
    COL("m", CT_FLOAT64, c->m);
    COL("total", CT_FLOAT64, c->total);
    COL("n", CT_INT64, c->ntx);
    COL("first_day", CT_INT32, c->first_day);
    COL("last_day", CT_INT32, c->last_day);
    COL("x_star", CT_FLOAT64, c->x_star);
    COL("m_star", CT_FLOAT64, c->m_star);
    COL("weight", CT_FLOAT64, c->weight);
    COL("r_score", CT_INT8, c->r_score);
    COL("f_score", CT_INT8, c->f_score);
    COL("m_score", CT_INT8, c->m_score);
    COL("rfm", CT_INT32, c->rfm);
#undef COL
    return ct_tw_write_table(f, "/customers", spec, k, data, c->n, c->ids != NULL ? "id" : NULL,
                             err);
}

/* The first of `names` that t has, or -1. */
static long find_any(const ct_table *t, const char *const *names)
{
    for (const char *const *nm = names; *nm != NULL; nm++) {
        long j = ct_table_find(t, *nm);
        if (j >= 0) {
            return j;
        }
    }
    return -1;
}

/* Rows [row0, row0 + n) of column j of t as f64, or NULL (and CT_OK) if
 * absent and optional. */
static ct_status opt_col(const ct_table *t, const char *const *names, int required,
                         const char *path, const char *group, size_t row0, size_t n,
                         double **out, ct_error *err)
{
    *out = NULL;
    long j = find_any(t, names);
    if (j >= 0) {
        *out = ct_malloc_big(n, sizeof **out);
        if (*out == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        return ct_table_read(t, (size_t)j, row0, n, CT_FLOAT64, *out, err);
    }
    if (required) {
        return ct_fail_at(err, CT_EFORMAT, path, 0, 0, "table %s has no column '%s'", group,
                          names[0]);
    }
    return CT_OK;
}

ct_status ct_customers_read(const ct_file *f, const char *group, ct_customers *c, ct_error *err)
{
    return ct_customers_read_flags(f, group, 0, c, err);
}

ct_status ct_customers_read_flags(const ct_file *f, const char *group, unsigned flags,
                                  ct_customers *c, ct_error *err)
{
    return ct_customers_read_part(f, group, flags, 0, 1, c, err);
}

static const char *const NX[] = {"x", "frequency", NULL};

/* Parts cut at whole chunks of x (so each rank reads its own chunks), or at
 * CT_SUM_BLOCK rows when the chunks are not a multiple of it (so
 * block-ordered sums come out the same for any number of ranks). */
static void part_rows(const ct_table *t, size_t part, size_t nparts, size_t *row0, size_t *n)
{
    long jx = find_any(t, NX);
    size_t N = ct_table_nrows(t), ch = jx >= 0 ? ct_table_chunk(t, (size_t)jx) : 0;
    size_t align = ch > 0 && ch % CT_SUM_BLOCK == 0 ? ch : CT_SUM_BLOCK;
    size_t nal = (N + align - 1) / align, r0 = nal * part / nparts * align;
    size_t r1 = nal * (part + 1) / nparts * align;
    *row0 = r0 < N ? r0 : N;
    *n = (r1 < N ? r1 : N) - *row0;
}

ct_status ct_customers_part_rows(const ct_file *f, const char *group, size_t part, size_t nparts,
                                 size_t *row0, size_t *n, size_t *total, ct_error *err)
{
    ct_table *t;
    ct_status s = ct_table_open(&t, f, group, err);
    if (s == CT_OK) {
        part_rows(t, part, nparts, row0, n);
        *total = ct_table_nrows(t);
        ct_table_close(t);
    }
    return s;
}

ct_status ct_customers_read_part(const ct_file *f, const char *group, unsigned flags,
                                 size_t part, size_t nparts, ct_customers *c, ct_error *err)
{
    ct_table *t;
    ct_status s;
    static const char *const ntx[] = {"t_x", "recency", NULL};
    static const char *const nT[] = {"T", "periods", NULL};
    static const char *const nm[] = {"m", "monetary_value", "zbar", NULL};
    static const char *const nw[] = {"weight", "weights", "count", NULL};
    static const char *const nxs[] = {"x_star", NULL};
    static const char *const nms[] = {"m_star", NULL};

    memset(c, 0, sizeof *c);
    s = ct_table_open(&t, f, group, err);
    if (s != CT_OK) {
        return s;
    }
    size_t row0;
    part_rows(t, part, nparts, &row0, &c->n);
    c->row0 = row0;
    const char *path = ct_file_path(f);
    CT_TRY(opt_col(t, NX, 1, path, group, row0, c->n, &c->x, err));
    CT_TRY(opt_col(t, ntx, 1, path, group, row0, c->n, &c->t_x, err));
    CT_TRY(opt_col(t, nT, 1, path, group, row0, c->n, &c->T, err));
    CT_TRY(opt_col(t, nm, 0, path, group, row0, c->n, &c->m, err));
    CT_TRY(opt_col(t, nw, 0, path, group, row0, c->n, &c->weight, err));
    if (!(flags & CT_READ_NO_HOLDOUT)) {
        CT_TRY(opt_col(t, nxs, 0, path, group, row0, c->n, &c->x_star, err));
        CT_TRY(opt_col(t, nms, 0, path, group, row0, c->n, &c->m_star, err));
    }
    long jid = ct_table_find(t, "id");
    if (jid >= 0 && ct_table_coltype(t, (size_t)jid) == CT_STRING && !(flags & CT_READ_NO_IDS)) {
        size_t w;
        CT_TRY(ct_table_strwidth(t, (size_t)jid, &w, err));
        c->id_width = ct_str_width(w);
        c->ids = calloc(c->n > 0 ? c->n : 1, c->id_width);
        if (c->ids == NULL) {
            CT_FAIL(err, CT_ENOMEM, "out of memory");
        }
        CT_TRY(ct_table_read_str(t, (size_t)jid, row0, c->n, c->ids, c->id_width, err));
    }
done:
    ct_table_close(t);
    if (s != CT_OK) {
        ct_customers_free(c);
    }
    return s;
}

