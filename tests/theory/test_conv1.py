import math

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import lambertw

from overparam.theory import identity_crisis as ic


def loop_patches(img, kh, kw):
    """im2col by explicit loops, zero padding (K−1)//2 before and K//2 after each axis."""
    H, W, C = img.shape
    pt, pl = (kh - 1) // 2, (kw - 1) // 2
    rows = []
    for i in range(H):
        for j in range(W):
            patch = np.zeros((kh, kw, C))
            for a in range(kh):
                for b in range(kw):
                    r, c = i + a - pt, j + b - pl
                    if 0 <= r < H and 0 <= c < W:
                        patch[a, b] = img[r, c]
            rows.append(patch.ravel())
    return np.array(rows)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 2), st.integers(1, 4),
       st.integers(1, 4), st.integers(0, 2**31), st.booleans())
def test_conv1_predict_matches_an_independent_patch_regression(h, w, c, kh, kw, seed, sparse):
    rng = np.random.default_rng(seed)
    img = rng.uniform(-1, 1, (h, w, c)) * (rng.random((h, w, c)) < 0.3 if sparse else 1)
    W0 = rng.normal(0, 0.3, (kh, kw, c, c))
    x = rng.uniform(-1, 1, (5, 4, c))
    P = loop_patches(img, kh, kw)
    Y = img.reshape(-1, c)
    D = P.shape[1]
    # minimum-norm correction by LAPACK's gelsd (an SVD solver with its own rank cut-off)
    corr = scipy.linalg.lstsq(P, Y - P @ W0.reshape(D, c), cond=None)[0]
    W = (W0.reshape(D, c) + corr).reshape(W0.shape)
    expected = (loop_patches(x, kh, kw) @ W.reshape(D, c)).reshape(x.shape)
    got = ic.conv1_predict(W0, img, x)
    s = np.linalg.svd(P, compute_uv=False)
    kappa = s[0] / s[s > max(P.shape) * np.finfo(float).eps * s[0]][-1] if s[0] > 0 else 1
    tol = 64 * (sum(P.shape) + 4) * np.finfo(float).eps * kappa**2 * (
        1 + np.abs(W).sum()) * math.sqrt(D)
    assert np.abs(got - expected).max() <= tol


def test_conv1_with_full_rank_patches_learns_the_identity():
    rng = np.random.default_rng(0)
    img = rng.uniform(-1, 1, (8, 8, 2))
    assert ic.conv1_dims(img, 3).n == 0
    x = rng.uniform(-1, 1, (5, 6, 2))
    W0 = rng.normal(0, 1, (3, 3, 2, 2))
    P, _ = ic.conv1_regression(img, 3)
    s = np.linalg.svd(P, compute_uv=False)
    # closed-form error 4(N + D)uκ²(‖W∞‖ + ‖W0‖), times √D for a prediction (|x| ≤ 1)
    bound = 4 * sum(P.shape) * 2.0**-53 * (s[0] / s[-1]) ** 2 * (1 + 2 * np.linalg.norm(W0)) \
        * np.sqrt(P.shape[1])
    np.testing.assert_allclose(ic.conv1_predict(W0, img, x), x, atol=bound)


def test_chi2_union_m_against_lambert_w():
    for n, C, delta in ((10, 1, 0.05), (3, 4, 0.5), (1000, 8, 1e-6)):
        k = 1 + 2 * math.log(n / delta) / C
        expected = float(-lambertw(-math.exp(-k), -1).real)
        M = ic.chi2_union_m(n, C, delta)
        assert M == pytest.approx(expected, rel=1e-12)
        assert 2 * math.log(n / delta) / C + 1 + math.log(M) <= M


def test_bound_by_hand_for_a_single_pixel_image():
    # 1×1×1 image, 3×3 kernel: one patch (the centre tap), r = 1, n = 8, K_H K_W = 9
    n, sigma, delta, B = 8, 0.2, 0.1, 2.0
    M = ic.chi2_union_m(n, 1, delta)
    expected = n * 9 * B**2 * (sigma * math.sqrt(2 * math.log(n / delta) + 1 + math.log(M))
                               + 1) ** 2
    got = ic.conv1_mse_bound(np.ones((1, 1, 1)), 3, sigma=sigma, delta=delta, B=B)
    assert got == pytest.approx(expected, rel=1e-14)
    assert ic.conv1_mse_bound(np.eye(4)[:, :, None] + 1, 1, sigma=1, delta=0.5, B=1) == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": 0.0, "delta": 0.1, "B": 1.0}, "sigma"),
    ({"sigma": 0.1, "delta": 1.0, "B": 1.0}, "delta"),
    ({"sigma": 0.1, "delta": 0.1, "B": float("nan")}, "B"),
])
def test_bound_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ic.conv1_mse_bound(np.ones((2, 2, 1)), 3, **kwargs)


def test_bad_conv_inputs_raise():
    img = np.ones((4, 4, 2))
    with pytest.raises(ValueError, match="W0: expected shape"):
        ic.conv1_predict(np.zeros((3, 3, 1, 1)), img, img)
    with pytest.raises(ValueError, match="image: expected finite values, got NaN"):
        ic.conv1_predict(np.zeros((3, 3, 2, 2)), img * np.nan, img)
    with pytest.raises(ValueError, match="kernel_size"):
        ic.conv1_dims(img, 0)


def test_proof_case_split_by_hand():
    # 28×28×8 image, 9×9 kernel: N = 784, D = 648, m = 5184: the proof picks Lemma 1 (N ≤ m)
    # although Lemma 1 needs N ≤ D
    img = np.random.default_rng(0).uniform(-1, 1, (28, 28, 8))
    case = ic.thm2_proof_case(img, 9)
    assert (case["N"], case["D"], case["m"], case["lemma"]) == (784, 648, 5184, "lemma1")
    assert not case["preconditions_hold"]
    # 28×28×1 random image, 5×5: N = 784 > m = 25 → Lemma 2, rank 25 = D holds
    assert ic.thm2_proof_case(img[:, :, :1], 5)["preconditions_hold"]


def test_padding_can_increase_the_rank():
    # hand-derived in the report: one pixel, 3×3 kernel: r = 1; padded by 1: r = 9
    assert ic.conv1_rank(np.ones((1, 1, 1)), 3) == 1
    assert ic.conv1_rank(np.ones((1, 1, 1)), 3, pad=1) == 9
