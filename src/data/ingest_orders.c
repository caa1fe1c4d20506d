/* ingest_orders.c - orders made of line items (one transaction each, its
 * amount a compensated sum, its day the earliest line's) and returns:
 * appended as rows are read, completed after the last one, and with
 * --returns net subtracted from the purchases once they are sorted. */
#include "data/ingest_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Room for order k in the order arrays. */
static int orders_reserve(parsed *P, size_t k)
{
    if (k < P->ord_cap) {
        return 0;
    }
    size_t cap = P->ord_cap ? 2 * P->ord_cap : 1024;
    while (cap <= k) {
        cap *= 2;
    }
    uint32_t *t = realloc(P->ord_tx, cap * sizeof *t);
    if (t == NULL) {
        return -1;
    }
    P->ord_tx = t;
    double *cmp = realloc(P->ord_comp, cap * sizeof *cmp);
    if (cmp == NULL) {
        return -1;
    }
    P->ord_comp = cmp;
    int32_t *dd = realloc(P->ord_day, cap * sizeof *dd);
    if (dd == NULL) {
        return -1;
    }
    P->ord_day = dd;
    P->ord_cap = cap;
    return 0;
}

/* An order id's index, made (with no transaction yet) when new; NO_CUST when
 * memory runs out.  *fresh: it was new. */
static uint32_t order_index(parsed *P, const char *id, uint32_t n, uint32_t h, int *fresh)
{
    /* Line items of an order usually come together: reuse the last one. */
    uint32_t k = P->ord_last;
    if (k < P->orders.n && P->orders.len[k] == n &&
        memcmp(P->orders.arena + P->orders.off[k], id, n) == 0) {
        *fresh = 0;
        return k;
    }
    size_t before = P->orders.n;
    k = ct_idtab_get_h(&P->orders, id, n, h);
    P->ord_last = k;
    if (k == NO_CUST || orders_reserve(P, k) != 0) {
        return NO_CUST;
    }
    *fresh = k >= before;
    if (*fresh) {
        P->ord_tx[k] = NO_TX;
        P->ord_comp[k] = 0;
        P->ord_day[k] = CT_NO_DAY;
    }
    return k;
}

/* --returns net: a return kept aside, against the order it cancels (its
 * id without the prefix; a return line without a prefix: its own order). */
static ct_status pend_return(parsed *P, const prow *row, uint32_t cu, ct_error *err)
{
    uint32_t order = NO_TX;
    if (row->oid != NULL) {
        int fresh;
        order = order_index(P, row->oid + row->pre, row->on - row->pre,
                            ct_id_hash(row->oid + row->pre, row->on - row->pre), &fresh);
        if (order == NO_CUST) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
    }
    if (P->nret == P->retcap) {
        size_t cap = P->retcap ? 2 * P->retcap : 1024;
        void *r = realloc(P->ret, cap * sizeof *P->ret);
        if (r == NULL) {
            return ct_fail(err, CT_ENOMEM, "out of memory");
        }
        P->ret = r;
        P->retcap = cap;
    }
    P->ret[P->nret++] = (struct pending_return){cu, order, row->day, CT_NO_DAY, row->amt};
    return CT_OK;
}

/* A line of an order already seen: its amount added (Neumaier's compensated
 * sum, so the total is exact to the cent however many lines), its date the
 * earliest line's.  A second customer id on one order is a bad row. */
static ct_status add_to_order(parsed *P, rowctx *x, const ct_csv *c, const prow *row, uint32_t cu,
                              uint32_t k, ct_error *err)
{
    uint32_t t = P->ord_tx[k];
    if (P->tx.cust[t] != cu) {
        int r = ct_ingest_reject(
            x, c, row->line, &x->k->order_conflicts, x->o->skip_bad_rows, CT_EDATA,
            (unsigned)x->cl->order + 1, err,
            "order '%.*s' has two customer ids ('%.*s' and '%.*s')%s", (int)row->on, row->oid,
            (int)P->ids.len[P->tx.cust[t]], P->ids.arena + P->ids.off[P->tx.cust[t]], (int)row->n,
            row->id, x->o->skip_bad_rows ? "" : " (--on-bad-row skip leaves such rows out)");
        return r < 0 ? err->status : CT_OK;
    }
    double a = P->tx.amt[t], v = row->amt, sum = a + v;
    P->ord_comp[k] += fabs(a) >= fabs(v) ? (a - sum) + v : (v - sum) + a;
    P->tx.amt[t] = sum;
    if (row->day < P->tx.day[t]) {
        P->tx.day[t] = row->day;
    }
    return CT_OK;
}

/* Intern the row's id and append the transaction (or add the line to its order). */
ct_status ct_ingest_append_row(parsed *P, rowctx *x, const ct_csv *c, const prow *row,
                            uint32_t *prev, ct_ingest_report *rep, ct_error *err)
{
    /* Logs often list a customer's rows together: reuse the last id. */
    uint32_t cu = *prev;
    if (cu == NO_CUST || P->ids.len[cu] != row->n ||
        memcmp(P->ids.arena + P->ids.off[cu], row->id, row->n) != 0) {
        cu = ct_idtab_get_h(&P->ids, row->id, row->n, row->h);
    }
    *prev = cu;
    if (cu == NO_CUST) {
        return ct_fail(err, CT_ENOMEM, "out of memory after %zu transactions", P->tx.n);
    }
    rep->first_day = row->day < rep->first_day ? row->day : rep->first_day;
    rep->last_day = row->day > rep->last_day ? row->day : rep->last_day;
    if (row->ret && x->o->returns == CT_RETURNS_NET) {
        return pend_return(P, row, cu, err);
    }
    if (row->oid != NULL) {
        int fresh;
        uint32_t k = order_index(P, row->oid, row->on, row->oh, &fresh);
        if (k == NO_CUST) {
            return ct_fail(err, CT_ENOMEM, "out of memory after %zu orders", P->orders.n);
        }
        if (P->ord_tx[k] != NO_TX) {
            return add_to_order(P, x, c, row, cu, k, err);
        }
        P->ord_tx[k] = (uint32_t)P->tx.n;
    }
    if (P->tx.n == P->tx.cap && ct_txlog_reserve(&P->tx, P->tx.cap + P->tx.cap / 2 + 1024) != 0) {
        return ct_fail(err, CT_ENOMEM, "out of memory after %zu transactions", P->tx.n);
    }
    P->tx.cust[P->tx.n] = cu;
    P->tx.day[P->tx.n] = row->day;
    P->tx.amt[P->tx.n] = row->amt;
    P->tx.n++;
    return CT_OK;
}

/* After the last row: the orders' compensation terms added, and orders (or
 * line items) of amount <= 0 - only free items; returns unless kept - left
 * out and counted. */
void ct_ingest_finish_orders(parsed *P, const ct_ingest_opts *o, ct_ingest_report *rep)
{
    rep->orders = 0;
    for (size_t k = 0; k < P->orders.n; k++) {
        if (P->ord_tx[k] != NO_TX) {
            P->tx.amt[P->ord_tx[k]] += P->ord_comp[k];
            rep->orders++;
        }
    }
    for (size_t i = 0; i < P->nret; i++) { /* the day of the order a return cancels */
        struct pending_return *q = &P->ret[i];
        uint32_t t = q->order != NO_TX ? P->ord_tx[q->order] : NO_TX;
        if (t != NO_TX && P->tx.cust[t] == q->cust) {
            q->target = P->tx.day[t];
        }
    }
    if (o->order_col == NULL && o->quantity_col == NULL) {
        return;
    }
    int keep_neg = o->returns == CT_RETURNS_KEEP || o->allow_negative;
    size_t m = 0;
    for (size_t t = 0; t < P->tx.n; t++) {
        double a = P->tx.amt[t];
        if (a == 0 || (a < 0 && !keep_neg)) {
            rep->zero_orders++;
            continue;
        }
        P->tx.cust[m] = P->tx.cust[t];
        P->tx.day[m] = P->tx.day[t];
        P->tx.amt[m] = a;
        m++;
    }
    P->tx.n = m;
}

static int cmp_return(const void *pa, const void *pb, void *ctx)
{
    const sorted *S = ctx;
    const struct pending_return *a = pa, *b = pb;
    uint32_t ra = S->final[a->cust], rb = S->final[b->cust];
    if (ra != rb) {
        return ra < rb ? -1 : 1;
    }
    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }
    if (a->target != b->target) {
        return a->target < b->target ? -1 : 1;
    }
    return (a->amt > b->amt) - (a->amt < b->amt);
}

/* Subtract a return (amt < 0) from the customer's purchases [a, b) (by day):
 * first the purchase on the cancelled order's day (target), else the latest
 * on or before the return's day, then earlier ones while some is left; no
 * purchase goes below 0.  1 when it found a purchase to net against. */
static int net_one(sorted *S, size_t a, size_t b, const struct pending_return *q)
{
    size_t j = b;
    for (size_t k = a; k < b && q->target != CT_NO_DAY; k++) {
        j = S->day[k] == q->target ? k : j;
    }
    if (j == b) {
        for (size_t k = a; k < b && S->day[k] <= q->day; k++) {
            j = k;
        }
    }
    if (j == b) {
        return 0;
    }
    double left = -q->amt;
    for (size_t k = j + 1; k-- > a && left > 0;) {
        double take = S->amt[k] < left ? S->amt[k] : left;
        S->amt[k] -= take;
        left -= take;
    }
    return 1;
}

/* The pending returns against the sorted purchases, in an order that does not
 * depend on the input's (customer, day, target, amount). */
void ct_ingest_net_returns(parsed *P, sorted *S, ct_ingest_report *rep)
{
    if (P->nret == 0) {
        return;
    }
    qsort_r(P->ret, P->nret, sizeof *P->ret, cmp_return, S);
    for (size_t i = 0, j; i < P->nret; i = j) { /* one customer's returns at a time */
        uint32_t r = S->final[P->ret[i].cust];
        int netted = 0;
        for (j = i; j < P->nret && S->final[P->ret[j].cust] == r; j++) {
            if (r != NO_CUST && net_one(S, S->off[r], S->off[r + 1], &P->ret[j])) {
                netted = 1;
            } else {
                rep->returns_unmatched++;
            }
        }
        if (netted) { /* was the spend brought to 0? */
            double tot = 0;
            for (size_t k = S->off[r]; k < S->off[r + 1]; k++) {
                tot += S->amt[k];
            }
            rep->net_zero += tot <= 0;
        }
    }
}
