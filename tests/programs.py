"""Random *programs*, written the way scientists write NumPy, as hypothesis strategies.

Independent of astjax: `programs()` draws a `Program`, the text of a module holding a function
`f(x)` or `f(x, y)` (plus module-level helpers with default arguments and globals), and the
shapes of its arguments.  A program is built statement by statement over an environment of
variables whose shapes are known exactly: every candidate expression is evaluated on stand-in
arrays while it is drawn, so shape errors never reach the program.  What it draws from:

    straight-line expressions over broadcasting shapes: + - * / **, np.sin/cos/tanh/exp/log/sqrt
    (on safe arguments), np.maximum/minimum, np.where, np.abs; reductions (np.sum/np.mean with an
    axis, keepdims, methods); matmul / np.dot; indexing and slicing reads; np.float32 constants
    control flow: `if` on values and on Python ints, `for` over range (counter used as a number or
    an index) and over an array's rows, `while` on a Python int and on a value (bounded)
    helpers: module-level functions with default arguments, called positionally or by keyword,
    some returning tuples; module-level float / int / array globals
    containers: lists (append, np.stack, np.array, indexing), tuples (unpacking), dicts
    mutation: np.array / .copy() / np.zeros_like buffers written by item and slice assignment,
    in-place operators (+=, -=, *=), aliases (`z = y`) of writable buffers
    effects: print and assert

Writes only ever go into buffers the function itself made (never into an argument, a global or
a view of one: a stand-in that shares memory with another, as x[1:] does, shares its buffer), so
the plain function is pure and can be called again and again by an oracle.  `exclude` leaves out
kinds of statement (STATEMENTS) or finer forms (FORMS), e.g. while a bug they find is open.

    >>> from hypothesis import strategies as st
    >>> program = programs(returns="scalar").example()        # doctest: +SKIP
    >>> print(program.source)                                  # doctest: +SKIP
"""
import dataclasses
import importlib.util
import itertools
import os
import sys

import numpy as np
from hypothesis import strategies as st

# shapes an argument may have, and which second-argument shapes broadcast with each
ARG_SHAPES = [(), (3,), (4,), (2, 3), (3, 1), (1, 3), (3, 2)]


@dataclasses.dataclass
class Program:
    source: str                       # module text defining f
    shapes: tuple                     # per argument of f
    returns: str                      # "scalar" or "array"

    @property
    def nargs(self):
        return len(self.shapes)


_counter = itertools.count()


def load(program, folder, name=None):
    """Write the program to `folder/<name>.py`, import it (inspect can read its source), return f."""
    os.makedirs(folder, exist_ok=True)
    name = name or f"fuzzprog_{os.getpid()}_{next(_counter)}"
    path = os.path.join(folder, name + ".py")
    with open(path, "w") as fh:
        fh.write(program.source if isinstance(program, Program) else program)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module        # helpers and globals resolve through the module
    spec.loader.exec_module(module)
    return module.f


def make_inputs(shapes, rng, dtype=np.float64, scalar_kind="python"):
    """One value per argument: arrays in [-1, 1] of `dtype`; a () shape is a Python float
    (scalar_kind "python") or a NumPy scalar of `dtype` ("numpy")."""
    out = []
    for shape in shapes:
        a = rng.uniform(-1.0, 1.0, shape).astype(dtype)
        if shape == ():
            out.append(float(a) if scalar_kind == "python" else dtype(a))
        else:
            out.append(a)
    return tuple(out)


# ------------------------------------------------------------------------- the generator

_HELPERS = [
    # (name, params text, body lines, returns) -- elementwise in every array argument
    ("smooth", "a, s=0.5", ["return np.tanh(a) * s + 0.25 * a"], 1),
    ("bump", "a, b=1.0, c=0.3", ["t = a * b", "return np.exp(-t * t) + c * np.sin(a)"], 1),
    ("mix", "a, b, w=0.25", ["if w > 0.5:", "    return a * w + b", "return a + w * b"], 1),
    ("soft", "a, k=2", ["r = a", "for _ in range(k):", "    r = r - 0.1 * np.sin(r)", "return r"], 1),
    ("split", "a, scale=1.5", ["u = a * scale", "return u, np.cos(u)"], 2),
    ("clipped", "a, lo=-0.5, hi=0.5", ["return np.minimum(np.maximum(a, lo), hi) + 0.1 * a"], 1),
    ("poly", "a, c0=1.0, c1=-0.5", ["acc = 0.0 * a", "for c in (c0, c1, 0.25):",
                                     "    acc = acc * a + c", "return acc"], 1),
    ("poly_tuple", "a, coeffs=(1.0, -0.5)", ["acc = 0.0 * a", "for c in coeffs:",
                                          "    acc = acc * a + c", "return acc"], 1),
    ("norm2", "a, eps=1e-3", ["return a / np.sqrt(np.sum(a * a) + eps + 1.0)"], 1),
]

_UNARY = ["np.sin({0})", "np.cos({0})", "np.tanh({0})", "np.exp(0.5 * np.tanh({0}))",
          "np.exp(-{0} * {0})", "np.log(1.0 + {0} * {0})", "np.log(2.0 + np.sin({0}))",
          "np.sqrt(1.0 + {0} * {0})", "np.sqrt(np.abs({0}) + 0.5)", "({0} * {0})", "({0} ** 2)",
          "({0} ** 3)", "(-{0})", "np.abs({0})", "(2.0 * {0})", "({0} / 3.0)", "(1.0 - {0})",
          "np.float32(0.5) * {0}", "np.square({0})", "np.arctan({0})"]
_BINARY = ["({0} + {1})", "({0} - {1})", "({0} * {1})", "({0} / (2.0 + np.cos({1})))",
           "({0} / (1.0 + {1} * {1}))", "np.maximum({0}, {1})", "np.minimum({0}, {1})",
           "np.where({0} > {1}, {0}, 0.5 * {1})", "np.where({1} > 0.0, {0} * {1}, {0})",
           "({0} * np.tanh({1}))", "(0.5 * {0} + 0.25 * {1})"]
_REDUCE = ["np.sum({0})", "np.mean({0})", "np.sum({0}, axis={ax})", "np.mean({0}, axis={ax})",
           "np.sum({0}, axis={ax}, keepdims=True)", "{0}.sum()", "{0}.mean(axis={ax})",
           "np.max({0})", "np.sum({0} * {0})"]
_INDEX = ["{0}[0]", "{0}[1:]", "{0}[:-1]", "{0}[::-1]", "{0}[-1]", "{0}[:, 0]", "{0}[0, :]",
          "{0}[..., 1:]", "{0}[None, :]", "{0}[:, None]", "{0}.T", "{0}[1]", "{0}[:2]",
          "{0}.reshape(-1)", "{0}[np.array([0, 1])]"]


# the kinds of statement (besides plain assignment); `programs(exclude=...)` leaves some out
STATEMENTS = ["copy", "alias", "view", "write", "inplace", "if_value", "if_int", "for_range",
              "for_rows", "while_int", "while_value", "list", "list_loop", "tuple", "dict",
              "print", "assert", "helper_tuple"]
# finer forms `exclude` may also name: builtin sum of a list; an item write creating a dict key;
# writes into a buffer after a view of it was taken; helpers with a loop
FORMS = ["sum_of_list", "dict_new_key", "write_after_view", "helper_loop"]


class _Gen:
    """The state of one program being drawn."""

    def __init__(self, draw, shapes, returns, exclude=()):
        self.draw = draw
        self.exclude = set(exclude)
        self.returns = returns
        self.lines = []                # (indent, text) of f's body
        self.vars = {}                 # name -> stand-in value (ndarray or float)
        self.group = {}                # name -> buffer id; writes only into owned ids
        self.owned = set()
        self.ints = {}                 # Python int names in scope -> value
        self.env = {"np": np}
        self.nvar = 0
        self.ngroup = itertools.count()
        self.params = ["x", "y"][:len(shapes)]
        for p, shape in zip(self.params, shapes):
            self.vars[p] = np.full(shape, 0.5) if shape else 0.5
            self.group[p] = next(self.ngroup)
        self.globals_text = []
        self.helpers = []
        self._draw_globals()

    # -- module level ----------------------------------------------------------------------
    def _draw_globals(self):
        d = self.draw
        if d(st.booleans()):
            self._global("C0", f"C0 = {d(st.sampled_from(['0.7', '1.5', '-0.3']))}", 0.7)
        if d(st.booleans()):
            n = d(st.integers(1, 3))
            self.globals_text.append(f"N0 = {n}")
            self.env["N0"] = n
            self.ints["N0"] = n
        if d(st.booleans()):
            text, value = d(st.sampled_from([
                ("np.linspace(-1.0, 1.0, 3)", np.linspace(-1.0, 1.0, 3)),
                ("np.arange(6.0).reshape(2, 3) / 6.0", np.arange(6.0).reshape(2, 3) / 6.0),
                ("np.array([[0.5], [-1.0], [2.0]])", np.array([[0.5], [-1.0], [2.0]])),
                ("np.ones(4) * 0.25", np.ones(4) * 0.25)]))
            self._global("W0", f"W0 = {text}", value)

    def _global(self, name, text, value):
        self.globals_text.append(text)
        self.env[name] = value
        self.vars[name] = value
        self.group[name] = next(self.ngroup)

    def helper(self, index):
        name, params, body, nret = _HELPERS[index]
        if name not in [h[0] for h in self.helpers]:
            self.helpers.append(_HELPERS[index])
            exec(f"def {name}({params}):\n" + "".join(f"    {b}\n" for b in body), self.env)
        return name, params, nret

    # -- expressions -----------------------------------------------------------------------
    def fresh(self, prefix="v"):
        self.nvar += 1
        return f"{prefix}{self.nvar}"

    def value_names(self, ndim_min=0):
        return sorted(n for n, v in self.vars.items() if np.ndim(v) >= ndim_min)

    def evaluate(self, text):
        return eval(text, self.env, {**self.vars, **self.ints})

    def leaf(self):
        d = self.draw
        if d(st.integers(0, 6)) == 0:
            return d(st.sampled_from(["0.5", "2.0", "-1.25", "3", "np.float32(1.5)", "np.pi"]))
        if self.ints and d(st.integers(0, 5)) == 0:
            return d(st.sampled_from(sorted(self.ints)))
        return d(st.sampled_from(self.value_names()))

    def expr(self, depth=2):
        """(text, stand-in value) of a random expression."""
        d = self.draw
        for _ in range(8):
            kind = d(st.sampled_from(["leaf", "unary", "binary", "binary", "reduce", "index",
                                      "matmul", "helper"])) if depth > 0 else "leaf"
            if kind == "leaf":
                text = self.leaf()
            elif kind == "unary":
                text = d(st.sampled_from(_UNARY)).format(self.expr(depth - 1)[0])
            elif kind == "binary":
                text = d(st.sampled_from(_BINARY)).format(self.expr(depth - 1)[0],
                                                         self.expr(depth - 1)[0])
            elif kind == "reduce":
                inner, value = self.expr(depth - 1)
                if np.ndim(value) == 0:
                    continue
                ax = d(st.integers(-1, np.ndim(value) - 1))
                text = d(st.sampled_from(_REDUCE)).format(inner, ax=ax)
            elif kind == "index":
                names = self.value_names(1)
                if not names:
                    continue
                text = d(st.sampled_from(_INDEX)).format(d(st.sampled_from(names)))
            elif kind == "matmul":
                names = self.value_names(1)
                if len(names) < 1:
                    continue
                a, b = d(st.sampled_from(names)), d(st.sampled_from(names))
                text = d(st.sampled_from(["({0} @ {1})", "np.dot({0}, {1})", "({0}.T @ {1})",
                                          "({0} @ {1}.T)"])).format(a, b)
            else:
                index = d(st.sampled_from([i for i, h in enumerate(_HELPERS)
                                           if "helper_loop" not in self.exclude
                                           or not any("for " in line for line in h[2])]))
                name, params, nret = self.helper(index)
                args = [self.expr(depth - 1)[0]]
                if params.split(",")[1].strip().find("=") < 0:       # a second required arg
                    args.append(self.expr(depth - 1)[0])
                extra = d(st.sampled_from(["", "pos", "kw"]))
                optional = [p.strip() for p in params.split(",") if "=" in p]
                if extra and optional:
                    pname, default = optional[0].split("=")
                    new = {"0.5": "0.75", "1.0": "0.5", "0.3": "0.1", "0.25": "0.75",
                           "2": "1", "1.5": "0.5", "-0.5": "-0.25", "1e-3": "0.01"}.get(
                               default, default)
                    if pname == "coeffs":
                        new = "(0.5, 1.0)"
                    if pname == "c0":
                        new = "0.5"
                    args.append(new if extra == "pos" else f"{pname}={new}")
                text = f"{name}({', '.join(args)})"
                if nret == 2:
                    text += f"[{d(st.integers(0, 1))}]"
            try:
                value = self.evaluate(text)
            except Exception:
                continue
            if isinstance(value, (np.ndarray, np.generic, float, int)) and np.ndim(value) <= 3 \
                    and np.size(value) <= 24 and np.issubdtype(np.asarray(value).dtype, np.number):
                return text, value
        name = d(st.sampled_from(self.value_names()))
        return name, self.vars[name]

    def expr_shaped(self, shape, depth=2):
        """An expression that broadcasts to `shape` (for writes and in-place ops)."""
        for _ in range(6):
            text, value = self.expr(depth)
            try:
                if np.broadcast_shapes(np.shape(value), shape) == tuple(shape):
                    return text
            except ValueError:
                pass
        return "0.5"

    def expr_exact(self, shape, like):
        """An expression of exactly `shape` (`like` is a text of that shape)."""
        text = self.expr_shaped(shape, depth=1)
        if np.shape(self.evaluate(text)) != tuple(shape):
            text = f"({text}) + 0.0 * {like}"
        return text

    # -- statements ------------------------------------------------------------------------
    def emit(self, indent, text):
        self.lines.append((indent, text))

    def assign(self, indent, name, text, value, fresh=True, source=None):
        self.emit(indent, f"{name} = {text}")
        if fresh and isinstance(value, np.ndarray):
            for other, v in self.vars.items():     # a view (x[1:], x.T) shares its buffer
                if isinstance(v, np.ndarray) and np.shares_memory(v, value):
                    fresh, source = False, other
                    if "write_after_view" in self.exclude:
                        self.owned.discard(self.group[other])
                    break
        self.vars[name] = value
        if fresh:
            self.group[name] = next(self.ngroup)
            if isinstance(value, np.ndarray):
                self.owned.add(self.group[name])
        else:
            self.group[name] = self.group[source]

    def owned_arrays(self):
        return sorted(n for n, v in self.vars.items()
                      if isinstance(v, np.ndarray) and v.ndim >= 1 and self.group[n] in self.owned
                      and v.dtype.kind == "f")

    def reassignable(self):
        """Local names a branch or loop body may give a new value of the same shape."""
        return sorted(n for n in self.vars if n not in self.params and n not in self.env)

    def statement(self, indent, depth):
        d = self.draw
        kind = d(st.sampled_from(["assign"] * 5 + [k for k in STATEMENTS if k not in self.exclude]))
        if depth >= 2 and kind.startswith(("if", "for", "while", "list_loop")):
            kind = "assign"
        getattr(self, "st_" + kind)(indent, depth)

    def st_assign(self, indent, depth):
        text, value = self.expr()
        self.assign(indent, self.fresh(), text, value)

    def st_copy(self, indent, depth):
        names = self.value_names(1)
        if not names:
            return self.st_assign(indent, depth)
        src = self.draw(st.sampled_from(names))
        text = self.draw(st.sampled_from(["np.array({0})", "{0}.copy()", "np.zeros_like({0})",
                                          "np.ones_like({0}) * 0.5", "np.array({0}, dtype=float)",
                                          "np.copy({0})"])).format(src)
        self.assign(indent, self.fresh("w"), text, np.array(self.evaluate(text), dtype=float))

    def st_alias(self, indent, depth):
        names = self.owned_arrays()
        if not names:
            return self.st_copy(indent, depth)
        src = self.draw(st.sampled_from(names))
        self.assign(indent, self.fresh("z"), src, self.vars[src], fresh=False, source=src)

    def st_view(self, indent, depth):
        names = self.value_names(1)
        if not names:
            return self.st_assign(indent, depth)
        src = self.draw(st.sampled_from(names))
        text = self.draw(st.sampled_from(["{0}[1:]", "{0}[::-1]", "{0}[0]", "{0}.T",
                                          "{0}[..., :1]"])).format(src)
        try:
            value = self.evaluate(text)
        except Exception:
            return self.st_assign(indent, depth)
        if "write_after_view" in self.exclude:
            self.owned.discard(self.group[src])
        self.assign(indent, self.fresh("s"), text, value, fresh=False, source=src)

    def _target(self):
        names = self.owned_arrays()
        if not names:
            return None
        name = self.draw(st.sampled_from(names))
        value = self.vars[name]
        options = ["0", "1:", ":-1", "::2", "-1", "..."]
        if value.ndim >= 2:
            options += [":, 0", "0, :", "1:, :", ":, 1:", "0, 0", "-1, -1"]
        for _ in range(4):
            index = self.draw(st.sampled_from(options))
            try:
                part = eval(f"v[{index}]", {}, {"v": value})
            except IndexError:
                continue
            return name, index, np.shape(part)
        return None

    def st_write(self, indent, depth):
        target = self._target()
        if target is None:
            return self.st_copy(indent, depth)
        name, index, shape = target
        op = self.draw(st.sampled_from(["=", "=", "+=", "-=", "*="]))
        self.emit(indent, f"{name}[{index}] {op} {self.expr_shaped(shape)}")

    def st_inplace(self, indent, depth):
        names = self.owned_arrays()
        if not names:
            return self.st_assign(indent, depth)
        name = self.draw(st.sampled_from(names))
        op = self.draw(st.sampled_from(["+=", "-=", "*="]))
        rhs = self.draw(st.sampled_from(["expr", "param"]))
        if rhs == "param":
            for p in self.params:
                try:
                    if np.broadcast_shapes(np.shape(self.vars[p]), self.vars[name].shape) \
                            == self.vars[name].shape:
                        self.emit(indent, f"{name} {op} {p}")
                        return
                except ValueError:
                    pass
        self.emit(indent, f"{name} {op} {self.expr_shaped(self.vars[name].shape)}")

    def body_update(self, indent, depth, counter=None):
        """1-2 statements that give existing locals new values of the same shapes."""
        d = self.draw
        for _ in range(d(st.integers(1, 2))):
            names = self.reassignable()
            choice = d(st.sampled_from(["update", "update", "write", "inplace", "nested"]))
            if choice in self.exclude:
                choice = "update"
            if choice == "write" and self.owned_arrays():
                self.st_write(indent, depth)
            elif choice == "inplace" and self.owned_arrays():
                self.st_inplace(indent, depth)
            elif choice == "nested" and depth < 1:
                self.statement(indent, depth + 1)
            elif names:
                name = d(st.sampled_from(names))
                shape = np.shape(self.vars[name])
                step = self.expr_shaped(shape, depth=1)
                k = counter if counter and d(st.booleans()) else "0.3"
                text = d(st.sampled_from(["{n} + {k} * np.sin({e})", "0.5 * {n} + {e}",
                                          "{n} * np.cos({e}) * 0.9", "np.tanh({n} + {e})"]))
                text = text.format(n=name, e=step, k=k)
                value = np.broadcast_to(self.evaluate(text), shape)
                value = np.array(value) if shape else float(value)
                self.emit(indent, f"{name} = {text}")
                self.vars[name] = value
                self.group[name] = next(self.ngroup)
                if shape:
                    self.owned.add(self.group[name])
            else:
                self.st_assign(indent, depth)

    def _scalar_condition(self):
        text, value = self.expr(1)
        if np.ndim(value):
            text = f"np.sum({text})"
        return f"{text} > {self.draw(st.sampled_from(['0.0', '0.5', '-0.25']))}"

    def _branches(self, indent, depth, test):
        before = dict(self.vars)
        self.emit(indent, f"if {test}:")
        self.body_update(indent + 1, depth + 1)
        self._forget_new(before)
        if self.draw(st.booleans()):
            self.emit(indent, "else:")
            self.body_update(indent + 1, depth + 1)
        self._forget_new(before)

    def _forget_new(self, before):
        """Names first bound inside a block may be unbound after it: drop them."""
        for name in list(self.vars):
            if name not in before:
                del self.vars[name]

    def st_if_value(self, indent, depth):
        self._branches(indent, depth, self._scalar_condition())

    def st_if_int(self, indent, depth):
        if self.ints:
            name = self.draw(st.sampled_from(sorted(self.ints)))
            test = f"{name} {self.draw(st.sampled_from(['> 1', '% 2 == 0', '== 2']))}"
        else:
            test = self.draw(st.sampled_from(["x.ndim == 1", "len(np.shape(x)) > 0", "True"]))
        self._branches(indent, depth, test)

    def st_for_range(self, indent, depth):
        d = self.draw
        i = f"i{self.nvar}"
        self.nvar += 1
        arrays = self.value_names(1)
        bounds = ["2", "3"] + ([f"{d(st.sampled_from(arrays))}.shape[0]"] if arrays else []) \
            + (["N0"] if "N0" in self.ints else [])
        bound = d(st.sampled_from(bounds))
        n = int(self.evaluate(bound))
        before = dict(self.vars)
        self.emit(indent, f"for {i} in range({bound}):")
        self.ints[i] = max(n - 1, 0)
        indexable = [a for a in arrays if self.vars[a].shape[0] >= n]
        if indexable and d(st.booleans()):
            src = d(st.sampled_from(indexable))
            item = self.vars[src][0]          # a view of src's row when src is 2-D
            self.assign(indent + 1, self.fresh("e"), f"{src}[{i}]",
                        item if np.ndim(item) else float(item))
        self.body_update(indent + 1, depth + 1, counter=f"{i}")
        del self.ints[i]
        self._forget_new(before)

    def st_for_rows(self, indent, depth):
        arrays = self.value_names(1)
        names = [n for n in self.reassignable() if np.ndim(self.vars[n]) == 0]
        if not arrays:
            return self.st_assign(indent, depth)
        src = self.draw(st.sampled_from(arrays))
        if not names:
            acc = self.fresh("acc")
            self.assign(indent, acc, "0.0", 0.0)
        else:
            acc = self.draw(st.sampled_from(names))
        row = f"row{self.nvar}"
        self.emit(indent, f"for {row} in {src}:")
        self.emit(indent + 1, f"{acc} = {acc} + np.sum(np.sin({row}) * {row})")

    def st_while_int(self, indent, depth):
        k = self.fresh("k")
        self.emit(indent, f"{k} = 0")
        before = dict(self.vars)
        self.emit(indent, f"while {k} < {self.draw(st.sampled_from(['2', '3']))}:")
        self.ints[k] = 1
        self.body_update(indent + 1, depth + 1, counter=k)
        self.emit(indent + 1, f"{k} += 1")
        del self.ints[k]
        self._forget_new(before)

    def st_while_value(self, indent, depth):
        names = self.reassignable()
        if not names:
            return self.st_assign(indent, depth)
        name = self.draw(st.sampled_from(names))
        k = self.fresh("k")
        self.emit(indent, f"{k} = 0")
        test = f"np.sum({name})" if np.ndim(self.vars[name]) else name
        self.emit(indent, f"while {test} < {self.draw(st.sampled_from(['1.0', '2.5']))} "
                          f"and {k} < 4:")
        self.emit(indent + 1, f"{name} = {name} + 0.5 * np.cos({name}) + 0.25")
        self.emit(indent + 1, f"{k} = {k} + 1")

    def _items(self, count):
        """`count` expressions of one shape."""
        first, value = self.expr(1)
        shape = np.shape(value)
        items = [first]
        for _ in range(count - 1):
            items.append(self.expr_exact(shape, first))
        return items, np.full(shape, 0.5) if shape else 0.5

    def _read_list(self, indent, lst, n, item):
        d = self.draw
        shape = np.shape(item)
        reads = ["np.stack({0})", "np.array({0})", "{0}[0] * {0}[-1]",
                 "np.sum(np.stack({0}), axis=0)", "{0}[1] - {0}[0]"]
        if "sum_of_list" not in self.exclude:
            reads.append("sum({0})")
        read = d(st.sampled_from(reads))
        text = read.format(lst)
        value = np.zeros((n,) + shape) + 0.5 if read in ("np.stack({0})", "np.array({0})") \
            else (np.full(shape, 0.5) if shape else 0.5)
        name = self.fresh()
        self.assign(indent, name, text, value)
        if read in ("np.stack({0})", "np.array({0})") and d(st.booleans()):
            self.st_inplace(indent, 1)       # the issue's `v = np.stack(lst); v -= x`

    def st_list(self, indent, depth):
        d = self.draw
        items, item = self._items(d(st.integers(2, 3)))
        lst = self.fresh("lst")
        self.emit(indent, f"{lst} = [{', '.join(items)}]")
        n = len(items)
        if d(st.booleans()):
            self.emit(indent, f"{lst}.append({self.expr_exact(np.shape(item), items[0])})")
            n += 1
        if d(st.booleans()):
            self.emit(indent, f"{lst}[0] = {lst}[0] * 0.5")
        self._read_list(indent, lst, n, item)

    def st_list_loop(self, indent, depth):
        d = self.draw
        items, item = self._items(1)
        lst = self.fresh("lst")
        i = f"i{self.nvar}"
        n = d(st.integers(2, 3))
        self.emit(indent, f"{lst} = []")
        self.emit(indent, f"for {i} in range({n}):")
        self.emit(indent + 1, f"{lst}.append(np.sin({items[0]}) * {i} + {items[0]})")
        self._read_list(indent, lst, n, item)

    def st_tuple(self, indent, depth):
        items, item = self._items(2)
        t = self.fresh("t")
        self.emit(indent, f"{t} = ({items[0]}, {items[1]})")
        if self.draw(st.booleans()):
            a, b = self.fresh(), self.fresh()
            self.emit(indent, f"{a}, {b} = {t}")
            for n in (a, b):
                self.vars[n] = np.array(item) if np.shape(item) else 0.5
                self.group[n] = next(self.ngroup)
        else:
            self.assign(indent, self.fresh(), f"{t}[0] * {t}[1] + {t}[1]", item)

    def st_dict(self, indent, depth):
        items, item = self._items(2)
        dn = self.fresh("d")
        self.emit(indent, f'{dn} = {{"a": {items[0]}, "b": {items[1]}}}')
        if "dict_new_key" not in self.exclude and self.draw(st.booleans()):
            self.emit(indent, f'{dn}["c"] = {dn}["a"] * {dn}["b"]')
            read = f'{dn}["c"] + {dn}["b"]'
        else:
            read = self.draw(st.sampled_from([f'{dn}["a"] - 2.0 * {dn}["b"]',
                                              f'{dn}.get("a") * {dn}["b"]']))
        self.assign(indent, self.fresh(), read, item)

    def st_helper_tuple(self, indent, depth):
        name, _, _ = self.helper(4)                 # split(a, scale=1.5) -> (u, cos u)
        text, value = self.expr(1)
        a, b = self.fresh(), self.fresh()
        self.emit(indent, f"{a}, {b} = {name}({text})")
        for n in (a, b):
            self.vars[n] = np.array(value) if np.shape(value) else 0.5
            self.group[n] = next(self.ngroup)
            if np.shape(value):
                self.owned.add(self.group[n])

    def st_print(self, indent, depth):
        name = self.draw(st.sampled_from(self.value_names()))
        self.emit(indent, f'print("{name}", np.sum({name}))')

    def st_assert(self, indent, depth):
        name = self.draw(st.sampled_from(self.value_names()))
        form = self.draw(st.sampled_from(["shape", "ndim", "finite"]))
        if form == "shape":
            self.emit(indent, f"assert {name}.shape == {np.shape(self.vars[name])!r}, "
                              f"\"{name} has the wrong shape\"" if name not in self.params else
                      f"assert np.ndim({name}) == {np.ndim(self.vars[name])}")
        elif form == "ndim":
            self.emit(indent, f"assert np.ndim({name}) == {np.ndim(self.vars[name])}")
        else:
            self.emit(indent, f"assert np.all(np.abs({name}) < 1e30)")

    # -- the whole program -----------------------------------------------------------------
    def finish(self):
        d = self.draw
        locals_ = [n for n in self.vars if n not in self.env]
        last = d(st.sampled_from(locals_))
        if self.returns == "scalar":
            other = d(st.sampled_from(locals_))
            ret = d(st.sampled_from(["np.sum({0})", "np.sum({0} * {1})", "np.mean({0}) + np.sum({1})",
                                     "np.sum(np.sin({0})) + 0.5 * np.sum({1} * {1})"]))
            ret = ret.format(last, other)
        else:
            ret = d(st.sampled_from(["{0}", "{0} + 0.0 * np.sum(x)", "{0} * 1.5"])).format(last)
        self.emit(1, f"return {ret}")
        helpers = ["def {0}({1}):\n".format(h[0], h[1]) + "".join(f"    {b}\n" for b in h[2])
                   for h in self.helpers]
        body = "".join("    " * i + t + "\n" for i, t in self.lines)
        head = "import numpy as np\n\n" + "".join(g + "\n" for g in self.globals_text)
        return head + "\n\n" + "\n\n".join(helpers + [f"def f({', '.join(self.params)}):\n" + body])


_SECOND = {(): [(), (3,)], (3,): [(), (3,), (2, 3), (3, 1)], (4,): [(), (4,)],
           (2, 3): [(), (3,), (2, 3), (1, 3)], (3, 1): [(), (3,), (3, 1), (1, 3)],
           (1, 3): [(), (3,), (3, 1)], (3, 2): [(), (2,), (3, 2)]}


@st.composite
def programs(draw, returns="scalar", max_statements=7, exclude=()):
    """A random Program; `returns` "scalar" (for grad / hessian) or "array" (jvp / vmap / jit);
    `exclude` names kinds of statement (STATEMENTS) not to draw."""
    shape = draw(st.sampled_from(ARG_SHAPES))
    shapes = [shape]
    if draw(st.booleans()):
        shapes.append(draw(st.sampled_from(_SECOND[shape])))
    gen = _Gen(draw, tuple(shapes), returns, exclude)
    for _ in range(draw(st.integers(1, max_statements))):
        gen.statement(1, 0)
    return Program(gen.finish(), tuple(shapes), returns)
