import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.numerics import alignment as al
from overparam.numerics.mlp import (
    ACTIVATIONS,
    LOSSES,
    forward,
    loss_and_logit_gradient,
    mean_loss_and_gradients,
    per_example_factors,
    per_example_gradients,
)

U = 2.0**-53


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ACTIVATIONS), st.sampled_from(LOSSES), st.integers(0, 2**31))
def test_per_example_gradients_match_central_differences(act, loss, seed):
    rng = np.random.default_rng(seed)
    n, d, h, k = 3, 4, 5, 3
    X, W1, W2 = rng.normal(size=(n, d)), rng.normal(size=(h, d)), rng.normal(size=(k, h))
    y = rng.integers(0, k, n)
    G = per_example_gradients(X, W1, W2, y, act=act, loss=loss)
    eps = 1e-6
    for i in range(n):
        def li(W1_, W2_, i=i):
            Z = forward(X[i:i + 1], W1_, W2_, act)[2]
            return float(loss_and_logit_gradient(loss, Z, y[i:i + 1])[0][0])
        for which in range(2):
            W = (W1 if which == 0 else W2).copy()
            idx = tuple(rng.integers(0, s) for s in W.shape)
            plus, minus = W.copy(), W.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args = (lambda M: (M, W2)) if which == 0 else (lambda M: (W1, M))
            fd = (li(*args(plus)) - li(*args(minus))) / (2 * eps)
            flat = np.ravel_multi_index(idx, W.shape) + (0 if which == 0 else h * d)
            if loss == "hinge" or act == "relu":
                # kinks: skip points within eps of one
                Z = forward(X[i:i + 1], W1, W2, act)
                if act == "relu" and np.min(np.abs(Z[0])) < 1e-4:
                    continue
                if loss == "hinge":
                    z = Z[2][0]
                    if np.min(np.abs(1 + z - z[y[i]])) < 1e-4:
                        continue
            # central differences: truncation O(eps²·f''') plus rounding O(u·|f|/eps)
            assert abs(fd - G[i, flat]) <= 1e-6 * (1 + abs(fd))


def test_mean_gradients_are_the_average_of_per_example_ones():
    rng = np.random.default_rng(0)
    X, W1, W2 = rng.normal(size=(7, 4)), rng.normal(size=(5, 4)), rng.normal(size=(3, 5))
    y = rng.integers(0, 3, 7)
    _, g = mean_loss_and_gradients(X, W1, W2, y, act="sin", loss="softmax_ce")
    G = per_example_gradients(X, W1, W2, y, act="sin", loss="softmax_ce").mean(axis=0)
    # two summation orders over 7 examples: each within 8·7·u of the sum of magnitudes
    bound = 8 * 7 * U * np.abs(per_example_gradients(X, W1, W2, y, act="sin",
                                                     loss="softmax_ce")).max()
    np.testing.assert_allclose(np.concatenate([g["W1"].ravel(), g["W2"].ravel()]), G,
                               atol=bound)


gradient_sets = st.tuples(st.integers(2, 9), st.integers(1, 6), st.integers(0, 2**31)).map(
    lambda t: (np.random.default_rng(t[2]).normal(size=t[:2]),
               np.random.default_rng(t[2] + 1).integers(0, 3, t[0])))


@settings(max_examples=60, deadline=None)
@given(gradient_sets)
def test_alignment_functions_agree_with_pairwise_definitions(case):
    G, labels = case
    n, p = G.shape
    tol = 8 * (n * p + 8) * U * n / (n - 1) * 4
    assert al.alignment(G) == pytest.approx(al.alignment_pairwise(G), abs=tol)
    fast, slow = al.in_class_alignment(G, labels), al.in_class_alignment_pairwise(G, labels)
    assert fast.skipped == slow.skipped
    for c in slow.per_class:
        assert fast.per_class[c] == pytest.approx(slow.per_class[c], abs=tol)
    # stiffness and confusion against explicit double loops
    cos = [G[i] @ G[j] / np.linalg.norm(G[i]) / np.linalg.norm(G[j])
           for i in range(n) for j in range(n) if i != j]
    assert al.cosine_stiffness(G) == pytest.approx(np.mean(cos), abs=1e-12)
    dots = [G[i] @ G[j] for i in range(n) for j in range(n) if i != j]
    assert al.gradient_confusion(G) == pytest.approx(min(dots), abs=1e-12)
    assert al.gradient_diversity(G) == pytest.approx(
        sum(g @ g for g in G) / (G.sum(0) @ G.sum(0)), rel=1e-10)


def test_streaming_mlp_alignment_matches_materialised_gradients():
    rng = np.random.default_rng(3)
    X, W1, W2 = rng.normal(size=(60, 6)), rng.normal(size=(8, 6)), rng.normal(size=(4, 8))
    y = rng.integers(0, 4, 60)
    acc = al.AlignmentAccumulator()
    for s in range(0, 60, 16):
        acc.update_mlp(per_example_factors(X[s:s + 16], W1, W2, y[s:s + 16], act="relu",
                                           loss="hinge"), y[s:s + 16])
    G = per_example_gradients(X, W1, W2, y, act="relu", loss="hinge")
    ref = al.in_class_alignment_pairwise(G, y)
    got = acc.result()
    for c in ref.per_class:
        assert got.per_class[c] == pytest.approx(ref.per_class[c], abs=1e-12)


def test_degenerate_cases_are_defined_and_never_nan():
    assert al.alignment(np.zeros((3, 4))) == 0.0
    res = al.in_class_alignment(np.ones((3, 2)), np.array([0, 0, 1]))
    assert res.skipped == [1] and res.per_class == {0: pytest.approx(1.0)}
    assert al.cosine_stiffness(np.zeros((3, 2))) == 0.0
    assert al.gradient_diversity(np.zeros((2, 2))) == 0.0
    with pytest.raises(ValueError, match="at least two"):
        al.alignment(np.ones((1, 3)))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 4)),
                  elements=st.floats(-100, 100)))
def test_alignment_is_at_most_one(G):
    if np.any(G):
        n, p = G.shape
        assert al.alignment(G) <= 1 + 8 * (n * p + 8) * U * n / (n - 1)


def test_alignment_computes_in_float64_whatever_the_input_dtype():
    # int8 rows: ‖g‖² = 2·127² overflows int8 and, squared again, float16; in float64 it is
    # exact, so Ω equals the value for the same numbers given as float64 (rounding ≤ tol)
    G8 = np.array([[127, 127], [127, -128], [-128, 127]], dtype=np.int8)
    ref = al.alignment(G8.astype(np.float64))
    assert np.isfinite(ref)
    assert al.alignment(G8) == ref
    res = al.in_class_alignment(G8, np.array([0, 0, 0]))
    assert res.per_class[0] == pytest.approx(ref, abs=64 * U)
    # float16 input: the float16 values themselves, computed in float64 (no 3-digit loss)
    G16 = np.array([[1.0, 0.001], [1.0, -0.001]], dtype=np.float16)
    assert al.alignment(G16) == al.alignment(G16.astype(np.float64))
    for f in (al.alignment, al.gradient_diversity, al.cosine_stiffness):
        with pytest.raises(TypeError, match="^G: expected a real array"):
            f(G8.astype(np.complex128))


@pytest.mark.parametrize("func", [al.alignment, al.alignment_pairwise, al.gradient_diversity,
                                  al.cosine_stiffness, al.gradient_confusion,
                                  lambda G: al.in_class_alignment(G, np.zeros(3, int)),
                                  lambda G: al.in_class_alignment_pairwise(G, np.zeros(3, int))])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradients_are_refused_never_nan(func, bad):
    # the docstring promises never NaN: before, NaN passed through (cosine_stiffness dropped
    # the NaN row and answered as if it were not there)
    G = np.array([[1.0, 2.0], [bad, 1.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="^G: expected finite values"):
        func(G)


def test_labels_must_be_non_negative_integers_one_per_row():
    G = np.ones((3, 2))
    with pytest.raises(TypeError, match="^labels: expected an integer array, got dtype float"):
        al.in_class_alignment(G, np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="^labels: expected labels >= 0, got -1"):
        al.in_class_alignment(G, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="^labels: expected 3 labels, got 2"):
        al.cosine_stiffness(G, np.array([0, 1]))


def test_streaming_alignment_over_scales_that_overflow_float64():
    # Ω is scale-invariant: the same directions at 1e200 and at 1e-200 give the value at 1,
    # even when one minibatch is 1e200 and the next 1e-200 times another of the same class
    rng = np.random.default_rng(5)
    G = rng.normal(size=(6, 4))
    ref = al.alignment(G)
    for scale in (1e200, 1e-200):
        assert al.alignment(G * scale) == pytest.approx(ref, abs=64 * U)
        assert al.in_class_alignment(G * scale, np.zeros(6, int)).per_class[0] == \
            pytest.approx(ref, abs=64 * U)
    acc = al.AlignmentAccumulator()
    acc.update(G[:3] * 1e-200, np.zeros(3, int))
    acc.update(G[3:] * 1e-200, np.zeros(3, int))
    assert acc.result().per_class[0] == pytest.approx(ref, abs=64 * U)
    # mixed scales: the 1e-200 batch is negligible next to the 1e200 one, as in exact
    # arithmetic up to a relative 1e-400
    mixed = al.AlignmentAccumulator()
    mixed.update(G[:3] * 1e200, np.zeros(3, int))
    mixed.update(G[3:] * 1e-200, np.zeros(3, int))
    top = G[:3]
    s = top.sum(0)
    norms = np.linalg.norm(top, axis=1)
    expected = 6 * (s @ s - (norms**2).sum()) / (5 * norms.sum() ** 2)
    assert mixed.result().per_class[0] == pytest.approx(expected, abs=64 * U)
    with pytest.raises(ValueError, match="^G: expected vectors of length 4"):
        acc.update(np.ones((2, 3)), np.zeros(2, int))


def test_streaming_mlp_factors_at_huge_scale_match_unit_scale():
    rng = np.random.default_rng(7)
    X, W1, W2 = rng.normal(size=(12, 3)), rng.normal(size=(5, 3)), rng.normal(size=(2, 5))
    y = rng.integers(0, 2, 12)
    f = per_example_factors(X, W1, W2, y, act="relu", loss="squared")
    ref = al.AlignmentAccumulator()
    ref.update_mlp(f, y)
    # δ and x both ×1e160: dW1 = δxᵀ grows by 1e320 (beyond float64) while dW2 = GRᵀ does
    # not; the per-example gradient is then dW1-dominated, exactly as Ω of [1e320·δxᵀ, GRᵀ]
    big = dict(f, delta=f["delta"] * 1e160, X=f["X"] * 1e160)
    acc = al.AlignmentAccumulator()
    acc.update_mlp(big, y)
    G1 = (f["delta"][:, :, None] * f["X"][:, None, :]).reshape(12, -1)
    expected = al.in_class_alignment_pairwise(G1, y)
    for c, v in acc.result().per_class.items():
        assert np.isfinite(v) and v == pytest.approx(expected.per_class[c], abs=1e-12)
    assert set(ref.result().per_class) == set(expected.per_class)
