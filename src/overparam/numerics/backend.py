"""One array namespace for NumPy or CuPy.

The backend is chosen by the arrays passed in, or by an explicit ``backend=`` argument
("numpy" or "cupy"). Everything defaults to float64.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "cupy_available", "default_rng", "get_xp", "to_numpy", "unit_roundoff"]

BACKENDS = ("numpy", "cupy")


def _cupy() -> ModuleType | None:
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _loaded_cupy() -> ModuleType | None:
    # No CuPy array can exist unless CuPy was imported: checking sys.modules avoids a failing
    # import on every call where CuPy is not installed.
    return sys.modules.get("cupy")


def cupy_available() -> bool:
    """True when CuPy imports and at least one CUDA device is visible."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_xp(*arrays: Any, backend: str | None = None) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) for ``arrays`` or for ``backend``.

    An explicit ``backend`` wins; otherwise any CuPy array among ``arrays`` selects CuPy.
    Mixing is not allowed silently: an explicit ``backend="numpy"`` with CuPy arrays raises.
    """
    cp = _loaded_cupy()
    has_cupy_array = cp is not None and any(isinstance(a, cp.ndarray) for a in arrays)
    if backend is None:
        return cp if has_cupy_array else np
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        if has_cupy_array:
            raise TypeError("backend='numpy' was requested but a CuPy array was passed")
        return np
    cp = _cupy()
    if cp is None:
        raise ValueError("backend='cupy' needs CuPy: pip install 'overparam[gpu]'")
    return cp


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``a``, whichever backend it lives on."""
    cp = _loaded_cupy()
    if cp is not None and isinstance(a, cp.ndarray):
        return cp.asnumpy(a)
    return np.asarray(a)


def unit_roundoff(dtype: Any) -> float:
    """The unit roundoff u = eps/2 of a floating dtype (2**-53 for float64).

    Raises TypeError for a dtype that is not a real floating type."""
    try:
        dt = np.dtype(str(np.dtype(dtype)))
    except TypeError as exc:
        raise TypeError(f"dtype: expected a floating dtype, got {dtype!r}") from exc
    if dt.kind != "f":
        raise TypeError(f"dtype: expected a real floating dtype, got {dt}")
    return float(np.finfo(dt).eps) / 2.0


def default_rng(seed: int | np.random.Generator | None, xp: ModuleType = np) -> Any:
    """A random Generator on ``xp`` from an integer seed (or a Generator passed through).

    ``None`` is refused: every random draw in overparam comes from an explicit seed.
    """
    if seed is None:
        raise ValueError("seed: an explicit integer seed or Generator is required")
    if not isinstance(seed, np.random.Generator):
        if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed: expected an integer or a numpy Generator, "
                            f"got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {seed}")
    if xp is np:
        return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    return xp.random.default_rng(seed)
