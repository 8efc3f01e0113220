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
 *
 * Below that: NumPy's semantics for the operations where C's differ, as one inline function
 * per operation and dtype, named astjax_<operation>_<dtype> (astjax_floor_divide_int64).
 * Rules in astjax/rules/table.py name the family (`cython="astjax_floor_divide(x, y)"`) and the
 * emitter appends the dtype of NumPy's inner loop.
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

#include <stddef.h>
#include <stdint.h>

/* ---- division: NumPy never traps; x // 0 and x % 0 are 0 for integers ---------------- */
#define ASTJAX_INT_DIVISION(T, name)                                                      \
static inline T astjax_floor_divide_##name(T a, T b) {                                   \
    if (b == 0) return 0;                                                                 \
    if ((T)-1 < 0 && b == (T)-1) return (T)(0 - (uint64_t)a);  /* MIN // -1 wraps */       \
    T q = a / b;                                                                          \
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;                                     \
    return q;                                                                             \
}                                                                                         \
static inline T astjax_remainder_##name(T a, T b) {                                      \
    if (b == 0 || ((T)-1 < 0 && b == (T)-1)) return 0;                                    \
    T r = a % b;                                                                          \
    if (r != 0 && ((r < 0) != (b < 0))) r += b;                                           \
    return r;                                                                             \
}                                                                                         \
static inline T astjax_power_##name(T a, T b) {   /* b >= 0: the emitter checks */        \
    T result = 1;                                                                         \
    while (b > 0) { if (b & 1) result *= a; a *= a; b >>= 1; }                            \
    return result;                                                                        \
}                                                                                         \
static inline T astjax_absolute_##name(T a) { return a < 0 ? (T)(0 - (uint64_t)a) : a; }   \
static inline T astjax_sign_##name(T a) { return (T)(a > 0 ? 1 : (a < 0 ? -1 : 0)); }     \
static inline T astjax_maximum_##name(T a, T b) { return a >= b ? a : b; }                \
static inline T astjax_minimum_##name(T a, T b) { return a <= b ? a : b; }                \
static inline T astjax_true_divide_##name(T a, T b) { return a / b; }                  \
static inline T astjax_invert_##name(T a) { return (T)~a; }

static inline int astjax_invert_bool(int a) { return !a; }

ASTJAX_INT_DIVISION(int8_t, int8)    ASTJAX_INT_DIVISION(uint8_t, uint8)
ASTJAX_INT_DIVISION(int16_t, int16)  ASTJAX_INT_DIVISION(uint16_t, uint16)
ASTJAX_INT_DIVISION(int32_t, int32)  ASTJAX_INT_DIVISION(uint32_t, uint32)
ASTJAX_INT_DIVISION(int64_t, int64)  ASTJAX_INT_DIVISION(uint64_t, uint64)

/* Floats: NumPy's npy_divmod (Python's convention: the remainder has the divisor's sign,
 * the quotient is snapped to an integer), and NaN-propagating maximum/minimum. */
#define ASTJAX_FLOAT_OPS(T, name, SFX)                                                    \
static inline T astjax_true_divide_##name(T a, T b) { return a / b; }                    \
static inline T astjax_divmod_##name(T a, T b, T *modulus) {                             \
    T mod = fmod##SFX(a, b);                                                              \
    if (!b) { *modulus = mod; return a / b; }                                             \
    T div = (a - mod) / b;                                                                \
    if (mod) { if ((b < 0) != (mod < 0)) { mod += b; div -= 1; } }                        \
    else mod = copysign##SFX(0, b);                                                       \
    T floordiv;                                                                           \
    if (div) { floordiv = floor##SFX(div); if (div - floordiv > (T)0.5) floordiv += 1; }  \
    else floordiv = copysign##SFX(0, a / b);                                              \
    *modulus = mod;                                                                       \
    return floordiv;                                                                      \
}                                                                                         \
static inline T astjax_floor_divide_##name(T a, T b) {                                   \
    T mod; if (!b) return a / b; return astjax_divmod_##name(a, b, &mod);                 \
}                                                                                         \
static inline T astjax_remainder_##name(T a, T b) {                                      \
    T mod; if (!b) return fmod##SFX(a, b); astjax_divmod_##name(a, b, &mod); return mod;  \
}                                                                                         \
static inline T astjax_power_##name(T a, T b) { return pow##SFX(a, b); }                 \
static inline T astjax_absolute_##name(T a) { return fabs##SFX(a); }                     \
static inline T astjax_sign_##name(T a) { return a > 0 ? 1 : (a < 0 ? -1 : (a == 0 ? 0 : a)); } \
static inline T astjax_maximum_##name(T a, T b) { return (a >= b || a != a) ? a : b; }   \
static inline T astjax_minimum_##name(T a, T b) { return (a <= b || a != a) ? a : b; }

ASTJAX_FLOAT_OPS(float, float32, f)
ASTJAX_FLOAT_OPS(double, float64, )

/* Sum of a block, in 8 independent lanes: vectorizes without -ffast-math's reassociation.
 * Fused loops with a float sum compute their values into a block, then add it here. */
static inline double astjax_sum_float64(const double *p, ptrdiff_t n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] += p[i + k];
    double total = ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
                   ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (; i < n; i++) total += p[i];
    return total;
}

/* Maximum / minimum of a contiguous row, in 8 independent lanes (vectorizes); NaN
 * propagates as in NumPy, whatever the order. Used by reductions over the last axis. */
#define ASTJAX_LANE_EXTREMA(T, name)                                                      \
static inline T astjax_max_row_##name(const T *p, ptrdiff_t n, T init) {                 \
    T lane[8] = {init, init, init, init, init, init, init, init};                        \
    ptrdiff_t i = 0;                                                                      \
    for (; i + 8 <= n; i += 8)                                                            \
        for (int k = 0; k < 8; k++) lane[k] = astjax_maximum_##name(lane[k], p[i + k]);   \
    T acc = init;                                                                         \
    for (int k = 0; k < 8; k++) acc = astjax_maximum_##name(acc, lane[k]);                \
    for (; i < n; i++) acc = astjax_maximum_##name(acc, p[i]);                            \
    return acc;                                                                           \
}                                                                                         \
static inline T astjax_min_row_##name(const T *p, ptrdiff_t n, T init) {                 \
    T lane[8] = {init, init, init, init, init, init, init, init};                        \
    ptrdiff_t i = 0;                                                                      \
    for (; i + 8 <= n; i += 8)                                                            \
        for (int k = 0; k < 8; k++) lane[k] = astjax_minimum_##name(lane[k], p[i + k]);   \
    T acc = init;                                                                         \
    for (int k = 0; k < 8; k++) acc = astjax_minimum_##name(acc, lane[k]);                \
    for (; i < n; i++) acc = astjax_minimum_##name(acc, p[i]);                            \
    return acc;                                                                           \
}

ASTJAX_LANE_EXTREMA(float, float32)
ASTJAX_LANE_EXTREMA(double, float64)
ASTJAX_LANE_EXTREMA(int8_t, int8)
ASTJAX_LANE_EXTREMA(int16_t, int16)
ASTJAX_LANE_EXTREMA(int32_t, int32)
ASTJAX_LANE_EXTREMA(int64_t, int64)
ASTJAX_LANE_EXTREMA(uint8_t, uint8)
ASTJAX_LANE_EXTREMA(uint16_t, uint16)
ASTJAX_LANE_EXTREMA(uint32_t, uint32)
ASTJAX_LANE_EXTREMA(uint64_t, uint64)

/* Python ints under jit: C int64 arithmetic that reports overflow (then the jitted function
 * reruns that call as Python, whose ints are exact). Nonzero return: overflowed. */
#include <stdint.h>
static inline int astjax_add_ovf(int64_t a, int64_t b, int64_t *r) {
    return __builtin_add_overflow(a, b, r);
}
static inline int astjax_sub_ovf(int64_t a, int64_t b, int64_t *r) {
    return __builtin_sub_overflow(a, b, r);
}
static inline int astjax_mul_ovf(int64_t a, int64_t b, int64_t *r) {
    return __builtin_mul_overflow(a, b, r);
}
/* Python's // and % (floor: -7 // 2 == -4, -7 % 2 == 1; C's / and % truncate). The caller
 * has raised ZeroDivisionError for a zero divisor; INT64_MIN // -1 overflows. */
static inline int astjax_floordiv_ovf(int64_t a, int64_t b, int64_t *r) {
    if (b == -1 && a == INT64_MIN) return 1;
    *r = astjax_floor_divide_int64(a, b);
    return 0;
}
static inline int64_t astjax_py_mod_int(int64_t a, int64_t b) {
    return astjax_remainder_int64(a, b);
}
/* Python floats: CPython's float_divmod (-7.5 % 2 == 0.5, 7.5 % -7.5 == -0.0) */
static inline double astjax_py_floordiv_float(double a, double b) {
    return astjax_floor_divide_float64(a, b);
}
static inline double astjax_py_mod_float(double a, double b) {
    return astjax_remainder_float64(a, b);
}

#endif /* ASTJAX_MATH_H */
