/* report.h - reports from a result file (domain layer).
 *
 * Reads a `clvtier run` result (/customers, /fits, /scores, /clusters,
 * /clusters_k, /tiers, /migration, /audit) and writes any of:
 *   report.html  one self-contained file (inline CSS and SVG, no script, no
 *                network): tier sizes and value shares, per-tier profiles,
 *                the CLV model fit (parameters, standard errors, expected vs
 *                actual repeat purchases, holdout check), a frequency-recency
 *                P(alive) heat map, the k selection curve, the migration
 *                matrix and flow, per-tier actions, the fairness audit, data-
 *                quality notes and provenance;
 *   summary.json the same numbers for programs (schema "clvtier-summary/1",
 *                documented in README.md);
 *   report.md    the tables in Markdown, for papers;
 *   tiers.csv    id, tier, loyalty, clv, p_alive per customer, streamed in
 *                row blocks; ids optionally replaced by keyed pseudonyms.
 * Small-group suppression: every aggregate over fewer than min_group
 * customers (but more than zero) is withheld - shown as "<min_group" in the
 * HTML and Markdown, null in the JSON - and charts leave it out.  Each file
 * is written atomically (temp, fsync, rename). */
#ifndef CLVTIER_REPORT_H
#define CLVTIER_REPORT_H

#include <stddef.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_report_opts {
    const char *html, *json, *md, *csv; /* outputs; NULL = not wanted */
    const char *id_key;                 /* key file: pseudonymise ids in csv (NULL: real ids) */
    long min_group;                     /* < 0: the result's (the model's) min_group */
} ct_report_opts;

void ct_report_opts_init(ct_report_opts *o);

ct_status ct_report_write(const char *result, const ct_report_opts *o, ct_error *err);

#ifdef __cplusplus
}
#endif

#endif
