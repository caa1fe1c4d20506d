/* schema_tiers.c - the one writer of /tiers (tier and loyalty codes with the
 * tier model's names, actions and settings), /migration (previous tiers x
 * these) and /audit/<column> (a protected column's tier counts) (schema.h). */
#include "clvtier/schema.h"

#include <stdio.h>

#include "core/str_internal.h"

static const char *assign_name(ct_assign a)
{
    return a == CT_ASSIGN_CLUSTERS ? "clusters" : a == CT_ASSIGN_SHARES ? "shares" : "thresholds";
}

ct_status ct_tiers_write(ct_file *out, const ct_tier_model *m, const int8_t *tier,
                         const int8_t *loyalty, const double *p0, const double *stability,
                         size_t n, ct_error *err)
{
    /* with loyalty on P(no purchase), that probability too; and stability */
    ct_colspec spec[4] = {{"tier", CT_INT8, 0}, {"loyalty", CT_INT8, 0}};
    const void *cc[4] = {tier, loyalty};
    size_t nc = 2;
    if (p0 != NULL) {
        spec[nc] = (ct_colspec){"p_no_purchase", CT_FLOAT64, 0};
        cc[nc++] = p0;
    }
    if (stability != NULL) {
        spec[nc] = (ct_colspec){"stability", CT_FLOAT64, 0};
        cc[nc++] = stability;
    }
    const char *g = "/tiers";
    char names[CT_MAX_TIERS * 201 + 210];
    ct_status s;
    CT_TRY(ct_tw_write_table(out, g, spec, nc, cc, n, NULL, err));
    CT_TRY(ct_attr_set_str(out, g, "loyalty_metric",
                           m->loyalty_no_purchase ? "p_no_purchase" : "p_alive", err));
    if (m->loyalty_no_purchase) {
        CT_TRY(ct_attr_set_f64(out, g, "loyalty_periods", m->loyalty_periods, err));
    }
    if (m->loyalty_note[0] != '\0') {
        CT_TRY(ct_attr_set_str(out, g, "loyalty_fallback", m->loyalty_note, err));
    }
    ct_join_names(names, sizeof names, m->tiers[0], sizeof m->tiers[0], m->ntiers, m->new_tier,
                  ',');
    CT_TRY(ct_attr_set_str(out, g, "names", names, err));
    ct_join_names(names, sizeof names, m->loyalty_names[0], sizeof m->loyalty_names[0], 3, NULL,
                  ',');
    CT_TRY(ct_attr_set_str(out, g, "loyalty_names", names, err));
    ct_join_names(names, sizeof names, m->actions[0], sizeof m->actions[0], m->ntiers, NULL,
                  '\x1f');
    CT_TRY(ct_attr_set_str(out, g, "actions", names, err));
    CT_TRY(ct_attr_set_str(out, g, "review", m->review, err));
    CT_TRY(ct_attr_set_str(out, g, "description", m->description, err));
    CT_TRY(ct_attr_set_i64(out, g, "min_group", (int64_t)m->min_group, err));
    CT_TRY(ct_attr_set_f64(out, g, "new_min_age", m->new_min_age, err));
    CT_TRY(ct_attr_set_f64(out, g, "loyal_min", m->loyal_min, err));
    CT_TRY(ct_attr_set_f64(out, g, "lost_max", m->lost_max, err));
    CT_TRY(ct_attr_set_f64(out, g, "hysteresis", m->hysteresis, err));
    CT_TRY(ct_attr_set_str(out, g, "assign", assign_name(m->assign), err));
    CT_TRY(ct_attr_set_str(out, g, "model", m->name, err));
    CT_TRY(ct_attr_set_str(out, g, "model_file", m->path, err));
    CT_TRY(ct_attr_set_str(out, g, "rank_by", m->rank_by, err));
done:
    return s;
}

ct_status ct_migration_write(ct_file *out, const ct_migration_meta *mg, ct_error *err)
{
    const char *g = "/migration";
    ct_status s;
    CT_TRY(ct_file_write_matrix(out, g, mg->counts, mg->rows, mg->cols, err));
    CT_TRY(ct_attr_set_str(out, g, "previous", mg->previous, err));
    CT_TRY(ct_attr_set_str(out, g, "previous_names", mg->previous_names, err));
    CT_TRY(ct_attr_set_i64(out, g, "labels_matched", mg->labels_matched, err));
    CT_TRY(ct_attr_set_i64(out, g, "hysteresis_kept", (int64_t)mg->hysteresis_kept, err));
    CT_TRY(ct_attr_set_str(out, g, "layout",
                           "rows: previous tiers, its new-customer tier, absent before; "
                           "columns: these tiers, new-customer tier, gone now",
                           err));
done:
    return s;
}

ct_status ct_audit_write(ct_file *out, const ct_audit *a, const ct_tier_model *m, ct_error *err)
{
    char grp[128], path[160], buf[CT_AUDIT_MAX_GROUPS * 49 + 8];
    double cnt[CT_AUDIT_MAX_GROUPS * (CT_MAX_TIERS + 1)];
    ct_status s;
    snprintf(grp, sizeof grp, "/audit/%.63s", a->column);
    snprintf(path, sizeof path, "%s/counts", grp);
    for (size_t q = 0; q < a->ngroups; q++) {
        for (size_t t = 0; t < a->ntiers; t++) {
            cnt[q * a->ntiers + t] = a->count[q][t];
        }
    }
    if (!ct_file_has_group(out, "/audit")) {
        CT_TRY(ct_file_make_group(out, "/audit", err));
    }
    CT_TRY(ct_file_make_group(out, grp, err));
    CT_TRY(ct_file_write_matrix(out, path, cnt, a->ngroups, a->ntiers, err));
    ct_join_names(buf, sizeof buf, a->group[0], sizeof a->group[0], a->ngroups, NULL, '\x1f');
    CT_TRY(ct_attr_set_str(out, grp, "groups", buf, err));
    CT_TRY(ct_attr_set_f64(out, grp, "cramers_v", a->cramers_v, err));
    CT_TRY(ct_attr_set_f64v(out, grp, "eta2", a->eta2, a->nfeat, err));
    CT_TRY(ct_attr_set_f64(out, grp, "proxy_eta2_threshold", CT_AUDIT_PROXY_ETA2, err));
    ct_join_names(buf, sizeof buf, m->features[0], sizeof m->features[0], m->nfeat, NULL, ',');
    CT_TRY(ct_attr_set_str(out, grp, "features", buf, err));
done:
    return s;
}

ct_status ct_tiers_write_stability(ct_file *out, const ct_stability_meta *meta, ct_error *err)
{
    const char *g = "/tiers";
    ct_status s;
    CT_TRY(ct_attr_set_i64(out, g, "stability_draws", (int64_t)meta->draws, err));
    CT_TRY(ct_attr_set_f64(out, g, "stability_borderline", meta->borderline, err));
    CT_TRY(ct_attr_set_f64v(out, g, "stability_mean", meta->tier_mean, meta->ntiers, err));
    CT_TRY(ct_attr_set_f64v(out, g, "stability_borderline_customers", meta->tier_borderline,
                            meta->ntiers, err));
done:
    return s;
}
