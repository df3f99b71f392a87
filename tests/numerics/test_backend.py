import numpy as np
import pytest

from overparam.numerics.backend import (
    cupy_available,
    default_rng,
    get_xp,
    to_numpy,
    unit_roundoff,
)


def test_numpy_is_default_and_explicit():
    assert get_xp(np.ones(2)) is np
    assert get_xp(backend="numpy") is np


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        get_xp(backend="torch")


@pytest.mark.skipif(cupy_available(), reason="checks the message shown when CuPy is absent")
def test_cupy_backend_without_cupy_says_how_to_install():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="overparam\\[gpu\\]"):
            get_xp(backend="cupy")


def test_float64_roundoff():
    assert unit_roundoff(np.float64) == 2.0**-53
    assert unit_roundoff(np.float32) == 2.0**-24
    for bad in (np.int64, np.complex128, "U3"):
        with pytest.raises(TypeError, match="^dtype: expected a real floating dtype"):
            unit_roundoff(bad)


def test_seed_is_required_and_reproducible():
    with pytest.raises(ValueError, match="seed"):
        default_rng(None)
    assert default_rng(3).random() == default_rng(3).random()
    for bad in (1.5, "3", True):
        with pytest.raises(TypeError, match="^seed: expected an integer"):
            default_rng(bad)
    with pytest.raises(ValueError, match="^seed: expected an integer >= 0, got -1"):
        default_rng(-1)


@pytest.mark.gpu
def test_cupy_arrays_select_cupy_and_round_trip():
    import cupy as cp

    a = cp.arange(4.0)
    assert get_xp(a) is cp
    np.testing.assert_array_equal(to_numpy(a), np.arange(4.0))
    with pytest.raises(TypeError):
        get_xp(a, backend="numpy")
