"""A corpus of plain NumPy functions covering every construct and primitive reverse mode
supports.  Each entry: (function, args-maker).  Shared by the reverse-mode tests and by any
transform that wants many functions to check (forward mode, batching, jit)."""
import math

import numpy as np
from numpy import exp as np_exp_alias

import numpy

from userfiles import physics

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 4))
SCALE = 1.5


def vec(n=4, lo=-1.0, hi=1.0, seed=0):
    return lambda: (np.random.default_rng(seed).uniform(lo, hi, n),)


def pos(n=4, seed=1):
    return lambda: (np.random.default_rng(seed).uniform(0.5, 2.0, n),)


def mat(shape=(3, 4), seed=2):
    return lambda: (np.random.default_rng(seed).standard_normal(shape),)


def scalar(v=0.7):
    return lambda: (v,)


# ---- arithmetic and broadcasting ------------------------------------------------------------
def f_add(x): return np.sum(x + 2.0 * x)
def f_sub(x): return np.sum(3.0 - x * x)
def f_mul_broadcast(x): return np.sum(x * np.ones((3, 1)))
def f_div(x): return np.sum(1.0 / x + x / 2.0)
def f_pow(x): return np.sum(x ** 3 + 2.0 ** x)
def f_pow_both(x): return np.sum(x ** x)
def f_neg(x): return np.sum(-x * +x)
def f_mod(x): return np.sum(np.mod(x * 3.0, 1.7))
def f_matmul(x): return np.sum(W @ x)
def f_rmatmul(x): return np.sum(x @ W.T @ W)
def f_broadcast2d(x): return np.sum(x[:, None] * x[None, :])


# ---- elementwise functions ------------------------------------------------------------------
def f_exp(x): return np.sum(np.exp(x))
def f_log(x): return np.sum(np.log(x))
def f_log1p(x): return np.sum(np.log1p(x))
def f_expm1(x): return np.sum(np.expm1(x))
def f_sqrt(x): return np.sum(np.sqrt(x))
def f_square(x): return np.sum(np.square(x))
def f_abs(x): return np.sum(np.abs(x) * x)
def f_sign(x): return np.sum(np.sign(x) * x * x)
def f_trig(x): return np.sum(np.sin(x) * np.cos(x) + np.tan(x))
def f_arc(x): return np.sum(np.arcsin(x * 0.5) + np.arccos(x * 0.3) + np.arctan(x))
def f_hyp(x): return np.sum(np.sinh(x) + np.cosh(x) * np.tanh(x))
def f_maximum(x): return np.sum(np.maximum(x, 0.1) + np.minimum(x, -0.2))
def f_where(x): return np.sum(np.where(x > 0, x * x, -x))
def f_clip(x): return np.sum(np.clip(x, -0.5, 0.5) * x)
def f_alias(x): return np.sum(np_exp_alias(x) + numpy.sin(x))
def f_builtin_abs(x): return np.sum(abs(x) ** 2)
def f_arctan2(x): return np.sum(np.arctan2(x, 2.0 + x))


# ---- reductions -----------------------------------------------------------------------------
def f_sum_axis(x): return np.sum(np.sum(x, axis=0) ** 2)
def f_sum_keepdims(x): return np.sum(x / np.sum(x, axis=1, keepdims=True))
def f_mean(x): return np.mean(x ** 2) + np.sum(np.mean(x, axis=1))
def f_prod(x): return np.prod(x)
def f_max(x): return np.max(x) + np.sum(np.min(x, axis=0))
def f_var_std(x): return np.var(x) + np.sum(np.std(x, axis=0))
def f_cumsum(x): return np.sum(np.cumsum(x) ** 2)
def f_logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


# ---- products and linear algebra ------------------------------------------------------------
def f_dot(x): return np.dot(x, x) + np.sum(np.dot(W, x))
def f_outer(x): return np.sum(np.outer(x, x) * 0.5)
def f_einsum(x): return np.einsum("ij,j->", W, x) + np.einsum("i,i->", x, x)
def f_solve(x):
    a = np.eye(4) * 3.0 + np.outer(x, x) * 0.1
    return np.sum(np.linalg.solve(a, x))
def f_inv(x):
    a = np.eye(4) * 2.0 + np.outer(x, x) * 0.1
    return np.sum(np.linalg.inv(a))


# ---- shapes ---------------------------------------------------------------------------------
def f_transpose(x): return np.sum(np.transpose(x) @ W.T)
def f_reshape(x): return np.sum(np.reshape(x, (4, 3)) ** 2 * np.arange(12.0).reshape(4, 3))
def f_ravel_squeeze(x): return np.sum(np.ravel(x) * np.squeeze(np.expand_dims(x, 0)).ravel())
def f_concat_stack(x): return np.sum(np.concatenate([x, x * 2.0]) ** 2) + np.sum(np.stack([x, x ** 2]))
def f_astype(x): return np.sum(x.astype(np.float64) ** 2)
def f_like(x): return np.sum(x * np.ones_like(x) + np.zeros_like(x))


# ---- methods and attributes -----------------------------------------------------------------
def f_methods(x): return (x ** 2).sum(axis=0).mean() + x.T.dot(W).sum() + x.reshape(-1).max()
def f_shape_attr(x): return np.sum(x) * x.shape[0] / x.size


# ---- indexing -------------------------------------------------------------------------------
def f_index(x): return x[0] * x[1] + x[-1]
def f_slice(x): return np.sum(x[1:3] * x[:2]) + np.sum(x[::2])
def f_fancy(x): return np.sum(x[np.array([0, 0, 2])] ** 2)
def f_index2d(x): return np.sum(x[1, :] * x[:, 2].sum()) + x[0, 0]


# ---- assignment forms -----------------------------------------------------------------------
def f_augassign(x):
    y = x * 1.0
    y += x
    y *= x
    y -= 1.0
    y /= 2.0
    return np.sum(y)


def f_tuple_unpack(x):
    a, b = x[0], x[1]
    a, b = b, a * b
    return a + b


def f_setitem(x):
    out = np.zeros(4)
    out[0] = x[1] * 2.0
    out[1:3] = x[2:] ** 2
    out[3] += x[0]
    return np.sum(out * out)


def f_setitem_loop(x):
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i]
    out[:, ] += 1.0
    return np.sum(out * x)


# ---- control flow ---------------------------------------------------------------------------
def f_if(x):
    if np.sum(x) > 0:
        y = x * 2.0
    elif np.sum(x) > -1:
        y = x ** 2
    else:
        y = -x
    return np.sum(y)


def f_for_range(x):
    y = x
    for i in range(3):
        y = y * x + i
    return np.sum(y)


def f_for_array(x):
    total = 0.0
    for v in x:
        total = total + v * v
    return total


def f_for_enumerate(x):
    total = 0.0
    for i, v in enumerate(x):
        total += v * (i + 1)
    return total


def f_while(x):
    y = x
    n = 0
    while n < 4:
        y = np.sin(y) + x
        n += 1
    return np.sum(y)


def f_while_data(x):
    y = x * 1.0
    while np.sum(y * y) < 50.0:
        y = y * 1.5
    return np.sum(y)


def f_break_continue(x):
    total = 0.0
    for i in range(10):
        if i == 1:
            continue
        if i > 5:
            break
        total = total + x[i % 4] * i
    return total


def f_early_return(x):
    for i in range(4):
        if x[i] > 0.5:
            return x[i] * x[0]
    return np.sum(x)


def f_nested_loops(x):
    acc = x * 0.0
    for i in range(2):
        for j in range(3):
            acc = acc + x * (i + j)
    return np.sum(acc * x)


def f_and_or(x):
    s = np.sum(x)
    if s > 0 and s < 10 or s < -100:
        return s * s
    return -s


def f_ifexp(x):
    s = np.sum(x)
    return s * s if s > 0 else 3.0 * s


def f_list_append(x):
    rows = []
    for i in range(3):
        rows.append(x * (i + 1.0))
    return np.sum(np.stack(rows) ** 2)


def f_list_comp(x):
    return np.sum(np.array([np.sum(x ** k) for k in range(1, 4)]))


# ---- helpers, math, recursion ---------------------------------------------------------------
def helper_sq(a, b=2.0):
    return a ** 2 * b


def helper_two(a, scale=1.0, shift=0.0):
    return a * scale + shift, a - shift


def f_helper(x): return np.sum(helper_sq(x) + helper_sq(x, b=3.0))


def f_helper_kw(x):
    u, v = helper_two(x, shift=0.5, scale=SCALE)
    return np.sum(u * v)


def power_rec(x, n):
    if n == 0:
        return 1.0
    return x * power_rec(x, n - 1)


def f_recursion(x): return np.sum(power_rec(x, 3))


def f_math(x):
    return math.exp(x) * math.sin(x) + math.sqrt(x) + math.log(x + 1.0) + math.tanh(x)


def f_python_float(x):
    y = float(x) * 2.0
    return y * y + abs(x)


def f_closure_maker():
    k = 2.5

    def inner(x):
        return np.sum(np.exp(x * k))
    return inner


f_closure = f_closure_maker()


class Model:
    def loss(self, x):
        return np.sum(x ** 2) * 0.5


f_method = Model.loss

f_lambda = lambda x: np.sum(np.cos(x) ** 2)  # noqa: E731


def f_cross_module(x):
    return physics.energy(x, x * 0.5) + physics.potential(np.sum(x), mass=3.0)


def f_setitem_2d(x):
    out = np.zeros((4, 3))
    out[:, 0] += x
    out[1, :] = x[:3] * 2.0
    out[2:, 1:] *= 3.0
    return np.sum(out * out)


def f_two_args(x, y): return np.sum(x * y + y ** 2)


CORPUS = [
    (f_add, vec()), (f_sub, vec()), (f_mul_broadcast, vec()), (f_div, pos()),
    (f_pow, pos()), (f_pow_both, pos()), (f_neg, vec()), (f_mod, pos()), (f_matmul, vec()),
    (f_rmatmul, mat((2, 4))), (f_broadcast2d, vec()),
    (f_exp, vec()), (f_log, pos()), (f_log1p, pos()), (f_expm1, vec()), (f_sqrt, pos()),
    (f_square, vec()), (f_abs, vec()), (f_sign, vec()), (f_trig, vec()), (f_arc, vec()),
    (f_hyp, vec()), (f_maximum, vec()), (f_where, vec()), (f_clip, vec(6, -1, 1, seed=5)),
    (f_alias, vec()), (f_builtin_abs, vec()), (f_arctan2, pos()),
    (f_sum_axis, mat()), (f_sum_keepdims, lambda: (np.random.default_rng(3).uniform(1, 2, (3, 4)),)),
    (f_mean, mat()), (f_prod, pos()), (f_max, mat()), (f_var_std, mat()), (f_cumsum, vec()),
    (f_logsumexp, vec()),
    (f_dot, vec()), (f_outer, vec()), (f_einsum, vec()), (f_solve, vec()), (f_inv, vec()),
    (f_transpose, mat((4, 3))), (f_reshape, mat()), (f_ravel_squeeze, vec()),
    (f_concat_stack, vec()), (f_astype, vec()), (f_like, vec()),
    (f_methods, mat()), (f_shape_attr, vec()),
    (f_index, vec()), (f_slice, vec()), (f_fancy, vec()), (f_index2d, mat()),
    (f_augassign, vec()), (f_tuple_unpack, vec()), (f_setitem, vec()), (f_setitem_loop, vec()),
    (f_if, vec()), (f_if, vec(lo=0.2, hi=1.0)), (f_if, vec(lo=-1.0, hi=-0.6)),
    (f_for_range, vec()), (f_for_array, vec()), (f_for_enumerate, vec()), (f_while, vec()),
    (f_while_data, pos()), (f_break_continue, vec()), (f_early_return, vec(seed=4)),
    (f_early_return, vec(lo=-1, hi=0.4)), (f_nested_loops, vec()), (f_and_or, vec(lo=0.1)),
    (f_and_or, vec(lo=-1, hi=-0.1)), (f_ifexp, vec(lo=0.1)), (f_ifexp, vec(lo=-1, hi=-0.1)),
    (f_list_append, vec()), (f_list_comp, vec()),
    (f_helper, vec()), (f_helper_kw, vec()), (f_recursion, vec()), (f_math, scalar()),
    (f_python_float, scalar()), (f_closure, vec()), (f_method, lambda: (None, np.arange(3.0))),
    (f_lambda, vec()), (f_cross_module, vec()), (f_setitem_2d, vec()), (f_two_args, lambda: (np.arange(3.0), np.ones(3) * 0.5)),
]
