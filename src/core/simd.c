/* simd.c - see simd_internal.h. */
#include "core/simd_internal.h"

#include <stdlib.h>
#include <string.h>

static int simd_level = -1;

int ct_simd_level(void) {
  int v = __atomic_load_n(&simd_level, __ATOMIC_ACQUIRE);
  if (v < 0) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f")                                 ? 2
        : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                          : 0;
#else
    v = 0;
#endif
    if (getenv("CLVTIER_NO_SIMD") != NULL) {
      v = 0;
    }
    const char *e = getenv("CLVTIER_SIMD");
    if (e != NULL && strcmp(e, "avx2") == 0 && v == 2) {
      v = 1;
    }
    __atomic_store_n(&simd_level, v, __ATOMIC_RELEASE);
  }
  return v;
}
