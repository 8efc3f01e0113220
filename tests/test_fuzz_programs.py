"""Differential fuzzing in CI: random programs (tests/programs.py) under every transform,
checked by the oracles of tests/fuzz_oracles.py (finite differences, a Python loop over the batch,
the plain function).  A wrong value or dtype, a changed argument, or an exception that is not an
AstjaxError fails the test with the program's source; hypothesis shrinks it first.  Sized for CI
and derandomized (the same programs every run); the heavy run is

    python3 tools/fuzz_programs.py --transform all --programs 10000
"""
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402

from fuzz_oracles import RETURNS, TRANSFORMS, check  # noqa: E402
import numpy as np  # noqa: E402

from programs import Program, programs  # noqa: E402

# examples per transform: jit builds an extension per program (seconds each)
EXAMPLES = {"grad": 60, "jvp": 60, "hessian": 15, "vmap": 60, "vmap_grad": 30, "jit": 2,
            "jit_grad": 1}

# kinds of statement left out of CI while a bug they find is open; each has a strict xfail
# regression in tests/test_fuzz_regressions.py -- when it passes, delete the entry here
KNOWN_OPEN = {
}


@pytest.mark.parametrize("transform", list(EXAMPLES))
def test_random_programs(transform, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp(f"fuzz-{transform}"))
    exclude = sorted({kind for kind, transforms in KNOWN_OPEN.items() if transform in transforms})

    @settings(max_examples=EXAMPLES[transform], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs(returns=RETURNS[transform], exclude=exclude), st.integers(0, 2 ** 31 - 1))
    def one(program, seed):
        outcome = check(program, transform, seed, folder)
        assume(outcome.category != "discard")
        assert outcome.category in ("ok", "refused"), \
            f"{transform} {outcome.category} (input seed {seed}, argument shapes " \
            f"{program.shapes}):\n{outcome.detail}\n--- program ---\n{program.source}"

    one()


# the oracles themselves: a wrong transform is caught, an internal error is told from a refusal
SMOOTH = Program("import numpy as np\n\ndef f(x):\n    return np.sum(np.sin(x) * x)\n", ((3,),),
                 "scalar")


def test_oracle_catches_a_wrong_gradient(monkeypatch, tmp_path):
    import astjax
    real = astjax.grad
    monkeypatch.setattr(astjax, "grad", lambda f, **kw: (lambda *a: 1.01 * real(f, **kw)(*a)))
    outcome = check(SMOOTH, "grad", 0, str(tmp_path))
    assert outcome.category == "wrong" and "value differs" in outcome.detail


def test_oracle_catches_a_dtype_change_under_jit(monkeypatch, tmp_path):
    import astjax
    program = Program("import numpy as np\n\ndef f(x):\n    return x * 2.0\n", ((3,),), "array")
    monkeypatch.setattr(astjax, "jit", lambda f: (lambda *a: np.asarray(f(*a), np.float64)))
    outcomes = {check(program, "jit", seed, str(tmp_path)).category for seed in range(8)}
    assert "wrong" in outcomes           # some seed draws float32 inputs


def test_oracle_tells_internal_from_refused(monkeypatch, tmp_path):
    import astjax

    def raising(error):
        def transform(f, **kw):
            def run(*a):
                raise error
            return run
        return transform

    monkeypatch.setattr(astjax, "grad", raising(astjax.UnsupportedError("no")))
    assert check(SMOOTH, "grad", 0, str(tmp_path)).category == "refused"
    monkeypatch.setattr(astjax, "grad", raising(ValueError("could not broadcast")))
    assert check(SMOOTH, "grad", 0, str(tmp_path)).category == "internal"


def test_programs_that_raise_or_mutate_their_argument_are_discarded(tmp_path):
    raising = Program("import numpy as np\n\ndef f(x):\n    return np.sum(x[7])\n", ((3,),),
                      "scalar")
    writing = Program("import numpy as np\n\ndef f(x):\n    x[0] = 1.0\n    return np.sum(x)\n",
                      ((3,),), "scalar")
    assert check(raising, "grad", 0, str(tmp_path)).category == "discard"
    assert check(writing, "grad", 0, str(tmp_path)).category == "discard"
