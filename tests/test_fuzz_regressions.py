"""Programs the fuzzer (tests/programs.py, tools/fuzz_programs.py) found astjax getting wrong,
shrunk, each checked by the same oracle that found it (tests/fuzz_oracles.py).  A bug whose
fix belongs to another area is a strict xfail naming what is wrong: when it is fixed the test
passes, fails as XPASS, and the mark comes off (and the kind of statement comes back into
tests/test_fuzz_programs.py's CI run, see KNOWN_OPEN there)."""
import textwrap

import pytest

from fuzz_oracles import RETURNS, check
from programs import Program


def kept(source, shapes, transform, seed, tmp_path):
    program = Program("import numpy as np\n\n" + textwrap.dedent(source), shapes,
                      RETURNS[transform])
    outcome = check(program, transform, seed, str(tmp_path))
    assert outcome.category != "discard", outcome.detail
    assert outcome.category in ("ok", "refused"), f"{outcome.category}: {outcome.detail}"
    return outcome


def test_grad_of_unused_matmul(tmp_path):
    # the cotangent of a result nobody reads is the scalar 0.0: matmul_vjp_b expanded its axes
    kept("""
        W0 = np.arange(6.0).reshape(2, 3) / 6.0

        def f(x, y):
            v3 = W0 @ y
            return np.sum(y * y)
        """, ((2, 3), (3,)), "grad", 18357, tmp_path)


@pytest.mark.parametrize("transform", ["grad", "hessian", "vmap_grad"])
def test_unread_reshape(transform, tmp_path):
    # issue 10's "cannot reshape array of size 1 into shape (4,)" in _ax.reshape_like: the
    # cotangent of an unread x.reshape(-1) is the scalar 0.0
    kept("""
        def f(x):
            v6 = x.reshape(-1)
            return np.sum(np.sin(x))
        """, ((2, 3),), transform, 3, tmp_path)


def test_hessian_adjoint_buffer_read_only(tmp_path):
    # _ax.add_to updated a read-only (shared, broadcast) adjoint in place
    kept("""
        def f(x, y):
            v1 = ((-x) * np.tanh(y[-1]))
            if np.sum(x[None, :]) > 0.0:
                v1 = 0.5 * v1 + np.exp(-v1 * v1)
            v2 = x
            return np.mean(v1) + np.sum(x)
        """, ((3, 2), (3, 2)), "hessian", 0, tmp_path)


DICT_NEW_KEY = """
    def f(x, y):
        d1 = {"a": 0.5, "b": x[0]}
        d1["c"] = d1["a"] * d1["b"]
        v2 = d1["c"] + d1["b"]
        return np.sum(x) + np.sum(v2)
    """


@pytest.mark.parametrize("transform", ["grad", "hessian", "vmap_grad"])
def test_dict_item_write_of_a_new_key(transform, tmp_path):
    # the tape saved d["c"] before the write that creates it: KeyError from generated code
    # (now it records that the key was missing, and the reverse sweep takes it out again)
    kept(DICT_NEW_KEY, ((3,), (3,)), transform, 0, tmp_path)


@pytest.mark.parametrize("transform", ["grad", "hessian", "vmap_grad", "jvp"])
def test_dict_item_written_in_a_loop(transform, tmp_path):
    # the first iteration creates the key, the next ones overwrite it
    assert kept("""
        def f(x):
            d = {"a": x * 2.0}
            for i in range(3):
                if i > 0:
                    d["a"] = d["a"] * 0.5 + d["s"]
                d["s"] = np.sin(d["a"]) * (i + 1)
            return np.sum(d["a"] * d["s"])
        """, ((3,),), transform, 5, tmp_path).category == "ok"


# fixed by the mutating-calls / containers / aliases work (issue 10); kept as a guard
def test_grad_write_seen_through_a_view(tmp_path):
    kept("""
        def f(x):
            w3 = np.copy(x)
            s6 = w3[..., :1]
            w3[:, 0] = 0.25 * w3[0]
            return np.mean(s6)
        """, ((3, 1),), "grad", 18851, tmp_path)


LIST_OPERAND = """
    def f(x):
        lst = []
        for i in range(2):
            lst.append(np.sin(x) * i + x)
        return {ret}
    """


@pytest.mark.parametrize("transform,ret", [
    # the builtin sum of a list: np.sum's cotangent of the stacked list is split into its items
    ("grad", "np.mean(sum(lst))"), ("grad", "np.sum([x, 2.0 * x])"),
    ("hessian", "np.mean(sum(lst) ** 2)"), ("vmap_grad", "np.mean(sum(lst))"),
    ("grad", "np.mean(np.sum(lst, axis=0) * x)"), ("vmap_grad", "np.sum(np.mean(lst, axis=0))"),
    ("vmap", "np.cos(np.mean(sum(lst)))"), ("vmap", "np.sum(lst, axis=0)")])
def test_list_operand_of_a_reduction(transform, ret, tmp_path):
    kept(LIST_OPERAND.format(ret=ret), ((3,),), transform, 213, tmp_path)


# fixed by the batching-of-gradients work (issue 10); kept as a guard
def test_vmap_grad_global_view(tmp_path):
    kept("""
        W0 = np.ones(4) * 0.25

        def soft(a, k=2):
            r = a
            for _ in range(k):
                r = r - 0.1 * np.sin(r)
            return r

        def f(x, y):
            v1 = soft(x, k=1)
            v1 -= x
            s2 = W0[..., :1]
            return np.sum(np.sin(s2)) + 0.5 * np.sum(x * x)
        """, ((1, 3), ()), "vmap_grad", 3, tmp_path)


# fixed by the batching-of-gradients work (issue 10); kept as a guard
def test_vmap_grad_helper_loop_tape(tmp_path):
    kept("""
        def soft(a, k=2):
            r = a
            for _ in range(k):
                r = r - 0.1 * np.sin(r)
            return r

        def f(x, y):
            v1 = soft(x, k=1)
            s2 = v1[::-1]
            return np.sum(np.sin(s2)) + 0.5 * np.sum(x * x)
        """, ((1, 3), ()), "vmap_grad", 3, tmp_path)


def test_vmap_grad_unread_copy(tmp_path):
    # _ax.array_vjp gave the scalar cotangent 0.0 of the unread copy w2 back unshaped; the
    # per-lane loop stacked it to (B,), which broadcast against x's (B, 3, 2) adjoint
    kept("""
        def f(x, y):
            w1 = np.array(x)
            return np.sum(x)
        """, ((3, 1), ()), "vmap_grad", 0, tmp_path)


def test_vmap_grad_unread_copy_after_a_branch(tmp_path):
    kept("""
        def f(x, y):
            v1 = (-x) * np.tanh(y[-1])
            if np.sum(x[None, :]) > 0.0:
                v1 = 0.5 * v1 + np.exp(-v1 * v1)
            w2 = np.array(v1, dtype=float)
            return np.mean(x) + np.sum(x)
        """, ((3, 2), (3, 2)), "vmap_grad", 0, tmp_path)


# fixed by the mutating-calls / containers / aliases work (issue 10); kept as a guard
def test_vmap_grad_of_a_stacked_list(tmp_path):
    kept("""
        def f(x):
            v = np.stack([x * 2.0, np.sin(x)])
            return np.sum(v * x)
        """, ((3,),), "vmap_grad", 0, tmp_path)


# the two wrong answers issue 10 quotes from its first generator run (kept as guards)
@pytest.mark.parametrize("transform", ["jvp", "vmap", "jit"])
def test_copy_then_slice_write(transform, tmp_path):
    kept("""
        def f(x, v):
            w = np.array(x)
            w[1:] += np.tanh(x[1:] * v)
            return w * 2.0
        """, ((3,), ()), transform, 1, tmp_path)


# vmap_grad: _ax.unstack's per-lane loop stacked the list of item cotangents into one array
# (the batch axis first), which the list's adjoint then popped along the batch axis
@pytest.mark.parametrize("transform", ["grad", "hessian", "vmap_grad"])
def test_append_stack_then_inplace(transform, tmp_path):
    kept("""
        def f(x):
            lst = [x * 2.0]
            lst.append(np.sin(x))
            v = np.stack(lst)
            v -= x
            return np.sum(v * v)
        """, ((3,),), transform, 0, tmp_path)


def test_vmap_grad_unread_broadcast(tmp_path):
    # _ax.unbroadcast_lanes indexed past the shape of the scalar cotangent 0.0 of the unread v5
    kept("""
        def f(x):
            w3 = np.array(x)
            v5 = 0.5 + w3
            return np.sum(x)
        """, ((3, 1),), "vmap_grad", 0, tmp_path)


def test_vmap_grad_unread_matmul(tmp_path):
    # the cotangent 0.0 of an unread w1 @ w1.T reached the batched matmul adjoint (fixed:
    # reverse mode emits no adjoint code for a value nothing reads)
    kept("""
        def f(x):
            w1 = np.array(x)
            v2 = (w1 @ w1.T)
            return np.sum(np.sin(x)) + 0.5 * np.sum(x * x)
        """, ((1, 3),), "vmap_grad", 1, tmp_path)


def test_vmap_grad_unread_list_item_difference(tmp_path):
    # broadcast error from an unread lst[1] - lst[0] (fixed by the same pruning)
    kept("""
        def f(x, y):
            lst2 = [np.mean(x, axis=1), (y) + 0.0 * np.mean(x, axis=1)]
            v3 = lst2[0] * lst2[-1]
            lst5 = [v3, ((y / (2.0 + np.cos(3)))) + 0.0 * v3]
            v6 = lst5[1] - lst5[0]
            return np.sum(np.sin(v3)) + 0.5 * np.sum(y * y)
        """, ((2, 3), ()), "vmap_grad", 1920878248, tmp_path)


@pytest.mark.xfail(strict=True, reason=(
    "issue 10: batching of gradients: an unread dict of per-example reductions; "
    "the adjoint's axis is not shifted past the batch axis (AxisError)"))
def test_vmap_grad_unread_dict_of_reductions(tmp_path):
    kept("""
        def f(x):
            d2 = {"a": np.sum(x, axis=-1), "b": (2.0) + 0.0 * np.sum(x, axis=-1)}
            return np.mean(x) + np.sum(x)
        """, ((3, 1),), "vmap_grad", 2, tmp_path)


@pytest.mark.xfail(strict=True, reason=(
    "issue 10: batching of gradients: the zero cotangent of an unread list item "
    "x.reshape(-1) reaches np.reshape per lane ('cannot reshape array of size 1')"))
def test_vmap_grad_unread_list_reshape(tmp_path):
    kept("""
        C0 = -0.3

        def f(x):
            v1 = np.minimum(x, np.maximum(C0, C0))
            lst4 = [v1.reshape(-1), (np.tanh(3)) + 0.0 * v1.reshape(-1)]
            return np.sum(v1)
        """, ((2, 3),), "vmap_grad", 0, tmp_path)


# fixed by the batching-of-gradients work (issue 10); kept as a guard
def test_vmap_grad_value_while_over_copy(tmp_path):
    kept("""
        def f(x, y):
            w4 = np.copy(x)
            k5 = 0
            while np.sum(w4) < 2.5 and k5 < 4:
                w4 = w4 + 0.5 * np.cos(w4) + 0.25
            return np.mean(x) + np.sum(w4)
        """, ((3, 2), (2,)), "vmap_grad", 200, tmp_path)


@pytest.mark.xfail(strict=True, reason=(
    "issue 10: batching of gradients: slice writes in a while loop: "
    "_ax.take_slot_lanes indexes past the lane shape"))
def test_vmap_grad_slice_write_in_loop(tmp_path):
    kept("""
        def f(x):
            v4 = (x @ x.T)
            v5 = (v4.T @ x)
            k6 = 0
            while k6 < 2:
                v4[:, 1:] -= np.max(v4)
                k6 += 1
            return np.sum(v5)
        """, ((3, 1),), "vmap_grad", 483, tmp_path)


def test_vmap_grad_tuple_helper_in_loop(tmp_path):
    kept("""
        def split(a, scale=1.5):
            u = a * scale
            return u, np.cos(u)

        def f(x):
            lst1 = []
            for i1 in range(2):
                lst1.append(np.sin(split(x, 0.5)[0]) * i1 + split(x, 0.5)[0])
            v2 = lst1[0] * lst1[-1]
            v5 = split(np.maximum(x, v2), 0.5)[1]
            return np.mean(x) + np.sum(v5)
        """, ((3, 2),), "vmap_grad", 0, tmp_path)


@pytest.mark.xfail(strict=True, reason=(
    "issue 10: batching of gradients: an item write into a helper's result: "
    "assignment destination is read-only (a broadcast view)"))
def test_vmap_grad_item_write_into_helper_result(tmp_path):
    kept("""
        def smooth(a, s=0.5):
            return np.tanh(a) * s + 0.25 * a

        def soft(a, k=2):
            for _ in range(k):
                r = r - 0.1 * np.sin(r)
        def f(x, y):
            v1 = smooth(y[..., 1:], s=0.75)
            if x.ndim == 1:
                v1 += soft(np.max(x), 1)
            else:
                v1[0, 0] = 0.5
                v1 = v1 * np.cos(v1) * 0.9
            v2 = y
            v5 = (v2[:, None] / (1.0 + v2[1:] * v2[1:]))
            return np.sum(v5)
        """, ((2, 3), (2, 3)), "vmap_grad", 1, tmp_path)


# np.sum(np.stack(list), axis=0) then -= (fixed with _ax.unstack's batching rule)
def test_vmap_grad_stack_sum_then_inplace(tmp_path):
    kept("""
        N0 = 1

        def f(x):
            v1 = x[:, None]
            lst2 = []
            for i2 in range(2):
                lst2.append(np.sin((x.T @ x)) * i2 + (x.T @ x))
            v3 = np.sum(np.stack(lst2), axis=0)
            v3 -= np.max((x / (1.0 + v1 * v1)))
            if np.sum(np.float32(0.5) * v1) > 0.0:
                v3 = v3 + 0.3 * np.sin((N0 / 3.0))
            else:
                v1 = v1 + 0.3 * np.sin(np.where(N0 > v1, N0, 0.5 * v1))
                v3[::2] -= x
            return np.mean(v3) + np.sum(v1)
        """, ((2, 3),), "vmap_grad", 0, tmp_path)


# fixed by the batching-of-gradients work (issue 10); kept as a guard
def test_vmap_grad_list_of_mixed_scalars(tmp_path):
    kept("""
        N0 = 1
        def soft(a, k=2):
            r = a
            return r

        def norm2(a, eps=1e-3):
            return a / np.sqrt(np.sum(a * a) + eps + 1.0)

        def f(x):
            v1 = (soft(x) * np.tanh(norm2(N0, eps=0.01)))
            lst2 = [np.sum(v1 * v1), norm2(np.pi, eps=0.01)]
            lst2.append(N0)
            lst2[0] = lst2[0] * 0.5
            v3 = lst2[0] * lst2[-1]
            return np.sum(v3 * v1)
        """, ((3, 1),), "vmap_grad", 2237, tmp_path)


# fixed by the mutating-calls / containers / aliases work (issue 10); kept as a guard
def test_vmap_grad_array_of_list_of_matmuls(tmp_path):
    kept("""
        N0 = 3

        def mix(a, b, w=0.25):
            if w > 0.5:
                return a * w + b
            return a + w * b

        def f(x, y):
            t1 = (mix(x, N0), (y + N0))
            v2 = t1[0] * t1[1] + t1[1]
            lst3 = [(v2.T @ x), (np.sum(x * x)) + 0.0 * (v2.T @ x)]
            v4 = np.array(lst3)
            v7 = v4
            return np.sum(v7 * v7)
        """, ((3, 1), (3, 1)), "vmap_grad", 392, tmp_path)


def test_jvp_array_with_dtype_copies_the_tangent(tmp_path):
    # np.array(x, dtype=float)'s tangent was np.asarray(t_x): the write into w1 went into the
    # caller's tangent (issue 10's write-through, with a dtype)
    kept("""
        def bump(a, b=1.0, c=0.3):
            t = a * b
            return np.exp(-t * t) + c * np.sin(a)

        def f(x):
            w1 = np.array(x, dtype=float)
            if len(np.shape(x)) > 0:
                w1[0] -= bump(np.dot(x, w1))
            return x + 0.0 * np.sum(x)
        """, ((3,),), "jvp", 183, tmp_path)


# fixed by the mutating-calls / containers / aliases work (issue 10); kept as a guard
@pytest.mark.parametrize("transform", ["jvp", "vmap"])
def test_inplace_write_through_a_row_view(transform, tmp_path):
    kept("""
        def split(a, scale=1.5):
            u = a * scale
            return u, np.cos(u)

        def bump(a, b=1.0, c=0.3):
            t = a * b
            return np.exp(-t * t) + c * np.sin(a)

        def f(x, y):
            v1, v2 = split(bump(x))
            for i2 in range(3):
                e4 = v2[i2]
                e4 += bump(v2.sum(), b=0.5)
            return v2 * 1.5
        """, ((3, 1), (1, 3)), transform, 1483, tmp_path)


@pytest.mark.xfail(strict=True, reason=(
    "issue 10: globals: a view of the global W0, rebound in a branch that then writes into "
    "it: jvp reads the tangent t_W0 of the global, never defined (NameError)"))
def test_jvp_view_of_a_global_written_in_a_branch(tmp_path):
    kept("""
        W0 = np.array([[0.5], [-1.0], [2.0]])

        def f(x):
            v1 = W0[:, None]
            if x.ndim == 1:
                v1 = v1 * np.cos((v1.T @ x)) * 0.9
                v1[::2] *= 0.5
            v2 = ((3 * 3) + x[::-1])
            s5 = v2[..., :1]
            return s5 * 1.5
        """, ((3,),), "jvp", 4856257, tmp_path)


# fixed by the containers work (issue 10); kept as a guard
def test_vmap_stack_of_batched_and_constant_items(tmp_path):
    kept("""
        C0 = 1.5

        def smooth(a, s=0.5):
            return np.tanh(a) * s + 0.25 * a

        def f(x):
            v2 = C0
            lst3 = [x, np.float32(0.5) * x, np.sqrt(1.0 + 2.0 * 2.0)]
            v4 = np.stack(lst3)
            if np.sum(smooth(v4, s=0.75)) > 0.5:
                v2 = v2 + 0.3 * np.sin((v4.T @ v4))
            return x
        """, ((),), "vmap", 10271, tmp_path)


def test_vmap_grad_loop_over_rows_of_a_helper_result(tmp_path):
    # a per-lane branch merged two adjoints of unknown rank (d_v1 per-example 0-d, d_x 1-d)
    # with one mask aligned to the first: with a batch of 3 the (3,) mask broadcast along
    # x's own axis (wrong by ~2), with another batch size a broadcast error
    kept("""
        W0 = np.linspace(-1.0, 1.0, 3)

        def split(a, scale=1.5):
            u = a * scale
            return u, np.cos(u)

        def norm2(a, eps=1e-3):
            return a / np.sqrt(np.sum(a * a) + eps + 1.0)

        def f(x):
            v1 = 0.5
            v3, v4 = split((W0 + x))
            for row4 in v4:
                v1 = v1 + np.sum(np.sin(row4) * row4)
            if np.sum(norm2(x, 0.01)) > 0.5:
                v1 = 0.5 * v1 + np.max(x)
            return np.sum(np.sin(x)) + 0.5 * np.sum(v1 * v1)
        """, ((3,),), "vmap_grad", 1267, tmp_path)


# a silent wrong gradient: across the batch v2[:, 0] (of unknown rank here) was a view of v2,
# not the per-example copy, and the while loop's masked restore made v2 a new array, so the
# item write's adjoint read the overwritten item
def test_vmap_grad_list_item_write_then_while(tmp_path):
    kept("""
        C0 = 0.7

        def split(a, scale=1.5):
            u = a * scale
            return u, np.cos(u)

        def f(x):
            lst1 = [x, (split(C0)[0]) + 0.0 * x, np.sqrt(np.abs(x) + 0.5)]
            lst1.append((0.5) + 0.0 * x)
            lst1[0] = lst1[0] * 0.5
            v2 = lst1[1] - lst1[0]
            v2[0, 0] *= np.mean(x)
            k3 = 0
            while k3 < 2:
                v2 = 0.5 * v2 + x
                k3 += 1
            return np.sum(v2)
        """, ((3, 1),), "vmap_grad", 1349, tmp_path)
