/* ingest.h - transaction logs (CSV) and RFM summaries (CSV) into HDF5.
 *
 * ct_ingest_csv reads a transaction log (one row per transaction: customer id,
 * date, amount; any row order), and writes
 *   /transactions  customer (int64 row of /customers), day (int32), amount (f64),
 *                  sorted by customer, then day, then amount
 *   /customers     the summary of customers.h, customers sorted by id
 *                  (all-digit ids numerically, then other ids bytewise)
 *   /features      (with features_path) extra numeric columns joined by id
 * Memory: about 28 bytes per transaction + 40 per customer + id bytes. */
#ifndef CLVTIER_INGEST_H
#define CLVTIER_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "clvtier/customers.h"
#include "clvtier/dates.h"
#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_returns { CT_RETURNS_DROP, CT_RETURNS_KEEP, CT_RETURNS_NET } ct_returns;
/* The text encoding of the input; ids are stored as UTF-8. */
typedef enum ct_encoding { CT_ENC_UTF8, CT_ENC_LATIN1, CT_ENC_CP1252 } ct_encoding;

typedef struct ct_ingest_opts {
    int delim;  /* ',', '\t', ';', ' ' (runs of blanks), 0 = sniff the first line */
    int header; /* 1: the first row names the columns */
    /* Column by header name or 1-based index; NULL = default (names id/customer_id/
     * customer..., date/..., amount/value/dollar_value...; or 1, 2, 3 without a
     * header).  amount_col "none": no amounts (m = 0). */
    const char *id_col, *date_col, *amount_col;
    const char *date_format; /* NULL = YYYY-MM-DD, YYYYMMDD or YYYY-MM-DD HH:MM:SS */
    const char *timezone;    /* NULL: a timestamp with a UTC offset is its UTC date; else
                              * its date in this zone (e.g. "Europe/Berlin") */
    ct_period period;
    int32_t calibration_end; /* CT_NO_DAY: no holdout */
    int32_t observation_end; /* CT_NO_DAY: the last transaction day */
    int allow_negative;      /* keep negative amounts (returns): returns = CT_RETURNS_KEEP */
    /* Line items: amount = quantity x unit price (instead of amount_col). */
    const char *quantity_col, *price_col;
    /* Orders: rows with the same order id are one transaction (amount summed
     * with a compensated sum, date the earliest line's; one customer per
     * order).  NULL: every row is a transaction. */
    const char *order_col;
    /* Order ids that start with one of these comma-separated prefixes are
     * cancellations (e.g. "C"); NULL: none. */
    const char *cancel_prefix;
    /* Returns (cancellations, negative quantity or amount): left out and
     * counted (DROP, the default), kept as negative transactions (KEEP), or
     * subtracted from the customer's spend (NET): from the cancelled order
     * when its id (without the prefix) is known, else from the customer's
     * latest purchases on or before the return's day; never a purchase event,
     * and no purchase below 0. */
    ct_returns returns;
    ct_encoding encoding; /* UTF-8 (default: an id that is not valid UTF-8 is a bad row) */
    int missing_id_skip; /* empty customer ids (guest sales): skip and count; 0: fail */
    int skip_bad_rows;   /* unparseable dates/numbers, wrong field counts: skip and count */
    const char *bad_rows_path; /* NULL, or a CSV of every skipped row: line, reason, text */
    /* Fail when more rows than this are rejected (missing ids and bad rows):
     * >= 1 a count, in (0, 1) a share of the rows read; 0: no limit. */
    double max_bad_rows;
    const char *features_path; /* NULL: no /features */
    const char *features_id;   /* id column of the features file; NULL = default names or 1 */
    int features_delim;        /* its delimiter, as delim; 0 = sniffed from its first line */
    /* Time-varying covariates: a CSV of customer id, period start date
     * (YYYY-MM-DD) and numeric columns, one row per customer and period of
     * the log's period length (day or week), contiguous from the period of
     * each customer's first purchase through the calibration end (and on
     * through the periods to be scored) -> /dynamic_covariates and
     * /dynamic_sums.  NULL: none.  Its id and date columns: NULL = the
     * default names. */
    const char *dynamic_path, *dynamic_id, *dynamic_date;
    int deflate;               /* 0, or 1..9 */
    const char *command;       /* recorded in the output */
    unsigned threads; /* 1: parse serially; else big quote-free files are parsed in
                       * a second thread (same result) */
    void (*progress)(void *ctx, double fraction); /* may be NULL */
    void *progress_ctx;
} ct_ingest_opts;

void ct_ingest_opts_init(ct_ingest_opts *o);

/* Set one option of the log's format by name - id, date, amount, quantity,
 * price, order, cancel-prefix, returns (drop|keep), missing-id (fail|skip),
 * on-bad-row (fail|skip), bad-rows, max-bad-rows, encoding, date-format,
 * delimiter, features-delimiter, header (yes|no); '_' for '-' is fine - as
 * `clvtier ingest --NAME VALUE` would.  The strings are kept, not copied.
 * CT_EINVAL names what is wrong. */
ct_status ct_ingest_opt_set(ct_ingest_opts *o, const char *key, const char *value, ct_error *err);
/* Whether key names one of those options. */
int ct_ingest_opt_known(const char *key);
/* ',' | tab | space | ';' (or their names; "auto": 0) as a delimiter, or -1. */
int ct_ingest_delim_parse(const char *s);

typedef struct ct_ingest_report {
    uint64_t rows;              /* data rows read */
    uint64_t transactions;      /* rows kept in /transactions */
    uint64_t customers;         /* rows of /customers */
    uint64_t after_observation; /* rows left out: date after the observation end */
    uint64_t late_customers;    /* customers left out: first purchase after calibration end */
    uint64_t late_transactions; /* their rows */
    uint64_t returns;           /* return rows kept (KEEP) or netted (NET) */
    uint64_t returns_unmatched; /* NET: returns of customers without purchases to net against */
    uint64_t net_zero;          /* NET: customers whose spend the returns brought to 0 */
    uint64_t returns_dropped;   /* return rows left out (DROP) */
    /* rows rejected, by reason (skipped with missing_id_skip / skip_bad_rows) */
    uint64_t missing_id, bad_fields, bad_date, bad_number, bad_id, order_conflicts;
    uint64_t bad_encoding;      /* ids that are not valid UTF-8 (CT_ENC_UTF8) */
    uint64_t orders;            /* transactions made of orders (order_col) */
    uint64_t zero_orders;       /* orders (or line items) of amount <= 0 left out */
    int32_t first_day, last_day, calibration_end, observation_end;
    int delim;
    size_t id_width;
    uint64_t feature_rows, feature_unmatched, customers_without_features;
    size_t feature_columns;
    char feature_unmatched_examples[256];
    uint64_t dynamic_rows, dynamic_unmatched; /* time-varying covariates: rows read, of no customer */
    size_t dynamic_columns;
} ct_ingest_report;

/* The names of ingest's row counts, as attributes of /transactions (and,
 * prefixed "ingest_", of /customers): i = 0, 1, ... until NULL. */
const char *ct_ingest_count_name(size_t i);
/* For a count of what was left out, what that was ("rows without a customer
 * id (guest sales)"); NULL for counts of what was kept, or past the end. */
const char *ct_ingest_count_left_out(size_t i);
/* Count i of a report (0 past the end). */
uint64_t ct_ingest_count_value(const ct_ingest_report *rep, size_t i);

/* Per-customer summaries (and RFM scores, against ref_day) of customers whose
 * transactions are day[off[i]..off[i+1]) into out (allocated by the caller).
 * The data layer reads and writes; the numbers come from the numerics, handed
 * in by the pipeline (ct_ingest_csv in pipeline.h passes ct_stage_summarize). */
typedef ct_status (*ct_summarize_fn)(const int32_t *day, const double *amount, const size_t *off,
                                     size_t n, const ct_summary_opts *o, int32_t ref_day,
                                     ct_customers *out, ct_error *err);

/* Ingest the transaction log in the files csv[0..ncsv) (the same columns,
 * each plain or gzip/xz/zstd-compressed, told by its magic bytes) into a new
 * HDF5 file `out` (atomic), with `summarize` computing /customers.  The
 * result does not depend on how the rows are split over the files or on
 * their order.  rep may be NULL. */
ct_status ct_ingest_log(const char *const *csv, size_t ncsv, const char *out,
                        const ct_ingest_opts *o, ct_summarize_fn summarize,
                        ct_ingest_report *rep, ct_error *err);

/* Ingest an RFM summary CSV (header required): columns x|frequency,
 * t_x|recency, T|periods, optional m|monetary_value|zbar, weight|weights|count,
 * and an id column (id|ID|customer_id; else row numbers).  Writes /customers
 * with a weight column.  o->delim and o->period are used. */
ct_status ct_ingest_summary(const char *csv, const char *out, const ct_ingest_opts *o,
                            ct_ingest_report *rep, ct_error *err);

/* Initial k-means centroids from the text file `path`: k rows of d numbers
 * (comma, space or tab separated; lines without numbers, such as a header,
 * are skipped).  *C (k x d, malloc'ed) and *k.  A row with another count is
 * CT_EDATA naming the line; a missing file CT_ENOENT. */
ct_status ct_centroids_read(const char *path, size_t d, double **C, size_t *k, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
