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


@pytest.mark.xfail(strict=True, reason="issue 10: containers: reverse mode tapes d[key] before "
                   "the item write that creates the key (KeyError from generated code)")
@pytest.mark.parametrize("transform", ["grad", "hessian", "vmap_grad"])
def test_dict_item_write_of_a_new_key(transform, tmp_path):
    # the tape saved d["c"] before the write that creates it: KeyError from generated code
    kept(DICT_NEW_KEY, ((3,), (3,)), transform, 0, tmp_path)


@pytest.mark.xfail(strict=True, reason="issue 10: aliasing: a write into w3 is not seen through "
                   "its view s6 = w3[..., :1] by reverse mode (wrong gradient)")
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


@pytest.mark.xfail(strict=True, reason="issue 10: containers: a list passed to a NumPy reduction "
                   "(np.sum(lst, axis=0), builtin sum(lst)) gets a zero gradient / the wrong "
                   "batch axis under vmap, silently")
@pytest.mark.parametrize("transform,ret", [
    ("grad", "np.mean(sum(lst))"), ("grad", "np.sum([x, 2.0 * x])"),
    ("hessian", "np.mean(sum(lst) ** 2)"), ("vmap", "np.cos(np.mean(sum(lst)))"),
    ("vmap", "np.sum(lst, axis=0)")])
def test_list_operand_of_a_reduction(transform, ret, tmp_path):
    kept(LIST_OPERAND.format(ret=ret), ((3,),), transform, 213, tmp_path)


@pytest.mark.xfail(strict=True, reason="issue 10: batching of gradients: unbroadcast_lanes of a "
                   "global's view W0[..., :1] after a helper with a loop ('tuple index out of range' in _ax)")
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


@pytest.mark.xfail(strict=True, reason="issue 10: batching of gradients: the tape of a helper's "
                   "loop under vmap is stacked / indexed per lane with the wrong structure "
                   "(internal NumPy / TypeError from generated code)")
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


def test_vmap_grad_unbatched_argument_item(tmp_path):
    kept("""
        def f(x, y):
            v1 = (-x) * np.tanh(y[-1])
            if np.sum(x[None, :]) > 0.0:
                v1 = 0.5 * v1 + np.exp(-v1 * v1)
            w2 = np.array(v1, dtype=float)
            return np.mean(x) + np.sum(x)
        """, ((3, 2), (3, 2)), "vmap_grad", 0, tmp_path)


@pytest.mark.xfail(strict=True, reason="issue 10: batching of gradients: _ax.unstack (np.stack's "
                   "adjoint) has no batching rule; its per-lane loop stacks the lanes' lists into "
                   "one (B, n, ...) array, so seq_item picks a lane, not an item: wrong gradient")
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


@pytest.mark.parametrize("transform", ["grad", "hessian", pytest.param("vmap_grad", marks=
    pytest.mark.xfail(strict=True, reason="issue 10: batching of gradients: _ax.unstack's "
                      "per-lane loop (see test_vmap_grad_of_a_stacked_list)"))])
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
