"""The np.fft family and complex intermediates of real losses, with their rules.

Each np.fft function is one primitive (helpers in runtime_fft.py); vmap rewrites its axes to
count from the end (axis_rule).  np.angle and np.real_if_close are NumPy stand-ins
(fft_numpy.py).

Convention (autograd's and JAX's): the cotangent of a complex value z = u + iv of a real loss
L is g = dL/du - i dL/dv, so a complex-linear map's vjp is its plain transpose (no conjugate:
fft's is fft again, the DFT matrix being symmetric) and a real input's cotangent is the real
part (``_ax.real_like``; ``_ax.unbroadcast`` takes it too).  np.real, np.imag, np.conj and
np.abs of complex values follow from it.
"""
from astjax.rules import registry
from astjax.batching.values import SCALAR
from astjax.rules.registry import defprim

# ---- complex parts ----------------------------------------------------------------------------
defprim("_ax.real_like", "g, x", vjp={"g": "_ax.real_like(g, x)"}, jvp="_ax.real_like(t_g, x)",
        batch="elementwise")
defprim("_ax.complex_only", "v, x", vjp={"v": "_ax.complex_only(g, x)"},
        jvp="_ax.complex_only(t_v, x)", batch="elementwise")
defprim("np.iscomplexobj", "x", nondiff=True, batch="meta")
defprim("np.real", vjp={"x": "np.real(g)"}, jvp="np.real(t_x)")
defprim("np.imag", vjp={"x": "_ax.real_like(-1j * np.real(g), x)"}, jvp="np.imag(t_x)")
defprim("np.conj", vjp={"x": "np.conj(g)"}, jvp="np.conj(t_x)", aliases=["np.conjugate"])
# d|z| = Re(conj(z)/|z| dz); the slope's own derivative (zero for real x) makes it twice
# differentiable: d(conj(z)/r) = conj(dz)/r - conj(z) dr / r^2
_R = "np.where(x == 0, 1.0, np.abs(x))"
defprim("_ax.abs_slope", "x", batch="elementwise",
        vjp={"x": f"_ax.complex_only(np.conj(g) / {_R} - np.real(g * np.conj(x)) "
                  f"* _ax.abs_slope(x) / ({_R} * {_R}), x)"},
        jvp=f"_ax.complex_only(np.conj(t_x) / {_R} - np.real(t_x * _ax.abs_slope(x)) "
            f"* np.conj(x) / ({_R} * {_R}), x)",
        cython="astjax_sign(x)")          # C code holds real numbers only: sign(x)

# ---- transforms -------------------------------------------------------------------------------

def axis_rule(*axis_params):
    """vmap rule of a transform along axes: the result keeps the operand's rank, and its
    axis parameters are rewritten to count from the end, past vmap's leading batch axis."""
    def rule(b, prim, args):
        from astjax.batching.rules import _NOCONST, _bat, _un, value_of
        from astjax.frontend.syntax import parse_expr
        first, *rest = args.values()
        if any(getattr(a, "batched", False) for p, a in args.items()
               if p not in (prim.params[0], "like")):
            b.cannot(f"{prim.key} with a per-lane option")
        if not first.batched:
            return b.recall(), _un(first.rank)
        if first.rank is None:
            b.cannot(f"{prim.key} of a value of unknown rank")
        repl = {}
        for p in axis_params:
            if p not in args:
                continue
            v = value_of(b, args[p])
            s = value_of(b, args["s"]) if "s" in args else None
            if v is _NOCONST or s is _NOCONST:
                b.cannot(f"{prim.key} with an axis known only when it runs")
            if v is None:
                v = tuple(range(-(len(s) if s is not None else first.rank), 0))
            elif isinstance(v, int):
                v = v - first.rank if v >= 0 else v
            else:
                v = tuple(a - first.rank if a >= 0 else a for a in v)
            repl[p] = parse_expr(repr(v))
        return b.recall(**repl), _bat(first.rank, first.lanes)
    return rule


_FFT = "a, n=None, axis=-1, norm=None"
_FFTN = "a, s=None, axes=None, norm=None"
_FFT2 = "a, s=None, axes=(-2, -1), norm=None"
defprim("_ax.fit_like", "v, like", batch=axis_rule(), vjp={"v": "_ax.fit_like(g, v)"},
        jvp="_ax.fit_like(t_v, like)")
defprim("_ax.pad_to", "v, size, axis", batch=axis_rule("axis"),
        vjp={"v": "_ax.fit_like(g, v)"}, jvp="_ax.pad_to(t_v, size, axis)")
defprim("_ax.fft_size", "a, n, axis", nondiff=True, batch=lambda b, p, a: (b.recall(), SCALAR))
defprim("_ax.irfft_size", "a, n, axis", nondiff=True,
        batch=lambda b, p, a: (b.recall(), SCALAR))
defprim("_ax.irfft_weights", "a, n, axis", nondiff=True, batch=axis_rule("axis"))
# the DFT matrix is symmetric: fft's transpose is fft; cutting/padding to n transposes back
for _f in ("fft", "ifft"):
    defprim(f"np.fft.{_f}", _FFT, batch=axis_rule("axis"),
            vjp={"a": f"_ax.real_like(_ax.fit_like(np.fft.{_f}(g, None, axis, norm), a), a)"},
            jvp=f"np.fft.{_f}(t_a, n, axis, norm)")
for _f, _p in (("fftn", _FFTN), ("ifftn", _FFTN), ("fft2", _FFT2), ("ifft2", _FFT2)):
    defprim(f"np.fft.{_f}", _p, batch=axis_rule("axes"),
            vjp={"a": f"_ax.real_like(_ax.fit_like(np.fft.{_f}(g, None, axes, norm), a), a)"},
            jvp=f"np.fft.{_f}(t_a, s, axes, norm)")
# rfft = the first n // 2 + 1 rows of the DFT: its transpose pads g with zeros to n
defprim("np.fft.rfft", _FFT, batch=axis_rule("axis"),
        vjp={"a": "_ax.fit_like(np.real(np.fft.fft(_ax.pad_to(g, _ax.fft_size(a, n, axis), "
                  "axis), None, axis, norm)), a)"},
        jvp="np.fft.rfft(t_a, n, axis, norm)")
# irfft(a)_j = Re(sum_k c_k a_k e^{2 pi i jk/n}) / n, c_k = 1 or 2 (_ax.irfft_weights)
defprim("np.fft.irfft", _FFT, batch=axis_rule("axis"),
        vjp={"a": "_ax.real_like(_ax.fit_like(np.fft.ifft(g, None, axis, norm), a) "
                  "* _ax.irfft_weights(a, n, axis), a)"},
        jvp="np.fft.irfft(t_a, n, axis, norm)")
for _f, _inv in (("fftshift", "ifftshift"), ("ifftshift", "fftshift")):
    defprim(f"np.fft.{_f}", "x, axes=None", batch=axis_rule("axes"),
            vjp={"x": f"np.fft.{_inv}(g, axes)"}, jvp=f"np.fft.{_f}(t_x, axes)")


def _register_stand_ins():
    import numpy as np

    from astjax.rules import fft_numpy as impl
    registry.replace_with(np.angle, impl.angle)
    registry.replace_with(np.real_if_close, impl.real_if_close)


_register_stand_ins()
