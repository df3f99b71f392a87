"""The CuPy path agrees with the NumPy path (skipped without CuPy and a GPU)."""

import numpy as np
import pytest

from overparam.numerics.backend import to_numpy, unit_roundoff
from overparam.numerics.layers import conv2d
from overparam.numerics.linalg import numerical_rank
from overparam.numerics.optimizers import Momentum
from overparam.numerics.schedules import Constant
from overparam.numerics.trainer import train
from overparam.theory import identity_crisis as ic

pytestmark = pytest.mark.gpu
U = unit_roundoff(np.float64)


@pytest.fixture
def cp():
    import cupy

    return cupy


def test_closed_forms_on_cupy_match_numpy(cp):
    rng = np.random.default_rng(0)
    W0, X, x = rng.standard_normal((50, 50)), rng.standard_normal(50), rng.standard_normal((4, 50))
    got = ic.fcn1_predict(cp.asarray(W0), cp.asarray(X), cp.asarray(x))
    assert isinstance(got, cp.ndarray)
    # different summation orders (cuBLAS vs the CPU BLAS): each a (d + 4)u-relative error
    scale = (1 + np.linalg.norm(W0)) * np.linalg.norm(x)
    assert np.abs(to_numpy(got) - ic.fcn1_predict(W0, X, x)).max() <= 16 * 54 * U * scale

    A, Y, B = rng.standard_normal((6, 9)), rng.standard_normal((6, 2)), rng.standard_normal((9, 2))
    kappa = numerical_rank(A).condition
    for f in (lambda *a: ic.gd_limit_least_squares(*a), lambda *a: ic.lemma1_limit(*a)):
        ref = f(A, Y, B)
        on_gpu = f(cp.asarray(A), cp.asarray(Y), cp.asarray(B))
        assert isinstance(on_gpu, cp.ndarray)
        tol = 8 * 15 * U * kappa**2 * (np.linalg.norm(ref) + np.linalg.norm(B))
        assert np.linalg.norm(to_numpy(on_gpu) - ref) <= tol


def test_conv_and_rho_images_on_cupy(cp):
    rng = np.random.default_rng(1)
    img, W = rng.standard_normal((9, 8, 3)), rng.standard_normal((5, 3, 3, 4))
    out = conv2d(cp.asarray(img), cp.asarray(W))
    assert isinstance(out, cp.ndarray)
    bound = 4 * 45 * U * np.abs(img).max() * np.abs(W).max() * 45
    assert np.abs(to_numpy(out) - conv2d(img, W)).max() <= bound
    r = ic.rho_image(cp.asarray(img), 0.3, seed=4)
    assert isinstance(r, cp.ndarray)
    assert abs(ic.pearson_correlation(r, cp.asarray(img)) - 0.3) <= 1e3 * img.size * U


def test_trainer_on_cupy_matches_numpy(cp):
    rng = np.random.default_rng(2)
    A, Y = rng.standard_normal((5, 8)), rng.standard_normal((5, 1))

    def loss(p):
        R = A @ p["W"] - Y
        return 0.5 * float((R * R).sum()), {"W": A.T @ R}
    res_np = train({"W": np.zeros((8, 1))}, loss, Momentum(0.9), Constant(0.01), max_steps=200)
    Ag, Yg = cp.asarray(A), cp.asarray(Y)

    def loss_gpu(p):
        R = Ag @ p["W"] - Yg
        return 0.5 * float((R * R).sum()), {"W": Ag.T @ R}
    res_gpu = train({"W": cp.zeros((8, 1))}, loss_gpu, Momentum(0.9), Constant(0.01),
                    max_steps=200)
    assert isinstance(res_gpu.params["W"], cp.ndarray)
    # rounding bound of numerics.convergence for 200 steps, doubled for two runs
    tol = 2 * 200 * (2 * 13 * 0.01 * np.linalg.norm(A) * (np.linalg.norm(A) * 10
                     + np.linalg.norm(Y)) + 20) * U / 0.1
    assert np.linalg.norm(to_numpy(res_gpu.params["W"]) - res_np.params["W"]) <= tol


def test_fcn_depth_smoke_on_cupy_meets_thm1(cp, tmp_path):
    from overparam.experiments import fcn_depth

    run = fcn_depth.reproduce(tmp_path, preset="smoke", backend="cupy", progress=False)
    assert all(r["point"]["backend"] == "cupy" for r in run["points"])
    one = next(r["result"] for r in run["points"] if r["point"]["depth"] == 1
               and r["point"]["activation"] == "linear")
    # the run-derived bound (exact contraction + per-step rounding) holds on the GPU too
    assert one["thm1_all_within"]
    assert all(np.isfinite(r["result"]["final_loss"]) for r in run["points"])
