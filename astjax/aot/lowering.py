"""What jit would compile for a function at a declared signature, for `astjax build`,
`astjax show -t jit` and `astjax annotate`: the .pyx and its build flags, defaults bound.

This sits above the compiler (it makes JitFunctions); the compiler itself only asks
`prebuilt` for artifacts, so the two never import each other.
"""
import inspect

from astjax import compiler
from astjax.aot.signatures import (SignatureError, declared_signatures, parse_signature,
                                   to_types)
from astjax.errors import AstjaxError


def as_jitted(obj):
    """``obj`` as a JitFunction (a plain function is wrapped with default options)."""
    return obj if isinstance(obj, compiler.JitFunction) else compiler.jit(inspect.unwrap(obj))


def jitted_signatures(obj):
    """The Signatures declared for a jit function (decorator or annotations)."""
    declared = getattr(obj, "signatures", None)
    if isinstance(declared, (list, tuple)):
        return [parse_signature(s) for s in declared]
    return declared_signatures(inspect.unwrap(obj))


def full_types(jitted, signature):
    """codegen types of every parameter: the signature's, then the defaults' (as a call
    with only the declared arguments binds them)."""
    from codegen.types import of_value
    signature = parse_signature(signature)
    params = list(jitted._signature.parameters)
    if len(signature) > len(params):
        raise SignatureError(f"signature {signature.text} has {len(signature)} types but "
                             f"{jitted.__name__} takes {len(params)} parameters "
                             f"({', '.join(params)})")
    types = list(to_types(signature))
    if jitted.static_argnums:
        raise AstjaxError(f"{jitted.__name__} has static_argnums: ahead-of-time builds need "
                          f"every argument typed, not valued")
    defaults = jitted._defaults[len(types):]
    if any(d is inspect.Parameter.empty for d in defaults):
        raise AstjaxError(f"signature {signature.text} does not cover every "
                          f"parameter of {jitted.__name__} without a default")
    return types + [of_value(d) for d in defaults]


def lower(obj, signature):
    """``(lowered, name_hint, BuildFlags)`` jit generates for ``obj`` at ``signature``
    (defaults bound); ``lowered.source`` is the .pyx, ``lowered.signature`` its key."""
    jitted = as_jitted(obj)
    return jitted.lower_for(full_types(jitted, signature)), jitted.__name__, jitted.flags
