"""THE rule table: one entry per primitive, every transformation's rule for it in one place.

Read an entry as math.  ``vjp`` maps each differentiable parameter to the cotangent that
flows to it from the result's cotangent ``g`` (``ans`` is the result).  Other fields
(``jvp``, ``batch``, ``cython``) are the forward-mode, batching and lowering rules of the
same primitive.  See ``primitives.py`` for the template language.  Operators are keyed by
their ``operator``-module names (``mul`` is ``a * b``); functions by their dotted name.
``batch`` names a vmap rule of ``batching_rules.py`` (``"reduce"``: shift the axis past the
batch axis); an entry without one is elementwise, which is what most need.

To support a new NumPy function, add one ``defprim`` here.
"""
from astjax.rules.registry import defprim

UB = "_ax.unbroadcast"

# ---- arithmetic operators (broadcasting: cotangents are summed back to operand shapes) -------
defprim("add", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(g, y)"},
        jvp="t_x + t_y", aliases=["np.add"],
        cython="x + y")
defprim("sub", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(-g, y)"},
        jvp="t_x - t_y", aliases=["np.subtract"],
        cython="x - y")
defprim("mul", "x, y", vjp={"x": f"{UB}(g * y, x)", "y": f"{UB}(g * x, y)"},
        jvp="t_x * y + x * t_y",
        aliases=["np.multiply"], cython="x * y")
defprim("truediv", "x, y", vjp={"x": f"{UB}(g / y, x)", "y": f"{UB}(-g * ans / y, y)"},
        jvp="(t_x - ans * t_y) / y",
        aliases=["np.divide", "np.true_divide"], cython="astjax_true_divide(x, y)")
defprim("pow", "x, y", vjp={"x": f"{UB}(g * y * x ** (y - 1), x)",
                            "y": f"{UB}(g * ans * np.log(np.where(x > 0, x, 1.0)), y)"},
        jvp="t_x * y * x ** (y - 1) + t_y * ans * np.log(np.where(x > 0, x, 1.0))",
        aliases=["np.power"], cython="astjax_power(x, y)")
defprim("neg", "x", vjp={"x": "-g"}, jvp="-t_x", aliases=["np.negative"], cython="-x")
defprim("pos", "x", vjp={"x": "g"}, jvp="t_x", aliases=["np.positive"], cython="x")
defprim("floordiv", "x, y", nondiff=True, aliases=["np.floor_divide"],
        cython="astjax_floor_divide(x, y)")
defprim("mod", "x, y", vjp={"x": f"{UB}(g, x)", "y": f"{UB}(-g * np.floor_divide(x, y), y)"},
        jvp="t_x - t_y * np.floor_divide(x, y)",
        aliases=["np.mod", "np.remainder"], cython="astjax_remainder(x, y)")
defprim("matmul", "x, y", batch="matmul", vjp={"x": "_ax.matmul_vjp_a(g, x, y)", "y": "_ax.matmul_vjp_b(g, x, y)"},
        jvp="np.matmul(t_x, y) + np.matmul(x, t_y)",
        aliases=["np.matmul"], cython="numpy")

# ---- comparisons and logic: no derivative ------------------------------------------------------
for _op, _np in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                 ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    defprim(_op, "x, y", nondiff=True, aliases=[f"np.{_np}"],
            cython={"lt": "x < y", "le": "x <= y", "gt": "x > y", "ge": "x >= y",
                    "eq": "x == y", "ne": "x != y"}[_op])
defprim("not_", "x", batch="logical_not", nondiff=True, cython="not x")
defprim("invert", "x", nondiff=True, aliases=["np.invert", "np.bitwise_not"],
        cython="astjax_invert(x)")
defprim("and_", "x, y", nondiff=True, aliases=["np.bitwise_and"], cython="x & y")
defprim("or_", "x, y", nondiff=True, aliases=["np.bitwise_or"], cython="x | y")
defprim("xor", "x, y", nondiff=True, aliases=["np.bitwise_xor"], cython="x ^ y")
defprim("np.logical_and", "x, y", nondiff=True, cython="x and y")
defprim("np.logical_or", "x, y", nondiff=True, cython="x or y")
defprim("np.logical_not", "x", nondiff=True, cython="not x")
defprim("np.isnan", "x", nondiff=True, cython="isnan(x)")
defprim("np.isfinite", "x", nondiff=True, cython="isfinite(x)")
defprim("np.isinf", "x", nondiff=True, cython="isinf(x)")
defprim("np.sign", "x", nondiff=True, aliases=[], cython="astjax_sign(x)")
defprim("np.floor", "x", nondiff=True, cython="floor(x)")
defprim("np.ceil", "x", nondiff=True, cython="ceil(x)")
defprim("np.round", "x, decimals=0", nondiff=True, aliases=["np.around"], cython="rint(x)")
defprim("np.argmax", "x, axis=None", batch="argreduce", nondiff=True)
defprim("np.argmin", "x, axis=None", batch="argreduce", nondiff=True)
defprim("np.any", "x, axis=None, keepdims=False", batch="reduce", nondiff=True)
defprim("np.all", "x, axis=None, keepdims=False", batch="reduce", nondiff=True)
defprim("np.shape", "x", batch="shape", nondiff=True)
defprim("np.ndim", "x", batch="ndim", nondiff=True)
defprim("np.size", "x", batch="size", nondiff=True)
defprim("np.result_type", "x", batch="meta", nondiff=True)
defprim("len", "x", batch="len", nondiff=True)
defprim("int", "x", batch="convert", nondiff=True, cython="x")
defprim("bool", "x", batch="convert", nondiff=True, cython="x != 0")
defprim("range", "x, y=None, z=None", batch="unbatched", nondiff=True)
defprim("slice", "x, y=None, z=None", batch="unbatched", nondiff=True)   # index values in generated code
# np.arange(start, stop, step) is start + i * step: differentiable in start and step (its
# length, and so stop, only moves in jumps); np.arange(stop) is 0, 1, ... whatever stop is
defprim("np.arange", "x, y=None, z=None, dtype=None", batch="unbatched", cython="numpy",
        vjp={"x": "np.sum(g * _ax.arange_slope(ans, y, 'start'))",
             "z": "np.sum(g * _ax.arange_slope(ans, y, 'step'))"},
        jvp="t_x * _ax.arange_slope(ans, y, 'start') + t_z * _ax.arange_slope(ans, y, 'step')")
defprim("np.zeros", "shape, dtype=None", batch="unbatched", nondiff=True, cython="numpy")
defprim("np.ones", "shape, dtype=None", batch="unbatched", nondiff=True, cython="numpy")
defprim("np.empty", "shape, dtype=None", batch="unbatched", nondiff=True, cython="numpy")
defprim("np.eye", "n, m=None, k=0, dtype=None", batch="unbatched", nondiff=True, cython="numpy")
defprim("np.zeros_like", "x, dtype=None", nondiff=True, cython="numpy")
defprim("np.ones_like", "x, dtype=None", nondiff=True, cython="numpy")
defprim("np.empty_like", "x, dtype=None", nondiff=True, cython="numpy")
defprim("np.full", "shape, fill_value, dtype=None", batch="full", cython="numpy",
        vjp={"fill_value": f"{UB}(_ax.float_part(g, ans), fill_value)"},
        jvp="_ax.broadcast_like(_ax.float_part(t_fill_value, ans), ans)")
# start + (stop - start) * w with w = 0 .. 1 (num points); start and stop may be arrays
defprim("np.linspace", "start, stop, num=50, endpoint=True, dtype=None", batch="unbatched",
        vjp={"start": f"{UB}(np.sum(_ax.float_part(g, ans) * (1.0 - _ax.linspace_weights(g, num, endpoint)), axis=0), start)",
             "stop": f"{UB}(np.sum(_ax.float_part(g, ans) * _ax.linspace_weights(g, num, endpoint), axis=0), stop)"},
        jvp="_ax.float_part(t_start * (1.0 - _ax.linspace_weights(ans, num, endpoint)) + t_stop * _ax.linspace_weights(ans, num, endpoint), ans)",
        cython="numpy")

# ---- elementwise functions ---------------------------------------------------------------------
defprim("np.exp", vjp={"x": "g * ans"}, jvp="t_x * ans", aliases=["math.exp"], cython="exp(x)")
defprim("np.expm1", vjp={"x": "g * (ans + 1.0)"},
        jvp="t_x * (ans + 1.0)", aliases=["math.expm1"], cython="expm1(x)")
defprim("np.log", vjp={"x": "g / x"}, jvp="t_x / x", aliases=["math.log"], cython="log(x)")
defprim("np.log1p", vjp={"x": "g / (x + 1.0)"},
        jvp="t_x / (x + 1.0)", aliases=["math.log1p"], cython="log1p(x)")
defprim("np.log2", vjp={"x": "g / (x * 0.6931471805599453)"},
        jvp="t_x / (x * 0.6931471805599453)", aliases=["math.log2"],
        cython="log2(x)")
defprim("np.log10", vjp={"x": "g / (x * 2.302585092994046)"},
        jvp="t_x / (x * 2.302585092994046)", aliases=["math.log10"],
        cython="log10(x)")
defprim("np.sqrt", vjp={"x": "g * 0.5 / ans"},
        jvp="t_x * 0.5 / ans", aliases=["math.sqrt"], cython="sqrt(x)")
defprim("np.square", vjp={"x": "g * 2.0 * x"}, jvp="t_x * 2.0 * x", cython="x * x")
defprim("np.abs", vjp={"x": "g * _ax.abs_slope(x)"},      # sign(x); conj(x)/|x| if complex
        jvp="_ax.real_like(t_x * _ax.abs_slope(x), ans)", aliases=["np.absolute", "abs", "math.fabs"],
        cython="astjax_absolute(x)")
defprim("np.sin", vjp={"x": "g * np.cos(x)"},
        jvp="t_x * np.cos(x)", aliases=["math.sin"], cython="sin(x)")
defprim("np.cos", vjp={"x": "-g * np.sin(x)"},
        jvp="-t_x * np.sin(x)", aliases=["math.cos"], cython="cos(x)")
defprim("np.tan", vjp={"x": "g * (1.0 + ans * ans)"},
        jvp="t_x * (1.0 + ans * ans)", aliases=["math.tan"], cython="tan(x)")
defprim("np.arcsin", vjp={"x": "g / np.sqrt(1.0 - x * x)"},
        jvp="t_x / np.sqrt(1.0 - x * x)", aliases=["math.asin", "np.asin"],
        cython="asin(x)")
defprim("np.arccos", vjp={"x": "-g / np.sqrt(1.0 - x * x)"},
        jvp="-t_x / np.sqrt(1.0 - x * x)", aliases=["math.acos", "np.acos"],
        cython="acos(x)")
defprim("np.arctan", vjp={"x": "g / (1.0 + x * x)"},
        jvp="t_x / (1.0 + x * x)", aliases=["math.atan", "np.atan"],
        cython="atan(x)")
defprim("np.sinh", vjp={"x": "g * np.cosh(x)"},
        jvp="t_x * np.cosh(x)", aliases=["math.sinh"], cython="sinh(x)")
defprim("np.cosh", vjp={"x": "g * np.sinh(x)"},
        jvp="t_x * np.sinh(x)", aliases=["math.cosh"], cython="cosh(x)")
defprim("np.tanh", vjp={"x": "g * (1.0 - ans * ans)"},
        jvp="t_x * (1.0 - ans * ans)", aliases=["math.tanh"], cython="tanh(x)")
defprim("np.arctan2", "x, y", vjp={"x": f"{UB}(g * y / (x * x + y * y), x)",
                                   "y": f"{UB}(-g * x / (x * x + y * y), y)"},
        jvp="(t_x * y - x * t_y) / (x * x + y * y)",
        aliases=["math.atan2", "np.atan2"], cython="atan2(x, y)")
defprim("np.maximum", "x, y", vjp={"x": f"{UB}(g * (x >= y), x)", "y": f"{UB}(g * (x < y), y)"},
        jvp="np.where(x >= y, t_x, t_y)",
        cython="astjax_maximum(x, y)")
defprim("np.minimum", "x, y", vjp={"x": f"{UB}(g * (x <= y), x)", "y": f"{UB}(g * (x > y), y)"},
        jvp="np.where(x <= y, t_x, t_y)",
        cython="astjax_minimum(x, y)")
defprim("np.where", "c, x, y", vjp={"x": f"{UB}(np.where(c, g, 0.0), x)",
                                    "y": f"{UB}(np.where(c, 0.0, g), y)"},
        jvp="np.where(c, t_x, t_y)", cython="x if c else y")
# np.clip is np.minimum(np.maximum(x, a_min), a_max): each element comes from one operand
defprim("np.clip", "x, a_min=None, a_max=None",
        vjp={"x": f"{UB}(g * _ax.clip_from(x, a_min, a_max, 0), x)",
             "a_min": f"{UB}(g * _ax.clip_from(x, a_min, a_max, 1), a_min)",
             "a_max": f"{UB}(g * _ax.clip_from(x, a_min, a_max, 2), a_max)"},
        jvp="t_x * _ax.clip_from(x, a_min, a_max, 0) + t_a_min * _ax.clip_from(x, a_min, a_max, 1) + t_a_max * _ax.clip_from(x, a_min, a_max, 2)",
                cython="astjax_minimum(astjax_maximum(x, a_min), a_max)")
defprim("float", "x", batch="convert", vjp={"x": "g"}, jvp="float(t_x)", cython="x")
defprim("np.float64", "x", vjp={"x": "g"}, jvp="np.float64(t_x)", cython="x")
defprim("np.float32", "x", vjp={"x": "_ax.cast_like(g, np.float32(x))"},
        jvp="np.float32(t_x)", cython="x")
# a cast to an integer or bool dtype is piecewise constant: float_part zeroes its derivative
defprim("np.astype", "x, dtype", vjp={"x": "_ax.cast_like(_ax.float_part(g, ans), x)"},
        jvp="_ax.float_part(_ax.cast_like(t_x, ans), ans)", cython="x")
defprim("np.asarray", "x, dtype=None", batch="array", vjp={"x": "_ax.array_vjp(_ax.float_part(g, ans), x)"},
        jvp="_ax.float_part(_ax.cast_like(np.asarray(t_x), ans), ans)", cython="numpy")
# np.array copies (so does its tangent: a write into the copy must not reach the caller's
# tangent); np.asarray returns its operand itself when it is already an array
defprim("np.array", "x, dtype=None", batch="array", vjp={"x": "_ax.array_vjp(_ax.float_part(g, ans), x)"},
        jvp="_ax.float_part(_ax.cast_like(np.array(t_x), ans), ans)", cython="numpy")
defprim("np.copy", vjp={"x": "g"}, jvp="np.copy(t_x)", cython="x")

# ---- functions that write into their first operand ------------------------------------------
# Normalization rewrites ``np.put(a, ind, v)`` as ``w = _ax.put_into(a, ind, v); a[...] = w``:
# an item write (reverse mode cuts the overwritten adjoint, forward mode and vmap follow the
# write) of the pure ``*_into`` form, whose rules are below.  Values repeat cyclically as in
# NumPy; the adjoint of the values sums over the positions each one was written to.
defprim("np.copyto", "dst, src, casting='same_kind', where=True", mutates="dst",
        update="_ax.copyto_into")
defprim("_ax.copyto_into", "dst, src, casting='same_kind', where=True", batch="copyto_into",
        vjp={"dst": "np.where(where, 0.0, g)", "src": f"{UB}(np.where(where, g, 0.0), src)"},
        jvp="_ax.copyto_into(t_dst, t_src, 'unsafe', where)")
defprim("np.fill_diagonal", "a, val, wrap=False", mutates="a", update="_ax.fill_diagonal_into")
defprim("_ax.fill_diagonal_into", "a, val, wrap=False",
        vjp={"a": "_ax.fill_diagonal_into(g, 0.0, wrap)",
             "val": "_ax.fill_diagonal_vjp_val(g, a, val, wrap)"},
        jvp="_ax.fill_diagonal_into(t_a, t_val, wrap)")
defprim("_ax.fill_diagonal_vjp_val", "g, a, val, wrap=False", vjp={"g": "_ax.fill_diagonal_into(_ax.zeros_like(a), g, wrap)"},
        jvp="_ax.fill_diagonal_vjp_val(t_g, a, val, wrap)")
defprim("np.put", "a, ind, v, mode='raise'", mutates="a", update="_ax.put_into")
defprim("_ax.put_into", "a, ind, v, mode='raise'",
        vjp={"a": "_ax.put_into(g, ind, 0.0, mode)", "v": "_ax.put_vjp_v(g, a, ind, v, mode)"},
        jvp="_ax.put_into(t_a, ind, t_v, mode)")
defprim("_ax.put_vjp_v", "g, a, ind, v, mode='raise'", vjp={"g": "_ax.put_into(_ax.zeros_like(a), ind, g, mode)"},
        jvp="_ax.put_vjp_v(t_g, a, ind, v, mode)")
defprim("np.putmask", "a, mask, values", mutates="a", update="_ax.putmask_into")
defprim("_ax.putmask_into", "a, mask, values",
        vjp={"a": "_ax.putmask_into(g, mask, 0.0)",
             "values": "_ax.putmask_vjp_values(g, a, mask, values)"},
        jvp="_ax.putmask_into(t_a, mask, t_values)")
defprim("_ax.putmask_vjp_values", "g, a, mask, values", vjp={"g": "_ax.putmask_into(_ax.zeros_like(a), mask, g)"},
        jvp="_ax.putmask_vjp_values(t_g, a, mask, values)")
defprim("np.place", "arr, mask, vals", mutates="arr", update="_ax.place_into")
defprim("_ax.place_into", "arr, mask, vals",
        vjp={"arr": "_ax.place_into(g, mask, 0.0)", "vals": "_ax.place_vjp_vals(g, arr, mask, vals)"},
        jvp="_ax.place_into(t_arr, mask, t_vals)")
defprim("_ax.place_vjp_vals", "g, arr, mask, vals", vjp={"g": "_ax.place_into(_ax.zeros_like(arr), mask, g)"},
        jvp="_ax.place_vjp_vals(t_g, arr, mask, vals)")

# ---- reductions --------------------------------------------------------------------------------
RED = "x, axis=None, keepdims=False"
defprim("np.sum", RED, batch="reduce", vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims)"},
        jvp="np.sum(t_x, axis=axis, keepdims=keepdims)",
        cython={"reduce": "acc + x", "init": "0"})
defprim("np.mean", RED, batch="reduce", vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims) / _ax.reduced_count(x, axis)"},
        jvp="np.mean(t_x, axis=axis, keepdims=keepdims)",
        cython={"reduce": "acc + x", "init": "0", "finish": "astjax_true_divide(acc, n)"})
# (products of the other elements, not ans / x: right where x has zeros)
defprim("np.prod", RED, batch="reduce", vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims) * _ax.prod_others(x, axis)"},
        jvp="np.sum(t_x * _ax.prod_others(x, axis), axis=axis, keepdims=keepdims)",
        cython={"reduce": "acc * x", "init": "1"})
defprim("np.max", RED, batch="reduce", vjp={"x": "_ax.max_vjp(g, ans, x, axis, keepdims)"},
        jvp="np.sum(t_x * _ax.max_vjp(1.0, ans, x, axis, keepdims), axis=axis, keepdims=keepdims)",
        aliases=["np.amax"],
        cython={"reduce": "astjax_maximum(acc, x)", "init": "lowest"})
defprim("np.min", RED, batch="reduce", vjp={"x": "_ax.max_vjp(g, ans, x, axis, keepdims)"},
        jvp="np.sum(t_x * _ax.max_vjp(1.0, ans, x, axis, keepdims), axis=axis, keepdims=keepdims)",
        aliases=["np.amin"],
        cython={"reduce": "astjax_minimum(acc, x)", "init": "highest"})
defprim("np.var", "x, axis=None, keepdims=False, ddof=0", batch="reduce",
        vjp={"x": "_ax.expand_reduced(g, x, axis, keepdims) * 2.0 * (x - np.mean(x, axis=axis, keepdims=True)) / (_ax.reduced_count(x, axis) - ddof)"},
        jvp="np.sum(t_x * 2.0 * (x - np.mean(x, axis=axis, keepdims=True)), axis=axis, keepdims=keepdims) / (_ax.reduced_count(x, axis) - ddof)")
defprim("np.std", "x, axis=None, keepdims=False, ddof=0", batch="reduce",
        vjp={"x": "_ax.expand_reduced(g / ans, x, axis, keepdims) * (x - np.mean(x, axis=axis, keepdims=True)) / (_ax.reduced_count(x, axis) - ddof)"},
        jvp="np.sum(t_x * (x - np.mean(x, axis=axis, keepdims=True)), axis=axis, keepdims=keepdims) / ((_ax.reduced_count(x, axis) - ddof) * ans)")
defprim("np.cumsum", "x, axis=None", batch="cumsum", vjp={"x": "_ax.cumsum_vjp(g, axis, x)"},
        jvp="np.cumsum(t_x, axis=axis)")

# ---- products ----------------------------------------------------------------------------------
defprim("np.dot", "x, y", batch="dot", vjp={"x": "_ax.matmul_vjp_a(g, x, y)", "y": "_ax.matmul_vjp_b(g, x, y)"},
        jvp="np.dot(t_x, y) + np.dot(x, t_y)",
        cython="numpy")
defprim("np.outer", "x, y", batch="outer", vjp={"x": "np.dot(g, np.ravel(y))", "y": "np.dot(np.ravel(x), g)"},
        jvp="np.outer(t_x, y) + np.outer(x, t_y)",
        cython="numpy")
defprim("np.einsum", "subscripts, *operands", batch="einsum", vjp={"operands": "_ax.einsum_vjp(g, subscripts, operands, i)"},
        jvp="_ax.einsum_jvp(subscripts, operands, t_operands)",
        cython="numpy")
defprim("np.linalg.solve", "a, b", batch="solve", vjp={"a": "_ax.solve_vjp_a(g, ans, a)",
                                        "b": "np.linalg.solve(np.swapaxes(a, -1, -2), g)"},
        jvp="np.linalg.solve(a, t_b - np.matmul(t_a, ans))",
                                                cython="numpy")
defprim("np.linalg.inv", "a", vjp={"a": "-np.matmul(np.matmul(np.swapaxes(ans, -1, -2), g), np.swapaxes(ans, -1, -2))"},
        jvp="-np.matmul(np.matmul(ans, t_a), ans)",
        cython="numpy")

# ---- shapes ------------------------------------------------------------------------------------
defprim("np.transpose", "x, axes=None", batch="transpose", vjp={"x": "np.transpose(g, _ax.transpose_axes(axes, np.ndim(x)))"},
        jvp="np.transpose(t_x, axes=axes)",
        cython="numpy")
# (a cotangent may be the 0.0 that stands for zero: broadcast_like gives it the result's shape)
defprim("np.swapaxes", "x, axis1, axis2", batch="axes", vjp={"x": "np.swapaxes(_ax.broadcast_like(g, ans), axis1, axis2)"},
        jvp="np.swapaxes(t_x, axis1, axis2)",
        cython="numpy")
defprim("np.moveaxis", "x, source, destination",
        vjp={"x": "np.moveaxis(_ax.broadcast_like(g, ans), destination, source)"},
        jvp="np.moveaxis(t_x, source, destination)", batch="axes")
defprim("np.reshape", "x, shape", batch="reshape", vjp={"x": "_ax.reshape_like(g, x)"},
        jvp="np.reshape(t_x, shape)", cython="numpy")
defprim("np.ravel", batch="ravel", vjp={"x": "_ax.reshape_like(g, x)"}, jvp="np.ravel(t_x)", cython="numpy")
defprim("np.squeeze", "x, axis=None", batch="squeeze", vjp={"x": "_ax.reshape_like(g, x)"},
        jvp="np.squeeze(t_x, axis=axis)", cython="numpy")
defprim("np.expand_dims", "x, axis", batch="expand_dims", vjp={"x": "_ax.reshape_like(g, x)"},
        jvp="np.expand_dims(t_x, axis)", cython="numpy")
defprim("np.broadcast_to", "x, shape", batch="broadcast_to", vjp={"x": f"{UB}(g, x)"},
        jvp="np.broadcast_to(t_x, shape)", cython="numpy")
defprim("np.flip", "x, axis=None", batch="axes", vjp={"x": "np.flip(g, axis)"},
        jvp="np.flip(t_x, axis=axis)", cython="numpy")
defprim("np.concatenate", "arrays, axis=0", batch="join", vjp={"arrays": "_ax.split_like(g, arrays, axis)"},
        jvp="np.concatenate(t_arrays, axis=axis)",
        cython="numpy")
defprim("np.stack", "arrays, axis=0", batch="join", vjp={"arrays": "_ax.unstack(g, len(arrays), axis)"},
        jvp="np.stack(t_arrays, axis=axis)",
        cython="numpy")

# ---- Python containers and indexing (core forms, see normalize.py) ------------------------------
defprim("getitem", "x, index", batch="control", vjp={"x": "_ax.getitem_vjp(g, x, index)"}, jvp="t_x[index]")
defprim("tuple", "*items", batch="control", vjp={"items": "_ax.seq_item(g, i)"}, jvp="t_items", cython="numpy")
defprim("list", "*items", batch="control", vjp={"items": "_ax.seq_item(g, i)"}, jvp="t_items", cython="numpy")
# list(seq) and tuple(seq) of one iterable (not the displays above): a copy of its items
defprim("_ax.as_list", "seq", batch="as_seq", vjp={"seq": "_ax.as_seq_vjp(g, seq)"},
        jvp="_ax.seq_tangent(t_seq, 'list')", cython="numpy")
defprim("_ax.as_tuple", "seq", batch="as_seq", vjp={"seq": "_ax.as_seq_vjp(g, seq)"},
        jvp="_ax.seq_tangent(t_seq, 'tuple')", cython="numpy")
defprim("_ax.as_seq_vjp", "g, seq", batch="loop", vjp={"g": "_ax.seq_tangent(g, 'list')"},
        jvp="_ax.as_seq_vjp(t_g, seq)", cython="numpy")
defprim("_ax.seq_tangent", "t, kind", batch="loop", vjp={"t": "_ax.as_seq_vjp(g, t)"},
        jvp="_ax.seq_tangent(t_t, kind)", cython="numpy")
defprim("dict", "*items", batch="control", vjp={"items": "_ax.seq_item(g, i)"}, jvp="t_items")  # i: the key
defprim("copy", "x", batch="control", vjp={"x": "g"}, jvp="t_x")          # y = x

# ---- astjax's runtime helpers, so generated code transforms again -------------------------------
defprim("_ax.unbroadcast", "v, x", batch="unbroadcast", vjp={"v": "_ax.broadcast_like(g, v)"},
        jvp="_ax.unbroadcast(t_v, x)",
        cython={"like": "x", "value": "v"})
defprim("_ax.broadcast_like", "v, x", batch="broadcast_like", vjp={"v": f"{UB}(g, v)"},
        jvp="_ax.broadcast_like(t_v, x)", cython={"like": "x", "value": "v"})
defprim("_ax.expand_reduced", "v, x, axis=None, keepdims=False", batch="expand_reduced",
        vjp={"v": "np.sum(g, axis=axis, keepdims=keepdims)"},
        jvp="_ax.expand_reduced(t_v, x, axis, keepdims)", cython={"like": "x", "value": "v"})
defprim("_ax.reshape_like", "v, x", batch="reshape_like", vjp={"v": "_ax.reshape_like(g, v)"},
        jvp="_ax.reshape_like(t_v, x)", cython="numpy")
defprim("_ax.cast_like", "v, x", batch="first", vjp={"v": "_ax.cast_like(g, v)"}, jvp="_ax.cast_like(t_v, x)")
defprim("_ax.array_vjp", "v, x", batch="array_vjp", vjp={"v": "np.array(g)"}, jvp="_ax.array_vjp(t_v, x)")
defprim("_ax.reduced_count", "x, axis=None", batch="reduced_count", nondiff=True)
defprim("_ax.prod_others", "x, axis=None", batch="prod_others",
        vjp={"x": "_ax.prod_others_jvp(x, g, axis)"}, jvp="_ax.prod_others_jvp(x, t_x, axis)")
defprim("_ax.prod_others_jvp", "x, t, axis=None", batch="prod_others",
        vjp={"x": "_ax.prod_others_jvp2(x, t, g, axis)", "t": "_ax.prod_others_jvp(x, g, axis)"},
        jvp="_ax.prod_others_jvp(x, t_t, axis) + _ax.prod_others_jvp2(x, t, t_x, axis)")
# (a fourth derivative of np.prod is a NoRuleError naming the line)
defprim("_ax.prod_others_jvp2", "x, t, s, axis=None", batch="prod_others")
defprim("_ax.arange_slope", "ans, stop, which", nondiff=True)
defprim("_ax.linspace_weights", "like, num, endpoint=True", nondiff=True)
defprim("_ax.clip_from", "x, a_min, a_max, which", nondiff=True)
defprim("_ax.float_part", "g, like", vjp={"g": "_ax.float_part(g, like)"},
        jvp="_ax.float_part(t_g, like)")
defprim("_ax.transpose_axes", "axes, ndim", batch="unbatched", nondiff=True)
defprim("_ax.copy_value", "x", batch="first", vjp={"x": "g"}, jvp="_ax.copy_value(t_x)")
defprim("_ax.copy_lane_scalar", "x", batch="first", vjp={"x": "g"}, jvp="_ax.copy_lane_scalar(t_x)")
# a dict item's old value around an item write (MISSING where the write creates the key)
defprim("_ax.slot_value", "d, key", batch="containers", nondiff=True)
defprim("_ax.restore_slot", "d, key, old", batch="containers", nondiff=True)

# The adjoint helpers that generated gradients call (runtime.py), with their own rules, so a
# gradient can be differentiated again (grad of grad, forward-over-reverse hessians).
defprim("_ax.seed", "x", batch="seed", nondiff=True)
# An f-string (see core/normalize.py): no derivative flows through text; under vmap it formats
# the batched values as a whole, as print does.
defprim("_ax.format", "*parts", batch="meta", nondiff=True)
# Random draws (core/calls.py): constants of the sample.  Each lane of a vmap would draw its
# own numbers in a Python loop, so vmap runs such a function once per lane, in order.
# A draw whose arguments carry a derivative (``rs.normal(mu, 1.0)`` with mu differentiated)
# has no rule: it is refused by name, never a silent zero (reparameterize: mu + eps).
defprim("_ax.draw", "*parts", batch="random", refused=True)
defprim("_ax.draw_from", "*parts", batch="random", refused=True)
defprim("_ax.check_differentiable", "x, label", batch="meta", nondiff=True)
defprim("_ax.check_no_alias", "w, other, w_name, other_name, filename=None, lineno=None, text=None",
        batch="meta", nondiff=True)
defprim("_ax.zeros_like", "x", nondiff=True)
defprim("_ax.unit_basis", "x", nondiff=True)
defprim("_ax.dict_keys", "d", nondiff=True)
defprim("_ax.finalize", "v, x", batch="finalize", vjp={"v": "_ax.finalize_vjp(g, v)"}, jvp="_ax.finalize(t_v, x)")
defprim("_ax.finalize_vjp", "v, d", vjp={"v": "_ax.finalize_vjp(g, v)"},
        jvp="_ax.finalize_vjp(t_v, d)")
defprim("_ax.add_to", "d, x, index, v", batch="add_to",
        vjp={"d": "g", "v": "_ax.unbroadcast(_ax.take_index(g, index), v)"},
        jvp="_ax.add_to(t_d, x, index, t_v)")
defprim("_ax.take_index", "v, index", vjp={"v": "_ax.getitem_vjp(g, v, index)"},
        jvp="_ax.take_index(t_v, index)")
defprim("_ax.getitem_vjp", "v, x, index", vjp={"v": f"{UB}(_ax.take_index(g, index), v)"},
        jvp="_ax.getitem_vjp(t_v, x, index)")
defprim("_ax.take_slot", "d, index", batch="take_slot", vjp={"d": "_ax.take_slot_vjp(g, d, index)"},
        jvp="_ax.take_slot(t_d, index)")
defprim("_ax.take_slot_vjp", "v, d, index", vjp={"v": "_ax.take_slot(_ax.copy_value(g), index)"},
        jvp="_ax.take_slot_vjp(t_v, d, index)")
defprim("_ax.seq_pop", "d", batch="containers", vjp={"d": "_ax.seq_pop_vjp(g, d)"}, jvp="_ax.seq_pop(t_d)")
defprim("_ax.seq_pop_vjp", "v, d", vjp={"v": "_ax.seq_pop(g)"}, jvp="_ax.seq_pop_vjp(t_v, d)")
defprim("_ax.seq_push", "d, v, n", batch="containers", vjp={"d": "_ax.seq_head(g, n)", "v": "_ax.seq_item(g, n)"},
        jvp="_ax.seq_push(t_d, t_v, n)")
defprim("_ax.seq_head", "v, n", vjp={"v": "_ax.seq_like(g, v)"}, jvp="_ax.seq_head(t_v, n)")
defprim("_ax.seq_acc", "d, c", batch="containers", vjp={"d": "_ax.seq_like(g, d)", "c": "_ax.seq_like(g, c)"},
        jvp="_ax.seq_acc(t_d, t_c)")
defprim("_ax.seq_like", "v, d", vjp={"v": "_ax.seq_like(g, v)"}, jvp="_ax.seq_like(t_v, d)")
defprim("_ax.seq_item", "d, i", batch="seq_item", vjp={"d": "_ax.seq_put(g, d, i)"}, jvp="_ax.seq_item(t_d, i)")
defprim("_ax.seq_item_lanes", "d, i", batch="loop", vjp={"d": "_ax.seq_put_lanes(g, d, i)"},
        jvp="_ax.seq_item_lanes(t_d, i)")
defprim("_ax.seq_put_lanes", "v, d, i", batch="loop", vjp={"v": "_ax.seq_item_lanes(g, i)"},
        jvp="_ax.seq_put_lanes(t_v, d, i)")
defprim("_ax.seq_put", "v, d, i", vjp={"v": "_ax.seq_item(g, i)"}, jvp="_ax.seq_put(t_v, d, i)")
defprim("_ax.seq_add", "d, i, v", batch="containers", vjp={"d": "_ax.seq_like(g, d)", "v": "_ax.seq_item(g, i)"},
        jvp="_ax.seq_add(t_d, i, t_v)")
defprim("_ax.matmul_vjp_a", "v, a, b", batch="matmul_vjp",
        vjp={"v": f"{UB}(np.matmul(g, b), v)", "b": "_ax.matmul_vjp_b(v, g, b)"},
        jvp="_ax.matmul_vjp_a(t_v, a, b) + _ax.matmul_vjp_a(v, a, t_b)")
defprim("_ax.matmul_vjp_b", "v, a, b", batch="matmul_vjp",
        vjp={"v": f"{UB}(np.matmul(a, g), v)", "a": "_ax.matmul_vjp_a(v, a, g)"},
        jvp="_ax.matmul_vjp_b(t_v, a, b) + _ax.matmul_vjp_b(v, t_a, b)")
defprim("_ax.max_vjp", "v, m, x, axis=None, keepdims=False", batch="reduce_vjp",
        vjp={"v": "np.sum(g * _ax.max_vjp(1.0, m, x, axis, keepdims), axis=axis, keepdims=keepdims)"},
        jvp="_ax.max_vjp(t_v, m, x, axis, keepdims)")
defprim("_ax.cumsum_vjp", "v, axis=None, x=None", batch="cumsum_vjp", vjp={"v": "_ax.reshape_like(np.cumsum(g, axis), v)"},
        jvp="_ax.cumsum_vjp(t_v, axis, x)")
defprim("_ax.split_like", "v, arrays, axis=0", batch="unstack", vjp={"v": "_ax.concat_like(g, arrays, axis)"},
        jvp="_ax.split_like(t_v, arrays, axis)")
defprim("_ax.concat_like", "v, arrays, axis=0", vjp={"v": "_ax.split_like(g, arrays, axis)"},
        jvp="_ax.concat_like(t_v, arrays, axis)")
defprim("_ax.unstack", "v, n, axis=0", batch="unstack", vjp={"v": "_ax.stack_like(g, v, axis)"},
        jvp="_ax.unstack(t_v, n, axis)")
defprim("_ax.stack_like", "v, x, axis=0", vjp={"v": "_ax.unstack(g, len(v), axis)"},
        jvp="_ax.stack_like(t_v, x, axis)")
defprim("_ax.einsum_vjp", "v, subscripts, operands, i",
        vjp={"v": "_ax.einsum_swap(subscripts, operands, i, g)",
             "operands": "_ax.einsum_vjp_operands(g, v, subscripts, operands, i)"},
        jvp="_ax.einsum_vjp(t_v, subscripts, operands, i) + _ax.einsum_vjp_jvp(v, subscripts, operands, t_operands, i)")
defprim("_ax.einsum_swap", "subscripts, operands, i, x",
        jvp="_ax.einsum_swap(subscripts, operands, i, t_x) + _ax.einsum_swap_jvp(subscripts, operands, i, x, t_operands)")
defprim("_ax.einsum_vjp_operands", "ct, v, subscripts, operands, i",
        jvp="_ax.seq_acc(_ax.seq_acc(_ax.einsum_vjp_operands(t_ct, v, subscripts, operands, i), _ax.einsum_vjp_operands(ct, t_v, subscripts, operands, i)), _ax.einsum_vjp_operands_jvp(ct, v, subscripts, operands, t_operands, i))")
defprim("_ax.einsum_jvp", "subscripts, operands, tangents",
        vjp={"tangents": "_ax.einsum_jvp_vjp(g, subscripts, operands)",
             "operands": "_ax.einsum_jvp_vjp_operands(g, subscripts, operands, tangents)"},
        jvp="_ax.einsum_jvp(subscripts, operands, t_tangents) + _ax.einsum_cross(subscripts, operands, tangents, t_operands)")
# (its own derivatives are not written: differentiating it again is a NoRuleError)
defprim("_ax.einsum_jvp_vjp_operands", "ct, subscripts, operands, tangents")
defprim("_ax.solve_vjp_a", "v, m, a",
        vjp={"v": "_ax.solve_vjp_a_vjp(g, v, m, a, 'v')", "m": "_ax.solve_vjp_a_vjp(g, v, m, a, 'm')",
             "a": "_ax.solve_vjp_a_vjp(g, v, m, a, 'a')"},
        jvp="_ax.solve_vjp_a(t_v, m, a) + _ax.solve_vjp_a(v, t_m, a) + _ax.solve_vjp_a(-np.matmul(np.swapaxes(t_a, -1, -2), np.linalg.solve(np.swapaxes(a, -1, -2), v)), m, a)")
defprim("_ax.jacobian", "parts, out, x, mode", vjp={"parts": "_ax.jacobian_vjp(g, parts, out, x, mode)"},
        jvp="_ax.jacobian(t_parts, out, x, mode)")
defprim("_ax.jacobian_vjp", "v, parts, out, x, mode", vjp={"v": "_ax.jacobian(g, out, x, mode)"},
        jvp="_ax.jacobian_vjp(t_v, parts, out, x, mode)")
defprim("_ax.none_to_zero", "v", vjp={"v": "_ax.seq_like(g, v)"}, jvp="_ax.none_to_zero(t_v)")

# ---- vmap's helpers (batching_rules.py), so batched code transforms again --------------------
# ``nb`` is how many leading batch axes an operand has; an enclosing vmap adds one.
defprim("_ax.align", "x, rank, nb=1", vjp={"x": "_ax.reshape_like(g, x)"},
        jvp="_ax.align(t_x, rank, nb)", batch="nb_data")
defprim("_ax.tape_record", "record, shared, n", batch="loop", nondiff=True)
defprim("_ax.batch_broadcast", "x, n, nb=0", vjp={"x": "_ax.sum_lanes(g, x, nb)"},
        jvp="_ax.batch_broadcast(t_x, n, nb)",
        batch="nb_data")
defprim("_ax.broadcast_lanes", "v, shape, nb=1",
        vjp={"v": "_ax.unbroadcast_lanes(g, _ax.lane_shape(v, nb), nb)"},
        jvp="_ax.broadcast_lanes(t_v, shape, nb)", batch="nb_data")
defprim("_ax.unbroadcast_lanes", "v, shape, nb=1",
        vjp={"v": "_ax.broadcast_lanes(g, _ax.lane_shape(v, nb), nb)"},
        jvp="_ax.unbroadcast_lanes(t_v, shape, nb)", batch="nb_data")
# (the cotangent goes back to as many lanes as v had: x, the shared value, has no batch axis)
defprim("_ax.sum_lanes", "v, x, nb=0", vjp={"v": "_ax.sum_lanes_vjp(g, v, x, nb)"},
        jvp="_ax.sum_lanes(t_v, x, nb)",
        batch="loop")
defprim("_ax.sum_lanes_vjp", "c, v, x, nb=0", batch="loop", vjp={"c": "_ax.sum_lanes(g, x, nb)"},
        jvp="_ax.sum_lanes_vjp(t_c, v, x, nb)")
defprim("_ax.where_defined", "m, a, b", batch="elementwise", vjp={"a": "_ax.where_defined_vjp(m, g, b, True)",
                                             "b": "_ax.where_defined_vjp(m, g, a, False)"},
        jvp="_ax.where_defined(m, _ax.tangent_if_defined(a, t_a), _ax.tangent_if_defined(b, t_b))")
defprim("_ax.where_defined_vjp", "m, g, other, first=True", batch="loop",
        vjp={"g": "_ax.where_defined_vjp(m, g, other, first)"},
        jvp="_ax.where_defined_vjp(m, t_g, other, first)")
defprim("_ax.dyn_getitem", "x, index", vjp={"x": "_ax.dyn_getitem_vjp(g, x, index)"},
        jvp="_ax.dyn_getitem(t_x, index)",
        batch="loop")
defprim("_ax.dyn_getitem_vjp", "g, x, index", vjp={"g": "_ax.dyn_getitem(g, index)"},
        jvp="_ax.dyn_getitem_vjp(t_g, x, index)",
        batch="loop")
defprim("_ax.lane", "x, b", vjp={"x": "_ax.lane_vjp(g, x, b)"},
        jvp="_ax.lane(t_x, b)", batch="loop")
defprim("_ax.lane_vjp", "g, x, b", vjp={"g": "_ax.lane(g, b)"},
        jvp="_ax.lane_vjp(t_g, x, b)", batch="loop")
defprim("_ax.stack_lanes", "items", vjp={"items": "_ax.unstack_lanes(g, items)"},
        jvp="_ax.stack_lanes(t_items)", batch="loop")
defprim("_ax.batch_out", "x, n, axis=0, batched=1, nb=0",
        vjp={"x": "_ax.batch_out_vjp(g, x, axis, batched, nb)"},
        jvp="_ax.batch_out(t_x, n, axis, batched, nb)", batch="nb_data")
defprim("_ax.move_batch_axis", "x, src, dst", vjp={"x": "_ax.move_batch_axis(g, dst, src)"},
        jvp="_ax.move_batch_axis(t_x, src, dst)",
        batch="loop")
for _key, _params in [("lane_axes", "x, nb=1"), ("batch_axis", "axis, x, nb=1"),
                      ("lane_ndim", "x, nb=1"), ("lane_size", "x, nb=1"), ("lane_len", "x, nb=1"),
                      ("lane_shape", "x, nb=1"), ("lane_singletons", "x, nb=1"),
                      ("lane_transpose_axes", "x, axes, nb=1"), ("lane_ids", "n, index, nb=1"),
                      ("leading_size", "x, nb=0")]:
    defprim(f"_ax.{_key}", _params, nondiff=True, batch="nb_shape")
defprim("_ax.batch_shape", "n, shape", nondiff=True, batch="unbatched")
defprim("_ax.lanes_shape", "x, n", nondiff=True, batch="loop")
defprim("_ax.dot_spec", "x, y, bx, by, kind='dot'", nondiff=True, batch="loop")
defprim("_ax.clip_index", "i, x, axis", nondiff=True, batch="clip_index")
defprim("_ax.seed_lanes", "x", nondiff=True, batch="seed")
defprim("_ax.finalize_lanes", "d, x, n, d_batched=1, x_batched=1", batch="loop",
        vjp={"d": "_ax.unbroadcast_lanes(g, _ax.lane_shape(d, d_batched), d_batched)"},
        jvp="_ax.finalize_lanes(t_d, x, n, d_batched, x_batched)")
defprim("_ax.add_to_lanes", "d, x, index, g, n, x_batched=1, g_batched=1", batch="loop",
        jvp="_ax.add_to_lanes(t_d, x, index, t_g, n, x_batched, g_batched)")
defprim("_ax.take_slot_lanes", "d, index", batch="loop", jvp="_ax.take_slot_lanes(t_d, index)")

# ---- collectives by axis name (astjax.lax): vmap reduces over its batch axis, pmap cuts its
# function into stages at them (astjax/parallel/stages.py); no derivative rules yet ---------
# Derivatives as in JAX: psum and pmean are linear, and each is its own transpose (the
# cotangent of a member's x is the sum/mean of every member's g: the gradient of the sum of
# the members' results); all_gather's transpose hands member k the sum of every g[k].
# pmax and pmin have no derivative (JAX has none either).
_COLLECTIVE_RULES = {
    "psum": ({"x": "_ax.psum(g, axis_name)"}, "_ax.psum(t_x, axis_name)"),
    "pmean": ({"x": "_ax.pmean(g, axis_name)"}, "_ax.pmean(t_x, axis_name)"),
    "all_gather": ({"x": "_ax.psum(g, axis_name)[_ax.axis_index(axis_name)]"},
                   "_ax.all_gather(t_x, axis_name)"),
}
for _kind in ("psum", "pmean", "pmax", "pmin", "all_gather"):
    _vjp, _jvp = _COLLECTIVE_RULES.get(_kind, (None, None))
    defprim(f"_ax.{_kind}", "x, axis_name", batch="collective", collective=True,
            vjp=_vjp, jvp=_jvp)
defprim("_ax.axis_index", "axis_name", batch="collective", nondiff=True, collective=True)

# ---- more elementwise functions (issue 14) ----------------------------------------------------
defprim("np.arcsinh", vjp={"x": "g / np.sqrt(x * x + 1.0)"}, jvp="t_x / np.sqrt(x * x + 1.0)",
        aliases=["math.asinh", "np.asinh"], cython="asinh(x)")
defprim("np.arccosh", vjp={"x": "g / np.sqrt(x * x - 1.0)"}, jvp="t_x / np.sqrt(x * x - 1.0)",
        aliases=["math.acosh", "np.acosh"], cython="acosh(x)")
defprim("np.arctanh", vjp={"x": "g / (1.0 - x * x)"}, jvp="t_x / (1.0 - x * x)",
        aliases=["math.atanh", "np.atanh"], cython="atanh(x)")
defprim("np.exp2", vjp={"x": "g * ans * 0.6931471805599453"},
        jvp="t_x * ans * 0.6931471805599453", cython="exp2(x)")
defprim("np.hypot", "x, y", vjp={"x": f"{UB}(g * x / ans, x)", "y": f"{UB}(g * y / ans, y)"},
        jvp="(t_x * x + t_y * y) / ans", aliases=["math.hypot"], cython="hypot(x, y)")
# logaddexp(x, y) = log(e^x + e^y): the weights of x and y are a softmax of the two
defprim("np.logaddexp", "x, y", vjp={"x": f"{UB}(g * np.exp(x - ans), x)",
                                     "y": f"{UB}(g * np.exp(y - ans), y)"},
        jvp="t_x * np.exp(x - ans) + t_y * np.exp(y - ans)")
defprim("np.logaddexp2", "x, y", vjp={"x": f"{UB}(g * np.exp2(x - ans), x)",
                                      "y": f"{UB}(g * np.exp2(y - ans), y)"},
        jvp="t_x * np.exp2(x - ans) + t_y * np.exp2(y - ans)")
# sinc(x) = sin(pi x) / (pi x); its slope (cos(pi x) - sinc(x)) / x is 0 at 0
defprim("np.sinc", vjp={"x": "g * _ax.sinc_slope(x, ans)"}, jvp="t_x * _ax.sinc_slope(x, ans)")
defprim("_ax.sinc_slope", "x, s", vjp={"x": "g * _ax.sinc_curve(x, s)"},
        jvp="t_x * _ax.sinc_curve(x, s)")
defprim("_ax.sinc_curve", "x, s", refused=True)   # no rule: a third derivative is refused
# fmax/fmin: as maximum/minimum, but a NaN operand loses
defprim("np.fmax", "x, y", vjp={"x": f"{UB}(g * ((x >= y) | np.isnan(y)), x)",
                                "y": f"{UB}(g * ~((x >= y) | np.isnan(y)), y)"},
        jvp="np.where((x >= y) | np.isnan(y), t_x, t_y)")
defprim("np.fmin", "x, y", vjp={"x": f"{UB}(g * ((x <= y) | np.isnan(y)), x)",
                                "y": f"{UB}(g * ~((x <= y) | np.isnan(y)), y)"},
        jvp="np.where((x <= y) | np.isnan(y), t_x, t_y)")

# np.nan_to_num: the identity where x is finite, a constant where it is NaN or infinite
defprim("np.nan_to_num", "x, copy=True, nan=0.0, posinf=None, neginf=None",
        vjp={"x": "g * np.isfinite(x)"}, jvp="t_x * np.isfinite(x)")
# sorting: np.sort / np.partition permute x along an axis (by its argsort / argpartition):
# the tangent is the same permutation of t_x, the cotangent the inverse one (runtime_fft.py)
def _sort_rule(b, prim, args):
    from astjax.batching.rules import value_of
    x = next(iter(args.values()))
    if value_of(b, args["axis"]) is None:
        if any(a.batched for a in args.values()):
            b.cannot(f"{prim.key} with axis=None")       # vmap loops over the lanes here
        from astjax.batching.rules import _un
        return b.recall(), _un(args["x"].rank if prim.key == "_ax.order_put" else 1)
    from astjax.rules.fft import axis_rule
    return axis_rule("axis")(b, prim, args)


defprim("np.sort", "x, axis=-1, kind=None, order=None", batch=_sort_rule,
        vjp={"x": "_ax.order_put(g, x, None, axis)"}, jvp="_ax.order_take(t_x, x, None, axis)")
defprim("np.partition", "x, kth, axis=-1, kind='introselect', order=None", batch=_sort_rule,
        vjp={"x": "_ax.order_put(g, x, kth, axis)"}, jvp="_ax.order_take(t_x, x, kth, axis)")
defprim("_ax.order_take", "t, x, kth=None, axis=-1", batch=_sort_rule,
        vjp={"t": "_ax.order_put(g, x, kth, axis)"}, jvp="_ax.order_take(t_t, x, kth, axis)")
defprim("_ax.order_put", "g, x, kth=None, axis=-1", batch=_sort_rule,
        vjp={"g": "_ax.order_take(g, x, kth, axis)"}, jvp="_ax.order_put(t_g, x, kth, axis)")
