"""THE rule table: one entry per primitive, every transformation's rule for it in one place.

Read an entry as math.  ``vjp`` maps each differentiable parameter to the cotangent that
flows to it from the result's cotangent ``g`` (``ans`` is the result).  Other fields
(``jvp``, ``batch``, ``cython``) are the forward-mode, batching and lowering rules of the
same primitive.  See ``primitives.py`` for the template language.  Operators are keyed by
their ``operator``-module names (``mul`` is ``a * b``); functions by their dotted name.

To support a new NumPy function, add one ``defprim`` here.
"""
from .primitives import defprim

UB = "_ax.unbroadcast"

# ---- arithmetic operators (broadcasting: cotangents are summed back to operand shapes) -------
defprim("add", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(g, y)"}, aliases=["np.add"])
defprim("sub", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(-g, y)"}, aliases=["np.subtract"])
defprim("mul", "x, y", vjp={"x": f"{UB}(g * y, x)", "y": f"{UB}(g * x, y)"},
        aliases=["np.multiply"])
defprim("truediv", "x, y", vjp={"x": f"{UB}(g / y, x)", "y": f"{UB}(-g * ans / y, y)"},
        aliases=["np.divide", "np.true_divide"])
defprim("pow", "x, y", vjp={"x": f"{UB}(g * y * x ** (y - 1), x)",
                            "y": f"{UB}(g * ans * np.log(np.where(x > 0, x, 1.0)), y)"},
        aliases=["np.power"])
defprim("neg", "x", vjp={"x": "-g"}, aliases=["np.negative"])
defprim("pos", "x", vjp={"x": "g"}, aliases=["np.positive"])
defprim("floordiv", "x, y", nondiff=True, aliases=["np.floor_divide"])
defprim("mod", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(-g * np.floor_divide(x, y), y)"},
        aliases=["np.mod", "np.remainder"])
defprim("matmul", "x, y", vjp={"x": "_ax.matmul_vjp_a(g, x, y)", "y": "_ax.matmul_vjp_b(g, x, y)"},
        aliases=["np.matmul"])

# ---- comparisons and logic: no derivative ------------------------------------------------------
for _op, _np in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                 ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    defprim(_op, "x, y", nondiff=True, aliases=[f"np.{_np}"])
defprim("not_", "x", nondiff=True)
defprim("invert", "x", nondiff=True, aliases=["np.invert", "np.bitwise_not"])
defprim("and_", "x, y", nondiff=True, aliases=["np.bitwise_and"])
defprim("or_", "x, y", nondiff=True, aliases=["np.bitwise_or"])
defprim("xor", "x, y", nondiff=True, aliases=["np.bitwise_xor"])
defprim("np.logical_and", "x, y", nondiff=True)
defprim("np.logical_or", "x, y", nondiff=True)
defprim("np.logical_not", "x", nondiff=True)
defprim("np.isnan", "x", nondiff=True)
defprim("np.isfinite", "x", nondiff=True)
defprim("np.isinf", "x", nondiff=True)
defprim("np.sign", "x", nondiff=True, aliases=[])
defprim("np.floor", "x", nondiff=True)
defprim("np.ceil", "x", nondiff=True)
defprim("np.round", "x, decimals=0", nondiff=True, aliases=["np.around"])
defprim("np.argmax", "x, axis=None", nondiff=True)
defprim("np.argmin", "x, axis=None", nondiff=True)
defprim("np.any", "x, axis=None, keepdims=False", nondiff=True)
defprim("np.all", "x, axis=None, keepdims=False", nondiff=True)
defprim("np.shape", "x", nondiff=True)
defprim("np.ndim", "x", nondiff=True)
defprim("np.size", "x", nondiff=True)
defprim("np.result_type", "x", nondiff=True)
defprim("len", "x", nondiff=True)
defprim("int", "x", nondiff=True)
defprim("bool", "x", nondiff=True)
defprim("range", "x, y=None, z=None", nondiff=True)
defprim("np.arange", "x, y=None, z=None, dtype=None", nondiff=True)
defprim("np.zeros", "shape, dtype=None", nondiff=True)
defprim("np.ones", "shape, dtype=None", nondiff=True)
defprim("np.empty", "shape, dtype=None", nondiff=True)
defprim("np.eye", "n, m=None, k=0, dtype=None", nondiff=True)
defprim("np.zeros_like", "x, dtype=None", nondiff=True)
defprim("np.ones_like", "x, dtype=None", nondiff=True)
defprim("np.empty_like", "x, dtype=None", nondiff=True)
defprim("np.full", "shape, fill_value, dtype=None", nondiff=True)
defprim("np.linspace", "start, stop, num=50", nondiff=True)

# ---- elementwise functions ---------------------------------------------------------------------
defprim("np.exp", vjp={"x": "g * ans"}, aliases=["math.exp"])
defprim("np.expm1", vjp={"x": "g * (ans + 1.0)"}, aliases=["math.expm1"])
defprim("np.log", vjp={"x": "g / x"}, aliases=["math.log"])
defprim("np.log1p", vjp={"x": "g / (x + 1.0)"}, aliases=["math.log1p"])
defprim("np.log2", vjp={"x": "g / (x * 0.6931471805599453)"}, aliases=["math.log2"])
defprim("np.log10", vjp={"x": "g / (x * 2.302585092994046)"}, aliases=["math.log10"])
defprim("np.sqrt", vjp={"x": "g * 0.5 / ans"}, aliases=["math.sqrt"])
defprim("np.square", vjp={"x": "g * 2.0 * x"})
defprim("np.abs", vjp={"x": "g * np.sign(x)"}, aliases=["np.absolute", "abs", "math.fabs"])
defprim("np.sin", vjp={"x": "g * np.cos(x)"}, aliases=["math.sin"])
defprim("np.cos", vjp={"x": "-g * np.sin(x)"}, aliases=["math.cos"])
defprim("np.tan", vjp={"x": "g * (1.0 + ans * ans)"}, aliases=["math.tan"])
defprim("np.arcsin", vjp={"x": "g / np.sqrt(1.0 - x * x)"}, aliases=["math.asin", "np.asin"])
defprim("np.arccos", vjp={"x": "-g / np.sqrt(1.0 - x * x)"}, aliases=["math.acos", "np.acos"])
defprim("np.arctan", vjp={"x": "g / (1.0 + x * x)"}, aliases=["math.atan", "np.atan"])
defprim("np.sinh", vjp={"x": "g * np.cosh(x)"}, aliases=["math.sinh"])
defprim("np.cosh", vjp={"x": "g * np.sinh(x)"}, aliases=["math.cosh"])
defprim("np.tanh", vjp={"x": "g * (1.0 - ans * ans)"}, aliases=["math.tanh"])
defprim("np.arctan2", "x, y", vjp={"x": f"{UB}(g * y / (x * x + y * y), x)",
                                   "y": f"{UB}(-g * x / (x * x + y * y), y)"},
        aliases=["math.atan2", "np.atan2"])
defprim("np.maximum", "x, y", vjp={"x": f"{UB}(g * (x >= y), x)", "y": f"{UB}(g * (x < y), y)"})
defprim("np.minimum", "x, y", vjp={"x": f"{UB}(g * (x <= y), x)", "y": f"{UB}(g * (x > y), y)"})
defprim("np.where", "c, x, y", vjp={"x": f"{UB}(np.where(c, g, 0.0), x)",
                                    "y": f"{UB}(np.where(c, 0.0, g), y)"})
defprim("np.clip", "x, a_min=None, a_max=None",
        vjp={"x": "g * np.logical_and(x >= a_min, x <= a_max)"})
defprim("float", "x", vjp={"x": "g"})
defprim("np.float64", "x", vjp={"x": "g"})
defprim("np.float32", "x", vjp={"x": "_ax.cast_like(g, np.float32(x))"})
defprim("np.astype", "x, dtype", vjp={"x": "_ax.cast_like(g, x)"})
defprim("np.asarray", "x, dtype=None", vjp={"x": "_ax.array_vjp(g, x)"})
defprim("np.array", "x, dtype=None", vjp={"x": "_ax.array_vjp(g, x)"})
defprim("np.copy", vjp={"x": "g"})

# ---- reductions --------------------------------------------------------------------------------
RED = "x, axis=None, keepdims=False"
defprim("np.sum", RED, vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims)"})
defprim("np.mean", RED, vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims) / _ax.reduced_count(x, axis)"})
defprim("np.prod", RED, vjp={"x": "_ax.expand_reduced(g * ans, x, axis, keepdims) / x"})
defprim("np.max", RED, vjp={"x": "_ax.max_vjp(g, ans, x, axis, keepdims)"}, aliases=["np.amax"])
defprim("np.min", RED, vjp={"x": "_ax.max_vjp(g, ans, x, axis, keepdims)"}, aliases=["np.amin"])
defprim("np.var", "x, axis=None, keepdims=False, ddof=0",
        vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims) * 2.0 * (x - np.mean(x, axis=axis, keepdims=True)) / (_ax.reduced_count(x, axis) - ddof)"})
defprim("np.std", "x, axis=None, keepdims=False, ddof=0",
        vjp={"x": "_ax.expand_reduced(g / ans, x, axis, keepdims) * (x - np.mean(x, axis=axis, keepdims=True)) / (_ax.reduced_count(x, axis) - ddof)"})
defprim("np.cumsum", "x, axis=None", vjp={"x": "_ax.cumsum_vjp(g, axis, x)"})

# ---- products ----------------------------------------------------------------------------------
defprim("np.dot", "x, y", vjp={"x": "_ax.matmul_vjp_a(g, x, y)", "y": "_ax.matmul_vjp_b(g, x, y)"})
defprim("np.outer", "x, y", vjp={"x": "np.dot(g, np.ravel(y))", "y": "np.dot(np.ravel(x), g)"})
defprim("np.einsum", "subscripts, *operands", vjp={"operands": "_ax.einsum_vjp(g, subscripts, operands, i)"})
defprim("np.linalg.solve", "a, b", vjp={"a": "_ax.solve_vjp_a(g, ans, a)",
                                        "b": "np.linalg.solve(np.swapaxes(a, -1, -2), g)"})
defprim("np.linalg.inv", "a", vjp={"a": "-np.matmul(np.matmul(np.swapaxes(ans, -1, -2), g), np.swapaxes(ans, -1, -2))"})

# ---- shapes ------------------------------------------------------------------------------------
defprim("np.transpose", "x, axes=None", vjp={"x": "np.transpose(g, _ax.transpose_axes(axes, np.ndim(x)))"})
defprim("np.swapaxes", "x, axis1, axis2", vjp={"x": "np.swapaxes(g, axis1, axis2)"})
defprim("np.reshape", "x, shape", vjp={"x": "_ax.reshape_like(g, x)"})
defprim("np.ravel", vjp={"x": "_ax.reshape_like(g, x)"})
defprim("np.squeeze", "x, axis=None", vjp={"x": "_ax.reshape_like(g, x)"})
defprim("np.expand_dims", "x, axis", vjp={"x": "_ax.reshape_like(g, x)"})
defprim("np.broadcast_to", "x, shape", vjp={"x": f"{UB}(g, x)"})
defprim("np.flip", "x, axis=None", vjp={"x": "np.flip(g, axis)"})
defprim("np.concatenate", "arrays, axis=0", vjp={"arrays": "_ax.split_like(g, arrays, axis)"})
defprim("np.stack", "arrays, axis=0", vjp={"arrays": "_ax.unstack(g, len(arrays), axis)"})

# ---- Python containers and indexing (core forms, see normalize.py) ------------------------------
defprim("getitem", "x, index", vjp={"x": "_ax.getitem_vjp(g, x, index)"})
defprim("tuple", "*items", vjp={"items": "_ax.seq_item(g, i)"})
defprim("list", "*items", vjp={"items": "_ax.seq_item(g, i)"})
defprim("copy", "x", vjp={"x": "g"})          # y = x

# ---- astjax's runtime helpers, so generated code transforms again -------------------------------
defprim("_ax.unbroadcast", "v, x", vjp={"v": "_ax.broadcast_like(g, v)"})
defprim("_ax.broadcast_like", "v, x", vjp={"v": f"{UB}(g, v)"})
defprim("_ax.expand_reduced", "v, x, axis=None, keepdims=False",
        vjp={"v": "np.sum(g, axis=axis, keepdims=keepdims)"})
defprim("_ax.reshape_like", "v, x", vjp={"v": "_ax.reshape_like(g, v)"})
defprim("_ax.cast_like", "v, x", vjp={"v": "_ax.cast_like(g, v)"})
defprim("_ax.array_vjp", "v, x", vjp={"v": "np.array(g)"})
defprim("_ax.reduced_count", "x, axis=None", nondiff=True)
defprim("_ax.transpose_axes", "axes, ndim", nondiff=True)
defprim("_ax.copy_value", "x", vjp={"x": "g"})
