"""astjax: JAX's transformations (grad, jvp, vmap, jit) for plain NumPy code, as a
source-to-source compiler.  Every transformed function is new, readable Python/NumPy source:
see ``astjax.source(fn)``."""
from . import rules  # noqa: F401  (fills the rule table)
from .api import grad, source, value_and_grad, vjp
from .errors import AstjaxError, DifferentiationError, NoRuleError, SourceError, UnsupportedError
from .custom import custom_jvp, custom_vjp
from .higher import hessian, jacfwd, jacrev, jvp
from .batching import vmap


def __getattr__(name):
    # jit (astjax/compiler.py) lives on codegen, whose errors derive from astjax.errors:
    # import it on first use so that `import codegen` and `import astjax` work in either order.
    if name in ("jit", "explain"):
        import importlib
        module = importlib.import_module(".compiler", __name__)
        globals().update(jit=module.jit, explain=module.explain)   # the functions, not the module
        return globals()[name]
    raise AttributeError(f"module 'astjax' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "custom_jvp",
           "custom_vjp", "jit", "explain", "source", "AstjaxError", "SourceError", "UnsupportedError",
           "NoRuleError", "DifferentiationError"]
