"""The np.fft family and complex intermediates of real losses, with their rules.

Primitives transform the last axis (runtime_fft.py); the NumPy stand-ins of fft_numpy.py move
the user's ``axis`` there, cut or pad to ``n``, and build fft2/fftn/ifft2/ifftn from 1-D
transforms and fftshift/ifftshift from np.roll, so those need no rules of their own.

Convention (autograd's and JAX's): the cotangent of a complex value z = u + iv of a real loss
L is g = dL/du - i dL/dv, so a complex-linear map's vjp is its plain transpose (no conjugate:
fft's is fft again, the DFT matrix being symmetric) and a real input's cotangent is the real
part (``_ax.real_like``; ``_ax.unbroadcast`` takes it too).  np.real, np.imag, np.conj and
np.abs of complex values follow from it.
"""
from astjax.rules import registry
from astjax.rules.registry import defprim

# ---- complex parts ----------------------------------------------------------------------------
defprim("_ax.real_like", "g, x", vjp={"g": "_ax.real_like(g, x)"}, jvp="_ax.real_like(t_g, x)",
        batch="elementwise")
defprim("_ax.complex_only", "v, x", vjp={"v": "_ax.complex_only(g, x)"},
        jvp="_ax.complex_only(t_v, x)", batch="elementwise")
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
            f"* np.conj(x) / ({_R} * {_R} * {_R}), x)")

# ---- transforms of the last axis --------------------------------------------------------------
defprim("_ax.fit_last", "x, n", batch="first", vjp={"x": "_ax.fit_last(g, np.shape(x)[-1])"},
        jvp="_ax.fit_last(t_x, n)")
defprim("_ax.irfft_weights", "a, n", nondiff=True, batch="unbatched")
defprim("_ax.fft_last", "a, norm=None", batch="first",
        vjp={"a": "_ax.real_like(_ax.fft_last(g, norm), a)"}, jvp="_ax.fft_last(t_a, norm)")
defprim("_ax.ifft_last", "a, norm=None", batch="first",
        vjp={"a": "_ax.real_like(_ax.ifft_last(g, norm), a)"}, jvp="_ax.ifft_last(t_a, norm)")
# rfft = the first n // 2 + 1 rows of the DFT: its transpose pads g with zeros to n
defprim("_ax.rfft_last", "a, norm=None", batch="first",
        vjp={"a": "np.real(_ax.fft_last(_ax.fit_last(g, np.shape(a)[-1]), norm))"},
        jvp="_ax.rfft_last(t_a, norm)")
# irfft(a)_j = Re(sum_k c_k a_k e^{2 pi i jk/n}) / n, c_k = 1 or 2 (_ax.irfft_weights)
defprim("_ax.irfft_last", "a, n, norm=None", batch="first",
        vjp={"a": "_ax.real_like(_ax.fit_last(_ax.ifft_last(g, norm), np.shape(a)[-1]) "
                  "* _ax.irfft_weights(a, n), a)"},
        jvp="_ax.irfft_last(t_a, n, norm)")


def _register_stand_ins():
    import numpy as np

    from astjax.rules import fft_numpy as impl
    for name in ("fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "fftn", "ifftn",
                 "fftshift", "ifftshift"):
        registry.replace_with(getattr(np.fft, name), getattr(impl, name))
    registry.replace_with(np.angle, impl.angle)
    registry.replace_with(np.real_if_close, impl.real_if_close)


_register_stand_ins()
