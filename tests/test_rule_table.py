"""The rule table checked against finite differences, entry by entry (issue 10, item 7).

Every entry of the table is walked: a differentiable one must have a sample call below, and
its vjp and jvp (run through astjax.vjp / astjax.jvp on a one-line function calling it) must
match central finite differences of the plain NumPy call; an entry declared non-differentiable
(``nondiff``) must be genuinely piecewise constant (finite differences give zero) or take no
float operand at all.  A new entry without a sample, or a wrong rule, fails here.
"""
import copy
import importlib.util
import sys
import tempfile
import warnings

import numpy as np
import pytest

import astjax
from astjax.rules import registry, table  # noqa: F401  (fills the registry)

R = np.random.default_rng(11)


def N(*s):
    return R.standard_normal(s) if s else float(R.standard_normal())


def P(*s):
    return R.uniform(0.5, 2.0, s) if s else float(R.uniform(0.5, 2.0))


def U(*s):
    return R.uniform(-0.8, 0.8, s) if s else float(R.uniform(-0.8, 0.8))


class C:
    """An operand held constant (a shape, an index, a mask): not differentiated."""
    def __init__(self, value):
        self.value = value


MASK = np.array([True, False, True, True, False])
SPD = N(3, 3) @ N(3, 3).T + 3.0 * np.eye(3)
XM = N(2, 3)

# key -> [(call written over a0, a1, ..., [operands]), ...]
SAMPLES = {
    "add": [("a0 + a1", [N(2, 3), N(3)])],
    "sub": [("a0 - a1", [N(2, 3), N(3)])],
    "mul": [("a0 * a1", [N(2, 3), N(2, 1)])],
    "truediv": [("a0 / a1", [N(2, 3), P(3)])],
    "pow": [("a0 ** a1", [P(3), N(3)]), ("a0 ** 3", [N(4)])],
    "neg": [("-a0", [N(3)])],
    "pos": [("+a0", [N(3)])],
    "mod": [("a0 % a1", [P(4) * 3.0, P(4)])],
    "matmul": [("a0 @ a1", [N(2, 3), N(3, 4)])],
    "np.arange": [("np.arange(a0, 3.0, a1)", [0.31, 0.4])],
    "np.full": [("np.full((2, 3), a0)", [1.3]), ("np.full((2, 3), a0)", [N(3)])],
    "np.linspace": [("np.linspace(a0, a1, 5)", [0.4, 2.1]),
                    ("np.linspace(a0, a1, 4, endpoint=False)", [N(2), N(2)])],
    "np.linalg.det": [("np.linalg.det(a0)", [N(3, 3)])],
    "np.linalg.cholesky": [("np.linalg.cholesky(a0 @ a0.T + 3.0 * np.eye(3))", [N(3, 3)])],
    "_ax.slogdet_logabs": [("_ax.slogdet_logabs(a0)", [N(3, 3)])],
    "_ax.sym_from_lower": [("_ax.sym_from_lower(a0)", [N(3, 3)])],
    "_ax.fold_lower": [("_ax.fold_lower(a0)", [N(3, 3)])],
    "_ax.pair_divide": [("_ax.pair_divide(a0, a1)", [N(3, 3), P(3, 3)])],
    "np.exp": [("np.exp(a0)", [N(4)])], "np.expm1": [("np.expm1(a0)", [N(4)])],
    "np.log": [("np.log(a0)", [P(4)])], "np.log1p": [("np.log1p(a0)", [P(4)])],
    "np.log2": [("np.log2(a0)", [P(4)])], "np.log10": [("np.log10(a0)", [P(4)])],
    "np.sqrt": [("np.sqrt(a0)", [P(4)])], "np.square": [("np.square(a0)", [N(4)])],
    "np.abs": [("np.abs(a0)", [N(4)])], "np.sin": [("np.sin(a0)", [N(4)])],
    "np.cos": [("np.cos(a0)", [N(4)])], "np.tan": [("np.tan(a0)", [U(4)])],
    "np.arcsin": [("np.arcsin(a0)", [U(4)])], "np.arccos": [("np.arccos(a0)", [U(4)])],
    "np.arctan": [("np.arctan(a0)", [N(4)])], "np.sinh": [("np.sinh(a0)", [N(4)])],
    "np.cosh": [("np.cosh(a0)", [N(4)])], "np.tanh": [("np.tanh(a0)", [N(4)])],
    "np.arctan2": [("np.arctan2(a0, a1)", [N(4), N(4)])],
    "np.arcsinh": [("np.arcsinh(a0)", [N(4)])], "np.arccosh": [("np.arccosh(a0)", [P(4) + 1.0])],
    "np.arctanh": [("np.arctanh(a0)", [U(4)])], "np.exp2": [("np.exp2(a0)", [N(4)])],
    "np.hypot": [("np.hypot(a0, a1)", [N(2, 3), N(3)])],
    "np.logaddexp": [("np.logaddexp(a0, a1)", [N(4), N(4)])],
    "np.logaddexp2": [("np.logaddexp2(a0, a1)", [N(4), N(4)])],
    "np.sinc": [("np.sinc(a0)", [N(4)]), ("np.sinc(a0)", [np.array([0.0, 0.3])])],
    "_ax.sinc_slope": [("_ax.sinc_slope(a0, np.sinc(a0))", [N(4)])],
    "np.fmax": [("np.fmax(a0, a1)", [N(4), N(4)])],
    "np.fmin": [("np.fmin(a0, a1)", [N(4), N(4)])],
    "np.maximum": [("np.maximum(a0, a1)", [N(4), N(4)])],
    "np.minimum": [("np.minimum(a0, a1)", [N(4), N(4)])],
    "np.where": [("np.where(a0 > 0.0, a1, a2)", [C(N(4)), N(4), N(4)])],
    "np.clip": [("np.clip(a0, a1, a2)", [N(6), -0.3, 0.5]), ("np.clip(a0, None, 0.2)", [N(5)])],
    "float": [("float(a0)", [N()])], "np.float64": [("np.float64(a0)", [N()])],
    "np.float32": [("np.float64(np.float32(a0)) * 1.0", [np.float32(0.75)])],
    "np.astype": [("a0.astype(np.float64)", [N(3)]), ("a0.astype(np.int64) * 1.0", [N(3) * 3])],
    "np.asarray": [("np.asarray(a0)", [N(3)]), ("np.asarray(a0, dtype=np.int64) * 1.0", [N(3) * 3])],
    "np.array": [("np.array(a0)", [N(3)]), ("np.array(a0, dtype=np.int64) * 1.0", [N(3) * 3])],
    "np.copy": [("np.copy(a0)", [N(3)])],
    "np.sum": [("np.sum(a0)", [N(2, 3)]), ("np.sum(a0, axis=1, keepdims=True)", [N(2, 3)])],
    "np.mean": [("np.mean(a0, axis=0)", [N(2, 3)])],
    "np.prod": [("np.prod(a0, axis=1)", [N(2, 3)]),
                ("np.prod(a0)", [np.array([0.0, 1.3, -0.7])]),           # a zero: ans / x fails
                ("np.prod(a0, axis=0)", [np.array([[0.0, 1.3], [0.4, 0.0], [2.0, 1.1]])])],
    "_ax.prod_others": [("_ax.prod_others(a0, 1)", [N(2, 3)]),
                        ("_ax.prod_others(a0)", [np.array([0.0, 1.3, -0.7, 0.5])])],
    "_ax.prod_others_jvp": [("_ax.prod_others_jvp(a0, a1, 0)", [N(3, 2), N(3, 2)]),
                            ("_ax.prod_others_jvp(a0, a1)", [np.array([0.0, 1.3, -0.7, 0.5]),
                                                             N(4)])],
    "np.max": [("np.max(a0, axis=1)", [N(2, 3)])], "np.min": [("np.min(a0)", [N(2, 3)])],
    "np.var": [("np.var(a0, axis=1, ddof=1)", [N(2, 3)])],
    "np.std": [("np.std(a0, axis=0)", [N(3, 2)])],
    "np.cumsum": [("np.cumsum(a0, axis=1)", [N(2, 3)])],
    "np.dot": [("np.dot(a0, a1)", [N(2, 3), N(3)])],
    "np.outer": [("np.outer(a0, a1)", [N(2), N(3)])],
    "np.einsum": [("np.einsum('ij,jk->ik', a0, a1)", [N(2, 3), N(3, 2)])],
    "np.linalg.solve": [("np.linalg.solve(a0, a1)", [SPD, N(3)])],
    "np.linalg.inv": [("np.linalg.inv(a0)", [SPD])],
    "np.transpose": [("np.transpose(a0, (1, 0, 2))", [N(2, 3, 2)])],
    "np.swapaxes": [("np.swapaxes(a0, 0, 2)", [N(2, 3, 2)])],
    "np.moveaxis": [("np.moveaxis(a0, 0, -1)", [N(2, 3, 2)])],
    "np.reshape": [("np.reshape(a0, (3, 2))", [N(2, 3)])],
    "np.ravel": [("np.ravel(a0)", [N(2, 3)])],
    "np.squeeze": [("np.squeeze(a0)", [N(1, 3)])],
    "np.expand_dims": [("np.expand_dims(a0, 1)", [N(3)])],
    "np.broadcast_to": [("np.broadcast_to(a0, (2, 3))", [N(3)])],
    "np.flip": [("np.flip(a0, 1)", [N(2, 3)])],
    "np.concatenate": [("np.concatenate([a0, a1])", [N(2), N(3)])],
    "np.stack": [("np.stack([a0, a1], axis=1)", [N(3), N(3)])],
    "getitem": [("a0[1:, 0]", [N(3, 2)])],
    "tuple": [("(a0, a1 * 2.0)", [N(2), N(3)])],
    "list": [("[a0, a1 * 2.0]", [N(2), N(3)])],
    "dict": [("{'u': a0, 'v': a1 * 2.0}", [N(2), N(3)])],
    "copy": [("a0", [N(3)])],
    # the pure forms of the in-place writers
    "_ax.copyto_into": [("_ax.copyto_into(a0, a1, 'same_kind', a2)", [N(5), N(5), C(MASK)]),
                        ("_ax.copyto_into(a0, a1)", [N(2, 3), N(3)])],
    "_ax.fill_diagonal_into": [("_ax.fill_diagonal_into(a0, a1)", [N(3, 3), N(2)]),
                               ("_ax.fill_diagonal_into(a0, a1, True)", [N(5, 2), N()])],
    "_ax.fill_diagonal_vjp_val": [("_ax.fill_diagonal_vjp_val(a0, a1, a2)",
                                   [N(3, 3), C(np.zeros((3, 3))), C(np.zeros(2))])],
    "_ax.put_into": [("_ax.put_into(a0, a1, a2, 'wrap')", [N(5), C([0, 7, 0]), N(2)])],
    "_ax.put_vjp_v": [("_ax.put_vjp_v(a0, a1, a2, a3)", [N(5), C(np.zeros(5)), C([0, 3, 0]),
                                                         C(np.zeros(2))])],
    "_ax.putmask_into": [("_ax.putmask_into(a0, a1, a2)", [N(5), C(MASK), N(2)])],
    "_ax.putmask_vjp_values": [("_ax.putmask_vjp_values(a0, a1, a2, a3)",
                                [N(5), C(np.zeros(5)), C(MASK), C(np.zeros(2))])],
    "_ax.place_into": [("_ax.place_into(a0, a1, a2)", [N(5), C(MASK), N(2)])],
    "_ax.place_vjp_vals": [("_ax.place_vjp_vals(a0, a1, a2, a3)",
                            [N(5), C(np.zeros(5)), C(MASK), C(np.zeros(2))])],
    # astjax's runtime helpers, which generated code calls (and so transforms again)
    "_ax.unbroadcast": [("_ax.unbroadcast(a0, a1)", [N(2, 3), C(np.zeros((1, 3)))])],
    "_ax.broadcast_like": [("_ax.broadcast_like(a0, a1)", [N(3), C(np.zeros((2, 3)))])],
    "_ax.expand_reduced": [("_ax.expand_reduced(a0, a1, 1, False)", [N(2), C(XM)])],
    "_ax.reshape_like": [("_ax.reshape_like(a0, a1)", [N(6), C(XM)])],
    "_ax.cast_like": [("_ax.cast_like(a0, a1)", [N(3), C(np.zeros(3))])],
    "_ax.array_vjp": [("_ax.array_vjp(a0, a1)", [N(3), C(np.zeros(3))])],
    "_ax.float_part": [("_ax.float_part(a0, a1)", [N(3), C(np.zeros(3, dtype=int))]),
                       ("_ax.float_part(a0, a1)", [N(3), C(np.zeros(3))])],
    "_ax.copy_value": [("_ax.copy_value(a0)", [N(3)])],
    "_ax.finalize": [("_ax.finalize(a0, a1)", [N(3), C(np.zeros(3))])],
    "_ax.finalize_vjp": [("_ax.finalize_vjp(a0, a1)", [N(3), C(np.zeros(3))])],
    "_ax.add_to": [("_ax.add_to(a0, a1, 1, a2)", [N(3, 2), C(np.zeros((3, 2))), N(2)])],
    "_ax.take_index": [("_ax.take_index(a0, (slice(1, None), 0))", [N(3, 2)])],
    "_ax.getitem_vjp": [("_ax.getitem_vjp(a0, a1, (slice(1, None), 0))",
                         [N(2), C(np.zeros((3, 2)))])],
    "_ax.take_slot": [("_ax.take_slot(a0, 1)", [N(3, 2)])],
    "_ax.take_slot_vjp": [("_ax.take_slot_vjp(a0, a1, 1)", [(N(2), N(3, 2)), C(np.zeros((3, 2)))])],
    "_ax.seq_pop": [("_ax.seq_pop(a0)", [[N(2), N(3)]])],
    "_ax.seq_pop_vjp": [("_ax.seq_pop_vjp(a0, a1)", [(N(3), [N(2)]), C([N(2), N(3)])])],
    "_ax.seq_push": [("_ax.seq_push(a0, a1, 1)", [[N(2)], N(3)])],
    "_ax.seq_head": [("_ax.seq_head(a0, 1)", [[N(2), N(3)]])],
    "_ax.seq_acc": [("_ax.seq_acc(a0, a1)", [[N(2), N(3)], [N(2), N(3)]])],
    "_ax.seq_like": [("_ax.seq_like(a0, a1)", [[N(2), N(3)], C([N(2), N(3)])])],
    "_ax.seq_item": [("_ax.seq_item(a0, 1)", [[N(2), N(3)]]), ("_ax.seq_item(a0, 1)", [N(3)])],
    "_ax.seq_put": [("_ax.seq_put(a0, a1, 1)", [N(3), C([N(2), N(3)])]),
                    ("_ax.seq_put(a0, a1, 1)", [N(), C(np.zeros(3))])],
    "_ax.seq_item_lanes": [("_ax.seq_item_lanes(a0, 1)", [N(4, 3)]),
                           ("_ax.seq_item_lanes(a0, 1)", [[N(4), N(4)]])],
    "_ax.seq_put_lanes": [("_ax.seq_put_lanes(a0, a1, 1)", [N(4), C(np.zeros((4, 3)))])],
    "_ax.seq_add": [("_ax.seq_add(a0, 1, a1)", [[N(2), N(3)], N(3)])],
    "_ax.matmul_vjp_a": [("_ax.matmul_vjp_a(a0, a1, a2)", [N(2, 4), C(N(2, 3)), N(3, 4)])],
    "_ax.matmul_vjp_b": [("_ax.matmul_vjp_b(a0, a1, a2)", [N(2, 4), N(2, 3), C(N(3, 4))])],
    "_ax.max_vjp": [("_ax.max_vjp(a0, a1, a2, 1, False)", [N(2), C(XM.max(axis=1)), C(XM)])],
    "_ax.cumsum_vjp": [("_ax.cumsum_vjp(a0, 1, a1)", [N(2, 3), C(XM)])],
    "_ax.split_like": [("_ax.split_like(a0, a1, 0)", [N(5), C([N(2), N(3)])])],
    "_ax.concat_like": [("_ax.concat_like(a0, a1, 0)", [[N(2), N(3)], C([N(2), N(3)])])],
    "_ax.unstack": [("_ax.unstack(a0, 3, 0)", [N(3, 2)])],
    "_ax.stack_like": [("_ax.stack_like(a0, a1, 0)", [[N(2), N(2), N(2)], C(N(3, 2))])],
    "_ax.einsum_vjp": [("_ax.einsum_vjp(a0, 'ij,jk->ik', [a1, a2], 0)",
                        [N(2, 4), N(2, 3), N(3, 4)])],
    "_ax.einsum_jvp": [("_ax.einsum_jvp('ij,jk->ik', [a0, a1], [a2, a3])",
                        [N(2, 3), N(3, 4), N(2, 3), N(3, 4)])],
    "_ax.solve_vjp_a": [("_ax.solve_vjp_a(a0, a1, a2)", [N(3), N(3), SPD])],
    "_ax.none_to_zero": [("_ax.none_to_zero(a0)", [[N(2), N(3)]])],
    "_ax.align": [("_ax.align(a0, 2, 1)", [N(3, 2)])],
    "_ax.batch_broadcast": [("_ax.batch_broadcast(a0, 3, 0)", [N(2)])],
    "_ax.broadcast_lanes": [("_ax.broadcast_lanes(a0, (2, 3), 1)", [N(4, 3)])],
    "_ax.unbroadcast_lanes": [("_ax.unbroadcast_lanes(a0, (1, 3), 1)", [N(4, 2, 3)])],
    "_ax.sum_lanes": [("_ax.sum_lanes(a0, a1, 0)", [N(4, 3), C(np.zeros(3))])],
    "_ax.sum_lanes_vjp": [("_ax.sum_lanes_vjp(a0, a1, a2, 0)", [N(3), C(np.zeros((4, 3))),
                                                                 C(np.zeros(3))])],
    "_ax.where_defined": [("_ax.where_defined(a0 > 0.0, a1, a2)", [C(N(4)), N(4), N(4)])],
    "_ax.where_defined_vjp": [("_ax.where_defined_vjp(a0 > 0.0, a1, a2, True)",
                               [C(N(4)), N(4), C(np.zeros(4))])],
    "_ax.dyn_getitem": [("_ax.dyn_getitem(a0, 1)", [N(3, 2)])],
    "_ax.dyn_getitem_vjp": [("_ax.dyn_getitem_vjp(a0, a1, 1)", [N(3), C(np.zeros((3, 2)))])],
    "_ax.lane": [("_ax.lane(a0, 1)", [N(3, 2)])],
    "_ax.lane_vjp": [("_ax.lane_vjp(a0, a1, 1)", [N(2), C(np.zeros((3, 2)))])],
    "_ax.stack_lanes": [("_ax.stack_lanes([a0, a1])", [N(2), N(2)])],
    "_ax.batch_out": [("_ax.batch_out(a0, 3, 1)", [N(3, 2)])],
    "_ax.move_batch_axis": [("_ax.move_batch_axis(a0, 0, 1)", [N(3, 2)])],
    "_ax.finalize_lanes": [("_ax.finalize_lanes(a0, a1, 3)", [N(3, 2), C(np.zeros((3, 2)))])],
}

# Differentiable entries checked elsewhere, each for its reason
ELSEWHERE = {
    "_ax.einsum_swap": "a piece of einsum_vjp's own jvp: checked by einsum's hessian in "
                       "test_higher_order.py",
    "_ax.einsum_vjp_operands": "likewise",
    "_ax.einsum_jvp_vjp_operands": "has no rules of its own (einsum to third order in mixed "
                                   "modes is a NoRuleError, not a silent zero)",
    "_ax.prod_others_jvp2": "np.prod's third derivative: no rules of its own (a fourth "
                            "derivative is a NoRuleError); checked as the vjp of prod_others_jvp",
    "_ax.jacobian": "assembles jacfwd/jacrev results: test_higher_order.py differentiates "
                    "jacobians against finite differences",
    "_ax.jacobian_vjp": "likewise",
    "_ax.add_to_lanes": "vmap of a gradient's in-place adjoint update: test_vmap.py's "
                        "vmap(grad) cases against a loop over grad",
    "_ax.take_slot_lanes": "likewise",
    # np.fft and complex parts: tests/test_fft_rules.py, first and second order against
    # central differences, jvp, vmap(grad) against a loop, float32
    **{k: "tests/test_fft_rules.py" for k in (
        "np.fft.fft", "np.fft.ifft", "np.fft.fftn", "np.fft.ifftn", "np.fft.fft2",
        "np.fft.ifft2", "np.fft.rfft", "np.fft.irfft", "np.fft.fftshift", "np.fft.ifftshift",
        "np.real", "np.imag", "np.conj", "_ax.abs_slope", "_ax.real_like", "_ax.complex_only",
        "_ax.fit_like", "_ax.pad_to")},
    # np.linalg's decompositions, one primitive returning its results packed:
    # tests/test_linalg_rules.py through their stand-ins (first and second order, jvp, vmap)
    **{k: "tests/test_linalg_rules.py" for k in (
        "_ax.eigh_packed", "_ax.svd_packed", "_ax.qr_packed")},
    # list(seq), tuple(seq) and their adjoints: tests/test_python_builtins.py, grad, jvp and
    # vmap(grad) of programs using them against finite differences and a loop
    **{k: "tests/test_python_builtins.py" for k in (
        "_ax.as_list", "_ax.as_tuple", "_ax.as_seq_vjp", "_ax.seq_tangent")},
    # vmap's copy of an item read that is a scalar per example: tests/test_vmap.py
    # (test_an_item_read_is_a_copy_per_example) and the vmap(grad) fuzz regressions
    "_ax.copy_lane_scalar": "tests/test_vmap.py",
    # sorting and nan_to_num: tests/test_more_numpy.py, likewise
    **{k: "tests/test_more_numpy.py" for k in (
        "np.nan_to_num", "np.sort", "np.partition", "_ax.order_take", "_ax.order_put")},
}

# nondiff entries with float operands: finite differences must give zero (piecewise constant)
PIECEWISE = {
    "floordiv": ("a0 // a1", [P(4) * 3.0, P(4)]),
    "np.sign": ("np.sign(a0)", [N(4)]), "np.floor": ("np.floor(a0 * 3.0)", [N(4)]),
    "np.ceil": ("np.ceil(a0 * 3.0)", [N(4)]), "np.round": ("np.round(a0 * 3.0)", [N(4)]),
    "np.argmax": ("np.argmax(a0) * 1.0", [N(4)]), "np.argmin": ("np.argmin(a0) * 1.0", [N(4)]),
    "lt": ("(a0 < a1) * 1.0", [N(4), N(4)]), "le": ("(a0 <= a1) * 1.0", [N(4), N(4)]),
    "gt": ("(a0 > a1) * 1.0", [N(4), N(4)]), "ge": ("(a0 >= a1) * 1.0", [N(4), N(4)]),
    "eq": ("(a0 == a1) * 1.0", [N(4), N(4)]), "ne": ("(a0 != a1) * 1.0", [N(4), N(4)]),
    "np.any": ("np.any(a0 > 0.0) * 1.0", [N(4)]), "np.all": ("np.all(a0 > 0.0) * 1.0", [N(4)]),
    "int": ("int(a0 * 3.0) * 1.0", [P()]), "bool": ("bool(a0) * 1.0", [P()]),
    "np.zeros_like": ("np.zeros_like(a0)", [N(3)]), "np.ones_like": ("np.ones_like(a0)", [N(3)]),
    "np.isnan": ("np.isnan(a0) * 1.0", [N(3)]), "np.isfinite": ("np.isfinite(a0) * 1.0", [N(3)]),
    "np.isinf": ("np.isinf(a0) * 1.0", [N(3)]),
    "np.logical_not": ("np.logical_not(a0 > 0) * 1.0", [N(3)]),
    "np.logical_and": ("np.logical_and(a0 > 0, a1 > 0) * 1.0", [N(3), N(3)]),
    "np.logical_or": ("np.logical_or(a0 > 0, a1 > 0) * 1.0", [N(3), N(3)]),
    "_ax.reduced_count": ("_ax.reduced_count(a0, 1) * 1.0", [N(2, 3)]),
    "_ax.clip_from": ("_ax.clip_from(a0, -0.3, 0.4, 0)", [N(5)]),
    "_ax.zeros_like": ("_ax.zeros_like(a0)", [N(3)]),
    "_ax.arange_slope": ("_ax.arange_slope(a0, 1.0, 'step')", [N(3)]),
    "_ax.linspace_weights": ("_ax.linspace_weights(a0, 3)", [N(3)]),
}
# nondiff entries that take no float operand whose value matters (shapes, sizes, integers,
# bit operations, array constructors from shapes, dtypes, vmap's bookkeeping)
NO_FLOAT_OPERAND = {
    "not_", "invert", "and_", "or_", "xor", "np.shape", "np.ndim", "np.size",
    "np.result_type", "len", "range", "slice", "np.zeros", "np.ones", "np.empty", "np.eye",
    "np.empty_like", "_ax.transpose_axes", "_ax.seed", "_ax.check_differentiable",
    "_ax.check_no_alias", "np.iscomplexobj", "_ax.fft_size", "_ax.irfft_size",
    "_ax.irfft_weights",
    "_ax.unit_basis", "_ax.dict_keys", "_ax.batch_shape", "_ax.lanes_shape", "_ax.dot_spec",
    "_ax.clip_index", "_ax.seed_lanes",
} | {k for k in registry.REGISTRY if k.startswith("_ax.lane_")} | {
    "_ax.batch_axis", "_ax.leading_size", "_ax.format",    # (format: text from values)
    # linalg masks and tests that read only their operand's shape; the NaN of a derivative
    # that does not exist (test_linalg_rules.py checks it at repeated eigenvalues)
    "_ax.tri_mask", "_ax.diag_mask", "_ax.is_tall", "_ax.is_wide", "_ax.undefined_where",
    "_ax.slogdet_sign",
    # bookkeeping of a dict key an item write creates, which the reverse sweep takes out
    # again (test_fuzz_regressions.py: a new dict key under grad and hessian)
    "_ax.slot_value", "_ax.restore_slot",
    "_ax.tape_record"}     # (vmap's copy of a forward sweep's record)

# ---- the one-line function of each sample ---------------------------------------------------

_CASES = []          # (key, index, source, operands)
for _key, _samples in SAMPLES.items():
    for _i, (_src, _ops) in enumerate(_samples):
        _CASES.append((_key, _i, _src, _ops))
for _key, (_src, _ops) in PIECEWISE.items():
    _CASES.append((_key, "zero", _src, _ops))


def _module():
    lines = ["import numpy as np", "from astjax.rules import runtime as _ax", ""]
    for n, (key, i, src, ops) in enumerate(_CASES):
        params = [f"a{j}" for j, o in enumerate(ops) if not isinstance(o, C)]
        body = src
        for j, o in enumerate(ops):
            if isinstance(o, C):
                body = body.replace(f"a{j}", f"K{n}_{j}")
        lines += [f"def f{n}({', '.join(params)}):", f"    return {body}", ""]
    path = tempfile.mkdtemp(prefix="astjax-table-") + "/rule_table_samples.py"
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    spec = importlib.util.spec_from_file_location("rule_table_samples", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rule_table_samples"] = mod
    spec.loader.exec_module(mod)
    for n, (key, i, src, ops) in enumerate(_CASES):
        for j, o in enumerate(ops):
            if isinstance(o, C):
                setattr(mod, f"K{n}_{j}", o.value)
    return mod


MOD = _module()


def _case(n):
    key, i, src, ops = _CASES[n]
    return getattr(MOD, f"f{n}"), [o for o in ops if not isinstance(o, C)]


# ---- pytree arithmetic for the oracle -----------------------------------------------------------

def _leaves(t):
    if isinstance(t, dict):
        return [x for k in sorted(t) for x in _leaves(t[k])]
    if isinstance(t, (list, tuple)):
        return [x for v in t for x in _leaves(v)]
    return [t]


def _rebuild(t, leaves):
    if isinstance(t, dict):
        return {k: _rebuild(t[k], leaves) for k in sorted(t)}
    if isinstance(t, (list, tuple)):
        return type(t)(_rebuild(v, leaves) for v in t)
    x = leaves.pop(0)
    return float(x) if isinstance(t, float) else (type(t)(x) if isinstance(t, np.floating)
                                                  else x)


def _like(t, fill):
    return _rebuild(t, [fill(np.shape(x)) for x in _leaves(t)])


def _inner(a, b):
    return sum(float(np.sum(np.asarray(x, dtype=np.float64) * np.asarray(y, dtype=np.float64)))
               for x, y in zip(_leaves(a), _leaves(b)))


def _axpy(t, s, v):
    return _rebuild(t, [np.asarray(x, dtype=np.float64) + s * np.asarray(y)
                        for x, y in zip(_leaves(t), _leaves(v))])


def _call(f, args):
    return f(*copy.deepcopy(args))          # some helpers update their operands in place


def _fd_directional(f, args, dirs, eps=None):
    if eps is None:     # a float32 operand cannot resolve a step of 1e-6 (its ulp is ~1e-7)
        eps = 1e-3 if any(np.asarray(x).dtype == np.float32 for x in _leaves(args)) else 1e-6
    plus = [_axpy(a, eps, d) for a, d in zip(args, dirs)]
    minus = [_axpy(a, -eps, d) for a, d in zip(args, dirs)]
    fp, fm = _call(f, plus), _call(f, minus)
    return _rebuild(fp, [(np.asarray(p, dtype=np.float64) - np.asarray(m, dtype=np.float64))
                         / (2 * eps) for p, m in zip(_leaves(fp), _leaves(fm))])


def _tol(args):
    return 2e-2 if any(np.asarray(x).dtype == np.float32 for x in _leaves(args)) else 1e-5


# ---- the checks --------------------------------------------------------------------------------

DIFF_CASES = [n for n, c in enumerate(_CASES) if c[1] != "zero"]
ZERO_CASES = [n for n, c in enumerate(_CASES) if c[1] == "zero"]


def _id(n):
    key, i, src, _ = _CASES[n]
    return f"{key}[{i}]"


def test_every_entry_is_checked():
    unchecked = []
    for key, prim in registry.REGISTRY.items():
        if key.startswith("scipy."):
            continue     # SciPy's entries (registered once a test imported SciPy): each is
            #              checked against finite differences in tests/test_scipy.py
        if prim.extra.get("refused") or prim.extra.get("collective"):
            continue     # refused: no rule on purpose (a NoRuleError names them), checked by
            #              test_numpy_source and test_real_python; collectives: test_pmap
            #              checks their rules (grad under vmap against FD) and refusals
        if prim.mutates:                                # checked through its pure form
            update = registry.lookup(prim.update)
            assert update is not None and update.params == prim.params, key
            continue
        if prim.nondiff:
            if key not in PIECEWISE and key not in NO_FLOAT_OPERAND:
                unchecked.append(key)
        elif key not in SAMPLES and key not in ELSEWHERE:
            unchecked.append(key)
    assert not unchecked, f"rule-table entries with no check: {unchecked}"
    for key in list(SAMPLES) + list(PIECEWISE):
        assert registry.lookup(key) is not None, f"{key} is not in the table"
    for key in SAMPLES:
        assert not registry.lookup(key).nondiff, f"{key} is sampled as differentiable"


@pytest.mark.parametrize("n", DIFF_CASES, ids=_id)
def test_vjp_matches_finite_differences(n):
    f, args = _case(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, vjp_fn = astjax.vjp(f, *copy.deepcopy(args))
    ct = _like(out, lambda s: R.standard_normal(s))
    got = vjp_fn(ct)
    got = got if isinstance(got, tuple) else (got,)
    for k, a in enumerate(args):
        dirs = [_like(b, np.zeros) if j != k else None for j, b in enumerate(args)]
        # <ct, df/da_k . e> for every basis direction e of a_k
        leaves = _leaves(a)
        want = []
        for li, leaf in enumerate(leaves):
            flat = np.zeros(np.size(leaf))
            for e in range(np.size(leaf)):
                basis = [np.zeros(np.shape(x)) for x in leaves]
                basis[li].flat[e] = 1.0
                dirs[k] = _rebuild(a, basis)
                flat[e] = _inner(ct, _fd_directional(f, args, dirs))
            want.append(flat.reshape(np.shape(leaf)))
        have = [np.broadcast_to(np.asarray(x, dtype=np.float64), np.shape(w))
                for x, w in zip(_leaves(got[k]), want)]
        assert len(have) == len(want), f"{_id(n)}: cotangent structure"
        for h, w in zip(have, want):
            np.testing.assert_allclose(h, w, rtol=_tol(args), atol=_tol(args),
                                       err_msg=f"vjp of {_CASES[n][2]} w.r.t. a{k}")


@pytest.mark.parametrize("n", DIFF_CASES, ids=_id)
def test_jvp_matches_finite_differences(n):
    f, args = _case(n)
    tangents = [_like(a, lambda s: R.standard_normal(s)) for a in args]
    tangents = [_rebuild(a, [np.float32(x) if isinstance(y, np.float32) else x
                             for x, y in zip(_leaves(t), _leaves(a))])
                for a, t in zip(args, tangents)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, t = astjax.jvp(f, tuple(copy.deepcopy(args)), tuple(copy.deepcopy(tangents)))
    want = _fd_directional(f, args, tangents)
    for h, w in zip(_leaves(t), _leaves(want)):
        np.testing.assert_allclose(np.broadcast_to(np.asarray(h, dtype=np.float64), np.shape(w)),
                                   w, rtol=_tol(args), atol=_tol(args),
                                   err_msg=f"jvp of {_CASES[n][2]}")
    for h, w in zip(_leaves(y), _leaves(_call(f, args))):
        np.testing.assert_allclose(h, w, rtol=1e-12)


@pytest.mark.parametrize("n", ZERO_CASES, ids=_id)
def test_nondiff_entries_are_piecewise_constant(n):
    f, args = _case(n)
    dirs = [_like(a, lambda s: R.standard_normal(s)) for a in args]
    for leaf in _leaves(_fd_directional(f, args, dirs)):
        np.testing.assert_array_equal(np.asarray(leaf), 0.0, err_msg=_CASES[n][2])
