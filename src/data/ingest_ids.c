/* ingest_ids.c - customer ids: interned in a hash table (open addressing)
 * as rows are read, then ordered (all-digit ids by value, the rest bytewise). */
#include "data/ingest_internal.h"
#include "core/mem_internal.h"
#include "core/sort_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- id interning ------------------------------------------------------- */


/* Eight bytes at a time, then MurmurHash3's 64-bit finaliser (ids are short
 * and often differ in one digit: the finaliser spreads that to every bit).
 * Only the table's speed depends on it: ids are numbered as first seen. */
uint32_t ct_id_hash(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    if (i < n) { /* the last 8 bytes (overlapping), or the few there are */
        w = 0;
        if (n >= 8) {
            memcpy(&w, p + n - 8, 8);
        } else {
            for (size_t k = 0; k < n; k++) {
                w |= (uint64_t)(unsigned char)p[k] << (8 * k);
            }
        }
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

void ct_idtab_free(idtab *t)
{
    free(t->slot);
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->hash);
    memset(t, 0, sizeof *t);
}

static idslot *slots_alloc(size_t cap)
{
    return ct_calloc_table(cap, sizeof(idslot));
}

int ct_idtab_init(idtab *t, size_t expect)
{
    size_t cap = 1024;
    memset(t, 0, sizeof *t);
    while (cap < expect * 2) {
        cap *= 2;
    }
    t->slot = slots_alloc(cap);
    t->mask = cap - 1;
    return t->slot != NULL ? 0 : -1;
}

static int idtab_grow(idtab *t)
{
    size_t cap = (t->mask + 1) * 2;
    idslot *s = slots_alloc(cap);
    if (s == NULL) {
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t h = t->hash[i] & (cap - 1);
        while (s[h].cust != 0) {
            h = (h + 1) & (cap - 1);
        }
        s[h].cust = (uint32_t)i + 1;
        s[h].hash = t->hash[i];
    }
    free(t->slot);
    t->slot = s;
    t->mask = cap - 1;
    return 0;
}

/* Slot where id p[0..n) (hash h) is or would go; *found its customer or NO_CUST. */
static size_t idtab_probe(const idtab *t, const char *p, size_t n, uint32_t h, uint32_t *found)
{
    size_t i = h & t->mask;
    for (;;) {
        const idslot *sl = &t->slot[i];
        if (sl->cust == 0) {
            *found = NO_CUST;
            return i;
        }
        uint32_t s = sl->cust - 1;
        if (sl->hash == h && t->len[s] == n && memcmp(t->arena + t->off[s], p, n) == 0) {
            *found = s;
            return i;
        }
        i = (i + 1) & t->mask;
    }
}

uint32_t ct_idtab_find(const idtab *t, const char *p, size_t n)
{
    uint32_t found;
    (void)idtab_probe(t, p, n, ct_id_hash(p, n), &found);
    return found;
}

void ct_idtab_prefetch(const idtab *t, uint32_t h)
{
    __builtin_prefetch(&t->slot[h & t->mask]);
}

/* Customer index of id p[0..n): existing or new.  NO_CUST on out of memory. */
uint32_t ct_idtab_get(idtab *t, const char *p, size_t n)
{
    return ct_idtab_get_h(t, p, n, ct_id_hash(p, n));
}

uint32_t ct_idtab_get_h(idtab *t, const char *p, size_t n, uint32_t h)
{
    uint32_t found;
    size_t i = idtab_probe(t, p, n, h, &found);
    if (found != NO_CUST) {
        return found;
    }
    if (t->n >= UINT32_MAX - 1) {
        return NO_CUST;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4096;
        uint64_t *o = realloc(t->off, nc * sizeof *o);
        if (o == NULL) {
            return NO_CUST;
        }
        t->off = o;
        uint32_t *l = realloc(t->len, nc * sizeof *l);
        if (l == NULL) {
            return NO_CUST;
        }
        t->len = l;
        uint32_t *hh = realloc(t->hash, nc * sizeof *hh);
        if (hh == NULL) {
            return NO_CUST;
        }
        t->hash = hh;
        t->cap = nc;
    }
    if (t->alen + n > t->acap) {
        size_t nc = (t->alen + n) * 2 + 65536;
        char *a = realloc(t->arena, nc);
        if (a == NULL) {
            return NO_CUST;
        }
        t->arena = a;
        t->acap = nc;
    }
    memcpy(t->arena + t->alen, p, n);
    t->off[t->n] = t->alen;
    t->len[t->n] = (uint32_t)n;
    t->hash[t->n] = h;
    t->alen += n;
    t->maxlen = n > t->maxlen ? n : t->maxlen;
    t->slot[i].cust = (uint32_t)t->n + 1;
    t->slot[i].hash = h;
    t->n++;
    if (t->n * 2 > t->mask + 1 && idtab_grow(t) != 0) {
        return NO_CUST;
    }
    return (uint32_t)(t->n - 1);
}

/* ---- id order: all-digit ids numerically, then the rest bytewise ------- */

int ct_all_digits(const char *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* The order of ids as a 64-bit key where it decides: all-digit ids of up to
 * 18 significant digits map to their value (below 2^63), other ids to 2^63 +
 * their first 7 bytes (big-endian, bytewise order).  Equal keys of non-numeric
 * or long ids are then ordered by the full comparison (cmp_full). */
static uint64_t id_key(const char *p, size_t n, int *exact)
{
    if (ct_all_digits(p, n)) {
        size_t n0 = n;
        while (n > 1 && *p == '0') {
            p++;
            n--;
        }
        if (n <= 18) {
            uint64_t v = 0;
            for (size_t i = 0; i < n; i++) {
                v = v * 10 + (uint64_t)(p[i] - '0');
            }
            *exact = n == n0; /* "9" and "09" share a key: break the tie fully */
            return v;
        }
        *exact = 0;
        return (1ULL << 63) - 1; /* longer numbers: after every short one */
    }
    uint64_t v = 0;
    for (size_t i = 0; i < 7; i++) {
        v = (v << 8) | (i < n ? (unsigned char)p[i] : 0u);
    }
    *exact = 0;
    return (1ULL << 63) | v;
}

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0) {
        return c;
    }
    return (na > nb) - (na < nb);
}

/* Full comparison of two ids with equal keys. */
static int cmp_full(const idtab *t, uint32_t a, uint32_t b)
{
    const char *sa = t->arena + t->off[a], *sb = t->arena + t->off[b];
    size_t na = t->len[a], nb = t->len[b];
    if (ct_all_digits(sa, na) && ct_all_digits(sb, nb)) {
        const char *ta = sa, *tb = sb;
        size_t ma = na, mb = nb;
        while (ma > 1 && *ta == '0') {
            ta++;
            ma--;
        }
        while (mb > 1 && *tb == '0') {
            tb++;
            mb--;
        }
        if (ma != mb) {
            return ma < mb ? -1 : 1;
        }
        int c = memcmp(ta, tb, ma);
        if (c != 0) {
            return c;
        }
    }
    return cmp_bytes(sa, na, sb, nb);
}

/* Customers in id order into order[0..n). 0, or -1 when out of memory. */
int ct_order_ids(const idtab *t, uint32_t *order)
{
    size_t n = t->n;
    uint64_t *key = malloc((n > 0 ? n : 1) * sizeof *key);
    int all_exact = 1;
    if (key == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int exact;
        key[i] = id_key(t->arena + t->off[i], t->len[i], &exact);
        all_exact &= exact;
        order[i] = (uint32_t)i;
    }
    if (ct_radix_sort_u64(key, order, n) != 0) {
        free(key);
        return -1;
    }
    if (!all_exact) {
        /* Runs of equal keys: insertion sort by the full comparison (runs are
         * short unless many ids share 7 leading bytes; then it is still correct). */
        for (size_t a = 0; a < n;) {
            size_t b = a + 1;
            while (b < n && key[b] == key[a]) {
                b++;
            }
            for (size_t i = a + 1; i < b; i++) {
                uint32_t v = order[i];
                size_t j = i;
                while (j > a && cmp_full(t, order[j - 1], v) > 0) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = v;
            }
            a = b;
        }
    }
    free(key);
    return 0;
}

/* ---- header and columns ------------------------------------------------ */

