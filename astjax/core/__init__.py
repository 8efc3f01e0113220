"""Stage 2, the core form: one operation per statement, every transform's common input.

`normalize` lowers a parsed function to the core form (`form` holds its containers and
queries): nested expressions get temporaries, method calls and aliases (`x.sum()`,
`from numpy import exp`) become primitive calls, helpers are resolved (`calls`), and
break/continue/early return become flags (`flow`). `emit` renders any core program back to
readable source with `# file:line: user text` comments and compiles it, after `simplify`
has cleaned generated functions up (common subexpressions, copy propagation, dead copies);
`pytrees` flattens nested tuples, lists and dicts of arrays.

Before::

    def f(x):
        return np.sum(1.0 / (1.0 + np.exp(-x)))

After (core form)::

    def f(x):
        # model.py:2: return np.sum(1.0 / (1.0 + np.exp(-x)))
        neg1 = -x
        exp2 = np.exp(neg1)
        add3 = 1.0 + exp2
        div4 = 1.0 / add3
        sum5 = np.sum(div4)
        return sum5
"""
