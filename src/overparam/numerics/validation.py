"""Checks for user input at every public entry point (the idea of scikit-learn's check_array).

Every check names the argument and what was expected: ``"<name>: expected ..., got ..."``.
Wrong types (complex, object, strings, a float where an integer is needed) raise ``TypeError``;
wrong values (NaN/inf, empty, wrong shape, out of range) raise ``ValueError``. Arrays keep their
backend (NumPy or CuPy) unless ``xp`` says otherwise.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp

__all__ = ["ARRAY_DTYPES", "check_array", "check_choice", "check_labels", "check_scalar",
           "memory_for"]

ARRAY_DTYPES = ("float", "float64", "numeric", "integer", "any")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_array(x: Any, name: str, xp: ModuleType) -> Any:
    try:
        return xp.asarray(x)
    except (TypeError, ValueError) as exc:
        # Ragged nested lists and objects with no array form land here.
        raise ValueError(f"{name}: expected an array, got {type(x).__name__} "
                         f"that has no array form ({exc})") from exc


def _dtype_checked(arr: Any, name: str, dtype: str, xp: ModuleType) -> Any:
    kind = arr.dtype.kind
    if dtype == "any":
        return arr
    if kind in "OUSVMm":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if kind == "c":
        raise TypeError(f"{name}: expected a real array, got complex dtype {arr.dtype}")
    if dtype == "integer":
        if kind not in "iu":
            raise TypeError(f"{name}: expected an integer array, got dtype {arr.dtype}")
        return arr
    if dtype == "numeric":
        return arr
    if dtype == "float64" or kind in "biu" or arr.dtype not in (xp.float32, xp.float64):
        # float16 has 3 decimal digits and longdouble has no CuPy counterpart: both are
        # computed in float64, as are integers and booleans.
        return arr.astype(xp.float64, copy=False)
    return arr


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    dtype: str = "float",
    finite: bool = True,
    allow_empty: bool = False,
    xp: ModuleType | None = None,
) -> Any:
    """``x`` as a checked array on its own backend (or on ``xp``).

    ``ndim``: an allowed number of dimensions or a tuple of them. ``shape``: the expected shape,
    ``None`` entries are wildcards (it also fixes the number of dimensions). ``dtype``:
    ``"float"`` (float32/float64 kept; booleans, integers, float16 and other floats become
    float64), ``"float64"`` (always float64), ``"numeric"`` (any real dtype, kept), ``"integer"``
    (signed or unsigned integers only), ``"any"`` (no dtype check). Complex, object and string
    arrays raise ``TypeError`` except under ``"any"``. ``finite``: NaN/inf raise ``ValueError``.
    ``allow_empty``: otherwise an array with no element raises ``ValueError``.
    """
    if dtype not in ARRAY_DTYPES:
        raise ValueError(f"dtype: expected one of {ARRAY_DTYPES}, got {dtype!r}")
    xp = get_xp(x) if xp is None else xp
    arr = _as_array(x, name, xp)
    _check_size(arr, name, dtype)
    arr = _dtype_checked(arr, name, dtype, xp)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name}: expected {_dimensions(allowed)}, got {arr.ndim} "
                             f"(shape {tuple(arr.shape)})")
    if shape is not None:
        matches = len(shape) == arr.ndim and all(
            want is None or want == got for want, got in zip(shape, arr.shape, strict=False))
        if not matches:
            wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {wanted}, got {tuple(arr.shape)}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name}: expected a non-empty array, got shape {tuple(arr.shape)}")
    if finite and arr.dtype.kind in "fc" and arr.size:
        distinct = _distinct_elements(arr)
        if not bool(xp.all(xp.isfinite(distinct))):
            bad = "NaN" if bool(xp.any(xp.isnan(distinct))) else "infinite"
            raise ValueError(f"{name}: expected finite values, got {bad} values")
    return arr


def _dimensions(allowed: tuple[int, ...]) -> str:
    """"2 dimensions", "1 or 2 dimensions"; a run of three or more counts as "2 to 5", or "at
    least 1" when it reaches NumPy's limit (32 or more: every count an array can have)."""
    low, high = min(allowed), max(allowed)
    if len(allowed) >= 3 and set(allowed) == set(range(low, high + 1)):
        wanted = f"at least {low}" if high >= 32 else f"{low} to {high}"
    else:
        wanted = " or ".join(map(str, allowed))
    return f"{wanted} dimension{'' if wanted.split()[-1] == '1' else 's'}"


def _physical_memory() -> int | None:
    """This machine's memory in bytes; None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_size(arr: Any, name: str, dtype: str) -> None:
    """Refuse, before anything scans or copies it, an array whose elements — in the dtype
    ``check_array`` returns (float64 unless kept) — would not fit in this machine's memory:
    only a view can be that large (``broadcast_to``, zero strides, a memory map), and every
    computation on it (the finiteness scan's mask, the float copy, the function's own
    temporaries) would end in a MemoryError far from the argument."""
    memory = _physical_memory()
    kept = dtype in ("integer", "numeric", "any") or (dtype == "float" and arr.dtype.kind == "f"
                                                      and arr.dtype.itemsize in (4, 8))
    itemsize = arr.dtype.itemsize if kept else 8
    need = arr.size * itemsize
    if memory is not None and need > memory:
        as_what = arr.dtype if kept else "float64"
        raise ValueError(f"{name}: shape {tuple(arr.shape)} holds {arr.size:.3g} elements "
                         f"({need / 2**30:.3g} GiB as {as_what}), more than this machine's "
                         f"memory ({memory / 2**30:.3g} GiB) — a view (broadcast, zero "
                         "strides) that large cannot be computed with; pass a smaller array")


def _distinct_elements(arr: Any) -> Any:
    """The elements of ``arr`` without the repeats of its zero-stride axes (a broadcast view
    repeats one value along them): the same values to scan, none of them twice."""
    strides = getattr(arr, "strides", None)
    if strides is None:
        return arr
    return arr[tuple(slice(0, 1) if stride == 0 else slice(None) for stride in strides)]


def _scalar_value(value: Any, name: str) -> Any:
    if hasattr(value, "ndim") and hasattr(value, "item"):
        if value.ndim != 0:
            raise TypeError(f"{name}: expected a scalar, got an array of shape "
                            f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}: expected a number, got bool {value!r}")
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got complex {value!r}")
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} "
                        f"{_describe(value)}")
    return value


def check_scalar(
    value: Any,
    name: str,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> int | float:
    """``value`` as a Python ``int`` (``integer=True``) or ``float`` within the stated bounds.

    Accepts Python and NumPy numbers and 0-d arrays. ``low``/``high`` bound the value, closed
    unless ``low_open``/``high_open``. NaN is always refused; infinities unless ``finite=False``.
    Booleans, strings, complex numbers, and (with ``integer=True``) floats raise ``TypeError``.
    """
    value = _scalar_value(value, name)
    if integer:
        if not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
        result: int | float = int(value)
    else:
        result = float(value)
        if math.isnan(result):
            raise ValueError(f"{name}: expected a number, got NaN")
        if finite and math.isinf(result):
            raise ValueError(f"{name}: expected a finite number, got {result}")
    if low is not None and (result <= low if low_open else result < low):
        raise ValueError(f"{name}: expected a value {'>' if low_open else '>='} {low}, "
                         f"got {result!r}")
    if high is not None and (result >= high if high_open else result > high):
        raise ValueError(f"{name}: expected a value {'<' if high_open else '<='} {high}, "
                         f"got {result!r}")
    return result


def check_labels(y: Any, name: str, *, n: int | None = None,
                 n_classes: int | None = None) -> Any:
    """``y`` as a 1-D ``int64`` array of class indices in ``[0, n_classes)``.

    ``n``: the required number of labels. Float, boolean, complex and string labels raise
    ``TypeError`` (a float label such as 0.5 has no class); negative labels, labels
    ``>= n_classes``, an empty array or a wrong length raise ``ValueError``.
    """
    arr = check_array(y, name, ndim=1, dtype="integer")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} labels, got {arr.shape[0]}")
    xp = get_xp(arr)
    lowest, highest = int(xp.min(arr)), int(xp.max(arr))
    if lowest < 0:
        raise ValueError(f"{name}: expected labels >= 0, got {lowest}")
    if n_classes is not None and highest >= n_classes:
        raise ValueError(f"{name}: expected labels in [0, {n_classes}), got {highest}")
    if highest > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: expected labels below 2**63, got {highest}")
    return arr.astype(xp.int64)


def _equal(value: Any, choice: Any) -> bool:
    if isinstance(value, bool | np.bool_) != isinstance(choice, bool | np.bool_):
        return False  # True == 1 in Python; a flag is not a count
    try:
        equal = value == choice
    except (TypeError, ValueError):
        return False
    # An array compared with a choice gives an array, never a match.
    return isinstance(equal, bool | np.bool_) and bool(equal)


def check_choice(value: Any, name: str, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``; ``ValueError`` listing them otherwise."""
    if not any(_equal(value, c) for c in choices):
        raise ValueError(f"{name}: expected one of {tuple(choices)!r}, got {_describe(value)}")
    return value


@contextmanager
def memory_for(name: str, what: str) -> Iterator[None]:
    """Turn a MemoryError inside the block (or the OverflowError or ValueError NumPy and
    Python raise for sizes beyond the address space) into a ValueError naming the argument
    whose size asked for it (``what`` says what was being built)."""
    try:
        yield
    except (MemoryError, OverflowError) as exc:
        raise ValueError(f"{name}: {what} does not fit in memory ({exc})") from exc
    except ValueError as exc:
        if "too big" not in str(exc) and "maximum allowed" not in str(exc).lower():
            raise
        raise ValueError(f"{name}: {what} does not fit in memory ({exc})") from exc
