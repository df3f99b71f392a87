"""IC App. B's identity constructions, Table 1's parameter counts, and Sec. 3.2's ρ-images."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy
from hypothesis import strategies as st

from overparam.numerics.backend import unit_roundoff
from overparam.numerics.linalg import scaled_norm
from overparam.theory import identity_crisis as ic
from overparam.verify import strategies as ost
from overparam.verify.contract import reference_check
from overparam.verify.precision import to_rational, with_precision
from overparam.verify.search import search_counterexample
from overparam.verify.symbolic import identities_verdict
from overparam.verify.types import Claim, Context, Evidence

MODULE = "overparam.theory.identity_crisis"

# ------------------------------------------------------------------------- ic.constructions

_ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False)


def _network(ex):
    """(weights or kernels, forward function, input) for one drawn construction."""
    kind, d, depth, kernel, x = ex
    if kind == "linear":
        return ic.linear_identity_weights(d, depth), "linear", x
    if kind == "relu-fcn":
        return ic.relu_fcn_identity_weights(d, depth), "relu", x
    if kind == "conv":
        return [ic.conv_identity_kernel(kernel, x.shape[2])], "linear", x
    return ic.relu_cnn_identity_kernels(kernel, x.shape[2], depth), "relu", x


def _forward(net, activation, x):
    if x.ndim == 3:
        return ic.cnn_forward(net, x, activation=activation)
    return ic.fcn_forward(net, x, activation=activation)


@st.composite
def _construction(draw):
    kind = draw(st.sampled_from(["linear", "relu-fcn", "conv", "relu-cnn"]))
    depth = draw(st.integers(1 if kind in ("linear", "conv") else 2, 6))
    kernel = (draw(st.integers(0, 3)) * 2 + 1, draw(st.integers(0, 3)) * 2 + 1)
    if kind in ("linear", "relu-fcn"):
        d = draw(st.integers(1, 12))
        x = draw(ost.vectors(d, elements=_ANY_FLOAT))
    else:
        x = draw(ost.images(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3),
                            kinds=("random",)))
        x = x * draw(st.sampled_from([1.0, 1e-300, 1e300]))
        d = x.size
    return kind, d, depth, kernel, x


def _exact_forward(net: list, act: str, x: np.ndarray) -> np.ndarray:
    """The construction's forward pass computed here, independently of ``fcn_forward`` /
    ``cnn_forward``: dense layers in exact rationals; convolutions by explicit loops over
    taps (exact: every product is by 0 or ±1 and every sum adds exact zeros)."""
    if x.ndim == 1:
        h = to_rational(x)
        for i, W in enumerate(net):
            h = to_rational(W) * h
            if act == "relu" and i < len(net) - 1:
                h = h.applyfunc(lambda v: sympy.Max(v, 0))
        return np.array([float(v) for v in h])
    h = x
    for i, K in enumerate(net):
        kh, kw, _, co = K.shape
        top, left = (kh - 1) // 2, (kw - 1) // 2
        padded = np.pad(h, ((top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
        out = np.zeros(h.shape[:2] + (co,))
        for a in range(kh):
            for b in range(kw):
                if np.any(K[a, b]):
                    out += padded[a:a + h.shape[0], b:b + h.shape[1]] @ K[a, b]
        h = np.maximum(out, 0) if act == "relu" and i < len(net) - 1 else out
    return h


def _constructions_search(ctx: Context):
    def measure(ex):
        net, act, x = _network(ex)
        y = _forward(net, act, x)
        diff = float(np.max(np.abs(y - x)))
        return (math.inf if diff > 0 else 0.0), {"kind": ex[0], "max_abs_error": diff}

    def recheck(ex):
        # the forward pass re-evaluated, and the construction's exact forward computed here:
        # a difference in either is a violation (every operation is exact in IEEE arithmetic)
        net, act, x = _network(ex)
        y = _forward(net, act, x)
        exact = _exact_forward(net, act, x)
        return bool(np.any(y != x) or np.any(exact != x)), {
            "forward_equals_input": bool(np.all(y == x)),
            "exact_forward_of_the_weights_equals_input": bool(np.all(exact == x))}

    return search_counterexample(
        _construction(), measure, recheck=recheck,
        entry_point=f"{MODULE}:fcn_forward",
        arguments=lambda ex: {"weights": _network(ex)[0], "x": ex[4],
                              "activation": _network(ex)[1]},
        max_examples=ctx.budget(60, 600), seed=ctx.seed,
        domain="linear nets (depth ≥ 1), ReLU FCNs (depth ≥ 2, width 2d), centre-tap convs "
               "and ReLU CNNs (2C hidden channels) with odd kernels (App. B.3 defines the "
               "centre for odd sizes only); inputs any finite float64, magnitudes to 1e±300",
        tolerance={"rule": "0: products by 0 or ±1 and sums with exact zeros are exact in IEEE "
                           "arithmetic, and ReLU(v) − ReLU(−v) = v exactly"})


def _symbolic_forward(net: list, act: str, x: sympy.Matrix) -> sympy.Matrix:
    h = x
    for i, W in enumerate(net):
        h = to_rational(np.asarray(W)) * h
        if act == "relu" and i < len(net) - 1:
            h = h.applyfunc(lambda v: sympy.Max(v, 0))
    return h


def _constructions_symbolic(ctx: Context) -> Evidence:
    """The constructions' own weights applied to symbolic inputs of each sign (and 0): the
    output minus the input must simplify to 0. Dense constructions at d = 1…3; the conv
    constructions through their centre taps on a 1×1 image (the only tap that sees it)."""
    identities = {}
    for d in range(1, 4):
        signs = {"positive": sympy.symbols(f"p0:{d}", positive=True),
                 "negative": sympy.symbols(f"q0:{d}", negative=True), "zero": [0] * d}
        for sign, values in signs.items():
            x = sympy.Matrix(values)
            for depth in range(2, 5):
                identities[f"relu_fcn d={d} depth={depth} {sign}"] = _symbolic_forward(
                    ic.relu_fcn_identity_weights(d, depth), "relu", x) - x
                identities[f"linear d={d} depth={depth} {sign}"] = _symbolic_forward(
                    ic.linear_identity_weights(d, depth, hidden=d + 2), "linear", x) - x
                centre = [K[K.shape[0] // 2, K.shape[1] // 2].T
                          for K in ic.relu_cnn_identity_kernels((3, 3), d, depth)]
                identities[f"relu_cnn C={d} depth={depth} {sign}"] = _symbolic_forward(
                    centre, "relu", x) - x
            K = ic.conv_identity_kernel((3, 5), d)
            identities[f"conv C={d} {sign}"] = _symbolic_forward([K[1, 2].T], "linear", x) - x
    verdict, results, found = identities_verdict(identities, ctx.seed)
    return Evidence(kind="exact", verdict=verdict,
                    metrics={"identities": len(results),
                             "not_true": {k: v for k, v in results.items() if v != "true"},
                             **({"exact_counterexamples": found} if found else {})},
                    tolerance={"rule": "exact (sympy)"},
                    details="The algebra of App. B.1–B.3 on symbols of each sign, with the "
                            "weights the constructions return.")


# ------------------------------------------------------------------------------ ic.params


def _params_table(ctx: Context) -> Evidence:
    mismatches = [{"arch": a, "depth": d, **kw, "paper": n, "ours": ic.param_count(a, d, **kw)}
                  for a, d, kw, n in ic.TABLE1_PARAM_COUNTS if ic.param_count(a, d, **kw) != n]
    cx = None
    if mismatches:
        from overparam.verify.types import Counterexample

        m = mismatches[0]
        cx = Counterexample(f"{MODULE}:param_count",
                            {"arch": m["arch"], "depth": m["depth"],
                             **{k: m[k] for k in ("hidden", "channels", "kernel") if k in m}},
                            {"paper": m["paper"], "ours": m["ours"]}, {"exact": "integers"})
    return Evidence(
        kind="exact", verdict="falsified" if mismatches else "verified",
        metrics={"entries": len(ic.TABLE1_PARAM_COUNTS), "mismatches": mismatches},
        tolerance={"rule": "exact integer equality"}, counterexample=cx,
        details="Every number of IC Table 1 (28×28 grayscale input and output, no biases) "
                "against param_count.")


def _layer_shapes(arch, depth, hidden, channels, kernel, shape):
    H, W, C = shape
    if arch == "fcn":
        D = H * W * C
        widths = [D] + [hidden] * (depth - 1) + [D]
        return [(widths[i + 1], widths[i]) for i in range(depth)]
    chans = [C] + [channels] * (depth - 1) + [C]
    return [(kernel, kernel, chans[i], chans[i + 1]) for i in range(depth)]


def _params_search(ctx: Context) -> Evidence:
    strategy = st.tuples(st.sampled_from(["fcn", "cnn"]), st.integers(1, 30),
                         st.integers(1, 4096), st.integers(1, 2048), st.integers(1, 57),
                         st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 4)))

    def measure(ex):
        arch, depth, hidden, channels, kernel, shape = ex
        ours = ic.param_count(arch, depth, hidden=hidden, channels=channels, kernel=kernel,
                              input_shape=shape)
        counted = sum(math.prod(s) for s in _layer_shapes(*ex))
        return (math.inf if ours != counted else 0.0), {"ours": ours, "layer_by_layer": counted}

    def recheck(ex):
        ratio, metrics = measure(ex)
        return ratio > 1, metrics

    return search_counterexample(
        strategy, measure, recheck=recheck, entry_point=f"{MODULE}:param_count",
        arguments=lambda ex: {"arch": ex[0], "depth": ex[1], "hidden": ex[2],
                              "channels": ex[3], "kernel": ex[4], "input_shape": ex[5]},
        max_examples=ctx.budget(100, 2000), seed=ctx.seed,
        domain="fcn/cnn, depth 1–30, hidden 1–4096, channels 1–2048, kernel 1–57, any input "
               "shape up to 64×64×4",
        tolerance={"rule": "exact: the closed form against a layer-by-layer count of weight "
                           "shapes"})


# ---------------------------------------------------------------------------- ic.rho-images


@st.composite
def _rho_example(draw):
    X = draw(ost.images(st.integers(1, 10), st.integers(1, 10), st.integers(1, 3)))
    noise = draw(st.builds(lambda a: a, ost.matrices(1, X.size, elements=ost.reals(10.0))))
    rho = draw(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.5, 1 - 1e-9])))
    return X, rho, noise.reshape(X.shape)


def _valid_rho_example(ex) -> bool:
    X, rho, noise = ex
    flat = X.ravel()
    # a constant image (every pixel equal) is outside the domain: its correlation is undefined;
    # its float mean need not equal the pixel, so test the pixels themselves
    if np.all(flat == flat[0]):
        return False
    xc = flat - X.mean()
    if scaled_norm(xc) == 0:
        return False
    rc = noise.ravel() - noise.mean()
    xhat = xc / scaled_norm(xc)
    perp = scaled_norm(rc - (rc @ xhat) * xhat)
    # rho_mixture's documented precondition: a component outside span{1, X} above rounding,
    # amplified by the centring's loss of digits on a near-constant X
    level = (2 * X.size + 4) * unit_roundoff(np.float64) * scaled_norm(noise) * (
        1 + scaled_norm(X) / scaled_norm(xc))
    return rho == 1.0 or perp > level


def _rho_tolerance(X, rho, noise) -> tuple[float, float]:
    """Derived bounds on |corr − ρ| and |‖img‖ − ‖X‖|: rounding in α (N·u relative in t and
    a) and in forming noise + αX (u per element), carried through corr = t/√(t² + p²)."""
    N = X.size
    u = unit_roundoff(np.float64)
    if rho == 1.0:
        return 0.0, 0.0
    xc = X.ravel() - X.mean()
    rc = noise.ravel() - noise.mean()
    xhat = xc / scaled_norm(xc)
    a = float(rc @ xhat)
    p = float(scaled_norm(rc - a * xhat))
    t = rho * p / math.sqrt(1 - rho * rho)
    alpha = (t - a) / float(scaled_norm(xc))
    spread = abs(t) + abs(a) + float(scaled_norm(noise)) + abs(alpha) * float(
        scaled_norm(X))
    corr_tol = 8 * (N + 6) * u * spread / math.hypot(t, p)
    norm_tol = (3 * N + 8) * u * float(scaled_norm(X))
    return corr_tol, norm_tol


def _rho_search(ctx: Context) -> Evidence:
    def measure(ex):
        X, rho, noise = ex
        img = ic.rho_mixture(X, rho, noise)
        corr_tol, norm_tol = _rho_tolerance(X, rho, noise)
        u = unit_roundoff(np.float64)
        corr_tol += 4 * (X.size + 4) * u  # the float Pearson computation itself
        err_c = abs(ic.pearson_correlation(img, X) - rho)
        err_n = abs(float(scaled_norm(img)) - float(scaled_norm(X)))
        ratio = max(err_c / corr_tol if corr_tol else (math.inf if err_c else 0.0),
                    err_n / norm_tol if norm_tol else (math.inf if err_n else 0.0))
        return ratio, {"corr_error": err_c, "corr_tolerance": corr_tol,
                       "norm_error": err_n, "norm_tolerance": norm_tol, "rho": rho}

    def recheck(ex):
        X, rho, noise = ex
        img = ic.rho_mixture(X, rho, noise)
        corr_tol, norm_tol = _rho_tolerance(X, rho, noise)

        def exact():
            a = [mpmath.mpf(float(v)) for v in img.ravel()]
            b = [mpmath.mpf(float(v)) for v in X.ravel()]
            ma, mb = mpmath.fsum(a) / len(a), mpmath.fsum(b) / len(b)
            ac, bc = [v - ma for v in a], [v - mb for v in b]
            corr = mpmath.fsum(x * y for x, y in zip(ac, bc, strict=True)) / mpmath.sqrt(
                mpmath.fsum(x * x for x in ac) * mpmath.fsum(y * y for y in bc))
            n_img = mpmath.sqrt(mpmath.fsum(x * x for x in a))
            n_x = mpmath.sqrt(mpmath.fsum(y * y for y in b))
            ce, ne = abs(corr - rho), abs(n_img - n_x)
            return bool(ce > corr_tol or ne > norm_tol), {
                "dps": 50, "corr_error": float(ce), "norm_error": float(ne)}
        return with_precision(50, exact)

    return search_counterexample(
        st.builds(lambda ex: ex, _rho_example()).filter(_valid_rho_example), measure,
        recheck=recheck, entry_point=f"{MODULE}:rho_mixture",
        arguments=lambda ex: {"X": ex[0], "rho": ex[1], "noise": ex[2]},
        max_examples=ctx.budget(60, 800), seed=ctx.seed,
        domain="ρ ∈ [0, 1]; X any non-constant H×W×C image (random, smooth, sparse, tiny, "
               "digit-like); noise any array with a component outside span{1, X} above its "
               "rounding level (2N+4)·u·‖noise‖·(1 + ‖X‖/‖X_c‖) (below it the procedure is "
               "undefined in float64 and rho_mixture raises)",
        tolerance={"rule": "|corr − ρ| ≤ 8(N+6)·u·(|t|+|a|+‖R‖+|α|‖X‖)/√(t²+p²) "
                           "+ 4(N+4)·u; |‖img‖ − ‖X‖| ≤ (3N+8)·u·‖X‖"})


def _mp_pearson(a: np.ndarray, b: np.ndarray) -> mpmath.mpf:
    """The Pearson coefficient of the flattened arrays in the current mpmath precision."""
    x = [mpmath.mpf(float(v)) for v in a.ravel()]
    y = [mpmath.mpf(float(v)) for v in b.ravel()]
    mx, my = mpmath.fsum(x) / len(x), mpmath.fsum(y) / len(y)
    xc, yc = [v - mx for v in x], [v - my for v in y]
    return mpmath.fsum(p * q for p, q in zip(xc, yc, strict=True)) / mpmath.sqrt(
        mpmath.fsum(p * p for p in xc) * mpmath.fsum(q * q for q in yc))


def _rho_random(ctx: Context) -> Evidence:
    """The seeded procedure itself (``rho_image``) on 28×28 images at the ρ grid of IC Fig. 4:
    its correlation to X (in 50-digit mpmath) must be ρ and its norm ‖X‖, within the
    tolerance derived for the noise it drew (regenerated from the same seed)."""
    rng = ctx.rng(31)
    instances = [(rng.random((28, 28)), float(rho), int(rng.integers(2**31)))
                 for _ in range(ctx.budget(2, 10)) for rho in np.linspace(0, 1, 11)]

    def evaluate(inst):
        X, rho, seed = inst
        img = np.asarray(ic.rho_image(X, rho, seed=seed))
        noise = np.random.default_rng(seed).standard_normal(X.shape)
        corr_tol, norm_tol = _rho_tolerance(X, rho, noise)

        def norm(v):
            return mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(e)) ** 2 for e in v.ravel()))

        def exact():
            return float(_mp_pearson(img, X)), float(norm(img) / norm(X))
        corr, norm_ratio = with_precision(50, exact)
        # judged as one vector (corr, ‖img‖/‖X‖) against (ρ, 1)
        nx = float(np.linalg.norm(X))
        return (np.array([corr, norm_ratio]), np.array([rho, 1.0]),
                math.hypot(corr_tol, norm_tol / nx))

    return reference_check(
        instances, evaluate, kind="closed-form-vs-sampling", function=f"{MODULE}:rho_image",
        reference="correlation ρ and norm ‖X‖, the image's measured in 50-digit mpmath",
        rule="|corr − ρ| ≤ 8(N+6)·u·(|t|+|a|+‖R‖+|α|‖X‖)/√(t²+p²), |‖img‖ − ‖X‖| ≤ "
             "(3N+8)·u·‖X‖, for the noise drawn from the seed",
        arguments=lambda i: {"X": i[0], "rho": i[1], "seed": i[2]},
        min_decisive=len(instances),
        details="'Correlation' is the Pearson coefficient of the flattened images; X uniform "
                "on 28×28, noise N(0, 1), ρ on a grid of 11 values in [0, 1].")


def _pearson_reference(ctx: Context) -> Evidence:
    """``pearson_correlation`` against the coefficient in 50-digit mpmath, on images of every
    kind and scale the strategies draw (tiny, huge, sparse, near-constant)."""
    rng = ctx.rng(32)
    instances = []
    for _ in range(ctx.budget(20, 100)):
        shape = tuple(int(v) for v in rng.integers(1, 8, size=3))
        a = rng.standard_normal(shape) * 10.0 ** rng.uniform(-300, 300)
        b = (0.7 * a / np.abs(a).max() + rng.standard_normal(shape)) * 10.0 ** rng.uniform(-5, 5)
        if a.size > 1 and not np.all(a == a.ravel()[0]) and not np.all(b == b.ravel()[0]):
            instances.append((a, b))
    u = unit_roundoff(np.float64)

    def evaluate(inst):
        a, b = inst
        ref = with_precision(50, lambda: float(_mp_pearson(a, b)))
        # centring and normalising each image, then a dot product of unit vectors
        return np.array([ic.pearson_correlation(a, b)]), np.array([ref]), 8 * (a.size + 4) * u

    return reference_check(
        instances, evaluate, kind="reference", function=f"{MODULE}:pearson_correlation",
        reference="the Pearson coefficient in 50-digit mpmath", rule="8(N+4)·u",
        arguments=lambda i: {"a": i[0], "b": i[1]}, min_decisive=len(instances))


def _rho_symbolic(ctx: Context) -> list[Evidence]:
    """The derivation of α (corr = t/√(t² + p²) = ρ), then ``rho_mixture`` against the
    procedure carried out in 50-digit mpmath with that α."""
    a = sympy.Symbol("a", real=True)
    p = sympy.Symbol("p", positive=True)
    nx = sympy.Symbol("n_x", positive=True)
    rho = sympy.Symbol("rho", positive=True)
    alpha = (rho * p / sympy.sqrt(1 - rho**2) - a) / nx
    t = a + alpha * nx
    corr = t / sympy.sqrt(t**2 + p**2)
    identities = {"rho_1/3": (corr - rho).subs(rho, sympy.Rational(1, 3)),
                  "rho_9/10": (corr - rho).subs(rho, sympy.Rational(9, 10)),
                  "t_is_rho_p_over_sqrt(1-rho^2)": t - rho * p / sympy.sqrt(1 - rho**2)}
    verdict, results, found = identities_verdict(identities, ctx.seed)
    derivation = Evidence(
        kind="exact", verdict=verdict,
        metrics={**results, **({"exact_counterexamples": found} if found else {})},
        tolerance={"rule": "exact (sympy)"},
        details="With noise_c = a·X̂ + R⊥, p = ‖R⊥‖, the chosen α gives corr = t/√(t²+p²) = ρ; "
                "rescaling by a positive factor keeps it.")
    rng = ctx.rng(33)
    instances = [(rng.random(tuple(int(v) for v in rng.integers(2, 7, size=2))),
                  float(r), None) for r in (0.0, 0.2, 0.5, 0.9, 0.999)
                 for _ in range(ctx.budget(2, 6))]
    instances = [(X, r, rng.standard_normal(X.shape)) for X, r, _ in instances]
    u = unit_roundoff(np.float64)

    def evaluate(inst):
        X, r, R = inst

        def exact():
            Xm = [mpmath.mpf(float(v)) for v in X.ravel()]
            Rm = [mpmath.mpf(float(v)) for v in R.ravel()]
            mx, mr = mpmath.fsum(Xm) / len(Xm), mpmath.fsum(Rm) / len(Rm)
            xc, rc = [v - mx for v in Xm], [v - mr for v in Rm]
            nxc = mpmath.sqrt(mpmath.fsum(v * v for v in xc))
            am = mpmath.fsum(q * v / nxc for q, v in zip(rc, xc, strict=True))
            perp = mpmath.sqrt(mpmath.fsum((q - am * v / nxc) ** 2
                                           for q, v in zip(rc, xc, strict=True)))
            al = (r * perp / mpmath.sqrt(1 - mpmath.mpf(r) ** 2) - am) / nxc
            img = [q + al * v for q, v in zip(Rm, Xm, strict=True)]
            scale = mpmath.sqrt(mpmath.fsum(v * v for v in Xm)) / mpmath.sqrt(
                mpmath.fsum(v * v for v in img))
            return (np.array([float(v * scale) for v in img]).reshape(X.shape), float(al),
                    float(mpmath.sqrt(mpmath.fsum(v * v for v in img))))
        ref, al, nimg = with_precision(50, exact)
        spread = float(np.linalg.norm(R)) + abs(al) * float(np.linalg.norm(X))
        # α to N·u relative through a, p and ‖X_c‖; the sum and the rescaling u per element
        tol = 16 * (X.size + 8) * u * spread * float(np.linalg.norm(X)) / nimg
        return ic.rho_mixture(X, r, R), ref, tol

    return [derivation, reference_check(
        instances, evaluate, kind="exact", function=f"{MODULE}:rho_mixture",
        reference="the procedure carried out in 50-digit mpmath",
        rule="16(N+8)·u·(‖R‖+|α|‖X‖)·‖X‖/‖R+αX‖",
        arguments=lambda i: {"X": i[0], "rho": i[1], "noise": i[2]},
        min_decisive=len(instances))]


CLAIMS = [
    Claim("ic.constructions", "IC", "App. B.1–B.3",
          "The explicit identity realisations — linear (W = I, and products of identities), "
          "ReLU FCN with hidden width 2d (W1 = [I; −I], W2 = [I, −I], identities between), one "
          "conv layer with the kernel's centre tap, multi-layer ReLU CNN with 2C hidden "
          "channels — compute the identity exactly on every input.",
          (_constructions_search, _constructions_symbolic),
          exercises=(f"{MODULE}:linear_identity_weights", f"{MODULE}:relu_fcn_identity_weights",
                     f"{MODULE}:fcn_forward", f"{MODULE}:conv_identity_kernel",
                     f"{MODULE}:relu_cnn_identity_kernels", f"{MODULE}:cnn_forward")),
    Claim("ic.params", "IC", "Table 1, App. M",
          "Parameter counts of the FCN and CNN architectures (28×28 grayscale input and output, "
          "no biases) are the numbers in Table 1.",
          (_params_table, _params_search),
          exercises=(f"{MODULE}:param_count",)),
    Claim("ic.rho-images", "IC", "Sec 3.2",
          "The test-image procedure (random pixels, add αX with α chosen so the correlation "
          "with X is ρ, rescale to ‖X‖) yields images with correlation exactly ρ and norm ‖X‖, "
          "for every ρ ∈ [0, 1]. Correlation = Pearson coefficient of the flattened images.",
          (_rho_random, _pearson_reference, _rho_search, _rho_symbolic),
          exercises=(f"{MODULE}:rho_image", f"{MODULE}:rho_mixture",
                     f"{MODULE}:pearson_correlation")),
]
