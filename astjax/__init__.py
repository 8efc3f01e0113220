"""astjax: JAX's transformations (grad, jvp, vmap, jit) for plain NumPy code, as a
source-to-source compiler.  Every transformed function is new, readable Python/NumPy source:
see ``astjax.source(fn)``."""
from . import rules  # noqa: F401  (fills the rule table)
from .api import grad, source, value_and_grad, vjp
from .errors import AstjaxError, DifferentiationError, NoRuleError, SourceError, UnsupportedError
from .higher import hessian, jacfwd, jacrev, jvp

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "source", "AstjaxError", "SourceError",
           "UnsupportedError", "NoRuleError", "DifferentiationError"]
