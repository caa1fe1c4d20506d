/* ingest_opts.c - the options of a log's format, by name: one parser for
 * `clvtier ingest`'s and `clvtier run`'s command lines and for a model
 * file's [ingest] section, so that the three take the same options and
 * values.  Names are the long options without "--" ('_' and '-' alike). */
#include "clvtier/ingest.h"

#include <stddef.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when a and b name the same option ('-' and '_' alike). */
static int key_is(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) {
            return 0;
        }
    }
    return *a == *b;
}

static int choice(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int ct_ingest_delim_parse(const char *s)
{
    static const char *const N[] = {",", "comma", "tab", "\\t", "\t", "space", "whitespace",
                                    " ", ";", "semicolon", "auto"};
    static const int V[] = {',', ',', '\t', '\t', '\t', ' ', ' ', ' ', ';', ';', 0};
    int i = choice(s, N, (int)(sizeof N / sizeof N[0]));
    return i < 0 ? -1 : V[i];
}

int ct_ingest_opt_known(const char *key)
{
    static const char *const KEYS[] = {
        "id",       "date",       "amount",     "quantity", "price",        "order",
        "cancel-prefix", "date-format", "bad-rows", "returns", "missing-id", "on-bad-row",
        "encoding", "delimiter", "features-delimiter", "header", "max-bad-rows", "timezone"};
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        if (key_is(key, KEYS[i])) {
            return 1;
        }
    }
    return 0;
}

ct_status ct_ingest_opt_set(ct_ingest_opts *o, const char *key, const char *value, ct_error *err)
{
    static const char *const RET[] = {"drop", "keep", "net"}, *const FS[] = {"fail", "skip"};
    static const char *const ENC[] = {"utf-8", "utf8", "latin1", "iso-8859-1", "cp1252",
                                      "windows-1252"};
    static const ct_encoding ENCV[] = {CT_ENC_UTF8,   CT_ENC_UTF8,   CT_ENC_LATIN1,
                                       CT_ENC_LATIN1, CT_ENC_CP1252, CT_ENC_CP1252};
    static const struct {
        const char *key;
        size_t off;
    } COLS[] = {{"id", offsetof(ct_ingest_opts, id_col)},
                {"date", offsetof(ct_ingest_opts, date_col)},
                {"amount", offsetof(ct_ingest_opts, amount_col)},
                {"quantity", offsetof(ct_ingest_opts, quantity_col)},
                {"price", offsetof(ct_ingest_opts, price_col)},
                {"order", offsetof(ct_ingest_opts, order_col)},
                {"cancel-prefix", offsetof(ct_ingest_opts, cancel_prefix)},
                {"date-format", offsetof(ct_ingest_opts, date_format)},
                {"bad-rows", offsetof(ct_ingest_opts, bad_rows_path)},
                {"timezone", offsetof(ct_ingest_opts, timezone)}};
    for (size_t i = 0; i < sizeof COLS / sizeof COLS[0]; i++) {
        if (key_is(key, COLS[i].key)) {
            if (value[0] == '\0') {
                return ct_fail(err, CT_EINVAL, "%s: an empty value", key);
            }
            if (key_is(key, "timezone")) { /* a known zone, found now */
                ct_tz *tz;
                CT_CHECK(ct_tz_load(value, &tz, err));
                ct_tz_free(tz);
            }
            memcpy((char *)o + COLS[i].off, &value, sizeof value);
            return CT_OK;
        }
    }
    int ch;
    if (key_is(key, "returns")) {
        if ((ch = choice(value, RET, 3)) < 0) {
            return ct_fail(err, CT_EINVAL, "returns '%s' is not drop, keep or net", value);
        }
        o->returns = ch == 2 ? CT_RETURNS_NET : ch ? CT_RETURNS_KEEP : CT_RETURNS_DROP;
        o->allow_negative = ch == 1;
    } else if (key_is(key, "missing-id") || key_is(key, "on-bad-row")) {
        if ((ch = choice(value, FS, 2)) < 0) {
            return ct_fail(err, CT_EINVAL, "%s '%s' is not fail or skip", key, value);
        }
        *(key_is(key, "missing-id") ? &o->missing_id_skip : &o->skip_bad_rows) = ch;
    } else if (key_is(key, "encoding")) {
        if ((ch = choice(value, ENC, 6)) < 0) {
            return ct_fail(err, CT_EINVAL, "encoding '%s' is not utf-8, latin1 or cp1252", value);
        }
        o->encoding = ENCV[ch];
    } else if (key_is(key, "delimiter") || key_is(key, "features-delimiter")) {
        if ((ch = ct_ingest_delim_parse(value)) < 0) {
            return ct_fail(err, CT_EINVAL, "%s '%s' is not , tab space or ;", key, value);
        }
        *(key_is(key, "delimiter") ? &o->delim : &o->features_delim) = ch;
    } else if (key_is(key, "header")) {
        if ((ch = choice(value, (const char *const[]){"no", "yes"}, 2)) < 0) {
            return ct_fail(err, CT_EINVAL, "header '%s' is not yes or no", value);
        }
        o->header = ch;
    } else if (key_is(key, "max-bad-rows")) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !(v > 0) || v > 1e18) {
            return ct_fail(err, CT_EINVAL,
                           "max-bad-rows '%s' must be a count >= 1 or a share in (0, 1)", value);
        }
        o->max_bad_rows = v;
    } else {
        return ct_fail(err, CT_EINVAL, "unknown ingest option '%s'", key);
    }
    return CT_OK;
}
