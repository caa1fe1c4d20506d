/* modelfile.c - tier model files (INI, parsed with inih) and the
 * protected-attribute guard (see include/clvtier/modelfile.h). */
#include "clvtier/modelfile.h"
#include "clvtier/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Words that make a column name a protected attribute (after the name is
 * normalised: see ct_protected_attribute).  Multi-word entries match
 * consecutive words. */
static const char *const PROTECTED[] = {
    "race",          "racial",         "ethnic",        "ethnicity",      "religion",
    "religious",     "belief",         "beliefs",       "faith",          "caste",
    "sexual orientation", "orientation", "sex life",    "sex",            "gender",
    "female",        "male",           "skin",          "complexion",     "political",
    "politics",      "party affiliation", "trade union", "union member",  "genetic",
    "genome",        "dna",            "biometric",     "health",         "disability",
    "disabled",      "medical",        "diagnosis",     "pregnancy",      "pregnant",
    "marital",       "nationality",    "national origin", "citizenship",  "immigration",
    "birth",         "birthdate",      "dob",           "age of person",  "person age",
    "age",           NULL};

/* Words that also count inside a longer word ("ethnicgroup", "religionid",
 * "healthscore"): long enough not to occur by chance in ordinary names
 * ("age" is in "page", "race" in "trace"; these are not). */
static const char *const JOINED[] = {
    "religion", "religious", "ethnic",   "racial",    "gender",     "orientation",
    "political", "genetic",  "genome",   "biometric", "health",     "disabilit",
    "disabled", "medical",   "diagnos",  "pregnan",   "marital",    "nationality",
    "citizenship", "immigra", "birth",   "sexual",    "complexion", NULL};

/* Decode one UTF-8 code point at *p (advancing it); invalid bytes: U+FFFD. */
static unsigned utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            k = 0;
        }
    }
    if (k == 0) {
        *p = s + 1;
        return 0xFFFD;
    }
    unsigned cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < k; i++) {
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *p = s + k;
    return cp;
}

/* A code point as the ASCII letter or digit it reads as: case folded,
 * diacritics dropped (Latin-1, Latin Extended-A), fullwidth forms (NFKC) and
 * the Cyrillic and Greek letters that look Latin; 1 for "ignore" (zero-width
 * characters, soft hyphen); 0 for a separator. */
static int fold_char(unsigned cp)
{
    static const char LATIN1[] = /* U+00C0..U+00FF */
        "aaaaaaaceeeeiiiidnooooo0ouuuuyts" "aaaaaaaceeeeiiiidnooooo0ouuuuyty";
    static const char EXTA[] = /* U+0100..U+017F */
        "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkklllllll"
        "lllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
    static const struct {
        unsigned cp;
        char a;
    } LOOK[] = {{0x0430, 'a'}, {0x0435, 'e'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'},
                {0x0443, 'y'}, {0x0445, 'x'}, {0x0456, 'i'}, {0x0458, 'j'}, {0x0455, 's'},
                {0x0501, 'd'}, {0x04BB, 'h'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'},
                {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'},
                {0x0421, 'c'}, {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'}, {0x0406, 'i'},
                {0x0405, 's'}, {0x0408, 'j'}, {0x03B1, 'a'}, {0x03BF, 'o'}, {0x03C1, 'p'},
                {0x03B5, 'e'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'}, {0x03C4, 't'},
                {0x03C5, 'u'}, {0x03C7, 'x'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'},
                {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'}, {0x039A, 'k'}, {0x039C, 'm'},
                {0x039D, 'n'}, {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'}, {0x03A5, 'y'},
                {0x03A7, 'x'}};
    if (cp < 0x80) {
        return isalnum((int)cp) ? tolower((int)cp) : 0;
    }
    if (cp == 0x00AD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF) {
        return 1;
    }
    if (cp >= 0x00C0 && cp <= 0x00FF && cp != 0x00D7 && cp != 0x00F7) {
        return LATIN1[cp - 0x00C0];
    }
    if (cp >= 0x0100 && cp <= 0x017F) {
        return EXTA[cp - 0x0100];
    }
    if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
        (cp >= 0xFF41 && cp <= 0xFF5A)) { /* fullwidth forms (NFKC) */
        return fold_char(cp >= 0xFF41 ? cp - 0xFF41 + 'a' : cp >= 0xFF21 ? cp - 0xFF21 + 'a'
                                                                        : cp - 0xFF10 + '0');
    }
    for (size_t i = 0; i < sizeof LOOK / sizeof LOOK[0]; i++) {
        if (LOOK[i].cp == cp) {
            return LOOK[i].a;
        }
    }
    return 0;
}

/* The name as words of ASCII letters and digits separated by single spaces:
 * a new word at a separator, where a capital follows a small letter
 * (camelCase), and between letters and digits ("religion2"). */
static void name_words(const char *name, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t n = 0;
    int prev = 0, prev_upper = 0, prev_lower = 0;
    while (*p != '\0' && n + 2 < cap) {
        unsigned cp = utf8_next(&p);
        int upper = cp < 0x80 ? isupper((int)cp) != 0 : 0;
        int f = fold_char(cp);
        if (f == 1) {
            continue; /* invisible: not a separator either */
        }
        int boundary = f == 0 || (upper && prev_lower) ||
                       (prev != 0 && (isdigit(prev) != 0) != (isdigit(f) != 0));
        if (boundary && n > 0 && out[n - 1] != ' ') {
            out[n++] = ' ';
        }
        if (f != 0) {
            out[n++] = (char)f;
        }
        prev = f;
        prev_upper = upper;
        prev_lower = f != 0 && !upper && isalpha(f);
        (void)prev_upper;
    }
    while (n > 0 && out[n - 1] == ' ') {
        n--;
    }
    out[n] = '\0';
}

const char *ct_protected_attribute(const char *name)
{
    char norm[1024], padded[1030];
    name_words(name, norm, sizeof norm);
    snprintf(padded, sizeof padded, " %s ", norm);
    for (const char *const *e = PROTECTED; *e != NULL; e++) {
        char w[64];
        snprintf(w, sizeof w, " %s ", *e); /* whole words, in a row */
        if (strstr(padded, w) != NULL) {
            return *e;
        }
    }
    for (const char *const *e = JOINED; *e != NULL; e++) {
        if (strstr(norm, *e) != NULL) {
            return *e;
        }
    }
    return NULL;
}

/* The review period in days when the text starts with a word for one, else NaN. */
static double review_days(const char *text)
{
    static const struct {
        const char *word;
        double days;
    } REVIEW[] = {{"daily", 1.0},          {"weekly", 7.0},
                  {"biweekly", 14.0},      {"fortnightly", 14.0},
                  {"monthly", 365.2425 / 12}, {"quarterly", 365.2425 / 4},
                  {"yearly", 365.2425},     {"annually", 365.2425}};
    for (size_t j = 0; j < sizeof REVIEW / sizeof REVIEW[0]; j++) {
        if (strncasecmp(text, REVIEW[j].word, strlen(REVIEW[j].word)) == 0) {
            return REVIEW[j].days;
        }
    }
    return (double)NAN;
}

void ct_tier_model_init(ct_tier_model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "default");
    m->period = CT_PERIOD_WEEK;
    m->calibration_end = CT_NO_DAY;
    m->observation_end = CT_NO_DAY;
    m->purchase = CT_BGNBD;
    m->spend = 1;
    m->horizon = 52;
    m->discount = 0.0;
    m->nfeat = 4;
    snprintf(m->features[0], 64, "clv");
    snprintf(m->features[1], 64, "x");
    snprintf(m->features[2], 64, "t_x");
    snprintf(m->features[3], 64, "m");
    m->transform = CT_TF_LOG1P;
    m->scale = CT_SC_ZSCORE;
    m->k_lo = m->k_hi = 6;
    m->n_init = 3;
    m->ntiers = 3;
    snprintf(m->tiers[0], 64, "high");
    snprintf(m->tiers[1], 64, "mid");
    snprintf(m->tiers[2], 64, "low");
    snprintf(m->rank_by, sizeof m->rank_by, "clv");
    m->assign = CT_ASSIGN_SHARES;
    m->shares[0] = 0.2;
    m->shares[1] = 0.3;
    m->shares[2] = 0.5;
    m->min_group = 10;
    m->loyal_min = 0.7;
    m->lost_max = 0.3;
    m->borderline = 0.8;
    snprintf(m->loyalty_names[0], 64, "loyal");
    snprintf(m->loyalty_names[1], 64, "general");
    snprintf(m->loyalty_names[2], 64, "lost");
    m->new_min_age = 0;
    snprintf(m->new_tier, sizeof m->new_tier, "new");
}

typedef struct parse_ctx {
    ct_tier_model *m;
    char msg[400]; /* the first error */
    ct_status st;
    int seen_shares, seen_thresholds, seen_names;
    size_t nshares, nthresh;
    char action_keys[CT_MAX_TIERS][64];
    char action_vals[CT_MAX_TIERS][200];
    size_t nactions;
} parse_ctx;

static int bad(parse_ctx *c, ct_status st, const char *section, const char *key, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

static int bad(parse_ctx *c, ct_status st, const char *section, const char *key, const char *fmt,
               ...)
{
    if (c->st == CT_OK) {
        char what[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(c->msg, sizeof c->msg, "[%s] %s: %s", section, key, what);
        c->st = st;
    }
    return 0; /* inih records the line of the first handler error */
}

static int num(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    while (*end == ' ' || *end == '\t') {
        end++;
    }
    if (end == v || *end != '\0' || errno != 0 || !isfinite(d)) {
        return -1;
    }
    *out = d;
    return 0;
}

/* Comma-separated list into out[cap][w]; returns count or -1 (too many / too long / empty item). */
static long split(const char *v, char *out, size_t cap, size_t w)
{
    char tmp[512];
    long n = 0;
    snprintf(tmp, sizeof tmp, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(tmp, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t') {
            t++;
        }
        size_t L = strlen(t);
        while (L > 0 && (t[L - 1] == ' ' || t[L - 1] == '\t')) {
            t[--L] = '\0';
        }
        if (L == 0 || L >= w || (size_t)n == cap) {
            return -1;
        }
        memcpy(out + (size_t)n * w, t, L + 1);
        n++;
    }
    return n;
}

static int numlist(const char *v, double *out, size_t cap)
{
    char items[CT_MAX_TIERS][64];
    long n = split(v, &items[0][0], cap, 64);
    for (long i = 0; i < n; i++) {
        if (num(items[i], &out[i]) != 0) {
            return -1;
        }
    }
    return (int)n;
}

#define IS(s, k) (strcmp(section, (s)) == 0 && strcmp(name, (k)) == 0)

#define UNKNOWN_KEY (-1)

/* [model] and [data] keys. */
static int keys_model(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                      const char *value)
{
    if (IS("model", "name")) {
        if (strlen(value) == 0 || strlen(value) >= sizeof m->name) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be 1..63 characters", value);
        }
        snprintf(m->name, sizeof m->name, "%s", value);
    } else if (IS("model", "description")) {
        snprintf(m->description, sizeof m->description, "%s", value);
    } else if (IS("data", "period")) {
        if (ct_period_parse(value, &m->period) != 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not day, week or month", value);
        }
    } else if (IS("data", "calibration_end") || IS("data", "observation_end")) {
        int32_t day;
        if (ct_date_parse(value, strlen(value), NULL, &day) != 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not a date YYYY-MM-DD", value);
        }
        *(strcmp(name, "calibration_end") == 0 ? &m->calibration_end : &m->observation_end) = day;
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [clv] keys. */
static int keys_clv(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                    const char *value)
{
    double d;
    if (IS("clv", "purchase")) {
        ct_clv_model pm;
        m->purchase_auto = strcmp(value, "auto") == 0;
        if (m->purchase_auto) {
            return 1;
        }
        if (ct_clv_model_parse(value, &pm) != 0 || pm == CT_GAMMAGAMMA || pm == CT_BGBB) {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not auto, bgnbd, pareto or mbgnbd",
                       value);
        }
        m->purchase = pm;
    } else if (IS("clv", "spend")) {
        if (strcmp(value, "gammagamma") == 0) {
            m->spend = 1;
        } else if (strcmp(value, "none") == 0) {
            m->spend = 0;
        } else {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not gammagamma or none", value);
        }
    } else if (IS("clv", "horizon")) {
        if (num(value, &d) != 0 || !(d > 0) || d > 1e4) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a number of periods in (0, 10000]", value);
        }
        m->horizon = d;
    } else if (IS("clv", "discount")) {
        if (num(value, &d) != 0 || d < 0 || d >= 1) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a rate per period in [0, 1)", value);
        }
        m->discount = d;
    } else if (IS("clv", "penalty")) {
        if (num(value, &d) != 0 || d < 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be >= 0", value);
        }
        m->penalty = d;
    } else if (IS("clv", "penalty_cov")) {
        if (num(value, &d) != 0 || d < 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be >= 0", value);
        }
        m->penalty_cov = d;
    } else if (IS("clv", "covariates_reference")) {
        if (strlen(value) >= sizeof m->cov_reference || (value[0] != '\0' && !strchr(value, '='))) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be column=level, ...", value);
        }
        snprintf(m->cov_reference, sizeof m->cov_reference, "%s", value);
    } else if (IS("clv", "covariates_purchase") || IS("clv", "covariates_dropout") ||
               IS("clv", "covariates_same")) {
        char *dst = IS("clv", "covariates_purchase")  ? m->cov_purchase
                    : IS("clv", "covariates_dropout") ? m->cov_dropout
                                                      : m->cov_same;
        char names[CT_CLV_MAXCOEF + 1][64];
        long n = strlen(value) == 0 ? 0 : split(value, &names[0][0], CT_CLV_MAXCOEF + 1, 64);
        if (n < 0 || n > CT_CLV_MAXCOEF || strlen(value) >= sizeof m->cov_purchase) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must list at most %d column names",
                       value, CT_CLV_MAXCOEF);
        }
        for (long j = 0; j < n; j++) { /* a covariate changes every CLV, so every tier */
            const char *hit = ct_protected_attribute(names[j]);
            if (hit != NULL) {
                return bad(c, CT_EPROTECTED, section, name,
                           "covariate '%s' is a protected attribute (%s); it may only be "
                           "audited ([protected] audit), never change a customer's CLV",
                           names[j], hit);
            }
        }
        snprintf(dst, sizeof m->cov_purchase, "%s", value);
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [features] keys. */
static int keys_features(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                         const char *value)
{
    if (IS("features", "use")) {
        long n = split(value, &m->features[0][0], CT_MAX_FEATURES, 64);
        if (n <= 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must list 1..32 feature names", value);
        }
        m->nfeat = (size_t)n;
        for (size_t j = 0; j < m->nfeat; j++) {
            const char *hit = ct_protected_attribute(m->features[j]);
            if (hit != NULL) {
                char why[200];
                snprintf(why, sizeof why,
                         "feature '%s' is a protected attribute (%s); it may only be audited "
                         "([protected] audit), never used to tier customers",
                         m->features[j], hit);
                return bad(c, CT_EPROTECTED, section, name, "%s", why);
            }
        }
    } else if (IS("features", "transform")) {
        if (strcmp(value, "none") == 0) {
            m->transform = CT_TF_NONE;
        } else if (strcmp(value, "log1p") == 0) {
            m->transform = CT_TF_LOG1P;
        } else {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not none or log1p", value);
        }
    } else if (IS("features", "scale")) {
        if (strcmp(value, "none") == 0) {
            m->scale = CT_SC_NONE;
        } else if (strcmp(value, "zscore") == 0) {
            m->scale = CT_SC_ZSCORE;
        } else if (strcmp(value, "robust") == 0) {
            m->scale = CT_SC_ROBUST;
        } else {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not none, zscore or robust", value);
        }
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [kmeans] keys. */
static int keys_kmeans(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                       const char *value)
{
    double d;
    if (IS("kmeans", "k")) {
        if (num(value, &d) != 0 || d < 1 || d > 1000 || d != floor(d)) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a whole number 1..1000", value);
        }
        m->k_lo = m->k_hi = (size_t)d;
    } else if (IS("kmeans", "k_range")) {
        unsigned lo, hi;
        char tail;
        if (sscanf(value, "%u:%u%c", &lo, &hi, &tail) != 2 || lo < 1 || hi < lo || hi > 1000) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be LO:HI with 1 <= LO <= HI <= 1000", value);
        }
        m->k_lo = lo;
        m->k_hi = hi;
    } else if (IS("kmeans", "n_init")) {
        if (num(value, &d) != 0 || d < 1 || d > 1000 || d != floor(d)) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a whole number 1..1000", value);
        }
        m->n_init = (unsigned)d;
    } else if (IS("kmeans", "seed")) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end != '\0' || value[0] == '-' || errno == ERANGE) {
            return bad(c, CT_ECONFIG, section, name,
                       "'%s' must be an integer from 0 to 18446744073709551615", value);
        }
        m->seed = v;
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [tiers] keys. */
static int keys_tiers(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                      const char *value)
{
    double d;
    if (IS("tiers", "names")) {
        long n = split(value, &m->tiers[0][0], CT_MAX_TIERS, 64);
        if (n < 1) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must list 1..16 tier names", value);
        }
        for (long i = 0; i < n; i++) {
            for (long j = 0; j < i; j++) {
                if (strcmp(m->tiers[i], m->tiers[j]) == 0) {
                    return bad(c, CT_ECONFIG, section, name, "tier name '%s' given twice", m->tiers[i]);
                }
            }
        }
        m->ntiers = (size_t)n;
        c->seen_names = 1;
    } else if (IS("tiers", "rank_by")) {
        if (strlen(value) == 0 || strlen(value) >= sizeof m->rank_by) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must name a feature", value);
        }
        const char *hit = ct_protected_attribute(value);
        if (hit != NULL) { /* the rank decides the tier: the guard applies */
            return bad(c, CT_EPROTECTED, section, name,
                       "'%s' is a protected attribute (%s); it may only be audited, never "
                       "rank customers",
                       value, hit);
        }
        snprintf(m->rank_by, sizeof m->rank_by, "%s", value);
    } else if (IS("tiers", "assign")) {
        if (strcmp(value, "clusters") == 0) {
            m->assign = CT_ASSIGN_CLUSTERS;
        } else if (strcmp(value, "shares") == 0) {
            m->assign = CT_ASSIGN_SHARES;
        } else if (strcmp(value, "thresholds") == 0) {
            m->assign = CT_ASSIGN_THRESHOLDS;
        } else {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not clusters, shares or thresholds", value);
        }
    } else if (IS("tiers", "shares")) {
        int n = numlist(value, m->shares, CT_MAX_TIERS);
        if (n <= 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a list of numbers", value);
        }
        c->nshares = (size_t)n;
        c->seen_shares = 1;
    } else if (IS("tiers", "thresholds")) {
        int n = numlist(value, m->thresholds, CT_MAX_TIERS);
        if (n <= 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a list of numbers", value);
        }
        c->nthresh = (size_t)n;
        c->seen_thresholds = 1;
    } else if (IS("tiers", "stability")) {
        if (num(value, &d) != 0 || d < 0 || d > 10000 || d != floor(d)) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a whole number of draws in "
                                                     "[0, 10000]", value);
        }
        m->stability = (size_t)d;
    } else if (IS("tiers", "borderline")) {
        if (num(value, &d) != 0 || !(d > 0 && d <= 1)) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a share in (0, 1]", value);
        }
        m->borderline = d;
    } else if (IS("tiers", "hysteresis")) {
        if (num(value, &d) != 0 || d < 0 || d >= 1) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be in [0, 1)", value);
        }
        m->hysteresis = d;
    } else if (IS("tiers", "min_group")) {
        if (num(value, &d) != 0 || d < 0 || d != floor(d) || d > 1e12) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a whole number 0..10^12",
                       value);
        }
        m->min_group = (size_t)d;
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [loyalty] and [new] keys. */
static int keys_loyalty(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                        const char *value)
{
    double d;
    if (IS("loyalty", "metric")) {
        if (strcmp(value, "p_alive") != 0 && strcmp(value, "p_no_purchase") != 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' is not p_alive or p_no_purchase", value);
        }
        m->loyalty_no_purchase = strcmp(value, "p_no_purchase") == 0;
    } else if (IS("loyalty", "periods")) {
        if (num(value, &d) != 0 || !(d > 0)) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a number of periods > 0", value);
        }
        m->loyalty_periods = d;
    } else if (IS("loyalty", "loyal") || IS("loyalty", "lost")) {
        if (num(value, &d) != 0 || d < 0 || d > 1) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a probability in [0, 1]", value);
        }
        *(strcmp(name, "loyal") == 0 ? &m->loyal_min : &m->lost_max) = d;
    } else if (IS("loyalty", "names")) {
        if (split(value, &m->loyalty_names[0][0], 3, 64) != 3) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must list 3 names (loyal, middle, lost)", value);
        }
    } else if (IS("new", "min_age")) {
        if (num(value, &d) != 0 || d < 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be a number of periods >= 0", value);
        }
        m->new_min_age = d;
    } else if (IS("new", "tier")) {
        if (strlen(value) == 0 || strlen(value) >= sizeof m->new_tier) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must be 1..63 characters", value);
        }
        snprintf(m->new_tier, sizeof m->new_tier, "%s", value);
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [actions] and [protected] keys. */
static int keys_actions(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                        const char *value)
{
    if (IS("actions", "review")) {
        snprintf(m->review, sizeof m->review, "%s", value);
    } else if (strcmp(section, "actions") == 0) {
        if (c->nactions == CT_MAX_TIERS) {
            return bad(c, CT_ECONFIG, section, name, "too many actions ('%s')", value);
        }
        snprintf(c->action_keys[c->nactions], 64, "%s", name);
        snprintf(c->action_vals[c->nactions], 200, "%s", value);
        c->nactions++;
    } else if (IS("protected", "audit")) {
        long n = split(value, &m->audit[0][0], CT_MAX_AUDIT, 64);
        if (n <= 0) {
            return bad(c, CT_ECONFIG, section, name, "'%s' must list 1..8 column names", value);
        }
        m->naudit = (size_t)n;
    } else {
        return UNKNOWN_KEY;
    }
    return 1;
}

/* [ingest] keys: the options of `clvtier ingest` (ct_ingest_opt_set), checked here. */
static int keys_ingest(parse_ctx *c, ct_tier_model *m, const char *section, const char *name,
                       const char *value)
{
    ct_ingest_opts scratch;
    ct_error err;
    if (!ct_ingest_opt_known(name)) {
        return UNKNOWN_KEY;
    }
    ct_ingest_opts_init(&scratch);
    if (ct_ingest_opt_set(&scratch, name, value, &err) != CT_OK) {
        return bad(c, CT_ECONFIG, section, name, "%s", err.msg);
    }
    if (m->ningest == CT_MAX_INGEST || strlen(name) >= sizeof m->ingest_key[0] ||
        strlen(value) >= sizeof m->ingest_val[0]) {
        return bad(c, CT_ECONFIG, section, name, "too many or too long [ingest] settings");
    }
    snprintf(m->ingest_key[m->ningest], sizeof m->ingest_key[0], "%s", name);
    snprintf(m->ingest_val[m->ningest], sizeof m->ingest_val[0], "%s", value);
    m->ningest++;
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    static const struct {
        const char *section;
        int (*keys)(parse_ctx *, ct_tier_model *, const char *, const char *, const char *);
    } SECTIONS[] = {{"model", keys_model},     {"data", keys_model},       {"clv", keys_clv},
                    {"features", keys_features}, {"kmeans", keys_kmeans},  {"tiers", keys_tiers},
                    {"loyalty", keys_loyalty}, {"new", keys_loyalty},      {"actions", keys_actions},
                    {"protected", keys_actions}, {"ingest", keys_ingest}};
    parse_ctx *c = user;
    if (c->st != CT_OK) {
        return 1; /* report only the first error */
    }
    for (size_t q = 0; q < sizeof SECTIONS / sizeof SECTIONS[0]; q++) {
        if (strcmp(section, SECTIONS[q].section) == 0) {
            int rc = SECTIONS[q].keys(c, c->m, section, name, value);
            if (rc != UNKNOWN_KEY) {
                return rc;
            }
            return bad(c, CT_ECONFIG, section, name, "unknown key (value '%s')", value);
        }
    }
    return bad(c, CT_ECONFIG, section, name, "unknown section (value '%s')", value);
}

/* The file as lines, before inih reads it (inih cuts lines at 200 bytes and
 * lets a repeated key or section override the first silently): every line
 * whole, no section or key twice (both lines named), some setting at all. */
static ct_status prescan(FILE *fp, const char *path, ct_error *err)
{
    char sect[64][64], keys[256][128];
    uint64_t sect_line[64], key_line[256];
    size_t ns = 0, nk = 0, ksect0 = 0, settings = 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t line = 0;
    ct_status s = CT_OK;
    while (s == CT_OK && (len = getline(&buf, &cap, fp)) >= 0) {
        line++;
        size_t n = (size_t)len;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
            buf[--n] = '\0';
        }
        if (n > 199) {
            s = ct_fail_at(err, CT_ECONFIG, path, line, 0,
                           "line of %zu bytes (at most 199: shorten or split it)", n);
            break;
        }
        char *p = buf;
        if (line == 1 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
        }
        if (*p == ' ' || *p == '\t') { /* a continuation line, or blank */
            continue;
        }
        if (*p == '\0' || *p == ';' || *p == '#') {
            continue;
        }
        if (*p == '[') {
            char *e = strchr(p, ']');
            size_t k = e != NULL ? (size_t)(e - p - 1) : 0;
            for (size_t i = 0; i < ns && e != NULL; i++) {
                if (strlen(sect[i]) == k && strncmp(sect[i], p + 1, k) == 0) {
                    s = ct_fail_at(err, CT_ECONFIG, path, line, 0,
                                   "section [%.*s] again (first at line %llu): one section, "
                                   "each key once",
                                   (int)k, p + 1, (unsigned long long)sect_line[i]);
                }
            }
            if (s == CT_OK && e != NULL && ns < 64 && k < 64) {
                snprintf(sect[ns], sizeof sect[ns], "%.*s", (int)k, p + 1);
                sect_line[ns++] = line;
                ksect0 = nk; /* keys are per section */
            }
            continue;
        }
        size_t k = strcspn(p, "=:");
        while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t')) {
            k--;
        }
        settings++;
        for (size_t i = ksect0; i < nk; i++) {
            if (strlen(keys[i]) == k && strncmp(keys[i], p, k) == 0) {
                s = ct_fail_at(err, CT_ECONFIG, path, line, 0,
                               "[%s] %.*s given again (first at line %llu)",
                               ns > 0 ? sect[ns - 1] : "", (int)k, p,
                               (unsigned long long)key_line[i]);
            }
        }
        if (s == CT_OK && nk < 256 && k < 128) {
            snprintf(keys[nk], sizeof keys[nk], "%.*s", (int)k, p);
            key_line[nk++] = line;
        }
    }
    free(buf);
    if (s == CT_OK && settings == 0) {
        s = ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                       "no settings (an empty model file would run on defaults; see models/)");
    }
    rewind(fp);
    return s;
}

ct_status ct_tier_model_load(const char *path, ct_tier_model *m, ct_error *err)
{
    parse_ctx c;
    ct_tier_model_init(m);
    memset(&c, 0, sizeof c);
    c.m = m;
    c.st = CT_OK;
    snprintf(m->path, sizeof m->path, "%s", path);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return ct_fail_at(err, CT_ENOENT, path, 0, 0, "cannot open model file: %s", strerror(errno));
    }
    ct_status ps = prescan(fp, path, err);
    if (ps != CT_OK) {
        fclose(fp);
        return ps;
    }
    int line = ini_parse_file(fp, handler, &c);
    fclose(fp);
    if (line != 0 || c.st != CT_OK) {
        if (c.st == CT_OK) {
            return ct_fail_at(err, CT_ECONFIG, path, line > 0 ? (uint64_t)line : 0, 0,
                              "not an INI line (sections are [name], settings key = value)");
        }
        return ct_fail_at(err, c.st, path, line > 0 ? (uint64_t)line : 0, 0, "%s", c.msg);
    }
    /* consistency (whole-file checks: no single line to blame) */
    if (m->purchase_auto && (m->cov_purchase[0] != '\0' || m->cov_dropout[0] != '\0')) {
        return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                          "[clv] covariates need a named purchase model (bgnbd, mbgnbd or "
                          "pareto), not purchase = auto");
    }
    for (size_t t = 0; t < m->ntiers; t++) {
        if (strcmp(m->tiers[t], m->new_tier) == 0) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[tiers] names: '%s' is also the new-customer tier ([new] tier); "
                              "rename one",
                              m->new_tier);
        }
    }
    if (m->assign == CT_ASSIGN_SHARES) {
        if (!c.seen_shares && c.seen_names) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[tiers] assign = shares needs shares = ... (one per tier)");
        }
        size_t ns = c.seen_shares ? c.nshares : 3;
        if (ns != m->ntiers) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[tiers] %zu shares for %zu tiers", ns, m->ntiers);
        }
        double sum = 0;
        for (size_t i = 0; i < ns; i++) {
            if (!(m->shares[i] > 0)) {
                return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                                  "[tiers] shares: share %zu is %g (must be > 0)", i + 1,
                                  m->shares[i]);
            }
            sum += m->shares[i];
        }
        if (fabs(sum - 1) > 1e-9) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0, "[tiers] shares sum to %.10g, not 1",
                              sum);
        }
    } else if (m->assign == CT_ASSIGN_THRESHOLDS) {
        if (!c.seen_thresholds || c.nthresh + 1 != m->ntiers) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[tiers] assign = thresholds needs %zu thresholds (one fewer than "
                              "tiers), got %zu",
                              m->ntiers > 0 ? m->ntiers - 1 : 0, c.seen_thresholds ? c.nthresh : 0);
        }
        for (size_t i = 1; i < c.nthresh; i++) {
            if (!(m->thresholds[i] < m->thresholds[i - 1])) {
                return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                                  "[tiers] thresholds must decrease (best tier first)");
            }
        }
    } else if (m->k_hi < m->ntiers) {
        return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                          "[tiers] assign = clusters with %zu tiers needs k >= %zu (k is at most "
                          "%zu); use assign = shares",
                          m->ntiers, m->ntiers, m->k_hi);
    }
    m->review_periods = review_days(m->review) / ct_period_days(m->period);
    if (m->loyalty_no_purchase) {
        if (!(m->loyalty_periods > 0)) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[loyalty] metric = p_no_purchase needs periods = t");
        }
        if (m->lost_max < m->loyal_min) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[loyalty] with p_no_purchase, lost = %g must be above loyal = %g",
                              m->lost_max, m->loyal_min);
        }
    } else if (m->lost_max > m->loyal_min) {
        return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                          "[loyalty] lost = %g is above loyal = %g", m->lost_max, m->loyal_min);
    }
    if (m->calibration_end != CT_NO_DAY && m->observation_end != CT_NO_DAY &&
        m->calibration_end > m->observation_end) {
        return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                          "[data] calibration_end is after observation_end");
    }
    for (size_t a = 0; a < m->naudit; a++) {
        if (strcmp(m->audit[a], m->rank_by) == 0) {
            return ct_fail_at(err, CT_EPROTECTED, path, 0, 0,
                              "column '%s' is declared for audit and used as rank_by",
                              m->audit[a]);
        }
        for (size_t j = 0; j < m->nfeat; j++) {
            if (strcmp(m->audit[a], m->features[j]) == 0) {
                return ct_fail_at(err, CT_EPROTECTED, path, 0, 0,
                                  "column '%s' is declared for audit and used as a feature",
                                  m->audit[a]);
            }
        }
        const char *lists[2] = {m->cov_purchase, m->cov_dropout};
        for (int l = 0; l < 2; l++) {
            char names[CT_CLV_MAXCOEF][64];
            long n = lists[l][0] != '\0' ? split(lists[l], &names[0][0], CT_CLV_MAXCOEF, 64) : 0;
            for (long j = 0; j < n; j++) {
                if (strcmp(m->audit[a], names[j]) == 0) {
                    return ct_fail_at(err, CT_EPROTECTED, path, 0, 0,
                                      "column '%s' is declared for audit and used as a "
                                      "covariate",
                                      m->audit[a]);
                }
            }
        }
    }
    for (size_t i = 0; i < c.nactions; i++) {
        size_t t = 0;
        while (t < m->ntiers && strcmp(m->tiers[t], c.action_keys[i]) != 0) {
            t++;
        }
        if (t == m->ntiers && strcmp(c.action_keys[i], m->new_tier) != 0) {
            return ct_fail_at(err, CT_ECONFIG, path, 0, 0,
                              "[actions] '%s' is not a tier of this model", c.action_keys[i]);
        }
        if (t < m->ntiers) {
            snprintf(m->actions[t], sizeof m->actions[t], "%s", c.action_vals[i]);
        }
    }
    return CT_OK;
}
