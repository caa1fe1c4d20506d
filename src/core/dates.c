/* dates.c - civil dates <-> day numbers and fast date parsing.
 * Ref: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms" (2013),
 * days_from_civil / civil_from_days. */
#include "clvtier/dates.h"

#include <string.h>

int32_t ct_days_from_civil(int y, int m, int d)
{
    int yy = y - (m <= 2);
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned mp = (unsigned)(m > 2 ? m - 3 : m + 9);
    unsigned doy = (153 * mp + 2) / 5 + (unsigned)d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void ct_civil_from_days(int32_t days, int *y, int *m, int *d)
{
    int z = days + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int yy = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (mm <= 2);
    *m = (int)mm;
    *d = (int)dd;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dm[m - 1];
}

/* Exactly `k` digits at s, value into *v. */
static int digits(const char *s, size_t k, int *v)
{
    int x = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned c = (unsigned)(unsigned char)s[i] - '0';
        if (c > 9) {
            return -1;
        }
        x = x * 10 + (int)c;
    }
    *v = x;
    return 0;
}

static int finish(int y, int m, int d, int H, int M, int S, int32_t *day)
{
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m) || H < 0 ||
        H > 23 || M < 0 || M > 59 || S < 0 || S > 60) {
        return -1;
    }
    *day = ct_days_from_civil(y, m, d);
    return 0;
}

/* After the seconds: optional fractional seconds ".ddd". */
static void skip_fraction(const char *s, size_t n, size_t *i)
{
    if (*i < n && (s[*i] == '.' || s[*i] == ',') && *i + 1 < n && s[*i + 1] >= '0' &&
        s[*i + 1] <= '9') {
        (*i)++;
        while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
            (*i)++;
        }
    }
}

/* A UTC offset at s[*i..]: "Z", "+HH", "+HHMM" or "+HH:MM" (or '-'), into
 * *minutes east of UTC; 0 ok (nothing there is ok too, offset 0). */
static int utc_offset(const char *s, size_t n, size_t *i, int *minutes, int *given)
{
    int h = 0, m = 0;
    *minutes = 0;
    if (*i >= n) {
        return 0;
    }
    *given = 1;
    if (s[*i] == 'Z') {
        (*i)++;
        return 0;
    }
    if (s[*i] != '+' && s[*i] != '-') {
        return -1;
    }
    int sign = s[*i] == '-' ? -1 : 1;
    (*i)++;
    if (*i + 2 > n || digits(s + *i, 2, &h)) {
        return -1;
    }
    *i += 2;
    if (*i < n && s[*i] == ':') {
        (*i)++;
    }
    if (*i + 2 <= n && !digits(s + *i, 2, &m)) {
        *i += 2;
    }
    if (h > 18 || m > 59) {
        return -1;
    }
    *minutes = sign * (h * 60 + m);
    return 0;
}

/* The civil date and time with a UTC offset, as the UTC day, or with a
 * zone, as the zone's day at that instant (given: the text had an offset). */
static int finish_utc(int y, int m, int d, int H, int M, int S, int offset, int given,
                      const ct_tz *tz, int32_t *day)
{
    if (finish(y, m, d, H, M, S, day) != 0) {
        return -1;
    }
    if (tz != NULL && given) {
        int64_t t = (int64_t)*day * 86400 + H * 3600 + M * 60 + (S > 59 ? 59 : S) -
                    (int64_t)offset * 60;
        int64_t local = t + ct_tz_offset(tz, t);
        *day = (int32_t)(local >= 0 ? local / 86400 : -((-local + 86399) / 86400));
        return 0;
    }
    int t = H * 60 + M - offset; /* minutes into the UTC day */
    *day += t < 0 ? -1 : t >= 1440 ? 1 : 0;
    return 0;
}

/* YYYY-MM-DD, YYYYMMDD, or ISO 8601 date and time: YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]
 * with an optional Z or +-HH[:MM] offset (the date is then the UTC date). */
static int parse_auto(const char *s, size_t n, const ct_tz *tz, int32_t *day)
{
    int y, m, d, H = 0, M = 0, S = 0, off = 0, given = 0;
    if (n == 8) {
        if (digits(s, 4, &y) || digits(s + 4, 2, &m) || digits(s + 6, 2, &d)) {
            return -1;
        }
        return finish(y, m, d, 0, 0, 0, day);
    }
    if (n < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &m) ||
        digits(s + 8, 2, &d)) {
        return -1;
    }
    if (n == 10) {
        return finish(y, m, d, 0, 0, 0, day);
    }
    size_t i = 16;
    if (n < 16 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || digits(s + 11, 2, &H) ||
        digits(s + 14, 2, &M)) {
        return -1;
    }
    if (i < n && s[i] == ':') {
        if (i + 3 > n || digits(s + i + 1, 2, &S)) {
            return -1;
        }
        i += 3;
        skip_fraction(s, n, &i);
    }
    if (utc_offset(s, n, &i, &off, &given) != 0 || i != n) {
        return -1;
    }
    return finish_utc(y, m, d, H, M, S, off, given, tz, day);
}

/* %b: a month's English name, abbreviated or full, any case. */
static int month_name(const char *s, size_t n, size_t *i, int *m)
{
    static const char *const MON[12] = {"january", "february", "march",     "april",
                                        "may",     "june",     "july",      "august",
                                        "september", "october", "november", "december"};
    for (int k = 0; k < 12; k++) {
        size_t len = strlen(MON[k]), j = 0;
        while (j < len && *i + j < n && (s[*i + j] | 0x20) == MON[k][j]) {
            j++;
        }
        if (j == len || (j == 3 && !(*i + j < n && ((s[*i + j] | 0x20) >= 'a' &&
                                                     (s[*i + j] | 0x20) <= 'z')))) {
            *i += j;
            *m = k + 1;
            return 0;
        }
    }
    return -1;
}

/* Variable-width number of 1..max digits (for %m %d in patterns like %d/%m/%Y). */
static int num(const char *s, size_t n, size_t *i, size_t maxd, int *v)
{
    size_t k = 0;
    int x = 0;
    while (*i + k < n && k < maxd && s[*i + k] >= '0' && s[*i + k] <= '9') {
        x = x * 10 + (s[*i + k] - '0');
        k++;
    }
    if (k == 0) {
        return -1;
    }
    *i += k;
    *v = x;
    return 0;
}

int ct_date_parse(const char *s, size_t n, const char *fmt, int32_t *day)
{
    return ct_date_parse_tz(s, n, fmt, NULL, day);
}

int ct_date_parse_tz(const char *s, size_t n, const char *fmt, const ct_tz *tz, int32_t *day)
{
    int y = -1, m = -1, d = -1, H = 0, M = 0, S = 0, off = 0, pm = -1, given = 0;
    size_t i = 0;

    if (fmt == NULL) {
        return parse_auto(s, n, tz, day);
    }
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f == '%' && f[1] != '\0') {
            f++;
            int rc;
            switch (*f) {
            case 'Y':
                rc = num(s, n, &i, 4, &y);
                break;
            case 'y': /* POSIX: 69-99 are 1969-1999, 00-68 are 2000-2068 */
                rc = num(s, n, &i, 2, &y);
                y += rc == 0 ? (y >= 69 ? 1900 : 2000) : 0;
                break;
            case 'm':
                rc = num(s, n, &i, 2, &m);
                break;
            case 'b':
            case 'B':
                rc = month_name(s, n, &i, &m);
                break;
            case 'd':
                rc = num(s, n, &i, 2, &d);
                break;
            case 'H':
            case 'I':
                rc = num(s, n, &i, 2, &H);
                break;
            case 'M':
                rc = num(s, n, &i, 2, &M);
                break;
            case 'S':
                rc = num(s, n, &i, 2, &S);
                skip_fraction(s, n, &i);
                break;
            case 'p': /* AM / PM */
                rc = i + 2 <= n && (s[i + 1] | 0x20) == 'm' &&
                             ((s[i] | 0x20) == 'a' || (s[i] | 0x20) == 'p')
                         ? (pm = (s[i] | 0x20) == 'p', i += 2, 0)
                         : -1;
                break;
            case 'z':
                rc = utc_offset(s, n, &i, &off, &given);
                break;
            case '%':
                rc = i < n && s[i] == '%' ? (i++, 0) : -1;
                break;
            default:
                return -1;
            }
            if (rc != 0) {
                return -1;
            }
        } else if (*f == ' ') { /* a space in the format: one or more blanks */
            if (i >= n || s[i] != ' ') {
                return -1;
            }
            while (i < n && s[i] == ' ') {
                i++;
            }
        } else {
            if (i >= n || s[i] != *f) {
                return -1;
            }
            i++;
        }
    }
    if (i != n || y < 0 || m < 0 || d < 0) {
        return -1;
    }
    if (pm >= 0) { /* 12-hour clock: 12 AM is 0, 12 PM is 12 */
        if (H < 1 || H > 12) {
            return -1;
        }
        H = H % 12 + (pm ? 12 : 0);
    }
    return finish_utc(y, m, d, H, M, S, off, given, tz, day);
}

void ct_date_format(int32_t day, char buf[11])
{
    int y, m, d;
    ct_civil_from_days(day, &y, &m, &d);
    buf[0] = (char)('0' + (y / 1000) % 10);
    buf[1] = (char)('0' + (y / 100) % 10);
    buf[2] = (char)('0' + (y / 10) % 10);
    buf[3] = (char)('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

double ct_period_days(ct_period p)
{
    switch (p) {
    case CT_PERIOD_DAY:
        return 1.0;
    case CT_PERIOD_WEEK:
        return 7.0;
    case CT_PERIOD_MONTH:
        return 365.2425 / 12.0;
    }
    return 1.0;
}

const char *ct_period_name(ct_period p)
{
    switch (p) {
    case CT_PERIOD_DAY:
        return "day";
    case CT_PERIOD_WEEK:
        return "week";
    case CT_PERIOD_MONTH:
        return "month";
    }
    return "?";
}

int ct_period_parse(const char *s, ct_period *p)
{
    if (strcmp(s, "day") == 0 || strcmp(s, "D") == 0) {
        *p = CT_PERIOD_DAY;
    } else if (strcmp(s, "week") == 0 || strcmp(s, "W") == 0) {
        *p = CT_PERIOD_WEEK;
    } else if (strcmp(s, "month") == 0 || strcmp(s, "M") == 0) {
        *p = CT_PERIOD_MONTH;
    } else {
        return -1;
    }
    return 0;
}
