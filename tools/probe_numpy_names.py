"""Probe of the NumPy names of issue 14: for each, astjax.grad of a small real loss that uses
it, compared with central finite differences.  Prints one line per name (ok / refused /
wrong / error) and the counts.  Run: ``python3 tools/probe_numpy_names.py [-v]``."""
import sys
import warnings

import numpy as np

import astjax

X = np.array([0.31, -0.52, 0.73, 0.44, -0.15, 0.62, 0.27, -0.38, 0.55, 0.19, -0.66, 0.41])
W = np.linspace(0.5, 1.6, 12)
W223 = W.reshape(2, 2, 3)
W232 = W.reshape(2, 3, 2)
W26 = W.reshape(2, 6)
W34 = W.reshape(3, 4)
W43 = W.reshape(4, 3)
W62 = W.reshape(6, 2)
W33 = W[:9].reshape(3, 3)
# (captured arrays, shaped here: a method call such as W.reshape(3, 4) on a captured array
# inside a loss is refused today, 'builtins.reshape has no astjax rule')


def sq(x): return np.reshape(x[:9], (3, 3)) + 3.0 * np.eye(3)
def cov(x):
    f = np.reshape(x, (3, 4))
    return f @ f.T + 0.5 * np.eye(3)
def m34(x): return np.reshape(x, (3, 4))


# one loss per name: real scalar of the 12 parameters x
def l_arcsinh(x): return np.sum(np.arcsinh(x) * W)
def l_arccosh(x): return np.sum(np.arccosh(x + 2.0) * W)
def l_arctanh(x): return np.sum(np.arctanh(0.5 * x) * W)
def l_exp2(x): return np.sum(np.exp2(x) * W)
def l_fabs(x): return np.sum(np.fabs(x) * W)
def l_reciprocal(x): return np.sum(np.reciprocal(x + 2.0) * W)
def l_sinc(x): return np.sum(np.sinc(x) * W)
def l_deg2rad(x): return np.sum(np.sin(np.deg2rad(100.0 * x)) * W)
def l_rad2deg(x): return np.sum(np.rad2deg(x) * W)
def l_degrees(x): return np.sum(np.degrees(x) * W)
def l_radians(x): return np.sum(np.sin(np.radians(100.0 * x)) * W)
def l_hypot(x): return np.sum(np.hypot(x[:6], x[6:]))
def l_logaddexp(x): return np.sum(np.logaddexp(x[:6], x[6:]))
def l_logaddexp2(x): return np.sum(np.logaddexp2(x[:6], x[6:]))
def l_fmax(x): return np.sum(np.fmax(x[:6], x[6:]) * W[:6])
def l_fmin(x): return np.sum(np.fmin(x[:6], x[6:]) * W[:6])
def l_nan_to_num(x): return np.sum(np.nan_to_num(np.log(x)) * W)
def l_real(x): return np.sum(np.real(x * (1.0 + 2.0j)) * W)
def l_imag(x): return np.sum(np.imag(x * (1.0 + 2.0j)) * W)
def l_conj(x): return np.sum(np.real(np.conj(x * (1.0 + 2.0j)) * (0.5 - 1.0j)) * W)
def l_angle(x): return np.sum(np.angle(x[:6] + 1j * x[6:]))
def l_real_if_close(x): return np.sum(np.real_if_close(x + 0j) * W)
def l_complex_abs(x): return np.sum(np.abs(x[:6] + 1j * x[6:]))
def l_hstack(x): return np.sum(np.hstack([x[:6], 2.0 * x[6:]]) * W)
def l_vstack(x): return np.sum(np.vstack([x[:6], x[6:]]) ** 2)
def l_column_stack(x): return np.sum(np.column_stack([x[:6], x[6:]]) * W62)
def l_row_stack(x): return np.sum(np.vstack([x[:6], x[6:]]) * W26)
def l_append(x): return np.sum(np.append(x[:6], x[6:] ** 2) * W)
def l_split(x):
    a, b = np.split(x, 2)
    return np.sum(a * b)
def l_array_split(x):
    a, b, c = np.array_split(x[:11], 3)
    return np.sum(a * a) + np.sum(b) * np.sum(c ** 3)
def l_hsplit(x):
    a, b = np.hsplit(m34(x), 2)
    return np.sum(a * b)
def l_vsplit(x):
    a, b = np.vsplit(np.reshape(x, (4, 3)), 2)
    return np.sum(a * b)
def l_dsplit(x):
    a, b = np.dsplit(np.reshape(x, (2, 3, 2)), 2)
    return np.sum(a * b)
def l_atleast_1d(x): return np.sum(np.atleast_1d(x[0]) * 3.0 + x)
def l_atleast_2d(x): return np.sum(np.atleast_2d(x) ** 2)
def l_atleast_3d(x): return np.sum(np.atleast_3d(m34(x)) ** 2)
def l_r_(x): return np.sum(np.r_[x[:6], 2.0 * x[6:]] * W)
def l_c_(x): return np.sum(np.c_[x[:6], x[6:]] * W62)
def l_diag(x): return np.sum(np.diag(x[:3]) * sq(x)) + np.sum(np.diag(sq(x)) ** 2)
def l_diagonal(x): return np.sum(np.diagonal(sq(x)) ** 2)
def l_trace(x): return np.trace(sq(x) @ sq(x))
def l_tril(x): return np.sum(np.tril(sq(x)) ** 2)
def l_triu(x): return np.sum(np.triu(sq(x), 1) ** 2)
def l_flipud(x): return np.sum(np.flipud(m34(x)) * W34)
def l_fliplr(x): return np.sum(np.fliplr(m34(x)) * W34)
def l_flip(x): return np.sum(np.flip(x) * W)
def l_rot90(x): return np.sum(np.rot90(m34(x)) * W43)
def l_roll(x): return np.sum(np.roll(x, 3) * W)
def l_rollaxis(x): return np.sum(np.rollaxis(np.reshape(x, (2, 3, 2)), 2) * W223)
def l_moveaxis(x): return np.sum(np.moveaxis(m34(x), 0, 1) * W43)
def l_tile(x): return np.sum(np.tile(x[:4], 3) * W)
def l_repeat(x): return np.sum(np.repeat(x[:6], 2) * W)
def l_pad_constant(x): return np.sum(np.pad(x, 2) * np.linspace(0.1, 2.0, 16))
def l_pad_edge(x): return np.sum(np.pad(m34(x), ((1, 0), (0, 2)), mode="edge") ** 2)
def l_diff(x): return np.sum(np.diff(x) ** 2)
def l_gradient(x): return np.sum(np.gradient(x) ** 2)
def l_select(x): return np.sum(np.select([x < 0, x < 0.5], [x ** 2, 3.0 * x], 1.0) * W)
def l_sort(x): return np.sum(np.sort(x) * W)
def l_partition(x): return np.sum(np.partition(x, 5)[:5])
def l_cross(x): return np.sum(np.cross(x[:3], x[3:6]) * W[:3])
def l_inner(x): return np.inner(x[:6], x[6:])
def l_kron(x): return np.sum(np.kron(x[:2], x[2:5]) * W[:6])
def l_tensordot(x): return np.sum(np.tensordot(m34(x), x[:4], 1) * W[:3])
def l_det(x): return np.linalg.det(sq(x))
def l_slogdet(x): return np.linalg.slogdet(cov(x))[1]
def l_norm(x): return np.linalg.norm(m34(x)) + np.linalg.norm(x, 1) + np.linalg.norm(m34(x), 2)
def l_cholesky(x): return np.sum(np.linalg.cholesky(cov(x)) * W33)
def l_eigh(x):
    w, v = np.linalg.eigh(cov(x))
    return np.sum(w * w) + np.sum(v[:, -1] ** 2 * W[:3])
def l_eig(x):
    w, v = np.linalg.eig(cov(x))
    return np.sum(np.real(w) ** 2)
def l_svd(x): return np.sum(np.linalg.svd(m34(x), compute_uv=False) ** 3)
def l_pinv(x): return np.sum(np.linalg.pinv(m34(x)) * W43)
def l_qr(x):
    q, r = np.linalg.qr(np.reshape(x, (4, 3)))
    return np.sum(r * r * W33)
def l_fft(x): return np.sum(np.abs(np.fft.fft(x)) ** 2 * W)
def l_ifft(x): return np.sum(np.real(np.fft.ifft(x * W)) * W + np.imag(np.fft.ifft(x)) ** 2)
def l_rfft(x): return np.sum(np.abs(np.fft.rfft(x)) * W[:7])
def l_irfft(x): return np.sum(np.fft.irfft(x[:6] + 1j * x[6:]) * W[:10])
def l_fft2(x): return np.sum(np.abs(np.fft.fft2(m34(x))) ** 2 * W34)
def l_ifft2(x): return np.sum(np.real(np.fft.ifft2(m34(x))) * W34)
def l_fftn(x): return np.sum(np.abs(np.fft.fftn(np.reshape(x, (2, 3, 2)))) * W232)
def l_ifftn(x): return np.sum(np.imag(np.fft.ifftn(np.reshape(x, (2, 3, 2)))) * W232)
def l_fftshift(x): return np.sum(np.fft.fftshift(x) * W)
def l_ifftshift(x): return np.sum(np.fft.ifftshift(m34(x)) * W34)


LOSSES = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("l_")}


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def probe(name, fn):
    x = X.copy()
    try:
        expect = fd_grad(fn, x)
    except Exception as exc:                       # the loss itself is not NumPy-valid
        return "bad-loss", f"{type(exc).__name__}: {exc}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.asarray(astjax.grad(fn)(x), dtype=float)
    except astjax.AstjaxError as exc:
        return "refused", str(exc).splitlines()[0][:110]
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    if got.shape == expect.shape and np.allclose(got, expect, rtol=1e-4, atol=1e-5):
        return "ok", ""
    return "wrong", f"max |err| {np.max(np.abs(got - expect)):.3g}"


def main():
    verbose = "-v" in sys.argv
    counts = {}
    for name, fn in LOSSES.items():
        status, why = probe(name, fn)
        counts[status] = counts.get(status, 0) + 1
        if verbose or status != "ok":
            print(f"{name:16s} {status:8s} {why}")
        else:
            print(f"{name:16s} {status}")
    print("counts:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          f"of {len(LOSSES)}")


if __name__ == "__main__":
    main()
