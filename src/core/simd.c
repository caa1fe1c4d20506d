/* simd.c - see simd_internal.h. */
#include "core/simd_internal.h"

#include <stdlib.h>
#include <string.h>

/* -1 until detected; then the level (bits 0-1) and, bit 2, VBMI2 */
static int simd_caps = -1;

static int simd_detect(void) {
  int v = __atomic_load_n(&simd_caps, __ATOMIC_ACQUIRE);
  if (v < 0) {
    int level = 0, vbmi2 = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    level = __builtin_cpu_supports("avx512f")                                 ? 2
            : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                              : 0;
    vbmi2 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi2");
#endif
    if (getenv("CLVTIER_NO_SIMD") != NULL) {
      level = 0;
    }
    const char *e = getenv("CLVTIER_SIMD");
    if (e != NULL && strcmp(e, "avx2") == 0 && level == 2) {
      level = 1;
    }
    if (level < 2 || (e != NULL && strcmp(e, "avx512f") == 0)) {
      vbmi2 = 0;
    }
    v = level | vbmi2 << 2;
    __atomic_store_n(&simd_caps, v, __ATOMIC_RELEASE);
  }
  return v;
}

int ct_simd_level(void) { return simd_detect() & 3; }

int ct_simd_vbmi2(void) { return simd_detect() >> 2 & 1; }
