"""A user's own claims about a two-layer ReLU net f(x) = Σ_j a_j relu(w_j · x), checked and
reported beside overparam's:

    overparam verify --claims examples/user_claims.py 'user.*' 'em.thm1'
    pytest --overparam 'user.*' --overparam-claims examples/user_claims.py

Four claims, each built from overparam's evidence builders:

- ``user.two-layer.second-moment`` (verified): E f(x)² = h σ_a² σ_w² ‖x‖²/2 at a random
  init — a Monte Carlo with error bars and the sympy integral behind it.
- ``user.two-layer.readout-limit`` (verified): training the output layer alone by gradient
  descent converges to a0 + Φ⁺(y − Φ a0) — against overparam's trainer.
- ``user.two-layer.lipschitz`` (verified): |f(x) − f(x′)| ≤ ‖a‖₂ ‖W‖_F ‖x − x′‖.
- ``user.two-layer.lipschitz-max`` (falsified): the same with max_j |a_j| for ‖a‖₂ — a
  hypothesis search finds, shrinks and re-checks in exact rationals a counterexample
  (two equal hidden units), re-runnable as ``user_claims:lipschitz_gap(**arguments)``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy
from hypothesis import strategies as st

from overparam import claims as oc
from overparam.verify import strategies as ost

H, D = 8, 5
SIGMA_A, SIGMA_W = 0.7, 1.3
X_PROBE = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
U = 2.0**-53


def forward(a, W, x):
    """f(x) = Σ_j a_j relu(w_j · x) for a (h,), W (h, d), x (d,)."""
    return float(np.asarray(a) @ np.maximum(np.asarray(W) @ np.asarray(x), 0.0))


def lipschitz_gap(a, W, x, x2, which="l2"):
    """(|f(x) − f(x2)|, the claimed bound) in float; ``which``: "l2" (‖a‖₂) or "max"."""
    a, W = np.asarray(a, dtype=float), np.asarray(W, dtype=float)
    scale = np.linalg.norm(a) if which == "l2" else np.abs(a).max()
    dist = np.linalg.norm(np.asarray(x, dtype=float) - np.asarray(x2, dtype=float))
    return abs(forward(a, W, x) - forward(a, W, x2)), float(scale * np.linalg.norm(W) * dist)


# --- the second moment at initialisation ---------------------------------------------------


def _second_moment_draws(rng: np.random.Generator, n: int) -> np.ndarray:
    W = rng.normal(0.0, SIGMA_W, (n, H, D))
    a = rng.normal(0.0, SIGMA_A, (n, H))
    f = np.einsum("nh,nh->n", a, np.maximum(W @ X_PROBE, 0.0))
    return f * f


def _relu_moment():
    s = sympy.Symbol("s", positive=True)
    t = sympy.Symbol("t", real=True)
    gauss = sympy.exp(-t**2 / 2) / sympy.sqrt(2 * sympy.pi)
    # E relu(s Z)² = s²/2 for Z ~ N(0, 1): w·x ~ N(0, σ_w²‖x‖²), and a_j is independent of it
    return {"E relu(sZ)^2 = s^2/2": sympy.integrate((s * t) ** 2 * gauss, (t, 0, sympy.oo))
            - s**2 / 2}


# --- the readout layer trained alone --------------------------------------------------------


def _readout_problem(rng: np.random.Generator):
    n, d, h = 5, 10, 40  # wide: Φ (5, 40) is well conditioned (κ < 10 at these sizes)
    W = rng.normal(0.0, 1.0, (h, d))
    Phi = np.maximum(rng.normal(0.0, 1.0, (n, d)) @ W.T, 0.0)
    return Phi, rng.normal(0.0, 1.0, (n, 1)), rng.normal(0.0, 0.3, (h, 1))


def _readout_limit(Phi, y, a0):
    # the minimum-norm correction, by least squares (an SVD-based solver, not the trainer)
    delta = np.linalg.lstsq(Phi, y - Phi @ a0, rcond=None)[0]
    return a0 + delta


# --- the Lipschitz bounds ------------------------------------------------------------------


@st.composite
def _nets(draw):
    h, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    a = draw(ost.vectors(h, elements=ost.reals(10.0)))
    # hidden units drawn independently, or all copies of one (a repeated unit is a net too)
    W = draw(st.one_of(ost.matrices(h, d, elements=ost.reals(10.0)),
                       ost.vectors(d, elements=ost.reals(10.0)).map(
                           lambda w: np.tile(w, (h, 1)))))
    x = draw(ost.vectors(d, elements=ost.reals(10.0)))
    x2 = draw(ost.vectors(d, elements=ost.reals(10.0)))
    return a, W, x, x2


def _measure(which: str):
    def measure(net):
        a, W, x, x2 = net
        gap, bound = lipschitz_gap(a, W, x, x2, which)
        # float error of the two forward passes and of the norms: 4(d + h + 4)u × magnitudes
        mag = float(np.abs(a) @ (np.abs(W) @ (np.abs(x) + np.abs(x2)))) + bound
        slack = 4 * (len(x) + len(a) + 4) * U * mag
        ratio = gap / (bound + slack) if bound + slack > 0 else (0.0 if gap == 0 else np.inf)
        return ratio, {"gap": gap, "bound": bound, "h": len(a), "d": len(x)}
    return measure


def _recheck(which: str):
    def recheck(net):
        a, W, x, x2 = ([Fraction(float(v)) for v in np.ravel(m)] for m in net)
        h, d = len(a), len(x)
        rows = [W[j * d:(j + 1) * d] for j in range(h)]

        def f(z):
            return sum(aj * max(sum(wi * zi for wi, zi in zip(w, z, strict=True)), 0)
                       for aj, w in zip(a, rows, strict=True))

        gap2 = (f(x) - f(x2)) ** 2
        scale2 = sum(v * v for v in a) if which == "l2" else max(v * v for v in a)
        bound2 = scale2 * sum(v * v for v in W) * sum((p - q) ** 2 for p, q in
                                                       zip(x, x2, strict=True))
        # squares of both sides: exact in rationals, no square root needed
        return gap2 > bound2, {"exact_gap_squared": float(gap2),
                               "exact_bound_squared": float(bound2)}
    return recheck


def _lipschitz_search(which: str):
    # the max-version's counterexamples are rare (a repeated unit, a with like signs, x − x′
    # near w): measured, 100 examples missed them at 2 of 30 seeds (≈ 2.7 % of examples
    # hit); 600 make a miss ≈ 0.973⁶⁰⁰ ≈ 1e-7 per run
    return oc.search_check(
        _nets(), _measure(which), recheck=_recheck(which),
        entry_point=f"{__name__}:lipschitz_gap",
        arguments=lambda net: {"a": net[0], "W": net[1], "x": net[2], "x2": net[3],
                               "which": which},
        domain="h, d ∈ 1…4; a, W, x, x′ with entries in [−10, 10]",
        tolerance={"rule": "flag |Δf| > bound + 4(d+h+4)·u·(Σ|a||W|(|x|+|x′|) + bound) in "
                           "float; confirm (Δf)² > bound² in exact rationals"},
        examples=(600, 4000), label=f"lipschitz_{which}_search")


CLAIMS = [
    oc.define_claim(
        "user.two-layer.second-moment", where="my note, eq. (1)",
        statement=f"f(x) = Σ_j a_j relu(w_j·x), a_j ~ N(0, σ_a²), W_jk ~ N(0, σ_w²) iid: "
                  f"E f(x)² = h σ_a² σ_w² ‖x‖²/2 (checked at h = {H}, d = {D}, "
                  f"σ_a = {SIGMA_A}, σ_w = {SIGMA_W})",
        checks=(oc.monte_carlo_check(
                    _second_moment_draws,
                    expected=H * SIGMA_A**2 * SIGMA_W**2 * float(X_PROBE @ X_PROBE) / 2,
                    draws=(20_000, 400_000), salt=1, label="second_moment_mc",
                    describe="f(x)² at independent random inits."),
                oc.symbolic_check(_relu_moment, label="relu_moment_symbolic",
                                  describe="The Gaussian integral behind the formula."))),
    oc.define_claim(
        "user.two-layer.readout-limit", where="my note, eq. (2)",
        statement="Training only the output layer a of the 2-layer ReLU net by gradient "
                  "descent on ½‖Φa − y‖² (Φ = relu(X Wᵀ), W fixed) from a0 converges to "
                  "a0 + Φ⁺(y − Φa0)",
        checks=(oc.least_squares_check(_readout_problem, _readout_limit, instances=(2, 6),
                                       steps=(3000, 12000), salt=2),)),
    oc.define_claim(
        "user.two-layer.lipschitz", where="my note, eq. (3)",
        statement="|f(x) − f(x′)| ≤ ‖a‖₂ ‖W‖_F ‖x − x′‖ for all a, W, x, x′",
        checks=(_lipschitz_search("l2"),)),
    oc.define_claim(
        "user.two-layer.lipschitz-max", where="my note, eq. (3′), a tempting shortcut",
        statement="|f(x) − f(x′)| ≤ max_j |a_j| ‖W‖_F ‖x − x′‖ for all a, W, x, x′",
        checks=(_lipschitz_search("max"),)),
]
