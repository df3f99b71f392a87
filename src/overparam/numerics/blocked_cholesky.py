"""A blocked, in-place Cholesky factor of a kernel matrix held in float32 (RR Sec. 5's 60,000-point
system), with the flops in the BLAS on all threads and a breakdown reported at the block where
it happens.

Right-looking blocked Cholesky (Golub & Van Loan, Alg. 4.2.4 in blocked form), lower triangle,
Fortran order, overwriting A:

1. the diagonal block A₁₁ (b × b) is copied to float64 and factored there by LAPACK ``dpotrf``
   (a pivot ≤ 0 is a breakdown of *this* block: reported at once, with its global index);
   L₁₁ is written back in A's dtype;
2. the panel below it: L₂₁ = A₂₁ L₁₁⁻ᵀ by ``?trsm`` in A's dtype, in place;
3. the trailing lower triangle: A₂₂ ← A₂₂ − L₂₁ L₂₁ᵀ one column block of width b at a time,
   its diagonal square's lower triangle by ``?syrk`` and the rows below it by ``?gemm`` (only
   the lower triangle is ever written, so the untouched upper triangle of a lazily mapped
   matrix stays unmapped; a ``gemm`` over the whole square would spend n²b/2 flops, 2.5 % of
   the n³/3 at n = 60,000 and b = 1024, on its upper half).

The BLAS calls go through SciPy's ``cython_blas`` function pointers with a leading dimension,
so panels and trailing blocks are updated where they lie; SciPy's Python wrappers would copy a
strided block in and out. OpenBLAS threads each call. Nearly all flops (n³/3) are in the
``gemm`` calls, which are the best-threaded level-3 routine; LAPACK's ``spotrf`` with several
OpenBLAS threads instead runs OpenBLAS's own recursive parallel factor (its ``syrk`` and
``trsm`` threaded drivers), a different code path from the one-thread one.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

__all__ = ["BLOCK", "NotPositiveDefiniteError", "blas_provenance", "blocked_cholesky_in_place"]

#: the block width b: each ``gemm`` has inner dimension b (well past OpenBLAS's internal
#: GEMM_Q, so a call runs at the routine's full rate) and the diagonal blocks (b³/3 flops
#: each, n·b²/3 in all) stay a small share of the n³/3
BLOCK = 1024


class NotPositiveDefiniteError(ValueError):
    """The Cholesky factorisation met a pivot ≤ 0 (or not finite) at the factor's precision:
    ``index`` is the 0-based column where it failed (None where the routine does not say)."""

    def __init__(self, message: str, index: int | None = None):
        self.index = index
        super().__init__(message)


def _breakdown(index: int, n: int, dtype: str) -> NotPositiveDefiniteError:
    return NotPositiveDefiniteError(
        f"X: the kernel matrix is not positive definite in {dtype} (the leading minor of "
        f"order {index + 1} of {n} failed)", index)


def _capsule_pointer(module: Any, name: str) -> int:
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, get_name(capsule))


_INT = ctypes.POINTER(ctypes.c_int)
_CHAR = ctypes.c_char_p
_PTR = ctypes.c_void_p
# Fortran BLAS: every argument by reference
_SYRK = ctypes.CFUNCTYPE(None, _CHAR, _CHAR, _INT, _INT, _PTR, _PTR, _INT, _PTR, _PTR, _INT)
_GEMM = ctypes.CFUNCTYPE(None, _CHAR, _CHAR, _INT, _INT, _INT, _PTR, _PTR, _INT, _PTR, _INT,
                         _PTR, _PTR, _INT)
_TRSM = ctypes.CFUNCTYPE(None, _CHAR, _CHAR, _CHAR, _CHAR, _INT, _INT, _PTR, _PTR, _INT, _PTR,
                         _INT)


def _routines(dtype: np.dtype) -> tuple[Any, Any, Any, Any]:
    """(gemm, syrk, trsm, the scalar type) of SciPy's BLAS for ``dtype`` (float32 or
    float64)."""
    from scipy.linalg import cython_blas

    prefix, scalar = ("s", ctypes.c_float) if dtype == np.float32 else ("d", ctypes.c_double)
    gemm = _GEMM(_capsule_pointer(cython_blas, prefix + "gemm"))
    syrk = _SYRK(_capsule_pointer(cython_blas, prefix + "syrk"))
    trsm = _TRSM(_capsule_pointer(cython_blas, prefix + "trsm"))
    return gemm, syrk, trsm, scalar


def _ref(value: int) -> Any:
    return ctypes.byref(ctypes.c_int(value))


def _address(A: np.ndarray, i: int, j: int) -> int:
    return A.ctypes.data + (i + j * A.shape[0]) * A.itemsize


def blocked_cholesky_in_place(A: np.ndarray, *, block: int = BLOCK, progress: Any = None
                              ) -> np.ndarray:
    """Overwrite the lower triangle of the Fortran-ordered (n, n) float32 or float64 ``A`` with
    its Cholesky factor L (A = LLᵀ; only the lower triangle is read; the strict upper triangle
    of the diagonal blocks is overwritten with zeros, the rest of the upper triangle is never
    touched). ``progress``: a callable given the number of columns just finished.

    Returns A. Raises NotPositiveDefiniteError (with the failing column's ``index``) at the
    first diagonal block whose float64 factor meets a pivot ≤ 0 (A is then partly
    overwritten), ValueError for a non-square, non-Fortran or other-dtype A."""
    from scipy.linalg import lapack

    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A: expected a square matrix, got shape {A.shape}")
    if A.dtype not in (np.float32, np.float64) or not A.flags.f_contiguous:
        raise ValueError(f"A: expected a Fortran-ordered float32 or float64 array, got "
                         f"{A.dtype}, f_contiguous={A.flags.f_contiguous}")
    n = A.shape[0]
    gemm, syrk, trsm, scalar = _routines(A.dtype)
    one, minus_one = ctypes.byref(scalar(1.0)), ctypes.byref(scalar(-1.0))
    lda = _ref(n)
    for k0 in range(0, n, block):
        k1 = min(n, k0 + block)
        b = k1 - k0
        diag = np.array(A[k0:k1, k0:k1], dtype=np.float64, order="F")
        L11, info = lapack.dpotrf(diag, lower=1, clean=1, overwrite_a=1)
        if info > 0 or not np.isfinite(np.diagonal(L11)).all():
            bad = info - 1 if info > 0 else int(np.argmin(np.isfinite(np.diagonal(L11))))
            raise _breakdown(k0 + bad, n, A.dtype.name)
        # clean=1 zeroed L11's upper part: what earlier gemm calls wrote there is gone
        A[k0:k1, k0:k1] = L11
        rest = n - k1
        if rest:
            # L21 = A21 L11⁻ᵀ: right side, lower, transposed, non-unit diagonal
            trsm(b"R", b"L", b"T", b"N", _ref(rest), _ref(b), one,
                 _PTR(_address(A, k0, k0)), lda, _PTR(_address(A, k1, k0)), lda)
            for j0 in range(k1, n, block):
                j1 = min(n, j0 + block)
                # tril(A[j0:j1, j0:j1]) -= L21[j0:j1] L21[j0:j1]ᵀ
                syrk(b"L", b"N", _ref(j1 - j0), _ref(b), minus_one,
                     _PTR(_address(A, j0, k0)), lda, one, _PTR(_address(A, j0, j0)), lda)
                if j1 < n:
                    # A[j1:, j0:j1] -= L21[j1:] L21[j0:j1]ᵀ
                    gemm(b"N", b"T", _ref(n - j1), _ref(j1 - j0), _ref(b), minus_one,
                         _PTR(_address(A, j1, k0)), lda, _PTR(_address(A, j0, k0)), lda, one,
                         _PTR(_address(A, j1, j0)), lda)
        if progress is not None:
            progress(b)
    return A


def blas_provenance() -> dict:
    """The BLAS this process calls (threadpoolctl's view): library, version, threads,
    architecture and file of each loaded BLAS, and which one SciPy's LAPACK uses."""
    import scipy
    from threadpoolctl import threadpool_info

    libs = [{k: info.get(k) for k in ("internal_api", "version", "num_threads",
                                     "architecture", "threading_layer", "filepath")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return {"blas": libs, "numpy": np.__version__, "scipy": scipy.__version__}
