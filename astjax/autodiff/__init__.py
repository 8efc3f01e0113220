"""Stage 4a, automatic differentiation: core programs in, derivative programs out.

`reverse` writes the forward and reverse sweeps (grad, vjp; a tape only where loops need
one), `forward` the tangent program (jvp), `forward_many` a tangent program over a list of
tangents, `jacobians` builds jvp/jacfwd/jacrev/hessian from them, and `custom` honours
custom_jvp/custom_vjp. Each output is a core program again, so it can be transformed again.

Before (core form)::

    def g(x):
        sin1 = np.sin(x)
        sum2 = np.sum(sin1)
        return sum2

After (grad)::

    def grad_g(x):
        _ax.check_differentiable(x, 'x')
        sin1 = np.sin(x)
        sum2 = np.sum(sin1)
        g = _ax.seed(sum2)
        d_sum2 = g
        d_sin1 = _ax.expand_reduced(d_sum2, sin1, None, False)
        cos1 = np.cos(x)
        d_x = d_sin1 * cos1
        return _ax.finalize(d_x, x)
"""
