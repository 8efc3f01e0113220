"""The np.linalg family: determinants, factorizations and decompositions, with their rules.

Primitives (entries below) carry vjp, jvp and batching rules written, as everywhere in the
table, as NumPy templates over primitives that have rules themselves, so every derivative
can be differentiated again.  A decomposition with several results (eigh, svd, qr) is one
primitive returning them packed into one array (runtime_linalg.py); its NumPy stand-in in
linalg_numpy.py unpacks it, so ``w, V = np.linalg.eigh(A)`` reads as before.

Conventions (what a finite difference of NumPy's own function gives):
* cholesky and eigh read only the lower triangle of ``a``, as NumPy's LAPACK calls do: the
  gradient lands on the lower triangle (JAX and autograd instead symmetrize; both agree along
  symmetric directions, e.g. for A = X X^T differentiated w.r.t. X).
* eigh/svd with repeated eigen/singular values: the derivative of the eigenvectors
  (singular vectors) does not exist; where something flows through a repeated pair the result
  is NaN (JAX: NaN or inf).  Eigenvalues (singular values) alone have exact derivatives, since
  nothing flows through the pairs then (``np.linalg.eigvalsh``, ``norm(a, 2)``, 'nuc').
* svd differentiates the reduced form: full_matrices=True (NumPy's default) is accepted for
  square matrices, where the two are the same; qr needs m >= n (mode 'reduced' or 'r').
"""
from astjax.rules import registry
from astjax.rules.registry import defprim


def T(x):
    """Transpose of the last two axes."""
    return f"np.swapaxes({x}, -1, -2)"


def mm(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = f"np.matmul({out}, {x})"
    return out


def row(x):
    return f"np.expand_dims({x}, -2)"


def col(x):
    return f"np.expand_dims({x}, -1)"


G = "_ax.broadcast_like(g, ans)"      # a cotangent may be the 0.0 standing for zero
INV_T = T("np.linalg.inv(a)")


# ---- batching: the operation maps over the leading axes, vmap's batch axis among them -----

def matrix_rule(drop):
    """vmap rule of a function of the last two axes that removes ``drop`` of them."""
    def rule(b, prim, args):
        from astjax.batching.values import Val
        first, *rest = args.values()
        if any(getattr(a, "batched", False) for a in rest):
            b.cannot(f"{prim.key} with a per-lane option")
        rank = first.rank - drop if first.rank is not None else None
        return b.recall(), Val(first.batched, rank)
    return rule


def shared_rule(rank):
    """vmap rule of a helper whose result depends on its operand's last axes' sizes only."""
    def rule(b, prim, args):
        from astjax.batching.values import Val
        return b.recall(), Val(False, rank)
    return rule


# ---- helpers with rules of their own --------------------------------------------------------
defprim("_ax.tri_mask", "a, k=0", nondiff=True, batch=shared_rule(2))
defprim("_ax.diag_mask", "a", nondiff=True, batch=shared_rule(2))
defprim("_ax.is_tall", "a", nondiff=True, batch=shared_rule(0))
defprim("_ax.is_wide", "a", nondiff=True, batch=shared_rule(0))
defprim("_ax.undefined_where", "x, skip_diagonal=False", nondiff=True, batch="first")
# x / d where d != 0; where d == 0: 0 if x is 0 (nothing flows), NaN otherwise (undefined)
defprim("_ax.pair_divide", "x, d, skip_diagonal=True", batch="elementwise",
        vjp={"x": "_ax.unbroadcast(_ax.pair_divide(g, d, skip_diagonal), x)",
             "d": "_ax.unbroadcast(-_ax.pair_divide(g * ans, d, skip_diagonal), d)"},
        jvp="_ax.pair_divide(t_x, d, skip_diagonal) - _ax.pair_divide(t_d * ans, d, skip_diagonal)")
# the symmetric matrix NumPy's cholesky/eigh read (lower triangle mirrored), and its adjoint,
# which folds the upper triangle onto the lower one
defprim("_ax.sym_from_lower", "x", batch="first", vjp={"x": "_ax.fold_lower(g)"},
        jvp="_ax.sym_from_lower(t_x)")
defprim("_ax.fold_lower", "x", batch="first", vjp={"x": "_ax.sym_from_lower(g)"},
        jvp="_ax.fold_lower(t_x)")

# ---- determinants ---------------------------------------------------------------------------
defprim("np.linalg.det", "a", batch=matrix_rule(2),
        vjp={"a": f"{col(col('g * ans'))} * {INV_T}"},
        jvp=f"ans * np.sum({INV_T} * t_a, axis=(-2, -1))")
defprim("_ax.slogdet_sign", "a", nondiff=True, batch=matrix_rule(2))
defprim("_ax.slogdet_logabs", "a", batch=matrix_rule(2),
        vjp={"a": f"{col(col('g'))} * {INV_T}"},
        jvp=f"np.sum({INV_T} * t_a, axis=(-2, -1))")

# ---- cholesky: L = cholesky(A);  dL = L phi(L^-1 dA L^-T), phi: lower half, diagonal halved --

def phi(x, like="ans"):
    return (f"np.where(_ax.tri_mask({like}, -1), {x}, "
            f"np.where(_ax.diag_mask({like}), 0.5 * {x}, 0.0))")


_CHOL_X = "np.linalg.solve(ans, " + T("np.linalg.solve(ans, _ax.sym_from_lower(t_a))") + ")"
_CHOL_P = phi(mm(T("ans"), G))
_CHOL_S = T("np.linalg.solve(" + T("ans") + ", " + T(f"np.linalg.solve({T('ans')}, {_CHOL_P})")
            + ")")
defprim("np.linalg.cholesky", "a", batch="first",
        vjp={"a": f"_ax.fold_lower({_CHOL_S})"},
        jvp=mm("ans", phi(_CHOL_X)))

# ---- eigh, packed: row 0 eigenvalues w, rows 1.. eigenvectors V ----------------------------
_W, _V = "ans[..., 0, :]", "ans[..., 1:, :]"
_D = f"({row(_W)} - {col(_W)})"                        # D[i, j] = w_j - w_i
_EIGH_DA = "_ax.sym_from_lower(t_a)"
_EIGH_M = mm(T(_V), _EIGH_DA, _V)
_GW, _GV = f"{G}[..., 0, :]", f"{G}[..., 1:, :]"
_EIGH_INNER = (f"np.where(_ax.diag_mask({_V}), {row(_GW)}, "
               f"_ax.pair_divide({mm(T(_V), _GV)}, {_D}))")
defprim("_ax.eigh_packed", "a", batch="first",
        vjp={"a": "_ax.fold_lower(" + mm(_V, _EIGH_INNER, T(_V)) + ")"},
        jvp=(f"np.concatenate([{row(f'np.sum({_V} * {mm(_EIGH_DA, _V)}, axis=-2)')}, "
             f"{mm(_V, f'_ax.pair_divide({_EIGH_M}, {_D})')}], axis=-2)"))

# ---- svd, reduced and packed: rows :m U, row m s, rows m+1: V (a = U diag(s) V^T) -----------
_M = "np.shape(a)[-2]"
_U, _S, _VV = f"ans[..., :{_M}, :]", f"ans[..., {_M}, :]", f"ans[..., {_M} + 1:, :]"
_SJ, _SI = row(_S), col(_S)                           # s_j along rows, s_i along columns
_SD = f"({_SJ} * {_SJ} - {_SI} * {_SI})"              # s_j^2 - s_i^2
_DS = mm(T(_U), "t_a", _VV)                           # U^T dA V
_SVD_DU = (mm(_U, f"_ax.pair_divide({_DS} * {_SJ} + {_SI} * {T(_DS)}, {_SD})")
           + f" + np.where(_ax.is_tall(a), _ax.pair_divide({mm('t_a', _VV)} - {mm(_U, _DS)}, "
             f"{_SJ}, False), 0.0)")
_SVD_DV = (mm(_VV, f"_ax.pair_divide({_SI} * {_DS} + {T(_DS)} * {_SJ}, {_SD})")
           + f" + np.where(_ax.is_wide(a), _ax.pair_divide({mm(T('t_a'), _U)} - "
             f"{mm(_VV, T(_DS))}, {_SJ}, False), 0.0)")
_SVD_DS = f"np.sum({_U} * {mm('t_a', _VV)}, axis=-2)"
_GU, _GS, _GVV = f"{G}[..., :{_M}, :]", f"{G}[..., {_M}, :]", f"{G}[..., {_M} + 1:, :]"
_JU, _JV = mm(T(_U), _GU), mm(T(_VV), _GVV)
_Y, _Z = f"_ax.pair_divide({_JU}, {_SD})", f"_ax.pair_divide({_JV}, {_SD})"
_GSS = (f"np.where(_ax.diag_mask({_SD}), {row(_GS)}, 0.0) + ({_Y} + {T(_Y)}) * {_SJ} "
        f"+ {_SI} * ({_Z} + {T(_Z)})")
_SVD_VJP = (mm(_U, f"({_GSS})", T(_VV))
            + f" + np.where(_ax.is_tall(a), "
              + mm(f"_ax.pair_divide({_GU} - {mm(_U, _JU)}, {_SJ}, False)", T(_VV)) + ", 0.0)"
            + f" + np.where(_ax.is_wide(a), "
              + mm(_U, T(f"_ax.pair_divide({_GVV} - {mm(_VV, _JV)}, {_SJ}, False)")) + ", 0.0)")
defprim("_ax.svd_packed", "a", batch="first", vjp={"a": _SVD_VJP},
        jvp=f"np.concatenate([{_SVD_DU}, {row(_SVD_DS)}, {_SVD_DV}], axis=-2)")

# ---- qr, reduced and packed (m >= n): rows :m Q, rows m: R ----------------------------------
_Q, _R = f"ans[..., :{_M}, :]", f"ans[..., {_M}:, :]"
_C = T(f"np.linalg.solve({T(_R)}, {T('t_a')})")      # dA R^-1
_B = mm(T(_Q), _C)                                    # Q^T dA R^-1
_LOW = f"np.where(_ax.tri_mask({_R}, -1), {_B}, 0.0)"
_DO = f"({_LOW} - {T(_LOW)})"                         # skew-symmetric
_GQ, _GR = f"{G}[..., :{_M}, :]", f"{G}[..., {_M}:, :]"
_QM = f"({mm(T(_Q), _GQ)} - {mm(_GR, T(_R))})"
_GB = f"(np.where(_ax.tri_mask({_R}, -1), {_QM} - {T(_QM)}, 0.0) - {_QM})"
defprim("_ax.qr_packed", "a", batch="first",
        vjp={"a": T(f"np.linalg.solve({_R}, {T(_GQ + ' + ' + mm(_Q, _GB))})")},
        jvp=(f"np.concatenate([{mm(_Q, f'({_DO} - {_B})')} + {_C}, "
             f"{mm(f'({_B} - {_DO})', _R)}], axis=-2)"))


def _register_stand_ins():
    import numpy as np

    from astjax.rules import linalg_numpy as impl
    la = np.linalg
    for library, helper in [
            (la.slogdet, impl.slogdet), (la.norm, impl.norm), (la.eigh, impl.eigh),
            (la.eigvalsh, impl.eigvalsh), (la.svd, impl.svd), (la.qr, impl.qr),
            (la.pinv, impl.pinv), (la.matrix_norm, impl.matrix_norm),
            (la.vector_norm, impl.vector_norm), (la.svdvals, impl.svdvals)]:
        registry.replace_with(library, helper)


_register_stand_ins()
