"""EM Sec. 3.2 and Sec. 4: the alignment measure's identities and its maximum, and the
loss-scale arguments for softmax cross-entropy, multiclass hinge and squared loss, plus the
homogeneity of bias-free ReLU/linear nets."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import sympy
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from overparam.common.plotting import pyplot, save
from overparam.numerics import alignment as al
from overparam.numerics.backend import unit_roundoff
from overparam.numerics.mlp import forward, loss_and_logit_gradient
from overparam.theory import extreme_memorization as em
from overparam.verify import strategies as ost
from overparam.verify.precision import with_precision
from overparam.verify.search import search_counterexample
from overparam.verify.types import Claim, Context, Evidence

U = unit_roundoff(np.float64)
NUMERICS = "overparam.numerics.alignment"


def _omega_tolerance(G: np.ndarray) -> float:
    """Float error of Ω: the sums ‖Σg‖², Σ‖g‖² and (Σ‖g‖)² each carry ≤ (n·p + 4)u relative
    error of their magnitude; the numerator's cancellation is bounded by (Σ‖g‖)²."""
    n, p = G.shape
    return 8 * (n * p + 8) * U * n / (n - 1)


def _gradient_sets(max_n: int = 8, max_p: int = 6):
    return st.tuples(st.integers(2, max_n), st.integers(1, max_p)).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=st.integers(-20, 20).map(float)))


def _linear_time(ctx: Context) -> list[Evidence]:
    """Eq. (4) in exact rational arithmetic, and the O(n) Ω against the pairwise one."""
    def measure(G):
        rows = [[Fraction(int(v)) for v in g] for g in G]
        total = [sum(col) for col in zip(*rows, strict=True)]
        lhs = sum(sum(a * b for a, b in zip(rows[i], rows[j], strict=True))
                  for i in range(len(rows)) for j in range(len(rows)) if i != j)
        rhs = sum(t * t for t in total) - sum(sum(a * a for a in r) for r in rows)
        exact_ok = lhs == rhs
        fast, slow = al.alignment(G), al.alignment_pairwise(G)
        tol = _omega_tolerance(G)
        ratio = max(0.0 if exact_ok else math.inf, abs(fast - slow) / tol)
        return ratio, {"eq4_exact": exact_ok, "omega_fast": fast, "omega_pairwise": slow}

    search = search_counterexample(
        _gradient_sets(), measure, recheck=lambda G: (True, {"exact": "rational arithmetic"}),
        entry_point=f"{NUMERICS}:alignment", arguments=lambda G: {"G": G},
        max_examples=ctx.budget(100, 1000), seed=ctx.seed,
        domain="n ∈ 2–8 integer vectors in Z^p, p ∈ 1–6, entries in [−20, 20] (zero sets "
               "included)",
        tolerance={"rule": "eq. (4) exactly in rationals; Ω fast vs pairwise within "
                           "8(np+8)u·n/(n−1)"})
    rng = ctx.rng(61)
    G = rng.normal(0, 1, (300, 40))
    labels = rng.integers(0, 5, 300)
    acc = al.AlignmentAccumulator()
    for start in range(0, 300, 64):  # streaming over minibatches
        acc.update(G[start:start + 64], labels[start:start + 64])
    stream = acc.result()
    pair = al.in_class_alignment_pairwise(G, labels)
    gap = max(abs(stream.per_class[c] - pair.per_class[c]) for c in pair.per_class)
    tol = _omega_tolerance(G)
    streaming = Evidence(
        kind="exact", verdict="verified" if gap <= tol else "inconclusive",
        metrics={"classes": len(pair.per_class), "max_gap": gap, "in_class": stream.mean},
        tolerance={"rule": "8(np+8)u·n/(n−1)", "value": tol},
        details="Ω_c accumulated over minibatches of 64 (holding per class only Σg, Σ‖g‖², "
                "Σ‖g‖) against the pairwise definition on all 300 vectors at once.")
    return [search, streaming]


@st.composite
def _sets_for_max(draw):
    n = draw(st.integers(2, 8))
    p = draw(st.integers(1, 6))
    if draw(st.booleans()):
        g = draw(ost.vectors(p, elements=ost.reals(1e3), nonzero=True))
        return np.tile(g, (n, 1)), True
    G = draw(hnp.arrays(np.float64, (n, p), elements=ost.reals(1e3)))
    if not np.any(G):
        G[0, 0] = 1.0  # Ω needs a non-zero vector to be defined
    return G, bool(np.all(G == G[0]))


def _alignment_max(ctx: Context) -> Evidence:
    def measure(ex):
        G, equal = ex
        omega = al.alignment(G)
        tol = _omega_tolerance(G)
        if omega > 1 + tol:
            return math.inf, {"omega": omega, "all_equal": equal}
        if equal:
            return abs(omega - 1) / tol, {"omega": omega, "all_equal": True}
        # not all equal: Ω < 1 must hold strictly; float cannot see gaps below tol
        return (math.inf if omega >= 1 and _mp_omega_at_least_one(G) else 0.0), {
            "omega": omega, "all_equal": False}

    def recheck(ex):
        G, equal = ex
        dps = _digits_needed(G)
        one_minus = with_precision(dps, lambda: 1 - _mp_omega(G))
        report = {"dps": dps, "1-omega": mpmath.nstr(one_minus, 5)}
        if equal:
            return abs(one_minus) > mpmath.mpf(10) ** (20 - dps), report
        return one_minus <= 0, report

    return search_counterexample(
        _sets_for_max(), measure, recheck=recheck, entry_point=f"{NUMERICS}:alignment",
        arguments=lambda ex: {"G": ex[0]}, max_examples=ctx.budget(150, 1500), seed=ctx.seed,
        domain="n ∈ 2–8 vectors in R^p (p ≤ 6, entries in [−1e3, 1e3]), not all zero; half "
               "the draws are n copies of one vector",
        tolerance={"rule": "Ω ≤ 1 + 8(np+8)u·n/(n−1); 'all equal ⇒ Ω = 1' within the same; "
                           "'not all equal ⇒ Ω < 1' decided in mpmath at "
                           "2×(exponent span + 17) + 30 digits"})


def _mp_omega(G: np.ndarray):
    rows = [[mpmath.mpf(float(v)) for v in g] for g in G]
    n = len(rows)
    total = [mpmath.fsum(col) for col in zip(*rows, strict=True)]
    norms = [mpmath.sqrt(mpmath.fsum(v * v for v in r)) for r in rows]
    num = mpmath.fsum(t * t for t in total) - mpmath.fsum(v * v for v in norms)
    return n * num / ((n - 1) * mpmath.fsum(norms) ** 2)


def _digits_needed(G: np.ndarray) -> int:
    """Decimal digits that resolve 1 − Ω for float inputs: two vectors that differ do so by at
    least one unit in the last place of an entry, relative to the largest entry, and the
    deficit 1 − Ω is of second order in that: 2 × (the entries' decimal exponent range + 16)
    digits, plus 30 to spare."""
    nz = np.abs(G[G != 0])
    span = float(np.log10(nz.max()) - np.log10(nz.min())) if nz.size else 0.0
    return int(30 + 2 * (span + 17))


def _mp_omega_at_least_one(G: np.ndarray) -> bool:
    return bool(with_precision(_digits_needed(G), lambda: _mp_omega(G) >= 1))


# ---------------------------------------------------------------------------- loss scales


def _softmax_sym(z, k):
    e = [sympy.exp(v) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _softmax_limits(ctx: Context) -> Evidence:
    """sympy limits of p(αz) − y as α → ∞ and α → 0 for random integer logits."""
    rng = ctx.rng(62)
    a = sympy.Symbol("alpha", positive=True)
    rows, ok = [], True
    for _ in range(ctx.budget(6, 20)):
        k = int(rng.integers(2, 5))
        z = [int(v) for v in rng.choice(np.arange(-5, 6), size=k, replace=False)]
        y = int(rng.integers(k))
        p = _softmax_sym([a * v for v in z], k)
        grad = [p[i] - (1 if i == y else 0) for i in range(k)]
        big = [sympy.limit(g, a, sympy.oo) for g in grad]
        small = [sympy.limit(g, a, 0) for g in grad]
        pred = int(np.argmax(z))
        want_big = [0] * k if pred == y else [(-1 if i == y else 1 if i == pred else 0)
                                              for i in range(k)]
        want_small = [sympy.Rational(1, k) - (1 if i == y else 0) for i in range(k)]
        good = big == want_big and small == want_small
        ok &= good
        rows.append({"z": z, "y": y, "limit_inf": [str(v) for v in big],
                     "limit_0": [str(v) for v in small], "as_stated": good})
    return Evidence(kind="exact", verdict="verified" if ok else "falsified",
                    metrics={"cases": len(rows), "per_case": rows},
                    tolerance={"rule": "exact (sympy limits)"},
                    details="Distinct logits (a unique prediction). At α → 0 every example's "
                            "gradient is the same vector up to which class is true, so "
                            "in-class gradients coincide and Ω_c = 1 (em.alignment.max).")


def _hinge_identity(ctx: Context) -> Evidence:
    """α·Σ max(0, Δ/α + z_i − z_y) = Σ max(0, Δ + αz_i − αz_y) for α > 0, and eq. (9) at a
    margin beyond every logit gap, checked exactly on random rationals."""
    rng = ctx.rng(63)
    ok_scale, ok_grad, cases = True, True, 0
    for _ in range(ctx.budget(50, 500)):
        k = int(rng.integers(2, 8))
        z = [Fraction(int(v), int(rng.integers(1, 9))) for v in rng.integers(-20, 21, k)]
        y = int(rng.integers(k))
        alpha = Fraction(int(rng.integers(1, 50)), int(rng.integers(1, 50)))
        delta = Fraction(int(rng.integers(0, 20)), int(rng.integers(1, 9)))
        lhs = alpha * sum(max(Fraction(0), delta / alpha + z[i] - z[y]) for i in range(k)
                          if i != y)
        rhs = sum(max(Fraction(0), delta + alpha * z[i] - alpha * z[y]) for i in range(k)
                  if i != y)
        ok_scale &= lhs == rhs
        big = 1 + max(abs(v) for v in z) * 2
        g = em.hinge_logit_gradient(np.array([[float(v) for v in z]]), np.array([y]),
                                    margin=float(big))[0]
        want = np.array([-(k - 1.0) if i == y else 1.0 for i in range(k)])
        ok_grad &= bool(np.array_equal(g, want))
        cases += 1
    ok = ok_scale and ok_grad
    return Evidence(
        kind="exact", verdict="verified" if ok else "falsified",
        metrics={"cases": cases, "scaling_identity": ok_scale,
                 "large_margin_gradient_all_ones": ok_grad},
        tolerance={"rule": "exact rationals; the gradient is integer-valued"},
        details="Scaling the outputs by α is margin Δ/α with the loss scaled by α (eq. 8); "
                "once the margin exceeds every logit gap, eq. (9) gives 1 on every wrong "
                "class and −(k−1) on the true one, the same for every example of a class, so "
                "Ω_c = 1.")


def _squared_limit(ctx: Context) -> Evidence:
    a = sympy.Symbol("alpha", positive=True)
    z = sympy.symbols("z0:4", real=True)
    y = [0, 1, 0, 0]
    lims = [sympy.limit(a * z[i] - y[i], a, 0) for i in range(4)]
    ok = lims == [-v for v in y]
    return Evidence(kind="exact", verdict="verified" if ok else "falsified",
                    metrics={"limit": [str(v) for v in lims]},
                    tolerance={"rule": "exact (sympy)"},
                    details="The gradient αz − y → −y: every example of class c has the same "
                            "gradient −e_c, so Ω_c = 1.")


def _scale_sweep(ctx: Context) -> Evidence:
    """In-class alignment of logit gradients against the scale α, for the three losses; and
    EM Fig. 3's measures on two vectors as their angle and norm ratio vary (figure)."""
    rng = ctx.rng(64)
    k, n = 10, 400
    Z = rng.normal(0, 1, (n, k))
    labels = rng.integers(0, k, n)
    scales = np.logspace(-4, 3, 29)
    curves = {}
    for name in ("softmax_ce", "hinge", "squared"):
        vals = []
        for s in scales:
            # hinge: scaling outputs by α is margin 1/α (eq. 8), so sweep the margin
            Zs = Z if name == "hinge" else s * Z
            _, G = loss_and_logit_gradient(name, Zs, labels, margin=1.0 / s)
            vals.append(al.in_class_alignment(G, labels).mean)
        curves[name] = vals
    small = {name: v[0] for name, v in curves.items()}
    # the loss-specific limits say Ω_in-class → 1 on the small-scale side
    tol = _omega_tolerance(np.zeros((n // k, k))) + 1e-6
    ok = all(abs(1 - v) <= 1e-6 + tol for v in small.values())
    figures = []
    if ctx.figures_dir is not None:
        figures = _alignment_figures(ctx, scales, curves)
    return Evidence(
        kind="numerics", verdict="verified" if ok else "inconclusive",
        metrics={"alignment_at_smallest_scale": small, "scales": scales.tolist(),
                 "curves": curves},
        tolerance={"rule": "|1 − Ω_in-class| ≤ 1e-6 at α = 1e-4: the gradients differ by "
                           "O(α‖z‖) there, so 1 − Ω = O(α²‖z‖²) ≈ 1e-7 for ‖z‖ ≈ 3"},
        figures=figures,
        details=f"{n} examples, {k} classes, logits N(0,1) scaled by α (hinge: margin 1/α).")


def _alignment_figures(ctx: Context, scales, curves) -> list[str]:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    labels = {"softmax_ce": "softmax CE", "hinge": "hinge (margin 1/α)",
              "squared": "squared"}
    for name, v in curves.items():
        ax.plot(scales, v, label=labels[name])
    ax.set_xscale("log")
    ax.set_xlabel("scale α of the logits")
    ax.set_ylabel("Ω_in-class of logit gradients")
    ax.set_title("EM Sec. 4: in-class alignment vs scale", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, ctx.figures_dir / "em.scale.png", dpi=90)

    angles = np.linspace(0, np.pi, 61)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ratio, ax in zip((1.0, 5.0), axes, strict=True):
        rows = {"Ω": [], "diversity": [], "stiffness": [], "confusion": []}
        for t in angles:
            G = np.array([[1.0, 0.0], [ratio * np.cos(t), ratio * np.sin(t)]])
            rows["Ω"].append(al.alignment(G))
            rows["diversity"].append(min(al.gradient_diversity(G), 10.0))
            rows["stiffness"].append(al.cosine_stiffness(G))
            rows["confusion"].append(al.gradient_confusion(G))
        for key, v in rows.items():
            ax.plot(np.degrees(angles), v, label=key)
        ax.set_title(f"EM Fig. 3: two gradients, ‖b‖/‖a‖ = {ratio:g}", fontsize=9)
        ax.set_xlabel("angle between a and b (degrees)")
        ax.set_ylim(-6, 10)
        ax.legend(fontsize=7)
    save(fig, ctx.figures_dir / "em.measures.png", dpi=90)
    return ["em.scale.png", "em.measures.png"]


# --------------------------------------------------------------------------- homogeneity


@st.composite
def _homogeneity_example(draw):
    d, h, k = draw(st.integers(1, 6)), draw(st.integers(1, 8)), draw(st.integers(1, 4))
    act = draw(st.sampled_from(["relu", "linear"]))
    W1 = draw(hnp.arrays(np.float64, (h, d), elements=ost.reals(10.0)))
    W2 = draw(hnp.arrays(np.float64, (k, h), elements=ost.reals(10.0)))
    X = draw(hnp.arrays(np.float64, (3, d), elements=ost.reals(10.0)))
    # ReLU is positive-homogeneous (EM Sec. 4's word); a linear net is homogeneous for any c
    c = draw(st.floats(1e-6, 1e6) if act == "relu" else
             st.floats(-1e6, 1e6, allow_subnormal=False))
    return act, W1, W2, X, c


def _homogeneity(ctx: Context) -> Evidence:
    def measure(ex):
        act, W1, W2, X, c = ex
        z1 = forward(X, W1, W2, act)[2]
        zc = forward(X, c * W1, W2, act)[2]
        d, h = W1.shape[1], W1.shape[0]
        scale = abs(c) * (np.abs(W2).sum(1).max() * np.abs(W1).sum(1).max()
                          * np.abs(X).max() + 1)
        tol = 4 * (d + h + 4) * U * scale
        gap = float(np.abs(zc - c * z1).max())
        ratio = 0.0 if gap == 0 else (gap / tol if tol > 0 else math.inf)
        return ratio, {"activation": act, "c": c, "gap": gap, "tolerance": tol}

    def recheck(ex):
        act, W1, W2, X, c = ex
        cf = Fraction(c)

        def out(Wa):
            H = [[sum(Fraction(w) * Fraction(v) for w, v in zip(row, x, strict=True))
                  for row in Wa] for x in X]
            R = [[max(v, Fraction(0)) if act == "relu" else v for v in hrow] for hrow in H]
            return [[sum(Fraction(w) * v for w, v in zip(row, r, strict=True)) for row in W2]
                    for r in R]
        scaled = out([[cf * Fraction(w) for w in row] for row in W1])
        base = out(W1)
        ok = all(s == cf * b for srow, brow in zip(scaled, base, strict=True)
                 for s, b in zip(srow, brow, strict=True))
        return not ok, {"exact_equal": ok}

    return search_counterexample(
        _homogeneity_example(), measure, recheck=recheck,
        entry_point="overparam.numerics.mlp:forward",
        arguments=lambda ex: {"X": ex[3], "W1": ex[4] * ex[1], "W2": ex[2], "act": ex[0]},
        max_examples=ctx.budget(100, 1000), seed=ctx.seed,
        domain="2-layer bias-free nets, d ≤ 6, h ≤ 8, k ≤ 4, weights and inputs in "
               "[−10, 10]; c ∈ [1e-6, 1e6] for ReLU (positive homogeneity, as EM Sec. 4 "
               "says), any c ∈ [−1e6, 1e6] for linear",
        tolerance={"rule": "4(d+h+4)·u·|c|·(max row sums of |W2|, |W1| × max|x| + 1); "
                           "re-checked exactly in rationals"})


CLAIMS = [
    Claim("em.alignment.linear-time", "EM", "eq. (4), Sec 3.2",
          "Σ_{i≠j}⟨g_i, g_j⟩ = ‖Σ g_i‖² − Σ‖g_i‖², so Ω (eq. 2–3) and Ω_c (eq. 5) take O(n) "
          "time.", (_linear_time,),
          exercises=("overparam.numerics.alignment:alignment",
                     "overparam.numerics.alignment:alignment_pairwise",
                     "overparam.numerics.alignment:in_class_alignment",
                     "overparam.numerics.alignment:in_class_alignment_pairwise")),
    Claim("em.alignment.max", "EM", "Sec 4",
          "Ω ≤ 1, with equality exactly when all gradients are equal (\"the maximum possible "
          "alignment\").", (_alignment_max,),
          exercises=("overparam.numerics.alignment:alignment",)),
    Claim("em.softmax.scale", "EM", "Sec 4, softmax cross-entropy",
          "Logit gradient p − y. As the logit scale → ∞ it tends to 0 on correctly classified "
          "examples and to −1 (true class) / +1 (predicted class) otherwise; as the scale → 0 "
          "it tends to 1/k − 1 (true class) and 1/k (others), so in-class gradient alignment "
          "→ 1.", (_softmax_limits, _scale_sweep),
          exercises=("overparam.theory.extreme_memorization:softmax_logit_gradient",)),
    Claim("em.hinge.scale", "EM", "Sec 4, eq. (8–9)",
          "Scaling the outputs by α equals margin Δ/α with the loss scaled by α; with the "
          "effective margin → ∞ every wrong-class coordinate of the gradient is 1 and in-class "
          "alignment → 1.", (_hinge_identity, _scale_sweep),
          exercises=("overparam.theory.extreme_memorization:hinge_logit_gradient",)),
    Claim("em.squared.scale", "EM", "Sec 4, squared loss",
          "Gradient z − y: as the scale → 0 the y term dominates and in-class alignment → 1.",
          (_squared_limit, _scale_sweep),
          exercises=("overparam.theory.extreme_memorization:squared_logit_gradient",)),
    Claim("em.relu.homogeneous", "EM", "Sec 4",
          "A bias-free ReLU (or linear) net's output scales by c when W1 is scaled by c.",
          (_homogeneity,),
          exercises=("overparam.numerics.mlp:forward",)),
]
