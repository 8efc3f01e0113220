"""Forward mode (jvp) against central finite differences.

One parametrized check drives two tables: the shared reverse-mode corpus (every construct:
loops, branches, helpers, recursion, indexing, item writes) and FORWARD_SPECS below, which
adds the primitives and forms the corpus leaves out.  A coverage check makes sure every
differentiable entry of the rule table has a jvp rule that some test runs.
"""
import math

import numpy as np
import pytest

import astjax
from astjax.rules import registry as primitives
from astjax.rules import runtime as _ax
from astjax.errors import NoRuleError
from grad_corpus import CORPUS

W = np.random.default_rng(7).standard_normal((3, 4))


# ---- extra specs: one function per primitive or form the corpus does not cover -------------------

def s_log2_log10(x): return np.sum(np.log2(x) + np.log10(x))
def s_pos_copy(x): return np.sum(+x * np.copy(x))
def s_casts(x): return float(x[0]) * np.float64(x[1]) + 2.0 * float(x[2])
def s_astype_asarray(x): return np.sum(x.astype(np.float64) ** 2 + np.asarray(x) * 3.0)
def s_array_of_list(x): return np.sum(np.array([x[0] * x[1], x[2], 2.0]) ** 2)
def s_shapes(x):
    m = np.moveaxis(np.reshape(x, (2, 2)), 0, 1)
    t = np.swapaxes(np.expand_dims(m, 0), 1, 2) * np.flip(m, axis=0)
    return np.sum(t) + np.sum(np.squeeze(np.broadcast_to(x, (1, 4))) * x)
def s_transpose_axes(m): return np.sum(np.transpose(m, (1, 0)) @ m)
def s_reductions_axis(m):
    return np.sum(np.prod(m, axis=0)) + np.sum(np.max(m, axis=1, keepdims=True)) + \
        np.sum(np.min(m, axis=0) ** 2)
def s_var_std_ddof(m): return np.var(m, ddof=1) + np.sum(np.std(m, axis=1, ddof=1))
def s_cumsum_axis(m): return np.sum(np.cumsum(m, axis=1) ** 2)
def s_dot_outer(x): return np.dot(x, x) + np.sum(np.outer(x, x[::-1]) ** 2)
def s_einsum3(x): return np.einsum("i,ij,j->", x[:3], W, x)
def s_inv_solve_matrix(m):
    a = m @ m.T + 3.0 * np.eye(3)
    return np.sum(np.linalg.inv(a)) + np.sum(np.linalg.solve(a, m) ** 2)
def s_concat_stack_axis(m):
    return np.sum(np.concatenate([m, m * 2.0], axis=1) ** 2) + np.sum(np.stack([m, m], axis=1))
def s_dict(x):
    d = {"a": x, "b": x * 2.0}
    return np.sum(d["a"] * d["b"])
def s_list_pop(x):
    items = [x, x * 2.0, np.sin(x)]
    a = items.pop()
    b = items.pop()
    return np.sum(a * b + items[0])
def push_scaled(acc, v, k):
    acc.append(v * k)
    acc.append(np.exp(v))
    return k
def s_mutating_helper(x):
    acc = []
    k = push_scaled(acc, x, 3.0)
    return np.sum(acc[0] * acc[1]) * k
def s_owned_copy(x):
    y = x + 0.0                       # y's tangent must not alias x's: y is written below
    y[0] = y[1] * 5.0
    return np.sum(y * x)
def s_write_broadcast(x):
    z = np.zeros((3, 4))
    z = z + x
    z[1] = x * 2.0
    return np.sum(z ** 2)
def s_add_inactive_wider(x):
    y = x + np.ones((3, 4))           # x's tangent must widen to y's shape
    return np.sum(np.sum(y, axis=0) ** 2)
def s_where_wider(x): return np.sum(np.where(x > 0, x, np.ones((2, 4)) * x ** 2))
def s_binary_both(x):
    r = x[::-1]
    return np.sum(np.maximum(x, r) * np.minimum(x, r) + np.arctan2(x, r + 2.0) +
                  np.mod(x + 3.0, r + 2.0))
def s_clip_one_side(x): return np.sum(np.clip(x, None, 0.5) * x)
def s_math(x): return math.exp(x) * math.sin(x) + math.log(x) + math.sqrt(x) + math.tanh(x)
def s_runtime_helpers(x):
    m = x * W
    u = _ax.unbroadcast(m, x)
    b = _ax.broadcast_like(x, m)
    e = _ax.expand_reduced(np.sum(m, axis=1), m, 1, False)
    return np.sum(u * u) + np.sum(b * e) + np.sum(_ax.reshape_like(m, W.T) ** 2)
def s_while_early(x):
    y = x
    n = 0
    while True:
        y = y * 0.9 + np.sin(y)
        n += 1
        if n > 3:
            return np.sum(y)
def s_tuple_out(x): return np.sum(x), x * x, (x[0], {"k": x[1]})


def vec(n=4, lo=-1.0, hi=1.0, seed=0):
    return lambda: (np.random.default_rng(seed).uniform(lo, hi, n),)


def s_more_elementwise(x):
    # issue 14's elementwise names (x in (0.5, 2)): inverse hyperbolics, exp2, hypot,
    # logaddexp(2), sinc, fmax/fmin
    return np.sum(np.arcsinh(x) + np.arccosh(x + 1.0) + np.arctanh(x / 4.0) + np.exp2(x)
                  + np.hypot(x, 2.0 * x) + np.logaddexp(x, -x) + np.logaddexp2(x, 1.0)
                  + np.fmax(x, 1.0) * np.fmin(x, 1.2))


def s_sinc(x): return np.sum(np.sinc(x) * x)     # (no third derivative: refused)


def pos(n=4, seed=1):
    return lambda: (np.random.default_rng(seed).uniform(0.5, 2.0, n),)


def mat(shape=(3, 4), seed=2):
    return lambda: (np.random.default_rng(seed).standard_normal(shape),)


FORWARD_SPECS = [
    (s_log2_log10, pos()), (s_pos_copy, vec()), (s_casts, vec()), (s_astype_asarray, vec()),
    (s_array_of_list, vec()), (s_shapes, vec()), (s_transpose_axes, mat()),
    (s_reductions_axis, mat()), (s_var_std_ddof, mat()), (s_cumsum_axis, mat()),
    (s_dot_outer, vec()), (s_einsum3, vec()), (s_inv_solve_matrix, mat((3, 3))),
    (s_concat_stack_axis, mat()), (s_dict, vec()), (s_list_pop, vec()),
    (s_mutating_helper, vec()), (s_owned_copy, vec()), (s_write_broadcast, vec()),
    (s_add_inactive_wider, vec()), (s_where_wider, vec()), (s_binary_both, vec()),
    (s_clip_one_side, vec(6)), (s_math, lambda: (0.8,)), (s_runtime_helpers, vec()),
    (s_while_early, vec()), (s_tuple_out, vec()), (s_more_elementwise, pos()),
    (s_sinc, vec()),
]

ALL = CORPUS + FORWARD_SPECS


# ---- the check ------------------------------------------------------------------------------------

def is_float(a):
    return isinstance(a, float) or isinstance(a, np.ndarray) and a.dtype.kind == "f"


def random_tangents(args, seed):
    rng = np.random.default_rng(seed)
    out = []
    for a in args:
        if isinstance(a, float):
            out.append(float(rng.standard_normal()))
        elif is_float(a):
            out.append(rng.standard_normal(a.shape))
        elif isinstance(a, np.ndarray):
            out.append(np.zeros(a.shape))
        else:
            out.append(a if a is None else 0.0)
    return out


def leaves(x):
    return astjax.core.pytrees.flatten(x)[0]


def central_difference(fn, args, tangents, eps=1e-6):
    def moved(sign):
        return [a + sign * eps * t if is_float(a) else a for a, t in zip(args, tangents)]
    plus, minus = leaves(fn(*moved(1))), leaves(fn(*moved(-1)))
    return [(np.asarray(p, dtype=float) - np.asarray(m, dtype=float)) / (2 * eps)
            for p, m in zip(plus, minus)]


@pytest.mark.parametrize("fn,make", ALL, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(ALL)])
def test_jvp_matches_finite_differences(fn, make):
    args = make()
    tangents = random_tangents(args, seed=len(fn.__name__))
    out, t_out = astjax.jvp(fn, tuple(args), tuple(tangents))
    expected_out = leaves(fn(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args]))
    for got, want in zip(leaves(out), expected_out):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    expected = central_difference(fn, args, tangents)
    got = leaves(t_out)
    assert len(got) == len(expected)
    for g, e, o in zip(got, expected, leaves(out)):
        assert np.shape(g) == np.shape(o)
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


# ---- the rule table -------------------------------------------------------------------------------

# einsum's reverse-over-forward operand cotangent: differentiating it once more is a
# NoRuleError naming the line (not a silent zero); see test_rule_table.py
NO_JVP_YET = {"_ax.einsum_jvp_vjp_operands", "_ax.prod_others_jvp2"}   # (np.prod's 4th order)


def test_every_differentiable_primitive_has_a_jvp_rule():
    # pmax and pmin of astjax.lax have no derivative, as in JAX: a NoRuleError names them
    # (tests/test_pmap.py checks it; psum, pmean and all_gather have rules); a writer such as np.copyto never
    # reaches a transform: normalization rewrites it into its pure form, which has the rules;
    # sinc's second-derivative helper has none on purpose: a third derivative of sinc is
    # refused by name (tests/test_numpy_source.py)
    missing = [key for key, prim in primitives.REGISTRY.items()
               if not prim.nondiff and prim.jvp is None and not prim.mutates
               and key not in NO_JVP_YET and key not in ("_ax.pmax", "_ax.pmin")
               and not prim.extra.get("refused")]
    assert missing == []


def _summed_grad(fn):
    def summed(x):
        return np.sum(astjax.grad(fn)(x))
    return summed if fn.__code__.co_argcount == 1 else fn


def test_the_tests_run_every_jvp_rule():
    """Each jvp rule is used by forward mode over the specs or over their gradients (forward-
    over-reverse uses the rules of the runtime helpers that generated gradients call)."""
    from astjax.autodiff import forward
    from astjax.core.normalize import normalize
    used = set()
    original = forward._FunctionForward.prim_tangent

    def spy(self, s, t, key, op, reads):
        used.add(key)
        return original(self, s, t, key, op, reads)
    forward._FunctionForward.prim_tangent = spy
    try:
        for fn, _ in ALL:
            if fn.__name__ in ("f_method",):
                continue
            forward.forward_program(normalize(fn), normalize(fn).main.params)
            if fn in (s_tuple_out,):
                continue
            program = normalize(astjax.grad(fn))
            forward.forward_program(program, program.main.params)
            if fn.__name__ in ("f_solve", "s_inv_solve_matrix", "s_sinc"):
                continue                   # no third derivatives through np.linalg.solve
            second = normalize(astjax.grad(_summed_grad(fn)))     # third order
            forward.forward_program(second, second.main.params)
    finally:
        forward._FunctionForward.prim_tangent = original
    structural = {"getitem", "tuple", "list", "dict", "copy"}
    # rules only reached at fourth order, through Jacobian assembly (test_higher_order.py),
    # custom rules (test_custom.py) or float32 (test_float32_in_float32_out)
    # (_ax.einsum_swap: test_einsum_adjoint_helpers_have_right_tangents, since third order
    # now hands einsum_vjp a literal zero cotangent after copy propagation)
    elsewhere = {"_ax.jacobian", "_ax.jacobian_vjp", "_ax.einsum_jvp", "_ax.finalize_vjp",
                 "_ax.einsum_swap",
                 "_ax.concat_like", "_ax.getitem_vjp", "_ax.none_to_zero", "_ax.seq_add",
                 "np.float32"}
    # and every entry test_rule_table.py checks against finite differences, jvp included
    # (and the test files test_rule_table.ELSEWHERE names: fft, linalg, list(seq), ... each
    # checks jvp against finite differences)
    from test_rule_table import ELSEWHERE, SAMPLES
    elsewhere |= set(SAMPLES) | set(ELSEWHERE)
    # vmap's lane helpers (astjax/batching*.py): linear, reached by forward mode over vmap
    lanes = {k for k in primitives.REGISTRY if any(w in k for w in (
        "lane", "batch", "_ax.align", "dyn_getitem", "where_defined"))}
    # SciPy's entries exist once a test imported SciPy: tests/test_scipy.py runs each
    with_rule = {k for k, p in primitives.REGISTRY.items() if p.jvp is not None
                 and not k.startswith("scipy.")}
    # issue 17, open: forward mode through a collective is not checked by any passing test
    # (test_pmap.py::test_jacfwd_of_psum_under_vmap is a strict xfail); once it passes, this
    # set must go, and the assertion below says so
    collectives_open = {"_ax.psum", "_ax.pmean", "_ax.all_gather"}
    assert collectives_open & used == set()
    assert with_rule - used - structural - elsewhere - lanes - collectives_open == set()


# ---- dtypes, source, errors -----------------------------------------------------------------------

def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def to_float32(x):
    return np.float32(x) * 2.0


def test_float32_in_float32_out():
    x = np.arange(3, dtype=np.float32)
    out, t_out = astjax.jvp(sum_logistic, (x,), (np.ones(3, dtype=np.float32),))
    assert out.dtype == np.float32 and t_out.dtype == np.float32
    out, t_out = astjax.jvp(to_float32, (np.arange(3.0),), (np.ones(3),))
    assert t_out.dtype == np.float32
    np.testing.assert_allclose(t_out, 2.0 * np.ones(3), rtol=1e-6)


def test_python_floats_give_floats():
    out, t_out = astjax.jvp(s_math, (0.8,), (1.0,))
    assert isinstance(t_out, float)


def test_generated_source_is_readable():
    from astjax.autodiff.jacobians import jvp_function
    text = astjax.source(jvp_function(sum_logistic))
    assert "def sum_logistic_jvp(x, t_x):" in text
    assert "t_exp2 = t_neg1 * exp2" in text
    assert "# test_forward.py:" in text and "return np.sum(1.0 / (1.0 + np.exp(-x)))" in text
    assert "return (sum5, t_sum5)" in text


def test_inactive_values_get_no_tangent_code():
    from astjax.autodiff.jacobians import jvp_function

    def scaled(x, n):
        k = np.arange(3.0) * n
        return np.sum(x * k)
    text = astjax.source(jvp_function(scaled, (0,)))
    assert "t_k" not in text and "t_n" not in text and "t_x * k" in text


def no_rule(x):
    return np.sum(np.unwrap(x))


def test_missing_rule_names_the_line():
    with pytest.raises(NoRuleError, match="test_forward.py"):
        astjax.jvp(no_rule, (np.ones(3),), (np.ones(3),))


def test_jvp_checks_its_arguments():
    with pytest.raises(TypeError):
        astjax.jvp(sum_logistic, np.ones(3), np.ones(3))
    with pytest.raises(TypeError):
        astjax.jvp(sum_logistic, (np.ones(3),), ())


def test_primal_and_tangent_have_one_type():
    # jvp's primal and tangent of one value share its type, as JAX's do: np.sin of a Python
    # float is an np.float64, and so is its tangent (np.float64 is a float subclass, which
    # once made the tangent a plain float); a Python float result keeps Python floats.
    def wave(x):
        return np.sin(x) * 2.0

    def square(x):
        return x * x

    for fn, x, t in ((wave, 0.5, 1.0), (wave, np.float64(0.5), 1.0),
                     (wave, np.float32(0.5), np.float32(1.0)), (square, 0.5, 1.0),
                     (wave, np.array([0.5, 1.0]), np.array([1.0, 1.0]))):
        y, ty = astjax.jvp(fn, (x,), (t,))
        assert type(y) is type(ty), (fn.__name__, x, type(y), type(ty))
        assert np.result_type(y) == np.result_type(ty)
        x64, t64 = np.float64(x) if np.ndim(x) == 0 else x.astype(np.float64), np.float64(t)
        slope = (fn(x64 + 1e-6 * t64) - fn(x64 - 1e-6 * t64)) / 2e-6
        np.testing.assert_allclose(ty, slope, rtol=1e-6 if np.result_type(x) == np.float32
                                   else 1e-8)
    assert type(astjax.grad(wave)(np.float64(0.5))) is np.float64
    assert type(astjax.grad(wave)(0.5)) is float


def test_every_runtime_helper_a_rule_names_exists():
    # A rule template that names a missing helper fails only when that derivative runs:
    # einsum_swap's and einsum_vjp_operands' jvp rules once named helpers nobody wrote.
    import re
    from astjax.rules import runtime
    missing = sorted({(key, name) for key, prim in primitives.REGISTRY.items()
                      for text in [prim.jvp] + list(prim.vjp.values()) if isinstance(text, str)
                      for name in re.findall(r"_ax\.(\w+)", text)
                      if not hasattr(runtime, name)})
    assert missing == []


EINSUM_W = np.arange(9.0).reshape(3, 3) / 10


def einsum_swapped(x):
    operands = [x[:3], EINSUM_W * x[0], x]
    return _ax.einsum_swap("i,ij,j->", operands, 0, x * x)


def einsum_operand_adjoints(x):
    operands = [x[:3], EINSUM_W * x[1], x]
    parts = _ax.einsum_vjp_operands(x * 2.0, np.float64(x[2]), "i,ij,j->", operands, 0)
    return parts[1] + np.sum(parts[2])


@pytest.mark.parametrize("fn", [einsum_swapped, einsum_operand_adjoints])
def test_einsum_adjoint_helpers_have_right_tangents(fn):
    # the helpers generated third derivatives of einsum call, differentiated forward
    x, t = np.array([0.3, -0.5, 0.8]), np.array([1.0, 0.5, -2.0])
    _, tangent = astjax.jvp(fn, (x,), (t,))
    slope = (fn(x + 1e-6 * t) - fn(x - 1e-6 * t)) / 2e-6
    np.testing.assert_allclose(tangent, slope, rtol=1e-7, atol=1e-9)
