/* astjax_math.h: the libm that generated code sees.
 *
 * Generated .pyx files take their math functions from here
 * (`cdef extern from "astjax_math.h"`), never from libc.math directly.
 *
 * With ASTJAX_VECTOR_MATH (BuildFlags.vector_math, the default), GCC on x86-64 glibc is
 * told that glibc's libmvec has SIMD versions of these functions, so a loop calling expf
 * is vectorized into calls to _ZGVdN8v_expf (8 floats at a time with AVX2). glibc itself
 * only declares them under -ffast-math, whose -ffinite-math-only would break NaN and Inf;
 * we declare them ourselves and build with -fno-math-errno -fno-trapping-math only.
 * libmvec keeps NaN/Inf/overflow results of the scalar functions (checked by
 * tests/test_cache.py::test_vector_math_keeps_nan_and_inf) and is accurate to 4 ulp.
 */
#ifndef ASTJAX_MATH_H
#define ASTJAX_MATH_H

#include <math.h>

#if defined(ASTJAX_VECTOR_MATH) && defined(__GNUC__) && !defined(__clang__) \
    && defined(__x86_64__) && defined(__GLIBC__) && !defined(__FAST_MATH__)

#define ASTJAX_SIMD __attribute__((__simd__("notinbranch")))
#define ASTJAX_SIMD_1(name) \
    double name(double) ASTJAX_SIMD; float name##f(float) ASTJAX_SIMD;
#define ASTJAX_SIMD_2(name) \
    double name(double, double) ASTJAX_SIMD; float name##f(float, float) ASTJAX_SIMD;

/* in libmvec since glibc 2.22 */
ASTJAX_SIMD_1(exp) ASTJAX_SIMD_1(log) ASTJAX_SIMD_1(sin) ASTJAX_SIMD_1(cos)
ASTJAX_SIMD_2(pow)

#if __GLIBC_PREREQ(2, 35)
ASTJAX_SIMD_1(acos) ASTJAX_SIMD_1(asin) ASTJAX_SIMD_1(atan)
ASTJAX_SIMD_1(acosh) ASTJAX_SIMD_1(asinh) ASTJAX_SIMD_1(atanh)
ASTJAX_SIMD_1(cosh) ASTJAX_SIMD_1(sinh) ASTJAX_SIMD_1(tan) ASTJAX_SIMD_1(tanh)
ASTJAX_SIMD_1(exp2) ASTJAX_SIMD_1(exp10) ASTJAX_SIMD_1(expm1)
ASTJAX_SIMD_1(log2) ASTJAX_SIMD_1(log10) ASTJAX_SIMD_1(log1p)
ASTJAX_SIMD_1(cbrt) ASTJAX_SIMD_1(erf) ASTJAX_SIMD_1(erfc)
ASTJAX_SIMD_2(atan2) ASTJAX_SIMD_2(hypot)
#endif

#undef ASTJAX_SIMD_1
#undef ASTJAX_SIMD_2
#endif /* ASTJAX_VECTOR_MATH */

#endif /* ASTJAX_MATH_H */
