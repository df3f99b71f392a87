import numpy as np
import pytest

from overparam.numerics.validation import (
    check_array,
    check_choice,
    check_labels,
    check_scalar,
    memory_for,
)


@pytest.mark.parametrize("given, kept", [
    (np.array([1, 2], dtype=np.int8), np.float64),
    (np.array([True, False]), np.float64),
    (np.array([1.5], dtype=np.float16), np.float64),
    (np.array([1.5], dtype=np.float32), np.float32),
    (np.array([1.5], dtype=np.float64), np.float64),
    ([1, 2, 3], np.float64),
])
def test_float_dtype_keeps_float32_and_float64_and_converts_the_rest(given, kept):
    out = check_array(given, "x")
    assert out.dtype == kept
    np.testing.assert_array_equal(out, np.asarray(given).astype(np.float64))


def test_int8_values_survive_the_conversion_to_float():
    out = check_array(np.array([-128, 127], dtype=np.int8), "g", dtype="float64")
    assert out.dtype == np.float64 and out.tolist() == [-128.0, 127.0]


@pytest.mark.parametrize("bad, word", [
    (np.array([1 + 2j]), "real"),
    (np.array(["a", "b"]), "numeric"),
    (np.array([1.0, None], dtype=object), "numeric"),
])
@pytest.mark.parametrize("dtype", ["float", "float64", "numeric", "integer"])
def test_non_real_dtypes_are_type_errors_naming_the_argument(bad, word, dtype):
    with pytest.raises(TypeError, match=rf"^weights: expected .*{word}.*, got"):
        check_array(bad, "weights", dtype=dtype)


def test_any_dtype_lets_everything_through():
    z = np.array([1 + 2j])
    assert check_array(z, "z", dtype="any") is not None


@pytest.mark.parametrize("value, bad", [(np.nan, "NaN"), (np.inf, "infinite"),
                                        (-np.inf, "infinite")])
def test_non_finite_values_are_value_errors(value, bad):
    with pytest.raises(ValueError, match=rf"^X: expected finite values, got {bad}"):
        check_array([[1.0, value]], "X")
    out = check_array([[1.0, value]], "X", finite=False)
    assert out.shape == (1, 2)


def test_empty_arrays_are_refused_unless_allowed():
    with pytest.raises(ValueError, match=r"^X: expected a non-empty array, got shape \(0, 3\)"):
        check_array(np.zeros((0, 3)), "X")
    assert check_array(np.zeros((0, 3)), "X", allow_empty=True).shape == (0, 3)


def test_ndim_and_shape_with_wildcards():
    assert check_array(np.ones(3), "x", ndim=(1, 2)).ndim == 1
    with pytest.raises(ValueError, match=r"^x: expected 2 dimensions, got 1"):
        check_array(np.ones(3), "x", ndim=2)
    assert check_array(np.ones((4, 3)), "x", shape=(None, 3)).shape == (4, 3)
    with pytest.raises(ValueError, match=r"^x: expected shape \(\*, 2\), got \(4, 3\)"):
        check_array(np.ones((4, 3)), "x", shape=(None, 2))
    with pytest.raises(ValueError, match=r"^x: expected shape \(\*, 3\), got \(3,\)"):
        check_array(np.ones(3), "x", shape=(None, 3))


def test_ragged_input_is_a_value_error():
    with pytest.raises(ValueError, match=r"^X: expected an array"):
        check_array([[1.0, 2.0], [3.0]], "X")


def test_integer_dtype_refuses_floats_and_keeps_integers():
    with pytest.raises(TypeError, match=r"^k: expected an integer array, got dtype float64"):
        check_array([1.0, 2.0], "k", dtype="integer")
    assert check_array(np.array([3], dtype=np.uint8), "k", dtype="integer").dtype == np.uint8


def test_numeric_keeps_the_dtype():
    assert check_array(np.array([3], dtype=np.int16), "k", dtype="numeric").dtype == np.int16


def test_unknown_dtype_keyword_is_refused():
    with pytest.raises(ValueError, match="^dtype: expected one of"):
        check_array([1.0], "x", dtype="double")


def test_scalar_bounds_open_and_closed():
    assert check_scalar(0.5, "delta", low=0, high=1, low_open=True, high_open=True) == 0.5
    for edge in (0, 1):
        with pytest.raises(ValueError, match=r"^delta: expected a value [<>] "):
            check_scalar(edge, "delta", low=0, high=1, low_open=True, high_open=True)
    assert check_scalar(0, "gamma", low=0) == 0.0
    with pytest.raises(ValueError, match=r"^gamma: expected a value >= 0, got -0.1"):
        check_scalar(-0.1, "gamma", low=0)


def test_scalar_types_and_non_finite():
    assert check_scalar(np.int64(4), "k", integer=True, low=1) == 4
    assert isinstance(check_scalar(np.float32(2.5), "s"), float)
    assert check_scalar(np.array(3.0), "s") == 3.0
    for bad in ("3", 1 + 0j, True, [1.0], np.ones(2)):
        with pytest.raises(TypeError, match=r"^s: expected"):
            check_scalar(bad, "s")
    with pytest.raises(TypeError, match=r"^k: expected an integer, got float 3.0"):
        check_scalar(3.0, "k", integer=True)
    with pytest.raises(ValueError, match=r"^s: expected a number, got NaN"):
        check_scalar(float("nan"), "s", finite=False)
    with pytest.raises(ValueError, match=r"^s: expected a finite number, got inf"):
        check_scalar(float("inf"), "s")
    assert check_scalar(float("inf"), "s", finite=False, low=0) == float("inf")


def test_huge_integers_are_compared_exactly():
    big = 2**70
    assert check_scalar(big, "n", integer=True, low=0) == big
    with pytest.raises(ValueError, match=r"^n: expected a value <= 1000000"):
        check_scalar(big, "n", integer=True, high=10**6)


def test_labels():
    out = check_labels(np.array([0, 2, 1], dtype=np.uint8), "y", n=3, n_classes=3)
    assert out.dtype == np.int64 and out.tolist() == [0, 2, 1]
    with pytest.raises(TypeError, match=r"^y: expected an integer array, got dtype float64"):
        check_labels([0.0, 1.0], "y")
    with pytest.raises(TypeError, match=r"^y: expected an integer array, got dtype bool"):
        check_labels([True, False], "y")
    with pytest.raises(ValueError, match=r"^y: expected labels in \[0, 3\), got 3"):
        check_labels([0, 3], "y", n_classes=3)
    with pytest.raises(ValueError, match=r"^y: expected labels >= 0, got -1"):
        check_labels([0, -1], "y")
    with pytest.raises(ValueError, match=r"^y: expected 4 labels, got 2"):
        check_labels([0, 1], "y", n=4)
    with pytest.raises(ValueError, match=r"^y: expected 1 dimension, got 2"):
        check_labels([[0, 1]], "y")
    # a uint64 label beyond int64 would wrap to a negative class index
    with pytest.raises(ValueError, match=r"^y: expected labels below 2\*\*63"):
        check_labels(np.array([0, 2**63 + 5], dtype=np.uint64), "y")


def test_choice():
    assert check_choice("rbf", "kind", ("rbf", "linear")) == "rbf"
    assert check_choice(np.str_("rbf"), "kind", ("rbf", "linear")) == "rbf"
    with pytest.raises(ValueError, match=r"^kind: expected one of \('rbf', 'linear'\), got 'rfb'"):
        check_choice("rfb", "kind", ("rbf", "linear"))
    with pytest.raises(ValueError, match=r"^flag: expected one of"):
        check_choice(True, "flag", (1, 2))
    with pytest.raises(ValueError, match=r"^kind: expected one of"):
        check_choice(np.array(["rbf"]), "kind", ("rbf",))


@pytest.mark.gpu
def test_cupy_arrays_stay_on_the_gpu():
    import cupy as cp

    out = check_array(cp.arange(3, dtype=cp.int32), "x")
    assert isinstance(out, cp.ndarray) and out.dtype == cp.float64
    with pytest.raises(ValueError, match="^x: expected finite values, got NaN"):
        check_array(cp.array([cp.nan]), "x")


def test_memory_for_names_the_argument_that_asked_for_too_much():
    with pytest.raises(ValueError, match=r"^d: a 1e9×1e9 matrix does not fit in memory"):
        with memory_for("d", "a 1e9×1e9 matrix"):
            np.zeros((10**9, 10**9))
    with pytest.raises(ValueError, match=r"^channels: a kernel does not fit in memory"):
        with memory_for("channels", "a kernel"):
            np.zeros((3, 3, 10**9, 10**9))
    with pytest.raises(ValueError, match="^unrelated$"):
        with memory_for("d", "anything"):
            raise ValueError("unrelated")
