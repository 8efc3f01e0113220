"""User-supplied derivative rules, JAX-style: ``custom_jvp`` and ``custom_vjp``.

    @custom_jvp
    def logsumexp(x):
        return np.log(np.sum(np.exp(x)))

    @logsumexp.defjvp
    def logsumexp_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        ans = logsumexp(x)
        return ans, np.sum(np.exp(x - ans) * t)

    @custom_vjp
    def clip_gradient(lo, hi, x):
        return x

    def clip_fwd(lo, hi, x):
        return x, (lo, hi)

    def clip_bwd(res, g):
        lo, hi = res
        return (None, None, np.clip(g, lo, hi))

    clip_gradient.defvjp(clip_fwd, clip_bwd)

Every transformation honours the rules, whether the decorated function is transformed itself
or called as a helper inside another function.  How, in generated source:

- forward mode calls the jvp rule: ``y, t_y = logsumexp_jvp((x,), (t_x,))``;
- reverse mode of a ``custom_vjp`` function calls the user's ``fwd`` (its residuals go on the
  tape) and ``bwd``; of a ``custom_jvp`` function, it runs reverse mode over the jvp rule's
  tangent output, which is linear in the tangents, so its vjp w.r.t. them is the transpose
  JAX would compute;
- higher orders differentiate those generated sweeps, and so the user's rules, like any code.

As in JAX, forward mode through a ``custom_vjp`` function is an error.  ``None`` cotangents
from ``bwd`` mean zero.  ``nondiff_argnums`` work as in JAX (passed first to the rules).
"""
import functools
import inspect
import itertools
import linecache

import numpy as np

from astjax.frontend.syntax import parse

_counter = itertools.count(1)


class _Custom:
    kind = "custom"

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        fun.__astjax_custom__ = self
        self._entry = None
        self._building = False

    def __call__(self, *args, **kwargs):
        return self.fun(*args, **kwargs)

    def __repr__(self):
        return f"<{self.kind} {self.__name__}>"

    # -- how normalize.py sees it -----------------------------------------------------------------
    @property
    def __astjax_function__(self):
        """Called inside a transformed function: a helper whose sweeps come from the rules."""
        return self.fun

    @property
    def __astjax_entry__(self):
        """Transformed itself: a generated one-line function calling it (so it is a helper)."""
        if self._entry is None:
            params = list(inspect.signature(self.fun).parameters)
            text = (f"def {self.__name__}({', '.join(params)}):\n"
                    f"    return {self.__name__}_custom({', '.join(params)})\n")
            self._entry = _compile_source(text, {f"{self.__name__}_custom": self},
                                          self.__name__, f"{self.kind} {self.__name__}")
        return self._entry

    def _params(self, core):
        return core.params

    def _diff_positions(self, n):
        return [i for i in range(n) if i not in self.nondiff_argnums]


class custom_jvp(_Custom):
    """A function with a user-supplied forward-mode rule, as ``jax.custom_jvp``."""
    kind = "custom_jvp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp_rule = None
        self._sweeps = None

    def defjvp(self, rule):
        """``rule(primals, tangents) -> (primal_out, tangent_out)``; returns ``rule``."""
        self.jvp_rule = rule
        self._sweeps = None
        return rule

    def jvp_call_args(self, args, tangents):
        """The rule's arguments (as gast nodes) for a call with ``args``: nondiff arguments
        first, then the tuples of primals and of their tangents."""
        from astjax.frontend.syntax import gast
        keep = self._diff_positions(len(args))
        front = [args[i] for i in self.nondiff_argnums]
        return front + [gast.Tuple(elts=[args[i] for i in keep], ctx=gast.Load()),
                        gast.Tuple(elts=[tangents[i] for i in keep], ctx=gast.Load())]

    def reverse_units(self, core):
        """``<f>_fwd`` / ``<f>_bwd`` for reverse mode: the primal value; the cotangents from
        reverse mode over the rule's tangent output (a linear function of the tangents)."""
        if self.jvp_rule is None:
            raise TypeError(f"custom_jvp function {self.__name__} has no rule: use "
                            f"@{self.__name__}.defjvp")
        fname, params = core.name, core.params
        keep = self._diff_positions(len(params))
        nondiff = [params[i] for i in self.nondiff_argnums]
        env = core.env.copy()
        env[f"{fname}_rule"] = self.jvp_rule
        rule_fwd, rule_bwd = self._rule_sweeps(len(nondiff))
        env[rule_fwd.__name__] = rule_fwd
        env[rule_bwd.__name__] = rule_bwd
        saved = ", ".join(params) + ("," if len(params) == 1 else "")
        cts = ", ".join("0.0" if i in self.nondiff_argnums else f"cts[{keep.index(i)}]"
                        for i in range(len(params)))
        text = f'''def {fname}_fwd({", ".join(params)}, _tape):
    """Forward sweep of {fname} (custom_jvp): its value from {self.jvp_rule.__name__}; the tape keeps its arguments."""
    primals = ({", ".join(params[i] for i in keep)}{"," if len(keep) == 1 else ""})
    out = {fname}_rule({"".join(p + ", " for p in nondiff)}primals, _ax.zeros_like(primals))
    _tape.append(({saved}))
    return out[0]


def {fname}_bwd(g, _tape):
    """Reverse sweep of {fname} (custom_jvp): reverse mode over the tangent output of {self.jvp_rule.__name__}, linear in the tangents."""
    {saved} = _tape.pop()
    primals = ({", ".join(params[i] for i in keep)}{"," if len(keep) == 1 else ""})
    tangents = _ax.zeros_like(primals)
    rule_tape = []
    {rule_fwd.__name__}({"".join(p + ", " for p in nondiff)}primals, tangents, rule_tape)
    grads = {rule_bwd.__name__}(g, rule_tape)
    cts = _ax.finalize(grads[{len(nondiff) + 1}], tangents)
    return ({cts}{"," if len(params) == 1 else ""})
'''
        return _units(text, core, env) + [(core.node, core.env)]

    def _rule_sweeps(self, n_nondiff):
        """Reverse sweeps of ``<rule>_tangent(nondiff..., primals, tangents)``, the tangent
        output of the rule, compiled once."""
        if self._sweeps is not None:
            return self._sweeps
        if self._building:              # the rule calls the function itself: inactive there
            return _unavailable(self.__name__)
        from astjax.core.normalize import normalize
        from astjax.autodiff.reverse import reverse_program, sweep_names
        from astjax.core.emit import compile_functions
        rule = self.jvp_rule
        front = [f"nondiff{i}" for i in range(n_nondiff)]
        head = "".join(p + ", " for p in front)
        name = f"{rule.__name__}_tangent"
        text = (f"def {name}({head}primals, tangents):\n"
                f"    out = {rule.__name__}({head}primals, tangents)\n"
                f"    return out[1]\n")
        tangent_fn = _compile_source(text, {rule.__name__: rule}, name,
                                     f"custom_jvp {self.__name__}")
        self._building = True
        try:
            program = normalize(tangent_fn, verb="differentiate")
            units = reverse_program(program, ["tangents"])
            functions, _ = compile_functions(units, f"custom_jvp({self.__name__})")
        finally:
            self._building = False
        fwd, bwd = (functions[n] for n in sweep_names(program.entry))
        self._sweeps = fwd, bwd
        return self._sweeps


class custom_vjp(_Custom):
    """A function with a user-supplied reverse-mode rule, as ``jax.custom_vjp``."""
    kind = "custom_vjp"

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd):
        """``fwd(*args) -> (out, residuals)``; ``bwd(residuals, g) -> cotangents`` (one per
        argument, None for zero), as in JAX."""
        self.fwd, self.bwd = fwd, bwd

    def reverse_units(self, core):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__} has no rules: use "
                            f"{self.__name__}.defvjp(fwd, bwd)")
        fname, params = core.name, core.params
        keep = self._diff_positions(len(params))
        nondiff = [params[i] for i in self.nondiff_argnums]
        env = core.env.copy()
        fwd_name, bwd_name = f"{fname}_user_fwd", f"{fname}_user_bwd"
        env[fwd_name], env[bwd_name] = self.fwd, self.bwd
        saved = ", ".join(nondiff + ["res"])
        cts = ", ".join("0.0" if i in self.nondiff_argnums else f"cts[{keep.index(i)}]"
                        for i in range(len(params)))
        text = f'''def {fname}_fwd({", ".join(params)}, _tape):
    """Forward sweep of {fname} (custom_vjp): {self.fwd.__name__}'s value; its residuals on the tape."""
    out = {fwd_name}({", ".join(params)})
    res = out[1]
    _tape.append(({saved}{"," if not nondiff else ""}))
    return out[0]


def {fname}_bwd(g, _tape):
    """Reverse sweep of {fname} (custom_vjp): the cotangents {self.bwd.__name__} gives."""
    {saved}{"," if not nondiff else ""} = _tape.pop()
    user = {bwd_name}({"".join(p + ", " for p in nondiff)}res, g)
    cts = _ax.none_to_zero(user)
    return ({cts}{"," if len(params) == 1 else ""})
'''
        return _units(text, core, env) + [(core.node, core.env)]


def _units(text, core, env):
    """Parse generated sweeps into (fdef, env) units, each line tied to the user's def."""
    module = parse(text)
    origin = getattr(core.node, "origin", None)
    units = []
    for fdef in module.body:
        fdef.doc = fdef.body[0].value.value
        fdef.body = fdef.body[1:]
        fdef.origin = origin
        for s in fdef.body:
            s.origin = origin
        units.append((fdef, env))
    return units


def _compile_source(text, namespace, fname, label):
    """A function from generated source, registered in linecache so astjax can read it."""
    filename = f"<astjax-{next(_counter)}: {label}: {fname}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    ns = {"np": np}
    from astjax.rules import runtime
    ns["_ax"] = runtime
    ns.update(namespace)
    exec(compile(text, filename, "exec"), ns)
    return ns[fname]


def _unavailable(name):
    def unavailable(*args):
        raise NotImplementedError(f"custom_jvp function {name} differentiated inside its own "
                                  f"jvp rule")
    fwd = functools.wraps(unavailable)(lambda *a: unavailable(*a))
    bwd = functools.wraps(unavailable)(lambda *a: unavailable(*a))
    fwd.__name__, bwd.__name__ = f"{name}_rule_unavailable_fwd", f"{name}_rule_unavailable_bwd"
    return fwd, bwd
