/* simd_internal.h - the vector unit the kernels use (not installed). */
#ifndef CLVTIER_SIMD_INTERNAL_H
#define CLVTIER_SIMD_INTERNAL_H

/* 2: AVX-512, 1: AVX2 + FMA, 0: neither; decided once, before any thread
 * asks.  CLVTIER_NO_SIMD set: 0 (tests and benchmarks of the plain paths);
 * CLVTIER_SIMD=avx2: at most 1 (the AVX2 kernels on an AVX-512 CPU).  The
 * k-means kernels and the CLV scores' vector kernels both follow it. */
int ct_simd_level(void);

/* 1 where ct_simd_level() is 2 and the CPU has AVX512-BW and AVX512-VBMI2
 * (16-bit compares and compresses); CLVTIER_SIMD=avx512f: 0 (the tests of
 * the AVX-512F-only paths on a CPU that has them). */
int ct_simd_vbmi2(void);

#endif
