"""The seeds tour: astjax's transformations on plain NumPy functions.

Run:  python examples/seeds_tour.py
"""
import time

import numpy as np

import astjax


# ---- the seed functions: plain NumPy, nothing astjax-specific -------------------------------

def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def x_sin_x(x):
    return x * np.sin(x)


def rectified_cube(x):
    """|x| ** 3, written with a loop and a branch."""
    r = 1.0
    for i in range(3):
        r = r * x
    if x < 0.0:
        r = -r
    return r


def show(label, value):
    print(f"{label:<44} {value}")


def reverse_mode():
    print("== reverse mode: grad ==")
    dfdx = astjax.grad(sum_logistic)
    show("grad(sum_logistic)(arange(3.))", dfdx(np.arange(3.0)))
    show("grad(x * sin(x))(3.0)", astjax.grad(x_sin_x)(3.0))
    d_cube = astjax.grad(rectified_cube)
    show("grad(rectified_cube)(2.0)", d_cube(2.0))
    show("grad(rectified_cube)(-3.0)", d_cube(-3.0))
    print()
    print("The generated gradient of sum_logistic (astjax.source):")
    print(astjax.source(dfdx))


# ---- forward mode, Jacobians, Hessians, composition to any order -------------------------------

def mapping(v):
    return np.array([v[0] * v[0], v[1] * v[2]])


def forward_mode():
    print("== forward mode, Jacobians and higher order ==")
    d3 = astjax.grad(astjax.grad(astjax.grad(sum_logistic)))
    show("grad(grad(grad(sum_logistic)))(1.0)", d3(1.0))
    d3_cube = astjax.grad(astjax.grad(astjax.grad(rectified_cube)))
    show("third derivative of rectified_cube, 0..4", [d3_cube(float(x)) for x in range(5)])
    show("jacfwd(mapping)([4., 5., 9.])", astjax.jacfwd(mapping)(np.array([4.0, 5.0, 9.0])))
    show("jacfwd(np.exp)(arange(3.))", astjax.jacfwd(np.exp)(np.arange(3.0)))
    hess = astjax.hessian(sum_logistic)
    show("hessian(sum_logistic)(arange(3.))", hess(np.arange(3.0)))
    show("jvp(sum_logistic, (arange(3.),), (ones(3),))",
         astjax.jvp(sum_logistic, (np.arange(3.0),), (np.ones(3),)))
    print()
    print("The generated Hessian of sum_logistic is jacfwd over the generated jacrev "
          "(forward-over-reverse).")
    print("Its entry, and the tangent of the generated reverse sweep:")
    functions = astjax.source(hess).split("\n\n\n")
    print("\n\n".join(f for f in functions if f.startswith(("def jacfwd_", "def sum_logistic_bwd_jvp"))))
    print()


# ---- batching seeds ------------------------------------------------------------------------------

def square(x):
    return np.sum(x ** 2)


mat = np.random.default_rng(0).standard_normal((150, 100))


def apply_matrix(v):
    return np.dot(mat, v)


def leaky(x):
    """A branch on a per-example value: vmap turns it into a select."""
    if np.sum(x) > 0:
        return x * 2.0
    return x * 0.1


def batching():
    print("== batching: vmap ==")
    show("vmap(square)(arange(100).reshape(10, 10))",
         astjax.vmap(square)(np.arange(100).reshape(10, 10)))
    batched_x = np.random.default_rng(1).standard_normal((10, 100))
    batched = astjax.vmap(apply_matrix)
    show("vmap(apply_matrix)(x) == x @ mat.T", np.allclose(batched(batched_x),
                                                           batched_x @ mat.T))
    show("vmap(leaky)(...)", astjax.vmap(leaky)(np.array([[1.0, 2.0], [-3.0, 1.0]])))
    print()
    print("The generated batched apply_matrix: one matrix product for the batch:")
    print(astjax.source(batched))
    print("A per-example branch becomes np.where over both branches:")
    print(astjax.source(astjax.vmap(leaky)))


def selu(x, alpha=1.67, lmbda=1.05):
    return lmbda * np.where(x > 0, x, alpha * np.exp(x) - alpha)


def poly(x):
    return x + x * x + x * x * x


def logistic_map(x, r, steps):
    for i in range(steps):
        x = r * x * (1.0 - x)
    return x


def best_ms(fn, *args, repeat=5):
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def compiling():
    print("== compiling: jit (Cython + OpenMP; the first call builds, later runs load the cache) ==")
    rng = np.random.default_rng(0)
    cases = [("selu, 1e6 float32", selu, (rng.standard_normal(10**6).astype(np.float32),)),
             ("x + x*x + x*x*x, 2000x2000 float32", poly,
              (rng.standard_normal((2000, 2000)).astype(np.float32),)),
             ("grad(sum_logistic), 1e6 float64", astjax.grad(sum_logistic),
              (rng.standard_normal(10**6),)),
             ("logistic map, 1e5 scalar steps", logistic_map, (0.5, 3.7, 10**5))]
    jitted = {}
    for label, fn, args in cases:
        compiled = jitted[fn] = astjax.jit(fn)
        started = time.perf_counter()
        result = compiled(*args)
        first = time.perf_counter() - started
        expected = fn(*args)
        assert np.allclose(result, expected, rtol=1e-5, atol=1e-6)
        assert np.result_type(result) == np.result_type(expected)
        t_numpy, t_jit = best_ms(fn, *args), best_ms(compiled, *args)
        show(label, f"NumPy {t_numpy:7.2f} ms   jit {t_jit:7.2f} ms   {t_numpy / t_jit:5.1f}x"
                    f"   (first call {first:.2f} s)")
    print()
    print("What jit made of selu (astjax.explain):")
    print(astjax.explain(jitted[selu]))


def main():
    np.set_printoptions(precision=8)
    reverse_mode()
    forward_mode()
    batching()
    compiling()


if __name__ == "__main__":
    main()
