from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.signal import correlate
from scipy.stats import pearsonr

from overparam.numerics.backend import unit_roundoff
from overparam.numerics.layers import conv2d
from overparam.theory import identity_crisis as ic
from overparam.verify import strategies as ost

U = unit_roundoff(np.float64)


def test_fcn1_predict_hand_case():
    # X = e1: Π∥x = (x1, 0, 0), Π⊥x = (0, x2, x3), so f(x) = (x1, 0, 0) + W0 (0, x2, x3)
    W0 = np.arange(9.0).reshape(3, 3)
    x = np.array([2.0, -1.0, 5.0])
    expected = np.array([2.0, 0, 0]) + W0 @ np.array([0.0, -1.0, 5.0])
    np.testing.assert_allclose(ic.fcn1_predict(W0, np.array([7.0, 0, 0]), x), expected,
                               rtol=8 * U)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4).flatmap(lambda d: st.tuples(
    hnp.arrays(np.float64, (d, d), elements=st.integers(-9, 9)),
    hnp.arrays(np.float64, (d,), elements=st.integers(-9, 9)).filter(lambda v: v.any()),
    hnp.arrays(np.float64, (d,), elements=st.integers(-9, 9)))))
def test_fcn1_predict_matches_exact_rationals(case):
    W0, X, x = case
    W, Xr, xr = (sympy.Matrix(a.astype(int).tolist()) for a in (W0, X, x))
    par = Xr * (Xr.T * xr)[0] / (Xr.T * Xr)[0]
    exact = np.array((par + W * (xr - par)).evalf(30).tolist(), dtype=float).ravel()
    got = ic.fcn1_predict(W0, X, x)
    # d-term dot products of entries ≤ 9: a few (d + 4)·u relative to the magnitudes involved
    scale = (1 + np.abs(W0).sum()) * np.abs(x).sum()
    assert np.max(np.abs(got - exact)) <= 8 * (len(x) + 4) * U * scale
    # and the limit weights give the same prediction
    np.testing.assert_allclose(ic.fcn1_limit_weights(W0, X) @ x, exact,
                               atol=8 * (len(x) + 4) * U * scale)


def test_fcn1_is_scale_invariant_in_x_even_at_extreme_magnitudes():
    rng = np.random.default_rng(0)
    W0, X, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    ref = ic.fcn1_predict(W0, X, x)
    # the unit vector of X·scale equals X's to 4(d+4)u; the prediction moves by ≤ that
    # relative error times (1 + ‖W0‖)‖x‖
    bound = 16 * (4 + 4) * U * (1 + np.linalg.norm(W0)) * np.linalg.norm(x, axis=1).max()
    for scale in (1e-161, 1e-300, 1e155):
        np.testing.assert_allclose(ic.fcn1_predict(W0, X * scale, x), ref, atol=bound)


@pytest.mark.parametrize("W0, X, x, match", [
    (np.eye(2), np.zeros(2), np.ones(2), "non-zero"),
    (np.eye(3), np.ones(2), np.ones(2), "W0: expected shape"),
    (np.eye(2), np.ones(2), np.ones(3), "x: expected last dimension"),
    (np.eye(2), np.array([1.0, np.nan]), np.ones(2), "X: expected finite values, got NaN"),
])
def test_fcn1_bad_inputs(W0, X, x, match):
    with pytest.raises(ValueError, match=match):
        ic.fcn1_predict(W0, X, x)


# IC Table 1, typed here from the paper independently of the package's transcription
@pytest.mark.parametrize("arch, depth, kwargs, count", [
    ("fcn", 1, {"hidden": 784}, 614_656),
    ("fcn", 10, {"hidden": 784}, 6_146_560),
    ("fcn", 4, {"hidden": 2048}, 11_599_872),
    ("cnn", 3, {"kernel": 5, "channels": 3}, 375),
    ("cnn", 24, {"kernel": 7, "channels": 3}, 9_996),
    ("cnn", 20, {"kernel": 7, "channels": 1024}, 924_944_384),
    ("cnn", 5, {"kernel": 57, "channels": 128}, 160_526_592),
])
def test_param_count_matches_table_1(arch, depth, kwargs, count):
    assert ic.param_count(arch, depth, **kwargs) == count


def test_param_count_matches_every_transcribed_entry():
    assert len(ic.TABLE1_PARAM_COUNTS) == 99
    for arch, depth, kwargs, count in ic.TABLE1_PARAM_COUNTS:
        assert ic.param_count(arch, depth, **kwargs) == count


def test_param_count_bad_arguments():
    with pytest.raises(ValueError, match="arch"):
        ic.param_count("rnn", 2)
    with pytest.raises(ValueError, match="depth"):
        ic.param_count("fcn", 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(1, 4),
       st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31))
def test_conv2d_matches_scipy_correlate(h, w, cin, cout, kh, kw, seed):
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((h, w, cin)), rng.standard_normal((kh, kw, cin, cout))
    pad = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0))
    xp = np.pad(x, pad)
    expected = np.stack([sum(correlate(xp[:, :, c], W[:, :, c, o], mode="valid")
                             for c in range(cin)) for o in range(cout)], axis=-1)
    np.testing.assert_allclose(conv2d(x, W), expected,
                               atol=4 * kh * kw * cin * U * np.abs(x).max() * np.abs(W).max())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10), st.integers(1, 2), st.integers(1, 5),
       st.sampled_from([(1, 1), (3, 3), (5, 3)]), st.integers(0, 2**31))
def test_identity_constructions_are_exact(d, c, depth, kernel, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(d) * 1e5
    assert np.array_equal(
        ic.fcn_forward(ic.linear_identity_weights(d, depth), x, activation="linear"), x)
    if depth >= 2:
        assert np.array_equal(ic.fcn_forward(ic.relu_fcn_identity_weights(d, depth), x), x)
        img = rng.standard_normal((4, 5, c))
        assert np.array_equal(
            ic.cnn_forward(ic.relu_cnn_identity_kernels(kernel, c, depth), img), img)
    img = rng.standard_normal((4, 5, c))
    assert np.array_equal(conv2d(img, ic.conv_identity_kernel(kernel, c)), img)


def test_even_kernel_centre_tap_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ic.conv_identity_kernel((4, 3), 1)


@pytest.mark.parametrize("rho", [0.0, 0.25, 0.5, 0.9, 0.999, 1.0])
def test_rho_image_has_the_requested_pearson_correlation_and_norm(rho):
    X = np.random.default_rng(1).random((28, 28))
    img = ic.rho_image(X, rho, seed=2)
    assert pearsonr(img.ravel(), X.ravel())[0] == pytest.approx(rho, abs=1e-12)
    assert np.linalg.norm(img) == pytest.approx(np.linalg.norm(X), rel=1e-13)


def test_rho_mixture_exact_case():
    # X = (0, 1), noise = (1, 0): centred X = (−½, ½), centred noise = (½, −½) = −X_c, so the
    # noise has no component outside span{1, X}: no α reaches ρ < 1
    with pytest.raises(ValueError, match="span"):
        ic.rho_mixture(np.array([0.0, 1.0]), 0.5, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="constant"):
        ic.rho_image(np.ones((3, 3)), 0.5, seed=0)
    with pytest.raises(ValueError, match="rho"):
        ic.rho_image(np.eye(3), 1.5, seed=0)


def test_pearson_correlation_against_exact_rationals():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([3.0, -1.0, 2.0])
    ac = [Fraction(int(v)) - Fraction(7, 3) for v in a]
    bc = [Fraction(int(v)) - Fraction(4, 3) for v in b]
    num = sum(x * y for x, y in zip(ac, bc, strict=True))
    exact = float(num) / np.sqrt(float(sum(x * x for x in ac) * sum(y * y for y in bc)))
    assert ic.pearson_correlation(a, b) == pytest.approx(exact, rel=8 * U)


@pytest.mark.parametrize("scale", [1e-151, 1e-310, 1e200])
def test_pearson_correlation_of_tiny_and_huge_images_is_scale_free(scale):
    # the verification search hit "constant image" on a non-constant image of entries
    # ~1e-151; a power-of-two rescaling first makes the value independent of the scale
    # (up to the rounding of the scale itself for non-powers of two: 4·N·u relative)
    rng = np.random.default_rng(3)
    a, b = rng.random((4, 4, 1)), rng.random((4, 4, 1))
    ref = pearsonr(a.ravel(), b.ravel())[0]
    got = ic.pearson_correlation(a * scale, b * scale)
    # subnormal 1e-310 keeps only ~40 bits of each pixel: 2^-40 relative per pixel
    tol = 2.0**-40 * 64 if scale < 1e-307 else 64 * 16 * U
    assert got == pytest.approx(ref, abs=tol)


def test_only_a_truly_constant_image_is_undefined():
    with pytest.raises(ValueError, match="^a: the correlation of a constant image"):
        ic.pearson_correlation(np.full((3, 3), 0.1), np.arange(9.0))
    # one pixel differing by one ulp is not constant: correlation with itself is 1
    X = np.full((3, 3), 0.1)
    X[1, 1] = np.nextafter(0.1, 1)
    assert ic.pearson_correlation(X, X) == pytest.approx(1.0, abs=8 * U)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_forward_passes_and_correlation_refuse_non_finite_values(bad):
    x = np.array([1.0, bad])
    with pytest.raises(ValueError, match="^x: expected finite values"):
        ic.fcn_forward(ic.relu_fcn_identity_weights(2, 3), x)
    W = ic.relu_fcn_identity_weights(2, 3)
    W[1] = W[1].copy()
    W[1][0, 0] = bad
    with pytest.raises(ValueError, match=r"^weights\[1\]: expected finite values"):
        ic.fcn_forward(W, np.ones(2))
    img = np.ones((4, 4, 1))
    img[0, 0, 0] = bad
    with pytest.raises(ValueError, match="^image: expected finite values"):
        ic.cnn_forward(ic.relu_cnn_identity_kernels((3, 3), 1, 2), img)
    with pytest.raises(ValueError, match="^b: expected finite values"):
        ic.pearson_correlation(np.arange(16.0), img)


def test_forward_passes_take_the_models_activations():
    # by hand: σ(0) = ½ for the sigmoid and sin(π/2) = 1, through identity weights
    eye = [np.eye(2), np.eye(2)]
    assert ic.fcn_forward(eye, np.zeros(2), activation="sigmoid").tolist() == [0.5, 0.5]
    assert ic.fcn_forward(eye, np.full(2, np.pi / 2), activation="sin").tolist() == [1.0, 1.0]
    centre = [ic.conv_identity_kernel((3, 3), 1)] * 2
    assert np.array_equal(ic.cnn_forward(centre, np.zeros((3, 4, 1)), activation="sigmoid"),
                          np.full((3, 4, 1), 0.5))


def test_unknown_activation_and_mismatched_layers_are_refused():
    # an unknown name used to give a linear network silently
    with pytest.raises(ValueError, match=r"^activation: expected one of \('relu', 'sin'"):
        ic.fcn_forward(ic.relu_fcn_identity_weights(2, 2), np.ones(2), activation="tanh")
    with pytest.raises(ValueError, match="^activation: expected one of"):
        ic.cnn_forward(ic.relu_cnn_identity_kernels((3, 3), 1, 2), np.ones((4, 4, 1)),
                       activation="tanh")
    with pytest.raises(ValueError, match=r"^weights\[0\]: expected 3 input columns"):
        ic.fcn_forward(ic.relu_fcn_identity_weights(2, 2), np.ones(3))
    with pytest.raises(ValueError, match=r"^kernels\[0\]: expected 2 input channels"):
        ic.cnn_forward(ic.relu_cnn_identity_kernels((3, 3), 1, 2), np.ones((4, 4, 2)))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_shape": (28, -28, 1)}, ValueError, "^input_shape: expected a value >= 1"),
    ({"hidden": -5}, ValueError, "^hidden: expected a value >= 1"),
    ({"depth": 2.5}, TypeError, "^depth: expected an integer"),
    ({"arch": "rnn"}, ValueError, "^arch: expected one of"),
    ({"arch": "cnn", "kernel": (3, -3)}, ValueError, "^kernel: expected a value >= 1"),
    ({"arch": "cnn", "channels": 0}, ValueError, "^channels: expected a value >= 1"),
])
def test_param_count_refuses_negative_and_non_integer_shapes(kwargs, error, match):
    args = {"arch": "fcn", "depth": 3, **kwargs}
    with pytest.raises(error, match=match):
        ic.param_count(args.pop("arch"), args.pop("depth"), **args)


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.5, 2.0, float("nan")])
def test_chi2_union_m_refuses_delta_outside_the_open_unit_interval(delta):
    # delta = 0 used to raise ZeroDivisionError; delta > 1 gave an M without meaning
    with pytest.raises(ValueError, match="^delta: expected"):
        ic.chi2_union_m(10, 3, delta)


@pytest.mark.parametrize("noise_scale, x_scale", [(5e-324, 1.0), (1.0, 1e-310), (1e300, 1e300)])
def test_rho_mixture_is_invariant_to_the_scales_of_noise_and_image(noise_scale, x_scale):
    # the image is invariant under noise → c·noise, and X → c·X scales it by c: a subnormal
    # noise used to give ‖X‖/‖img‖ = inf and NaN pixels
    rng = np.random.default_rng(4)
    X, R = rng.random((3, 3)), np.zeros((3, 3))
    R[0, 1], R[2, 0] = 1.0, -1.0
    ref = ic.rho_mixture(X, 0.3, R)
    got = ic.rho_mixture(X * x_scale, 0.3, R * noise_scale)
    assert np.all(np.isfinite(got))
    # a subnormal result keeps only the bits above 2^-1074: absolute error ≤ 2^-1074 per pixel
    np.testing.assert_allclose(got, ref * x_scale, rtol=64 * U, atol=2.0**-1074 * 4)


def test_forward_passes_that_leave_float64_raise_instead_of_returning_nan():
    # two layers of 1e200: the hidden value 1e400 is inf, and inf − inf in the output NaN
    W = [np.array([[1e200], [-1e200]]), np.array([[1e200, 1e200]])]
    with pytest.raises(ValueError, match="^x: the forward pass overflows float64"):
        ic.fcn_forward(W, np.array([1.0]), activation="linear")
    big = [np.full((1, 1, 1, 1), 1e200), np.full((1, 1, 1, 1), -1e200)]
    with pytest.raises(ValueError, match="^image: the forward pass overflows float64"):
        ic.cnn_forward(big, np.ones((2, 2, 1)))


def test_projection_and_prediction_near_the_float64_limit():
    # x = X = [1.7e308, 1.7e308]: ⟨x, u⟩ = 2.4e308 overflowed; x lies in span{X}, so with
    # W0 = I Theorem 1's prediction is x itself (Π∥x = x)
    x = np.array([1.7e308, 1.7e308])
    f = ic.fcn1_predict(np.eye(2), x, x)
    np.testing.assert_allclose(f, x, rtol=8 * U)


def test_the_thm2_bound_beyond_float64_is_inf_not_an_overflow_error():
    # B = 1e300: B² = 1e600; a bound of +inf is vacuous but true (float ** raised)
    img = np.random.default_rng(0).random((2, 2, 1))  # 4 patches of length 25: n ≥ 21
    assert ic.conv1_dims(img, 5).n >= 21
    assert ic.conv1_mse_bound(img, 5, sigma=1.0, delta=0.5, B=1e300) == float("inf")


@given(ost.spd_matrices(st.integers(1, 6), condition=(1.0, 1e8)), st.integers(0, 3),
       st.integers(0, 2**32 - 1))
def test_lemmas_on_matrices_of_controlled_conditioning(A, extra, seed):
    # X = L padded: rank N exactly, κ(X) = √κ(A); Lemma 1 on X (N ≤ D), Lemma 2 on Xᵀ
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(A)
    X = np.hstack([L, np.zeros((len(A), extra))])
    Y = rng.normal(size=(len(A), 2))
    W0 = rng.normal(size=(X.shape[1], 2))
    u = unit_roundoff(np.float64)
    kappa = np.sqrt(np.linalg.cond(A))
    W = ic.lemma1_limit(X, Y, W0)
    scale = np.linalg.norm(X, 2) * (np.linalg.norm(W) + np.linalg.norm(W0)) + np.linalg.norm(Y)
    assert np.linalg.norm(X @ W - Y) <= 8 * sum(X.shape) * u * kappa * scale
    # W∞ − W0 lies in range(Xᵀ): its part on the padded coordinates is zero
    assert np.all((W - W0)[len(A):] == 0)
    Z = rng.normal(size=(X.shape[1], 2)) if extra == 0 else None
    if Z is not None:  # square X: Lemma 2 on the same X gives X⁻¹Z's normal equations
        V = ic.lemma2_limit(np.vstack([X, X]), np.vstack([Z[:len(A)], Z[:len(A)]]))
        resid = X.T @ (X @ V - Z[:len(A)])
        assert np.linalg.norm(resid) <= 16 * sum(X.shape) * u * kappa**2 * (
            np.linalg.norm(X, 2) ** 2 * np.linalg.norm(V) + np.linalg.norm(X, 2)
            * np.linalg.norm(Z))
