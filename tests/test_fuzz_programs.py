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
from programs import programs  # noqa: E402

# examples per transform: jit builds an extension per program (seconds each)
EXAMPLES = {"grad": 40, "jvp": 40, "hessian": 10, "vmap": 40, "vmap_grad": 20, "jit": 2,
            "jit_grad": 1}

# kinds of statement left out of CI while a bug they find is open; each has a strict xfail
# regression in tests/test_fuzz_regressions.py -- when it passes, delete the entry here
KNOWN_OPEN = {
    "dict_new_key": TRANSFORMS,           # test_dict_item_write_of_a_new_key
    "sum_of_list": TRANSFORMS,            # test_list_operand_of_a_reduction
    "write_after_view": TRANSFORMS,       # test_grad_write_seen_through_a_view
    "list": ["vmap_grad"],                # test_vmap_grad_of_a_stacked_list
    "list_loop": ["vmap_grad"],           # test_vmap_grad_of_a_stacked_list
    "helper_loop": ["vmap_grad"],         # test_vmap_grad_helper_loop_tape
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
