/* simd.c - see simd_internal.h. */
#include "core/simd_internal.h"

#include <stdlib.h>
#include <string.h>

static int simd_level = -1, simd_vbmi2 = -1;

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

int ct_simd_vbmi2(void) {
  int v = __atomic_load_n(&simd_vbmi2, __ATOMIC_ACQUIRE);
  if (v < 0) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    v = ct_simd_level() == 2 && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vbmi2");
#else
    v = 0;
#endif
    const char *e = getenv("CLVTIER_SIMD");
    if (e != NULL && strcmp(e, "avx512f") == 0) {
      v = 0;
    }
    __atomic_store_n(&simd_vbmi2, v, __ATOMIC_RELEASE);
  }
  return v;
}
