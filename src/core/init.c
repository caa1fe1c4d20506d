/* init.c - once-only library initialisation.  GSL's default error handler
 * prints and calls abort(); the library never aborts, so every entry point
 * that can reach GSL (the CLV models, the RNG) calls ct_init() first, which
 * switches the handler off once for the process (pthread_once: safe from
 * any thread).  Every GSL return is checked instead. */
#include "clvtier/status.h"

#include <gsl/gsl_errno.h>
#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    gsl_set_error_handler_off();
}

void ct_init(void)
{
    pthread_once(&once, init_once);
}
