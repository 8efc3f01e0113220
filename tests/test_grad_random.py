"""Hypothesis-generated programs: random straight-line and branching NumPy functions, written
to a real file (astjax reads source), checked against central finite differences."""
import importlib.util
import itertools

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import astjax  # noqa: E402
from checks import numerical_grad  # noqa: E402

UNARY = ["np.sin({})", "np.cos({})", "np.tanh({})", "np.exp(0.3 * {})", "({} * {})",
         "np.sqrt(1.0 + {} * {})", "np.log(2.0 + np.sin({}))", "(-{})", "np.arctan({})"]
BINARY = ["({} + {})", "({} - {})", "({} * {})", "({} / (2.0 + np.cos({})))",
          "np.maximum({}, {})", "np.where({} > 0.1, {}, 0.5 * {})"]

_counter = itertools.count()


@st.composite
def programs(draw):
    nvars = draw(st.integers(2, 6))
    lines = ["    v0 = x"]
    for i in range(1, nvars):
        pick = lambda: f"v{draw(st.integers(0, i - 1))}"  # noqa: E731
        if draw(st.booleans()):
            template = draw(st.sampled_from(UNARY))
            arg = pick()
            expr = template.format(*([arg] * template.count("{}")))
        else:
            template = draw(st.sampled_from(BINARY))
            a, b = pick(), pick()
            args = [a, b] + [a] * (template.count("{}") - 2)
            expr = template.format(*args)
        lines.append(f"    v{i} = {expr}")
        if draw(st.integers(0, 5)) == 0:
            lines.append(f"    if np.sum(v{i}) > 0:")
            lines.append(f"        v{i} = v{i} * 1.5")
        if draw(st.integers(0, 6)) == 0:
            lines.append(f"    for k in range(2):")
            lines.append(f"        v{i} = v{i} + 0.1 * np.sin(v{i})")
    lines.append(f"    return np.sum(v{nvars - 1} * x)")
    return "import numpy as np\n\n\ndef f(x):\n" + "\n".join(lines) + "\n"


def load(source, tmp_path):
    path = tmp_path / f"gen_{next(_counter)}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


@settings(max_examples=40, deadline=None)
@given(programs(), st.integers(0, 1000))
def test_random_programs(tmp_path_factory, source, seed):
    f = load(source, tmp_path_factory.mktemp("prog"))
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    expected = numerical_grad(f, (x,), 0)
    got = astjax.grad(f)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=source)
