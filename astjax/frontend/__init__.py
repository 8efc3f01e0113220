"""Stage 1, the front end: a Python function becomes a gast tree with its free names resolved.

`source.parse_function(fn)` reads the function's source (also astjax's own generated source,
kept in linecache), parses it with gast through `syntax` (the one module that touches gast and
beniget), and resolves each free name to a global, a closure cell or a builtin, remembering
where it lives (`captures`: generated code reads it there when it runs; what a transform
specializes on is guarded); errors name the user's file and line. `discover` finds `@astjax.jit` functions in files without running
them (for `astjax build`).

Before (the user's function)::

    def f(x):
        return np.sum(np.tanh(x) * W)

After (a FunctionSource)::

    tree:  FunctionDef f(x) -> Return(Call(np.sum, [BinOp(Call(np.tanh, [x]), Mult, W)]))
    names: np -> global module numpy, W -> global of f's module
"""
