/* ingest_internal.h - what the parts of ingest share (not installed): the id
 * table, the transaction arrays, the parsed rows and their counts, and the
 * orders and returns (ingest_orders.c). */
#ifndef CLVTIER_INGEST_INTERNAL_H
#define CLVTIER_INGEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/ingest.h"
#include "clvtier/outfile.h"
#include "clvtier/store.h"
#include "data/csv_internal.h"

#define MAX_ID_BYTES 1024
#define NO_CUST UINT32_MAX

typedef struct idslot {
    uint32_t cust; /* 0 = empty, else customer + 1 */
    uint32_t hash;
} idslot;

typedef struct idtab {
    idslot *slot; /* open addressing, linear probing, load <= 1/2 */
    size_t mask;
    char *arena;
    size_t alen, acap;
    uint64_t *off; /* id i is arena[off[i] .. off[i] + len[i]) */
    uint32_t *len, *hash;
    size_t n, cap;
    size_t maxlen;
} idtab;

/* The id table (ingest_ids.c): expect ~ids to come; the index of an id or
 * NO_CUST; whether p[0..n) is all digits; the ids in output order (all-digit
 * ids by value, then the rest bytewise) into order[0..n); 0 or -1. */
void ct_idtab_free(idtab *t);
int ct_idtab_init(idtab *t, size_t expect);
uint32_t ct_idtab_find(const idtab *t, const char *p, size_t n);
int ct_all_digits(const char *p, size_t n);
int ct_order_ids(const idtab *t, uint32_t *order);
/* Customer index of id p[0..n): existing or new.  NO_CUST on out of memory.
 * _h: with its hash h = ct_id_hash(p, n) computed before (by the parser
 * thread), which also lets the consumer prefetch the slot rows ahead. */
uint32_t ct_idtab_get(idtab *t, const char *p, size_t n);
uint32_t ct_idtab_get_h(idtab *t, const char *p, size_t n, uint32_t h);
uint32_t ct_id_hash(const char *p, size_t n);
void ct_idtab_prefetch(const idtab *t, uint32_t h);

typedef struct txlog {
    uint32_t *cust;
    int32_t *day;
    double *amt;
    size_t n, cap;
} txlog;

/* Room for cap transactions; 0, or -1 out of memory. */
int ct_txlog_reserve(txlog *t, size_t cap);

typedef struct parsed {
    idtab ids;
    txlog tx;
    int has_amount;
    /* --order: order ids, the transaction of each, compensation terms of
     * their amounts' sums (Neumaier) */
    idtab orders;
    uint32_t *ord_tx; /* NO_TX: an order known only from a return naming it */
    double *ord_comp;
    int32_t *ord_day; /* (NET) the order's day, for the returns naming it */
    size_t ord_cap;
    uint32_t ord_last; /* the last order looked up (compared by its id: 0 at the start is safe) */
    /* --returns net: the returns, netted once every purchase is known */
    struct pending_return {
        uint32_t cust, order; /* order: the one it cancels, or NO_TX */
        int32_t day, target;  /* target: that order's day, or CT_NO_DAY */
        double amt;           /* < 0 */
    } *ret;
    size_t nret, retcap;
} parsed;
#define NO_TX UINT32_MAX

typedef struct cols {
    long id, date, amt, qty, price, order, need;
    int has_amount;
} cols;

/* One parsed row: the ids point into the mapped file (quote-free input) or
 * the tokenizer's row buffer (serial path, used before the next row). */
typedef struct prow {
    const char *id, *oid; /* oid: the order id (NULL without --order) */
    uint32_t n, on;
    uint32_t h, oh; /* ct_id_hash of id and oid */
    uint32_t pre; /* a return: the length of its order id's cancel prefix; else 0 */
    int ret;
    int32_t day;
    double amt;
    uint64_t line;
} prow;

#define DATE_KEY 32    /* longest date text cached */
#define DATE_SLOTS 1024

/* What the parser counts, and where rejected rows go. */
typedef struct rowctx {
    const ct_ingest_opts *o;
    const cols *cl;
    ct_outfile *bad; /* --bad-rows, or NULL */
    ct_ingest_report *k; /* the counts: the run's report, or the parser thread's own */
    const ct_tz *tz;      /* --timezone, or NULL */
    char idbuf[4 * MAX_ID_BYTES]; /* an id converted to UTF-8 (serial parsing only) */
    struct date_slot {              /* dates already parsed (parse_day in ingest.c) */
        char text[DATE_KEY];
        unsigned char n;            /* 0: empty */
        int32_t day;
    } dates[DATE_SLOTS];
} rowctx;

/* A rejected row: skipped and counted (and written to --bad-rows) when the
 * options allow it (0), else the error (-1). */
int ct_ingest_reject(rowctx *x, const ct_csv *c, uint64_t line, uint64_t *counter, int skip,
                     ct_status st, unsigned col, ct_error *err, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

typedef struct sorted {
    int32_t *day;
    double *amt;
    size_t *off;      /* ncust + 1 */
    uint32_t *order;  /* customers in id order (interned indices) */
    uint32_t *final;  /* interned index -> row of /customers, NO_CUST if left out */
    size_t ncust, ntx;
} sorted;

/* Intern the row's id and append the transaction, add the line to its
 * order, or keep a return aside (--returns net). */
ct_status ct_ingest_append_row(parsed *P, rowctx *x, const ct_csv *c, const prow *row,
                               uint32_t *prev, ct_ingest_report *rep, ct_error *err);
/* After the last row: orders' sums completed, orders of amount <= 0 left out. */
void ct_ingest_finish_orders(parsed *P, const ct_ingest_opts *o, ct_ingest_report *rep);
/* --returns net, once the purchases are sorted. */
void ct_ingest_net_returns(parsed *P, sorted *S, ct_ingest_report *rep);

/* Shared with the joins of extra files (ingest.c): a column by name or
 * 1-based index (-1 with err filled); duplicate header names; trimming a
 * field; a cell that holds a value (neither empty nor NA); the default
 * names of the id and date columns. */
long ct_ingest_resolve_col(const ct_csv *c, int header, const char *spec,
                           const char *const *defaults, long default_index, const char *role,
                           const char *option, ct_error *err);
ct_status ct_ingest_check_duplicates(const ct_csv *c, ct_error *err);
void ct_ingest_trim(const char **p, size_t *n);
int ct_ingest_has_value(const char *p, size_t n);
extern const char *const ct_ingest_id_names[];
/* The /customers row of the id in field f (trimmed into *p, *n), or
 * NO_CUST when it is no customer's. */
uint32_t ct_ingest_customer_row(const idtab *ids, const sorted *S, const ct_field *f,
                                const char **p, size_t *n);
extern const char *const ct_ingest_date_names[];

/* ingest --dynamic-covariates (ingest_dynamic.c): the file o->dynamic_path
 * into /dynamic_covariates and /dynamic_sums of out, checked against the
 * customers (cust, their days in S) and the calibration end. */
ct_status ct_ingest_dynamic(ct_file *out, const ct_ingest_opts *o, const idtab *ids,
                            const sorted *S, const ct_customers *cust, int32_t cal_end,
                            ct_ingest_report *rep, ct_error *err);

#endif
