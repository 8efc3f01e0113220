"""Stage 3, the rule table: one entry per primitive holds everything about it.

`registry.defprim` records a primitive's vjp, jvp, batching rule and Cython lowering
together, as small NumPy-source templates; `table` holds the entries, grouped under banners by
family (elementwise, reductions, shapes and indexing, linalg), and `scipy` SciPy's
special functions and distributions (loaded once the program imports SciPy); `runtime` holds the `_ax.*`
helpers that generated code calls, which have entries too so generated code transforms again.
Importing this package fills the table.

Before (one entry)::

    defprim("np.exp", vjp={"x": "g * ans"}, jvp="t_x * ans", cython="exp(x)")

After (what the transforms instantiate for ``exp2 = np.exp(neg1)``)::

    reverse:  d_neg1 = d_exp2 * exp2
    forward:  t_exp2 = t_neg1 * exp2
    jit:      exp2[i] = exp(neg1[i])      (fused into the loop of its consumers)
"""
from astjax.rules import table  # noqa: F401  (fills the rule table)
from astjax.rules import numpy_source  # noqa: F401  (NumPy functions written in NumPy)
from astjax.rules import linalg  # noqa: F401  (np.linalg: det, cholesky, eigh, svd, qr, norms)
from astjax.rules import fft  # noqa: F401  (np.fft, and np.real/imag/conj/abs of complex)
from astjax.rules import scipy  # noqa: F401  (SciPy's entries, once a program imports SciPy)
