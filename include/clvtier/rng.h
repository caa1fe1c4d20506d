/* rng.h - deterministic random streams (GSL mt19937 underneath).
 *
 * A stream is named by (seed, stream id): block b of a parallel job uses
 * stream b, so results do not depend on how blocks map onto threads. */
#ifndef CLVTIER_RNG_H
#define CLVTIER_RNG_H

#include <stdint.h>

#include "clvtier/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_rng ct_rng;

/* New stream for (seed, stream); NULL when out of memory. */
ct_rng *ct_rng_new(uint64_t seed, uint64_t stream);
void ct_rng_free(ct_rng *r);
/* Re-seed an existing stream (cheaper than free + new). */
void ct_rng_reset(ct_rng *r, uint64_t seed, uint64_t stream);

double ct_rng_uniform(ct_rng *r);                  /* [0, 1) */
double ct_rng_uniform_pos(ct_rng *r);              /* (0, 1) */
uint64_t ct_rng_below(ct_rng *r, uint64_t n);      /* uniform integer in [0, n), n >= 1 */
double ct_rng_gamma(ct_rng *r, double shape, double scale);
double ct_rng_beta(ct_rng *r, double a, double b);
double ct_rng_exponential(ct_rng *r, double mean);
double ct_rng_normal(ct_rng *r);                   /* standard normal */
unsigned ct_rng_poisson(ct_rng *r, double mu);

/* SplitMix64 mixing step: a good 64-bit hash for deriving seeds. */
uint64_t ct_mix64(uint64_t x);

#ifdef __cplusplus
}
#endif

#endif
