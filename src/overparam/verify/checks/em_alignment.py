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
from overparam.numerics.mlp import forward
from overparam.theory import extreme_memorization as em
from overparam.verify import strategies as ost
from overparam.verify.contract import reference_check, reference_search
from overparam.verify.precision import with_precision
from overparam.verify.search import search_counterexample
from overparam.verify.symbolic import identities_verdict
from overparam.verify.types import Claim, Context, Evidence

U = unit_roundoff(np.float64)
NUMERICS = "overparam.numerics.alignment"
EM = "overparam.theory.extreme_memorization"


def _omega_tolerance(G: np.ndarray) -> float:
    """Float error of Ω: the sums ‖Σg‖², Σ‖g‖² and (Σ‖g‖)² each carry ≤ (n·p + 4)u relative
    error of their magnitude; the numerator's cancellation is bounded by (Σ‖g‖)²."""
    n, p = G.shape
    return 8 * (n * p + 8) * U * n / (n - 1)


def _gradient_sets(max_n: int = 8, max_p: int = 6):
    return st.tuples(st.integers(2, max_n), st.integers(1, max_p)).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=st.integers(-20, 20).map(float)))


def _mp_in_class(G: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Ω_c per class with ≥ 2 examples, each from the pairwise definition in 50-digit mpmath."""
    return {int(c): with_precision(50, lambda c=c: float(_mp_omega(G[labels == c])))
            for c in np.unique(labels) if np.sum(labels == c) >= 2
            and np.any(G[labels == c])}


def _omega_reference(G: np.ndarray, omega: float) -> tuple:
    """(Ω, the 50-digit Ω, the tolerance) for one vector set."""
    return (np.array([omega]), np.array([with_precision(50, lambda: float(_mp_omega(G)))]),
            _omega_tolerance(G))


def _linear_time(ctx: Context) -> list[Evidence]:
    """Eq. (4) in exact rational arithmetic on each drawn set, with the O(n) Ω
    (``alignment``) and the pairwise one (``alignment_pairwise``) against Ω from the pairwise
    definition in 50-digit mpmath; then the per-class forms (``in_class_alignment``, the
    streaming accumulator, ``in_class_alignment_pairwise``) against the same reference."""
    def measure(G):
        rows = [[Fraction(int(v)) for v in g] for g in G]
        total = [sum(col) for col in zip(*rows, strict=True)]
        lhs = sum(sum(a * b for a, b in zip(rows[i], rows[j], strict=True))
                  for i in range(len(rows)) for j in range(len(rows)) if i != j)
        rhs = sum(t * t for t in total) - sum(sum(a * a for a in r) for r in rows)
        if not np.any(G):
            return (0.0 if lhs == rhs else math.inf), {"eq4_exact": lhs == rhs}
        fast, slow = al.alignment(G), al.alignment_pairwise(G)
        exact = with_precision(50, lambda: float(_mp_omega(G)))
        tol = _omega_tolerance(G)
        ratio = max(0.0 if lhs == rhs else math.inf, abs(fast - exact) / tol,
                    abs(slow - exact) / tol)
        return ratio, {"eq4_exact": lhs == rhs, "omega_fast": fast, "omega_pairwise": slow,
                       "omega_50_digits": exact}

    def recheck(G):
        ratio, metrics = measure(G)
        return ratio > 1, metrics

    search = search_counterexample(
        _gradient_sets(), measure, recheck=recheck,
        entry_point=f"{NUMERICS}:alignment", arguments=lambda G: {"G": G},
        max_examples=ctx.budget(100, 1000), seed=ctx.seed,
        domain="n ∈ 2–8 integer vectors in Z^p, p ∈ 1–6, entries in [−20, 20] (zero sets "
               "included)",
        tolerance={"rule": "eq. (4) exactly in rationals; Ω (O(n) and pairwise) against the "
                           "50-digit pairwise definition within 8(np+8)u·n/(n−1)"})
    rng = ctx.rng(61)
    G = rng.normal(0, 1, (300, 40))
    labels = rng.integers(0, 5, 300)
    exact = _mp_in_class(G, labels)
    tol = _omega_tolerance(G)

    def per_class(result: al.InClassAlignment):
        return np.array([result.per_class[c] for c in exact] + [result.mean]), np.array(
            list(exact.values()) + [float(np.mean(list(exact.values())))]), tol

    def streamed(_):
        acc = al.AlignmentAccumulator()
        for start in range(0, 300, 64):  # streaming over minibatches
            acc.update(G[start:start + 64], labels[start:start + 64])
        return per_class(acc.result())

    evidence = [search]
    for name, evaluate in (("in_class_alignment",
                            lambda _: per_class(al.in_class_alignment(G, labels))),
                           ("in_class_alignment_pairwise",
                            lambda _: per_class(al.in_class_alignment_pairwise(G, labels))),
                           ("AlignmentAccumulator", streamed)):
        evidence.append(reference_check(
            [None], evaluate, kind="exact", function=f"{NUMERICS}:{name}",
            reference="Ω_c from the pairwise definition in 50-digit mpmath",
            rule="8(np+8)u·n/(n−1)", arguments=lambda _: {"G": G, "labels": labels},
            details="300 vectors in R^40, 5 classes; the accumulator over minibatches of 64 "
                    "(holding per class only Σg, Σ‖g‖², Σ‖g‖)."))
    return evidence


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
        # the statement on the 50-digit Ω, and the function's own output against it
        G, equal = ex
        dps = _digits_needed(G)
        one_minus = with_precision(dps, lambda: 1 - _mp_omega(G))
        omega = al.alignment(G)
        function_gap = abs(float(1 - one_minus) - omega)
        report = {"dps": dps, "1-omega": mpmath.nstr(one_minus, 5), "omega": omega,
                  "function_gap": function_gap}
        if function_gap > _omega_tolerance(G):
            return True, report
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


def _alignment_reference(ctx: Context) -> Evidence:
    """``alignment`` against Ω from the pairwise definition in 50-digit mpmath, over the
    sets of the statement's search."""
    return reference_search(
        _sets_for_max(), lambda ex: _omega_reference(ex[0], al.alignment(ex[0])),
        function=f"{NUMERICS}:alignment",
        reference="Ω from the pairwise definition in 50-digit mpmath",
        rule="8(np+8)u·n/(n−1)", arguments=lambda ex: {"G": ex[0]},
        max_examples=ctx.budget(60, 600), seed=ctx.seed,
        domain="the sets of the statement's search")


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


def _softmax_limits(ctx: Context) -> list[Evidence]:
    """sympy limits of p(αz) − y as α → ∞ and α → 0 for random integer logits, and
    ``softmax_logit_gradient`` at α = 1e-9 and α = 1e3 against those limits: at small α
    p = softmax(αz) is within α·max|z| of 1/k (the softmax Jacobian has norm ≤ 1); at large α
    a non-maximal class keeps probability ≤ (k − 1)·e^{−α·gap}, gap the smallest logit gap to
    the maximum; plus (k + 4)·u of rounding."""
    rng = ctx.rng(62)
    a = sympy.Symbol("alpha", positive=True)
    identities, cases = {}, []
    for case in range(ctx.budget(6, 20)):
        k = int(rng.integers(2, 5))
        z = [int(v) for v in rng.choice(np.arange(-5, 6), size=k, replace=False)]
        y = int(rng.integers(k))
        p = _softmax_sym([a * v for v in z], k)
        grad = [p[i] - (1 if i == y else 0) for i in range(k)]
        pred = int(np.argmax(z))
        want_big = [0] * k if pred == y else [(-1 if i == y else 1 if i == pred else 0)
                                              for i in range(k)]
        want_small = [sympy.Rational(1, k) - (1 if i == y else 0) for i in range(k)]
        identities[f"case {case} α→∞"] = sympy.Matrix(
            [sympy.limit(g, a, sympy.oo) - w for g, w in zip(grad, want_big, strict=True)])
        identities[f"case {case} α→0"] = sympy.Matrix(
            [sympy.limit(g, a, 0) - w for g, w in zip(grad, want_small, strict=True)])
        cases.append((np.array(z, float), y, want_big, want_small))
    verdict, results, found = identities_verdict(identities, ctx.seed)
    limits = Evidence(kind="exact", verdict=verdict,
                      metrics={"cases": len(cases), **results,
                               **({"exact_counterexamples": found} if found else {})},
                      tolerance={"rule": "exact (sympy limits)"},
                      details="Distinct logits (a unique prediction). At α → 0 every "
                              "example's gradient is the same vector up to which class is "
                              "true, so in-class gradients coincide and Ω_c = 1.")

    def evaluate(inst):
        (z, y, want_big, want_small), alpha = inst
        k = len(z)
        out = em.softmax_logit_gradient(alpha * z[None], np.array([y]))[0]
        if alpha < 1:
            return out, np.array(want_small, float), alpha * float(np.abs(z).max()) * k \
                + (k + 4) * U
        gap = float(np.max(z) - np.sort(z)[-2])
        return out, np.array(want_big, float), 2 * (k - 1) * math.exp(-alpha * gap) \
            + (k + 4) * U

    return [limits, reference_check(
        [(c, alpha) for c in cases for alpha in (1e-9, 1e3)], evaluate, kind="exact",
        function=f"{EM}:softmax_logit_gradient", reference="the sympy limits",
        rule="α·max|z|·k at α = 1e-9; 2(k−1)e^{−α·gap} at α = 1e3; + (k+4)·u",
        arguments=lambda i: {"z": i[1] * i[0][0][None], "y": [i[0][1]]},
        min_decisive=len(cases))]


def _logit_gradient_reference(which: str):
    """``which`` logit gradient against its definition in exact rationals (hinge, squared)
    or 50-digit mpmath (softmax), on random logits at scales 1e-6…1e6; hinge margins are
    integers plus ½ against integer logits, so no example sits at a kink."""
    def check(ctx: Context) -> Evidence:
        rng = ctx.rng({"softmax": 65, "hinge": 66, "squared": 67}[which])
        instances = []
        for _ in range(ctx.budget(20, 100)):
            n, k = int(rng.integers(1, 6)), int(rng.integers(2, 8))
            if which == "hinge":
                z = rng.integers(-6, 7, (n, k)).astype(float)
                margin = float(rng.integers(0, 6)) + 0.5
            else:
                z = rng.normal(size=(n, k)) * 10 ** rng.uniform(-6, 6)
                margin = 1.0
            instances.append((z, rng.integers(0, k, n), margin))

        def evaluate(inst):
            z, y, margin = inst
            n, k = z.shape
            onehot = np.eye(k)[y]
            if which == "squared":
                return em.squared_logit_gradient(z, y), z - onehot, 0.0
            if which == "hinge":
                active = (margin + z - z[np.arange(n), y][:, None] > 0) & (onehot == 0)
                ref = active.astype(float)
                ref[np.arange(n), y] = -active.sum(axis=1)
                return em.hinge_logit_gradient(z, y, margin=margin), ref, 0.0

            def exact():
                out = []
                for row in z:
                    e = [mpmath.exp(mpmath.mpf(float(v)) - mpmath.mpf(float(row.max())))
                         for v in row]
                    total = mpmath.fsum(e)
                    out.append([float(v / total) for v in e])
                return np.array(out) - onehot
            # p to (k + 4)·u relative per entry (shift, exp, sum, divide)
            return em.softmax_logit_gradient(z, y), with_precision(50, exact), \
                4 * (k + 4) * U * math.sqrt(n)

        return reference_check(
            instances, evaluate, kind="reference", function=f"{EM}:{which}_logit_gradient",
            reference="the definition in exact rationals" if which != "softmax"
            else "p − onehot(y) in 50-digit mpmath",
            rule="exact" if which != "softmax" else "4(k+4)·u·√n",
            arguments=lambda i: {"z": i[0], "y": i[1], **(
                {"margin": i[2]} if which == "hinge" else {})},
            min_decisive=len(instances) // 2,
            details="z − onehot(y); eq. (9): 1[Δ + z_i − z_y > 0] off the label and minus "
                    "their count on it; softmax(z) − onehot(y).")
    check.__name__ = f"{which}_gradient_reference"
    return check


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


def _squared_limit(ctx: Context) -> list[Evidence]:
    """The limit of αz − y as α → 0 is −y (sympy), and ``squared_logit_gradient`` at
    α = 1e-9 against it within α·max|z| + u."""
    a = sympy.Symbol("alpha", positive=True)
    z = sympy.symbols("z0:4", real=True)
    y = [0, 1, 0, 0]
    identities = {"limit": sympy.Matrix([sympy.limit(a * z[i] - y[i], a, 0) + y[i]
                                         for i in range(4)])}
    verdict, results, _ = identities_verdict(identities, ctx.seed)
    rng = ctx.rng(68)
    instances = [(rng.normal(size=(5, 4)), rng.integers(0, 4, 5)) for _ in range(4)]

    def evaluate(inst):
        Z, labels = inst
        return (em.squared_logit_gradient(1e-9 * Z, labels), -np.eye(4)[labels],
                1e-9 * float(np.linalg.norm(Z)) + 4 * U * math.sqrt(Z.size))

    return [Evidence(kind="exact", verdict=verdict, metrics=results,
                     tolerance={"rule": "exact (sympy)"},
                     details="The gradient αz − y → −y: every example of class c has the "
                             "same gradient −e_c, so Ω_c = 1."),
            reference_check(instances, evaluate, kind="exact",
                            function=f"{EM}:squared_logit_gradient",
                            reference="the limit −onehot(y)", rule="α‖z‖ + 4u at α = 1e-9",
                            arguments=lambda i: {"z": 1e-9 * i[0], "y": i[1]},
                            min_decisive=len(instances))]


def _in_class_deficit_bound(G_limit: np.ndarray, eps: float, labels: np.ndarray) -> float:
    """Largest 1 − Ω_c allowed when every in-class vector is within ``eps`` of its class's
    common limit c: with r = ε/(‖c‖ − ε), 1 − Ω_c ≤ r²/(n−1)·(8n((‖c‖+ε)/(‖c‖−ε))² + 2)
    (S² − T² ≤ 8n²ε²(‖c‖+ε)²/(‖c‖−ε)², nQ − S² ≤ 2n²ε², S² ≥ n²(‖c‖−ε)² for S = Σ‖g‖,
    T = ‖Σg‖, Q = Σ‖g‖²)."""
    worst = 0.0
    for c in np.unique(labels):
        members = labels == c
        n = int(members.sum())
        if n < 2:
            continue
        norm_c = float(np.linalg.norm(G_limit[members][0]))
        if eps >= norm_c:
            return math.inf
        r = eps / (norm_c - eps)
        worst = max(worst, r * r / (n - 1) * (8 * n * ((norm_c + eps) / (norm_c - eps)) ** 2
                                              + 2))
    return worst


def _scale_sweep(which: str):
    """In-class alignment of logit gradients against the scale α for the loss ``which`` (the
    softmax claim sweeps all three, for the figure with EM Fig. 3's measures on two vectors as
    their angle and norm ratio vary)."""
    def check(ctx: Context) -> Evidence:
        return _sweep(ctx, ("softmax_ce", "hinge", "squared") if which == "softmax_ce"
                      else (which,), figures=which == "softmax_ce")
    check.__name__ = f"{which}_scale_sweep"
    return check


def _sweep(ctx: Context, losses: tuple[str, ...], figures: bool) -> Evidence:
    """The sweep of ``_scale_sweep`` over ``losses``; figures only when asked."""
    rng = ctx.rng(64)
    k, n = 10, 400
    Z = rng.normal(0, 1, (n, k))
    labels = rng.integers(0, k, n)
    scales = np.logspace(-4, 3, 29)
    gradient = {"softmax_ce": lambda Zs, s: em.softmax_logit_gradient(Zs, labels),
                # scaling outputs by α is margin 1/α (eq. 8), so sweep the margin
                "hinge": lambda Zs, s: em.hinge_logit_gradient(Z, labels, margin=1.0 / s),
                "squared": lambda Zs, s: em.squared_logit_gradient(Zs, labels)}
    curves = {name: [al.in_class_alignment(gradient[name](s * Z, s), labels).mean
                     for s in scales] for name in losses}
    small = {name: v[0] for name, v in curves.items()}
    # the limits at α → 0: p → 1/k (softmax), every wrong class active (hinge), −y (squared);
    # each in-class gradient is within ε of its class's limit: α·max‖z‖ for softmax (the
    # Jacobian has norm ≤ 1) and squared, 0 for the hinge once 1/α exceeds every logit gap
    onehot = np.eye(k)[labels]
    limits = {"softmax_ce": 1.0 / k - onehot, "hinge": 1.0 - k * onehot, "squared": -onehot}
    zmax = float(np.linalg.norm(Z, axis=1).max())
    eps = {"softmax_ce": scales[0] * zmax, "hinge": 0.0, "squared": scales[0] * zmax}
    bounds = {name: _in_class_deficit_bound(limits[name], eps[name], labels)
              + _omega_tolerance(np.zeros((n, k))) for name in curves}
    ok = all(abs(1 - small[name]) <= bounds[name] for name in curves)
    drawn = _alignment_figures(ctx, scales, curves) if figures and ctx.figures_dir else []
    return Evidence(
        kind="numerics", verdict="verified" if ok else "falsified",
        metrics={"alignment_at_smallest_scale": small, "allowed_deficit": bounds,
                 "scales": scales.tolist(), "curves": curves},
        tolerance={"rule": "|1 − Ω_in-class| at α = 1e-4 ≤ r²/(n−1)·(8n((‖c‖+ε)/(‖c‖−ε))² + 2) "
                           "with r = ε/(‖c‖−ε), ε the in-class distance to the limit c, plus "
                           "Ω's rounding 8(np+8)u·n/(n−1)"},
        figures=drawn,
        details=f"{n} examples, {k} classes, logits N(0,1) scaled by α (hinge: margin 1/α), "
                f"through the em.*_logit_gradient functions.")


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


def _exact_layers(X, W1, W2, act: str) -> tuple[list, list, list]:
    """H = XW1ᵀ, R = σ(H), Z = RW2ᵀ in exact rationals (σ = ReLU or identity)."""
    H = [[sum(Fraction(w) * Fraction(v) for w, v in zip(row, x, strict=True)) for row in W1]
         for x in X]
    R = [[max(v, Fraction(0)) if act == "relu" else v for v in hrow] for hrow in H]
    Z = [[sum(Fraction(w) * v for w, v in zip(row, r, strict=True)) for row in W2] for r in R]
    return H, R, Z


def _exact_two_layer(X, W1, W2, act: str) -> list[list[Fraction]]:
    """W2·σ(W1·x) for each row x of X in exact rationals."""
    return _exact_layers(X, W1, W2, act)[2]


def _forward_tolerance(W1, W2, X, c: float = 1.0) -> float:
    d, h = W1.shape[1], W1.shape[0]
    scale = abs(c) * (np.abs(W2).sum(1).max() * np.abs(W1).sum(1).max() * np.abs(X).max() + 1)
    return 4 * (d + h + 4) * U * scale


def _homogeneity(ctx: Context) -> list[Evidence]:
    """``mlp.forward`` with W1 scaled by c against c × its output (the statement), flagged
    examples re-judged against c × the exact rational output; and ``forward`` itself against
    the exact rational forward pass."""
    def measure(ex):
        act, W1, W2, X, c = ex
        z1 = forward(X, W1, W2, act)[2]
        zc = forward(X, c * W1, W2, act)[2]
        tol = _forward_tolerance(W1, W2, X, c)
        gap = float(np.abs(zc - c * z1).max())
        ratio = 0.0 if gap == 0 else (gap / tol if tol > 0 else math.inf)
        return ratio, {"activation": act, "c": c, "gap": gap, "tolerance": tol}

    def recheck(ex):
        act, W1, W2, X, c = ex
        cf = Fraction(c)
        exact = np.array([[float(cf * v) for v in row]
                          for row in _exact_two_layer(X, W1, W2, act)])
        zc = forward(X, c * W1, W2, act)[2]
        gap = float(np.abs(zc - exact).max())
        return gap > _forward_tolerance(W1, W2, X, c), {"gap_to_exact": gap}

    statement = search_counterexample(
        _homogeneity_example(), measure, recheck=recheck,
        entry_point="overparam.numerics.mlp:forward",
        arguments=lambda ex: {"X": ex[3], "W1": ex[4] * ex[1], "W2": ex[2], "act": ex[0]},
        max_examples=ctx.budget(100, 1000), seed=ctx.seed,
        domain="2-layer bias-free nets, d ≤ 6, h ≤ 8, k ≤ 4, weights and inputs in "
               "[−10, 10]; c ∈ [1e-6, 1e6] for ReLU (positive homogeneity, as EM Sec. 4 "
               "says), any c ∈ [−1e6, 1e6] for linear",
        tolerance={"rule": "4(d+h+4)·u·|c|·(max row sums of |W2|, |W1| × max|x| + 1); "
                           "flagged examples re-judged against c × the exact output"})

    def evaluate(ex):
        # every layer forward returns (H, R, Z) against its exact value, each entry within
        # its own rounding bound: |ΔH| ≤ γ_d|X||W1|ᵀ, |ΔR| ≤ |ΔH|, |ΔZ| ≤ γ_h|R||W2|ᵀ +
        # |ΔR||W2|ᵀ (γ_k = (k+2)u covers the products and the sums); the vector of bounds'
        # norm bounds the error's norm
        act, W1, W2, X, _ = ex
        exact = np.hstack([np.array([[float(v) for v in row] for row in part], ndmin=2)
                           .reshape(len(X), -1) for part in _exact_layers(X, W1, W2, act)])
        got = np.hstack([np.asarray(part).reshape(len(X), -1)
                         for part in forward(X, W1, W2, act)])
        h, d = W1.shape
        dH = (d + 2) * U * (np.abs(X) @ np.abs(W1).T)
        R = np.abs(exact[:, h:2 * h])
        dZ = (h + 2) * U * (R @ np.abs(W2).T) + dH @ np.abs(W2).T
        return got, exact, float(np.linalg.norm(np.hstack([dH, dH, dZ])))

    reference = reference_search(
        _homogeneity_example(), evaluate, function="overparam.numerics.mlp:forward",
        reference="the layers H, σ(H), Z in exact rationals",
        rule="entrywise: |ΔH| ≤ (d+2)u|X||W1|ᵀ, |ΔR| ≤ |ΔH|, |ΔZ| ≤ (h+2)u|R||W2|ᵀ + "
             "|ΔR||W2|ᵀ; the norm of the bounds",
        arguments=lambda ex: {"X": ex[3], "W1": ex[1], "W2": ex[2], "act": ex[0]},
        max_examples=ctx.budget(60, 600), seed=ctx.seed,
        domain="the nets and inputs of the statement's search")
    return [statement, reference]


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
          "alignment\").", (_alignment_max, _alignment_reference),
          exercises=("overparam.numerics.alignment:alignment",)),
    Claim("em.softmax.scale", "EM", "Sec 4, softmax cross-entropy",
          "Logit gradient p − y. As the logit scale → ∞ it tends to 0 on correctly classified "
          "examples and to −1 (true class) / +1 (predicted class) otherwise; as the scale → 0 "
          "it tends to 1/k − 1 (true class) and 1/k (others), so in-class gradient alignment "
          "→ 1.", (_softmax_limits, _logit_gradient_reference("softmax"),
                   _scale_sweep("softmax_ce")),
          exercises=("overparam.theory.extreme_memorization:softmax_logit_gradient",)),
    Claim("em.hinge.scale", "EM", "Sec 4, eq. (8–9)",
          "Scaling the outputs by α equals margin Δ/α with the loss scaled by α; with the "
          "effective margin → ∞ every wrong-class coordinate of the gradient is 1 and in-class "
          "alignment → 1.", (_hinge_identity, _logit_gradient_reference("hinge"),
                             _scale_sweep("hinge")),
          exercises=("overparam.theory.extreme_memorization:hinge_logit_gradient",)),
    Claim("em.squared.scale", "EM", "Sec 4, squared loss",
          "Gradient z − y: as the scale → 0 the y term dominates and in-class alignment → 1.",
          (_squared_limit, _logit_gradient_reference("squared"), _scale_sweep("squared")),
          exercises=("overparam.theory.extreme_memorization:squared_logit_gradient",)),
    Claim("em.relu.homogeneous", "EM", "Sec 4",
          "A bias-free ReLU (or linear) net's output scales by c when W1 is scaled by c.",
          (_homogeneity,),
          exercises=("overparam.numerics.mlp:forward",)),
]
