"""Understanding Deep Learning Requires Rethinking Generalization (Zhang, Bengio, Hardt,
Recht, Vinyals, ICLR 2017): finite-sample expressivity (Thm 1, Lemma 1, App. C) and the
minimum-norm interpolant of Sec. 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from overparam.numerics.backend import default_rng, get_xp, to_numpy
from overparam.numerics.linalg import binary_exponent
from overparam.numerics.validation import check_array, check_choice, check_scalar
from overparam.theory.identity_crisis import gd_limit_least_squares

__all__ = [
    "Depth2Interpolant",
    "ReLUNetwork",
    "depthk_interpolant",
    "depth2_interpolant",
    "interleaved_relu_matrix",
    "linear_model_hessian",
    "min_norm_interpolant",
    "solve_interleaved",
]


#: Depth beyond what the sample uses: a depth-k network has k − 2 hidden block layers, and
#: past k = n + 2 the extra layers only carry values upward. That many carry-only layers are
#: built (cheap, O(1) weights each); a deeper request is refused instead of looping for ever.
MAX_CARRY_LAYERS = 1024
#: Candidate directions for Thm 1's projection: each costs a projection and a sort of all n
#: points, and the best of 16 already separates any sample float64 can; more than this many
#: would only make the call run for ever.
MAX_CANDIDATES = 10_000


def _to_float(q: Fraction) -> float:
    """float(q), or ±inf when |q| exceeds the float range (float() raises OverflowError)."""
    try:
        return float(q)
    except OverflowError:
        return float("inf") if q > 0 else float("-inf")


def _exact_vector(v: Any, name: str) -> list:
    """v as a list of Fractions (ints, Fractions and finite floats accepted)."""
    out = []
    for item in np.ravel(np.asarray(v, dtype=object)):
        if isinstance(item, bool | np.bool_) or not isinstance(
                item, Fraction | int | float | np.integer | np.floating):
            raise TypeError(f"{name}: expected Fractions, integers or floats, got "
                            f"{type(item).__name__}")
        if isinstance(item, float | np.floating) and not np.isfinite(item):
            raise ValueError(f"{name}: expected finite values, got {item}")
        out.append(Fraction(item) if not isinstance(item, np.integer) else Fraction(int(item)))
    if not out:
        raise ValueError(f"{name}: expected a non-empty vector")
    return out


def _is_exact(*vectors: Any) -> bool:
    return any(isinstance(v, Fraction) for vec in vectors for v in np.ravel(
        np.asarray(vec, dtype=object)))


def interleaved_relu_matrix(x: Any, b: Any) -> np.ndarray:
    """RR Lemma 1's A = [max(x_i − b_j, 0)]_{ij} for x, b (n,). Works on floats or on object
    arrays of Fractions (exact)."""
    if _is_exact(x, b):
        x = np.array(_exact_vector(x, "x"), dtype=object)
        b = np.array(_exact_vector(b, "b"), dtype=object)
    else:
        x = to_numpy(check_array(x, "x", ndim=1, dtype="float64"))
        b = to_numpy(check_array(b, "b", ndim=1, dtype="float64"))
    if x.shape != b.shape:
        raise ValueError(f"b: expected {x.shape[0]} knots to match x, got {b.shape[0]}")
    A = x[:, None] - b[None, :]
    return np.where(A > 0, A, A * 0)


def _check_interleaving(x: Any, b: Any) -> None:
    seq = [v for pair in zip(b, x, strict=True) for v in pair]
    if any(not (p < q) for p, q in zip(seq, seq[1:], strict=False)):
        raise ValueError("x, b: expected interleaving b_1 < x_1 < b_2 < … < b_n < x_n")


def solve_interleaved(x: Any, b: Any, y: Any) -> np.ndarray:
    """w with A w = y for RR Lemma 1's lower-triangular A, by the O(n) recurrence
    w_i = (y_i − x_i·S_{i−1} + T_{i−1}) / (x_i − b_i), S_i = Σ_{j≤i} w_j, T_i = Σ_{j≤i} w_j b_j
    (row i of A w is x_i S_i − T_i). Floats, or Fractions for exact arithmetic.

    Raises ValueError unless b_1 < x_1 < b_2 < … < b_n < x_n."""
    exact = _is_exact(x, b, y)
    if exact:
        x, b, y = (_exact_vector(v, n) for v, n in ((x, "x"), (b, "b"), (y, "y")))
    else:
        x, b, y = (to_numpy(check_array(v, n, ndim=1, dtype="float64")) for v, n in
                   ((x, "x"), (b, "b"), (y, "y")))
    if not len(x) == len(b) == len(y):
        raise ValueError(f"x, b, y: expected equal lengths, got {len(x)}, {len(b)}, {len(y)}")
    _check_interleaving(x, b)
    zero = Fraction(0) if exact else 0.0
    S, T = zero, zero
    w = []
    for xi, bi, yi in zip(x, b, y, strict=True):
        wi = (yi - xi * S + T) / (xi - bi)
        S, T = S + wi, T + wi * bi
        w.append(wi)
    return np.array(w, dtype=object if exact else float)


def _duplicates(Z: np.ndarray) -> list[tuple[int, int]]:
    order = np.lexsort(Z.T[::-1])
    S = Z[order]
    same = np.all(S[1:] == S[:-1], axis=1)
    return [(int(order[i]), int(order[i + 1])) for i in np.flatnonzero(same)]


@dataclass
class Depth2Interpolant:
    """c(z) = Σ_j w_j max(⟨a, z⟩ − b_j, 0) (RR Thm 1): ``a`` (d,), ``b`` and ``w`` (n,) in
    the order of increasing projection; 2n + d weights. ``exact`` holds the same in
    Fractions when built with mode="exact". ``smallest_gap`` is min_i (x_i − b_i)."""

    a: np.ndarray
    b: np.ndarray
    w: np.ndarray
    smallest_gap: float
    exact: dict | None = field(default=None, repr=False)

    @property
    def weight_count(self) -> int:
        return self.a.size + self.b.size + self.w.size

    def __call__(self, Z: Any) -> Any:
        """c(z) for rows of Z (m, d) (NumPy or CuPy); returns (m,). c is piecewise linear in
        t = ⟨a, z⟩: with k knots b_j < t, c = (Σ_{j≤k} w_j)·t − Σ_{j≤k} w_j b_j, so it is
        evaluated by a binary search and prefix sums in O((m + n) log n), not O(m·n).

        Raises ValueError when the float64 copies of the weights overflowed (an exact-mode
        interpolant whose rational weights exceed 1.8e308: use ``exact_values``)."""
        Z = check_array(Z, "Z", ndim=2, shape=(None, self.a.size), dtype="float64")
        if not (np.all(np.isfinite(self.w)) and np.all(np.isfinite(self.b))):
            raise ValueError("Z: this interpolant's weights exceed the float64 range; "
                             "evaluate it with exact_values")
        xp = get_xp(Z)
        a, b, w = xp.asarray(self.a), xp.asarray(self.b), xp.asarray(self.w)
        t = Z @ a
        S = xp.concatenate([xp.zeros(1), xp.cumsum(w)])
        T = xp.concatenate([xp.zeros(1), xp.cumsum(w * b)])
        k = xp.searchsorted(b, t, side="left")
        return S[k] * t - T[k]

    def exact_values(self, Z: Any) -> list[Fraction]:
        """c(z) for rows of Z in exact rational arithmetic (mode="exact" only)."""
        if self.exact is None:
            raise ValueError("exact_values needs an interpolant built with mode='exact'")
        Z = to_numpy(check_array(Z, "Z", ndim=2, shape=(None, self.a.size), dtype="float64"))
        a, b, w = self.exact["a"], self.exact["b"], self.exact["w"]
        out = []
        for z in Z:
            x = sum(ai * Fraction(float(zi)) for ai, zi in zip(a, z, strict=True))
            out.append(sum(wj * max(x - bj, Fraction(0)) for wj, bj in zip(w, b, strict=True)))
        return out


def depth2_interpolant(Z: Any, y: Any, *, mode: str = "float", candidates: int = 16,
                       seed: int = 0) -> Depth2Interpolant:
    """RR Thm 1's construction (App. C): a two-layer ReLU net with 2n + d weights that fits
    ``y`` (n,) on the n distinct rows of ``Z`` (n, d).

    a: of ``candidates`` random Gaussian directions (and the coordinate axes), the one whose
    sorted projections have the largest smallest gap relative to their spread. b: interleaved
    — b_1 = x_1 − g (g the smallest gap), b_i the midpoint of x_{i−1} and x_i. w: the O(n)
    recurrence of ``solve_interleaved``. ``mode="exact"`` repeats the projections and the
    recurrence in rational arithmetic (the float a is exact as a rational), so the fit can be
    verified exactly. Raises ValueError naming duplicate rows, or if no direction separates
    the projections.

    The direction is a unit vector times 2^s, s chosen so the projections are of order one
    (an exact power of two: the exact mode's rationals stay exact): Z of magnitude 1e-307
    then gives weights of the labels' order rather than 1e308 (beyond float64). Should the
    rational weights still exceed float64, the float copies ``b`` and ``w`` hold ±inf and
    evaluating in float raises; ``exact_values`` is always exact."""
    Zn = to_numpy(check_array(Z, "Z", ndim=2, dtype="float64"))
    yn = to_numpy(check_array(y, "y", ndim=1, dtype="float64"))
    n, d = Zn.shape
    if yn.shape[0] != n:
        raise ValueError(f"y: expected {n} labels, got {yn.shape[0]}")
    check_choice(mode, "mode", ("float", "exact"))
    candidates = check_scalar(candidates, "candidates", integer=True, low=0,
                              high=MAX_CANDIDATES)
    dups = _duplicates(Zn)
    if dups:
        raise ValueError(f"Z: rows must be distinct; duplicate pairs (indices) {dups[:10]}")
    rng = default_rng(seed)
    dirs = np.vstack([rng.standard_normal((candidates, d)), np.eye(d)])
    best, best_score = None, -1.0
    for a in dirs:
        a = a / np.linalg.norm(a)
        x = np.sort(Zn @ a)
        gap = float(np.min(np.diff(x))) if n > 1 else 1.0
        score = gap / (float(x[-1] - x[0]) or 1.0)
        if score > best_score:
            best, best_score = a, score
    # 2^s·max|Z| ∈ [½, 1), s clamped so 2^s and 2^s·|a_i| stay finite
    a = best * math.ldexp(1.0, max(-1000, min(1000, -binary_exponent(Zn))))
    xs = Zn @ a
    order = np.argsort(xs, kind="stable")
    if mode == "exact":
        ar = [Fraction(float(v)) for v in a]
        xr = [sum(ai * Fraction(float(zi)) for ai, zi in zip(ar, Zn[i], strict=True))
              for i in order]
        pairs = sorted(zip(xr, order, strict=True))
        xr, order = [p[0] for p in pairs], np.array([p[1] for p in pairs])
        gr = min(q - p for p, q in zip(xr, xr[1:], strict=False)) if n > 1 else Fraction(1)
        if gr <= 0:
            raise ValueError("Z: no candidate direction separates the projections exactly; "
                             "raise `candidates`")
        br = [xr[0] - gr] + [(p + q) / 2 for p, q in zip(xr, xr[1:], strict=False)]
        wr = solve_interleaved(xr, br, [Fraction(float(yn[i])) for i in order])
        exact = {"a": ar, "b": br, "w": list(wr), "x": xr, "order": [int(i) for i in order]}
        b = np.array([_to_float(v) for v in br])
        w = np.array([_to_float(v) for v in wr])
        gap_min = _to_float(min(xi - bi for xi, bi in zip(xr, br, strict=True)))
        return Depth2Interpolant(a=a, b=b, w=w, smallest_gap=gap_min, exact=exact)
    x = xs[order]
    gap = float(np.min(np.diff(x))) if n > 1 else 1.0
    b = np.concatenate([[x[0] - gap], (x[:-1] + x[1:]) / 2])
    seq = np.ravel(np.column_stack([b, x]))
    if gap <= 0 or np.any(np.diff(seq) <= 0):
        raise ValueError(f"Z: float64 cannot interleave knots between the projections "
                         f"(smallest gap {gap:.3g} is below their rounding); "
                         f"use mode='exact' or raise `candidates`")
    w = solve_interleaved(x, b, yn[order])
    return Depth2Interpolant(a=a, b=b, w=w, smallest_gap=float(np.min(x - b)))


def min_norm_interpolant(X: Any, y: Any) -> Any:
    """RR Sec. 5: the minimum ℓ2-norm solution of Xw = y, w = Xᵀα with XXᵀα = y when X has
    full row rank — in general X⁺y (the least-squares solution of least norm). X (n, d),
    y (n,) or (n, k); returns w on the inputs' backend."""
    xp = get_xp(X, y)
    X = check_array(X, "X", xp=xp, ndim=2, dtype="float64")
    y = check_array(y, "y", xp=xp, ndim=(1, 2), dtype="float64")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected {X.shape[0]} rows to match X, got shape "
                         f"{tuple(y.shape)}")
    return gd_limit_least_squares(X, y, xp.zeros((X.shape[1],) + tuple(y.shape[1:])))


def linear_model_hessian(X: Any, curvature: Any) -> Any:
    """RR Sec. 5: the Hessian of the empirical risk (1/n)Σ ℓ(wᵀx_i, y_i) of the linear model at
    a global minimiser that interpolates, (1/n)·Xᵀ diag(β)·X with β_i = ℓ''(y_i, y_i) the
    loss's curvature at a zero residual (a scalar for one loss, or one value per example). It
    does not depend on which minimiser: every interpolating w gives the same predictions.

    Shapes: X (n, d), curvature scalar or (n,). Returns (d, d) on X's backend; its rank is at
    most n, so it is degenerate when d > n."""
    xp = get_xp(X)
    X = check_array(X, "X", xp=xp, ndim=2, dtype="float64")
    n = X.shape[0]
    beta = check_array(curvature, "curvature", xp=xp, ndim=(0, 1), dtype="float64")
    if beta.ndim == 1 and beta.shape[0] != n:
        raise ValueError(f"curvature: expected a scalar or one value per example ({n}), got "
                         f"{beta.shape[0]} values")
    return (X.T * beta) @ X / n


@dataclass
class ReLUNetwork:
    """A ReLU network x ↦ W_L σ(… σ(W_1 x + c_1) …) + c_L (no activation at the output),
    stored sparsely and exactly: ``layers`` holds, per layer, a list of units, each a pair
    (incoming weights as {input index: Fraction}, bias Fraction). ``__call__`` evaluates in
    float64 (SciPy sparse products), ``exact_values`` in rationals. ``weights`` counts the
    non-zero weights and biases the construction uses."""

    layers: list[list[tuple[dict, Fraction]]]
    inputs: int

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def width(self) -> int:
        return max((len(units) for units in self.layers[:-1]), default=0)

    @property
    def weights(self) -> int:
        return sum(sum(1 for v in w.values() if v != 0) + (c != 0)
                   for units in self.layers for w, c in units)

    def _sparse(self, units: list, width_in: int):
        import scipy.sparse

        rows, cols, vals = [], [], []
        for r, (w, _) in enumerate(units):
            for col, v in w.items():
                rows.append(r)
                cols.append(col)
                vals.append(_to_float(v))
        W = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(units), width_in))
        c = np.array([_to_float(c) for _, c in units])
        if not (np.all(np.isfinite(W.data)) and np.all(np.isfinite(c))):
            raise ValueError("Z: this network's weights exceed the float64 range; evaluate it "
                             "with exact_values")
        return W, c

    def _inputs(self, Z: Any) -> np.ndarray:
        return to_numpy(check_array(Z, "Z", ndim=2, shape=(None, self.inputs), dtype="float64"))

    def __call__(self, Z: Any) -> np.ndarray:
        """The network on the rows of Z (m, inputs) in float64; returns (m,)."""
        h = self._inputs(Z).T
        width_in = self.inputs
        for i, units in enumerate(self.layers):
            W, c = self._sparse(units, width_in)
            h = W @ h + c[:, None]
            if i < self.depth - 1:
                h = np.maximum(h, 0)
            width_in = len(units)
        return h[0]

    def exact_values(self, Z: Any) -> list[Fraction]:
        """The network on the rows of Z (m, inputs) in exact rational arithmetic."""
        out = []
        for z in self._inputs(Z):
            h = [Fraction(float(v)) for v in z]
            for i, units in enumerate(self.layers):
                h = [sum((v * h[j] for j, v in w.items()), c) for w, c in units]
                if i < self.depth - 1:
                    h = [v if v > 0 else Fraction(0) for v in h]
            out.append(h[0])
        return out


def _block_function(u: list, y: list, prev: Any, nxt: Any) -> tuple[list, list]:
    """Knots β and weights w of g(t) = Σ w_i relu(t − β_i) with g(u_i) = y_i on the sorted
    block u and g = 0 outside (prev, nxt): zero left of the first knot (placed between prev
    and u_1), and two extra knots between u_m and nxt that bring g back to 0 and keep it
    there. Exact in Fractions."""
    left = (prev + u[0]) / 2 if prev is not None else u[0] - 1
    beta = [left] + [(p + q) / 2 for p, q in zip(u, u[1:], strict=False)]
    w = list(solve_interleaved(u, beta, y))
    if nxt is not None:
        g1 = u[-1] + (nxt - u[-1]) / 3
        g2 = u[-1] + 2 * (nxt - u[-1]) / 3
        slope = sum(w)
        s_new = -(y[-1] + slope * (g1 - u[-1])) / (g2 - g1)
        beta += [g1, g2]
        w += [s_new - slope, -s_new]
    return beta, w


def depthk_interpolant(Z: Any, y: Any, k: int, *, mode: str = "exact", seed: int = 0,
                       candidates: int = 16) -> ReLUNetwork:
    """RR Corollary 1 (App. C's sketch): a depth-k ReLU network (k ≥ 2) with width O(n/k) and
    O(n + d) weights fitting y on the n distinct rows of Z, exactly (rational weights).

    k = 2 is Thm 1's network. For k ≥ 3: layer 1 computes the projection u = relu(⟨a, z⟩ − m)
    (m below every projection, so u > 0 on the sample) and every later layer carries u
    upward; the sorted sample is split into B = min(k − 2, n) blocks of about n/B points, and
    hidden layer j holds block j's units relu(u − β). Block j's function g_j is exactly y on
    its points and exactly 0 outside its interval — the multiplexer: on the sample, g_j equals
    1[u ∈ I_j]·o_j — and the partial output Σ_{i<j} g_i is carried upward as its positive and
    negative parts. Layers past the B-th (k − 2 > n) only carry u and the partial output.
    Depth k, width ≤ ⌈n/B⌉ + 5, weights O(n + d + k).

    ``mode="exact"`` builds every weight as a Fraction (``exact_values`` then verifies the fit
    exactly); ``mode="float"`` builds the same network in float64, fast enough for counting
    depth, width and weights at n = 10⁴. Depths beyond n + 2 + ``MAX_CARRY_LAYERS`` are
    refused (ValueError): the layers past n + 2 would only carry values."""
    k = check_scalar(k, "k", integer=True, low=2)
    Zn = to_numpy(check_array(Z, "Z", ndim=2, dtype="float64"))
    n, d = Zn.shape
    if k > n + 2 + MAX_CARRY_LAYERS:
        raise ValueError(f"k: expected 2 <= k <= n + 2 + {MAX_CARRY_LAYERS} = "
                         f"{n + 2 + MAX_CARRY_LAYERS} for n = {n} points (past k = n + 2 the "
                         f"layers only carry values), got {k}")
    base = depth2_interpolant(Zn, y, mode=mode, seed=seed, candidates=candidates)
    if mode == "exact":
        F = Fraction
        a, xr, order = base.exact["a"], base.exact["x"], base.exact["order"]
        b_vals, w_vals = base.exact["b"], base.exact["w"]
    else:
        F = float
        proj = Zn @ base.a
        order = list(np.argsort(proj, kind="stable"))
        a, xr = [float(v) for v in base.a], [float(v) for v in proj[order]]
        b_vals, w_vals = [float(v) for v in base.b], [float(v) for v in base.w]
    yn = to_numpy(check_array(y, "y", ndim=1, dtype="float64"))
    ys = [F(float(yn[i])) for i in order]
    if k == 2:
        hidden = [({i: ai for i, ai in enumerate(a) if ai != 0}, -bj) for bj in b_vals]
        output = [({j: wj for j, wj in enumerate(w_vals) if wj != 0}, F(0))]
        return ReLUNetwork([hidden, output], inputs=d)
    m = xr[0] - 1
    u = [p - m for p in xr]  # u > 0 on the sample
    B = min(k - 2, n)
    bounds = [round(j * n / B) for j in range(B + 1)]
    blocks = []
    for j in range(B):
        lo, hi = bounds[j], bounds[j + 1]
        prev = u[lo - 1] if lo > 0 else None
        nxt = u[hi] if hi < n else None
        blocks.append(_block_function(u[lo:hi], ys[lo:hi], prev, nxt))
    layers = [[({i: ai for i, ai in enumerate(a) if ai != 0}, -m)]]
    # hidden layer j: [u, p⁺, p⁻ (once there is a partial output), block j's units]
    prev_layout: dict = {"u": 0}
    for j in range(k - 2):
        units: list = [({prev_layout["u"]: F(1)}, F(0))]
        layout: dict = {"u": 0}
        carry = _partial_output(prev_layout, blocks[j - 1][1] if "block" in prev_layout
                                else None)
        if carry:
            layout["p+"], layout["p-"] = len(units), len(units) + 1
            units += [(carry, F(0)), ({i: -v for i, v in carry.items()}, F(0))]
        if j < B:
            layout["block"] = list(range(len(units), len(units) + len(blocks[j][0])))
            units += [({prev_layout["u"]: F(1)}, -beta) for beta in blocks[j][0]]
        layers.append(units)
        prev_layout = layout
    last = _partial_output(prev_layout, blocks[B - 1][1] if "block" in prev_layout else None)
    layers.append([(last, F(0))])
    return ReLUNetwork(layers, inputs=d)


def _partial_output(layout: dict, block_weights: list | None) -> dict:
    """Incoming weights of p = p⁺ − p⁻ + Σ_i w_i h_i (the partial output so far)."""
    carry: dict = {}
    if "p+" in layout:
        carry[layout["p+"]] = 1
        carry[layout["p-"]] = -1
    if block_weights is not None:
        for idx, wv in zip(layout["block"], block_weights, strict=True):
            carry[idx] = carry.get(idx, 0) + wv
    return {i: v for i, v in carry.items() if v != 0}
