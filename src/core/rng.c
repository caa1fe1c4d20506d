/* rng.c - deterministic random streams over GSL's MT19937.
 * Stream seeds are derived with SplitMix64 (Steele, Lea & Flood 2014), so
 * neighbouring (seed, stream) pairs give unrelated MT19937 states. */
#include "clvtier/rng.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

struct ct_rng {
    gsl_rng *g;
};

uint64_t ct_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static unsigned long derive(uint64_t seed, uint64_t stream)
{
    uint64_t s = ct_mix64(seed ^ ct_mix64(stream + 0x632be59bd9b4e019ULL));
    /* MT19937 takes a 32-bit seed; 0 would select GSL's default seed. */
    unsigned long v = (unsigned long)(s & 0xffffffffu);
    return v != 0 ? v : 4357u;
}

ct_rng *ct_rng_new(uint64_t seed, uint64_t stream)
{
    ct_init();
    ct_rng *r = malloc(sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->g = gsl_rng_alloc(gsl_rng_mt19937);
    if (r->g == NULL) {
        free(r);
        return NULL;
    }
    gsl_rng_set(r->g, derive(seed, stream));
    return r;
}

void ct_rng_free(ct_rng *r)
{
    if (r == NULL) {
        return;
    }
    gsl_rng_free(r->g);
    free(r);
}

void ct_rng_reset(ct_rng *r, uint64_t seed, uint64_t stream)
{
    gsl_rng_set(r->g, derive(seed, stream));
}

double ct_rng_uniform(ct_rng *r)
{
    return gsl_rng_uniform(r->g);
}

double ct_rng_uniform_pos(ct_rng *r)
{
    return gsl_rng_uniform_pos(r->g);
}

uint64_t ct_rng_below(ct_rng *r, uint64_t n)
{
    if (n <= gsl_rng_max(r->g)) {
        return gsl_rng_uniform_int(r->g, (unsigned long)n);
    }
    /* 64-bit range from two draws, by rejection. */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t v = ((uint64_t)gsl_rng_get(r->g) << 32) ^ (uint64_t)gsl_rng_get(r->g);
        if (v < lim) {
            return v % n;
        }
    }
}

double ct_rng_gamma(ct_rng *r, double shape, double scale)
{
    return gsl_ran_gamma(r->g, shape, scale);
}

double ct_rng_beta(ct_rng *r, double a, double b)
{
    return gsl_ran_beta(r->g, a, b);
}

double ct_rng_exponential(ct_rng *r, double mean)
{
    return gsl_ran_exponential(r->g, mean);
}

unsigned ct_rng_poisson(ct_rng *r, double mu)
{
    return gsl_ran_poisson(r->g, mu);
}

double ct_rng_normal(ct_rng *r)
{
    return gsl_ran_gaussian_ziggurat(r->g, 1.0);
}
