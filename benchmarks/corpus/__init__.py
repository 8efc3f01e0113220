"""A corpus of real scientific kernels, written the way scientific Python is written.

Each category module defines plain NumPy functions at module level and a `CASES` list of
`Kernel`s; `KERNELS` collects them all. `make_args(rng, size)` builds the positional
arguments: size "small" (NumPy runs it well under 1 ms, for tests) or "bench" (roughly
1-20 ms, for timings). Used by tests/test_jit_corpus.py and the corpus benchmark.
"""
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Kernel:
    name: str          # unique, e.g. "diffusion_2d"
    category: str      # stencil, pairwise, norm, likelihood, grid, histogram, ...
    fn: Callable       # the plain, undecorated NumPy function
    make_args: Callable  # make_args(rng, size) -> tuple of positional args


from . import (complex_kernels, cumulative, distances, grids, histograms,  # noqa: E402
               likelihoods, masks, norms, reductions, scalar_loops, signal, stencils)

KERNELS: list = [kernel for module in (stencils, distances, norms, likelihoods, grids,
                                       histograms, cumulative, masks, complex_kernels,
                                       scalar_loops, signal, reductions)
                 for kernel in module.CASES]

_BY_NAME = {kernel.name: kernel for kernel in KERNELS}
assert len(_BY_NAME) == len(KERNELS), "kernel names must be unique"


def by_name(name) -> Kernel:
    """The kernel called `name`."""
    return _BY_NAME[name]
