"""astjax: JAX's transformations (grad, jvp, vmap, jit, pmap on Dask) for plain NumPy code,
as a source-to-source compiler.  Every transformed function is new, readable Python/NumPy source:
see ``astjax.source(fn)``."""
import astjax.rules  # noqa: F401  (fills the rule table)
from astjax.api import grad, source, value_and_grad, vjp
from astjax.errors import (AstjaxError, AstjaxWarning, DifferentiationError, NoRuleError,
                           SourceError, UnsupportedError)
from astjax.autodiff.custom import custom_jvp, custom_vjp
from astjax.autodiff.jacobians import hessian, jacfwd, jacrev, jvp
from astjax.batching import vmap
from astjax import lax  # noqa: F401  (psum, pmean, ...: collectives by axis name)
from astjax.parallel import device_count, devices, pmap


def __getattr__(name):
    # jit (astjax/compiler.py) lives on codegen, whose errors derive from astjax.errors:
    # import it on first use so that `import codegen` and `import astjax` work in either order.
    if name in ("jit", "explain"):
        import importlib
        module = importlib.import_module(".compiler", __name__)
        globals().update(jit=module.jit, explain=module.explain)   # the functions, not the module
        return globals()[name]
    raise AttributeError(f"module 'astjax' has no attribute {name!r}")


from astjax.version import __version__  # noqa: E402

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "custom_jvp",
           "custom_vjp", "jit", "pmap", "devices", "device_count", "lax", "explain", "source",
           "AstjaxError", "AstjaxWarning", "SourceError", "UnsupportedError",
           "NoRuleError", "DifferentiationError"]
