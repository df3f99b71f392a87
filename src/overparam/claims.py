"""Your own claims, checked and reported exactly like overparam's.

A claim is an id, a statement, where it stands (a paper, a note) and a tuple of *checks*; a
check is a function ``check(ctx: Context) -> Evidence | list[Evidence]``. The builders below
make checks from overparam's kinds of evidence, so that a claim is declared in a few lines:

    from overparam import claims as oc

    CLAIMS = [
        oc.define_claim(
            "mine.second-moment", where="my note, eq. 3",
            statement="E‖f(x)‖² = h σ_a² σ_w² ‖x‖² / 2 for a 2-layer ReLU net",
            checks=(oc.monte_carlo_check(sample, expected=value, draws=(20_000, 200_000)),
                    oc.symbolic_check({"relu second moment": expr}))),
    ]

- ``monte_carlo_check``: a mean with its standard error, decided at a stated z.
- ``symbolic_check``: sympy expressions that must simplify to 0 (a random exact
  substitution decides a non-zero one).
- ``least_squares_check``: a closed-form limit of ½‖XW − Y‖² against runs of overparam's own
  trainer (``verify.gd_checks.closed_form_vs_training``), with the derived tolerance.
- ``search_check`` (over ``search_counterexample``): a hypothesis search over the statement's
  domain whose finding is shrunk and re-checked at higher precision.

A module that holds a list ``CLAIMS`` is loaded with ``load_user_claims("package.module")``
(or a path to a ``.py`` file); installed packages register such a module under the
``overparam.claims`` entry-point group and are found by ``plugin_claims()``. Their claims run
through ``verify.registry.run_claim`` beside overparam's, with the same verdict rules
(``verify.types.combine_verdicts``), JSON and Markdown (``run_claims``; the command
``overparam verify --claims package.module``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from overparam.verify.contract import MONTE_CARLO_Z
from overparam.verify.gd_checks import (
    GD_CONFIGS,
    INFORMATIVE,
    GDConfig,
    closed_form_vs_training,
)
from overparam.verify.search import search_counterexample
from overparam.verify.types import (
    VERDICTS,
    Check,
    Claim,
    ClaimResult,
    Context,
    Counterexample,
    Evidence,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "VERDICTS",
    "Check",
    "Claim",
    "ClaimResult",
    "Context",
    "Counterexample",
    "Evidence",
    "define_claim",
    "least_squares_check",
    "load_user_claims",
    "monte_carlo_check",
    "plugin_claims",
    "run_claims",
    "search_check",
    "search_counterexample",
    "select_all_claims",
    "symbolic_check",
]

#: The entry-point group under which installed packages register modules holding ``CLAIMS``.
ENTRY_POINT_GROUP = "overparam.claims"


# --------------------------------------------------------------------------- declaring claims


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    return value


def define_claim(id: str, *, statement: str, where: str, checks: Iterable[Check],
                 paper: str = "user", exercises: Iterable[str] = ()) -> Claim:
    """A ``Claim`` with its arguments checked.

    Args:
        id: the id in reports, e.g. ``"mine.lipschitz"`` (no spaces; dots group claims so
            that ``'mine.*'`` selects them).
        statement: the statement as you would write it, quantifiers and domain included.
        where: where it stands (a paper's theorem, a note's equation).
        checks: one or more functions ``ctx -> Evidence | list[Evidence]`` (the builders of
            this module make them).
        paper: the short name shown in the report's paper column (default ``"user"``).
        exercises: the functions under test, ``"module:function"``, that the checks call
            and judge; ``overparam.verify.planted`` plants bugs in them to show the checks
            can fail.

    Returns:
        The frozen ``Claim``. Raises TypeError/ValueError naming the argument at fault.
    """
    _text(id, "id")
    if any(c.isspace() for c in id):
        raise ValueError(f"id: expected no whitespace, got {id!r}")
    checks = tuple(checks) if not callable(checks) else (checks,)
    if not checks:
        raise ValueError("checks: expected at least one check")
    for i, check in enumerate(checks):
        if not callable(check):
            raise TypeError(f"checks: expected callables ctx -> Evidence, got "
                            f"{type(check).__name__} at position {i}")
    exercises = (exercises,) if isinstance(exercises, str) else tuple(exercises)
    for i, target in enumerate(exercises):
        if not isinstance(target, str) or ":" not in target:
            raise ValueError(f"exercises: expected 'module:function' names, got {target!r} "
                             f"at position {i}")
    return Claim(id, _text(paper, "paper"), _text(where, "where"),
                 _text(statement, "statement"), checks, exercises)


def _budget(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """(quick, full) from an int or a pair, both ≥ 1."""
    pair = (value, value) if isinstance(value, int | np.integer) else value
    if (not isinstance(pair, tuple) or len(pair) != 2
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                       for v in pair)):
        raise TypeError(f"{name}: expected an int or a pair (quick, full) of ints, got "
                        f"{value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name}: expected ≥ 1, got {value!r}")
    return int(pair[0]), int(pair[1])


def _named(check: Callable, label: str) -> Callable:
    check.__name__ = label
    return check


# --------------------------------------------------------------------- Monte Carlo evidence


def _finite_number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _z(excess: float, se: float) -> float:
    """excess / se, with ±inf (or 0) when the draws did not vary."""
    if se > 0:
        return excess / se
    return 0.0 if excess == 0 else math.copysign(math.inf, excess)


def _mc_verdict(mean: float, se: float, z: float, expected: float | None,
                upper: float | None, lower: float | None) -> tuple[str, dict]:
    """Decide E[v] against the claim from the z-sided interval mean ± z·se."""
    lo, hi = mean - z * se, mean + z * se
    if expected is not None:
        score = abs(_z(mean - expected, se))
        return ("verified" if score <= z else "falsified"), {"z_score": score}
    scores, verdicts = {}, []
    if upper is not None:
        scores["z_above_upper"] = _z(mean - upper, se)
        verdicts.append("falsified" if lo > upper else "verified" if hi <= upper
                        else "inconclusive")
    if lower is not None:
        scores["z_below_lower"] = _z(lower - mean, se)
        verdicts.append("falsified" if hi < lower else "verified" if lo >= lower
                        else "inconclusive")
    for verdict in ("falsified", "inconclusive"):
        if verdict in verdicts:
            return verdict, scores
    return "verified", scores


def monte_carlo_check(sample: Callable[[np.random.Generator, int], Any], *,
                      draws: int | tuple[int, int], expected: float | None = None,
                      upper: float | None = None, lower: float | None = None,
                      z: float = MONTE_CARLO_Z, salt: int = 0, label: str = "monte_carlo",
                      describe: str = "") -> Check:
    """A check that estimates E[v] by Monte Carlo, with its standard error, and decides it.

    ``sample(rng, n)`` returns n independent draws of the random quantity v (a 1-D array);
    it is called in blocks of at most 100,000 draws from ``ctx.rng(salt)``, so the estimate is
    reproducible from the report's seed. The claim is one of

    - ``expected=c`` (E[v] = c): verified when |mean − c| ≤ z·se, falsified otherwise;
    - ``upper=b`` and/or ``lower=a`` (E[v] ≤ b, E[v] ≥ a): verified when the interval
      mean ± z·se lies on the claimed side, falsified when it lies wholly on the other side,
      inconclusive when it straddles the bound (more draws would decide).

    z = 4 (the default, overparam's own) is a two-sided false-alarm probability of 6.3e-5 per
    decision under the normal approximation of the mean.

    Args:
        sample: (Generator, n) → array of n draws (finite reals).
        draws: the number of draws, an int or (quick, full) by ``--level``.
        expected: the claimed mean (give it alone).
        upper: the claimed upper bound on the mean (with or without ``lower``).
        lower: the claimed lower bound on the mean.
        z: the number of standard errors at which the check decides (> 0).
        salt: makes this check's random stream independent of others' (``ctx.rng(salt)``).
        label: the evidence's name in a report and in test ids.
        describe: one sentence on what is sampled, for the report.

    Returns:
        A check ``ctx -> Evidence`` of kind ``monte-carlo`` (metrics: mean, standard error,
        draws, z-scores; tolerance: the decision rule).
    """
    if not callable(sample):
        raise TypeError(f"sample: expected a callable (rng, n) -> array, got "
                        f"{type(sample).__name__}")
    quick, full = _budget(draws, "draws")
    expected = _finite_number(expected, "expected")
    upper = _finite_number(upper, "upper")
    lower = _finite_number(lower, "lower")
    if expected is None and upper is None and lower is None:
        raise ValueError("expected/upper/lower: expected the claim: expected=, or upper= "
                         "and/or lower=, got none")
    if expected is not None and (upper is not None or lower is not None):
        raise ValueError("expected: give expected= alone, or upper=/lower=, not both")
    z = _finite_number(z, "z")
    if z <= 0:
        raise ValueError(f"z: expected > 0, got {z}")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower: expected ≤ upper = {upper}, got {lower}")

    def check(ctx: Context) -> Evidence:
        n = ctx.budget(quick, full)
        rng = ctx.rng(salt)
        total, total_sq, done, shift = 0.0, 0.0, 0, 0.0
        while done < n:
            m = min(100_000, n - done)
            v = np.asarray(sample(rng, m), dtype=float)
            if v.shape != (m,):
                raise ValueError(f"sample: expected an array of shape ({m},), got {v.shape}")
            if not np.isfinite(v).all():
                raise ValueError("sample: returned NaN or inf")
            # centred on the first block's mean: the variance without cancellation
            if done == 0:
                shift = float(v.mean())
            total += float((v - shift).sum())
            total_sq += float(((v - shift) ** 2).sum())
            done += m
        mean_c = total / n
        mean = shift + mean_c
        var = max(total_sq / n - mean_c * mean_c, 0.0) * n / max(n - 1, 1)
        se = math.sqrt(var / n)
        verdict, scores = _mc_verdict(mean, se, z, expected, upper, lower)
        claim = (f"E[v] = {expected:.6g}" if expected is not None else " and ".join(
            s for s in (f"E[v] ≥ {lower:.6g}" if lower is not None else "",
                        f"E[v] ≤ {upper:.6g}" if upper is not None else "") if s))
        return Evidence(
            kind="monte-carlo", verdict=verdict,
            metrics={"draws": n, "mean": mean, "standard_error": se, **scores,
                     "claimed": claim},
            tolerance={"rule": f"decided at z = {z:g} standard errors of the mean (normal "
                               f"approximation): the interval mean ± {z:g}·se on the claimed "
                               f"side → verified, wholly on the other side → falsified, "
                               f"straddling → inconclusive",
                       "z": z},
            details=(describe + " " if describe else "") +
                    f"{n} independent draws; mean {mean:.6g} ± {se:.2g} (one standard error); "
                    f"claimed {claim}.")
    return _named(check, label)


# ---------------------------------------------------------------- exact / symbolic evidence


def symbolic_check(expressions: Mapping[str, Any] | Callable[[], Mapping[str, Any]], *,
                   label: str = "symbolic", describe: str = "") -> Check:
    """A check that each named sympy expression (or Matrix) simplifies to 0.

    Each expression is ``lhs − rhs`` of an identity the claim rests on. ``sympy.simplify``
    reducing it to 0 proves the identity (under the symbols' assumptions); otherwise the
    check looks for an exact counterexample: positive rationals (positive integers for
    integer symbols) for the free symbols at which the expression is exactly non-zero —
    found, the identity is falsified at that point; not found, the check is inconclusive
    (sympy could neither prove nor refute it).

    Args:
        expressions: {name: expression}, or a function returning it (built when the check
            runs, so that importing a claims module stays cheap).
        label: the evidence's name in a report and in test ids.
        describe: one sentence on the derivation, for the report.

    Returns:
        A check ``ctx -> Evidence`` of kind ``exact`` (metrics: per identity ``true``,
        ``false at {...}`` or ``undecided``).
    """
    if not (callable(expressions) or isinstance(expressions, Mapping)):
        raise TypeError(f"expressions: expected a dict {{name: sympy expression}} or a "
                        f"function returning one, got {type(expressions).__name__}")

    def check(ctx: Context) -> Evidence:
        from overparam.verify.symbolic import identities_verdict  # sympy only when run

        exprs = expressions() if callable(expressions) else expressions
        if not isinstance(exprs, Mapping) or not exprs:
            raise ValueError("expressions: expected a non-empty dict {name: expression}")
        verdict, results, found = identities_verdict(exprs, ctx.seed)
        return Evidence(
            kind="exact", verdict=verdict, metrics={**results, **(
                {"exact_counterexamples": found} if found else {})},
            tolerance={"rule": "exact (sympy): each lhs − rhs must simplify to 0; a non-zero "
                               "exact value at rational points falsifies it"},
            details=describe or "Identities checked symbolically with sympy.")
    return _named(check, label)


# ----------------------------------------------------------- closed form vs training


def least_squares_check(problem: Callable[[np.random.Generator], tuple],
                        closed_form: Callable[[Any, Any, Any], Any], *,
                        instances: int | tuple[int, int] = (3, 10),
                        steps: int | tuple[int, int] = (2000, 8000),
                        configs: Iterable[GDConfig] = GD_CONFIGS,
                        informative: float = INFORMATIVE, salt: int = 0,
                        label: str = "closed_form_vs_training", describe: str = "") -> Check:
    """A check of a closed-form gradient-descent limit of ½‖XW − Y‖² against real training.

    For each instance ``(X, Y, W0) = problem(rng)`` (X (n, d), Y (n, k), W0 (d, k)) the
    closed form ``closed_form(X, Y, W0)`` (the claimed limit W∞, (d, k)) — the function under
    test — is compared with the weights overparam's trainer reaches from W0 with each of
    ``configs`` (default: plain GD, IC App. A's momentum 0.9 with its stagewise schedule,
    Nesterov 0.9; step size c/λ_max(XᵀX)), by the same routine as overparam's own claims
    (``verify.gd_checks.closed_form_vs_training``): the tolerance is derived from the exact
    contraction of the linear error dynamics, the rounding of the steps and the closed form's
    conditioning; a run whose tolerance exceeds ``informative`` × ‖W∞ − W0‖ gets more steps
    and then a new instance; an informative run beyond its tolerance is ``falsified`` with the
    instance as the counterexample, and runs that stay uninformative are ``inconclusive``.

    Args:
        problem: Generator → (X, Y, W0) (NumPy arrays, float64).
        closed_form: (X, Y, W0) → W∞.
        instances: instances per run, an int or (quick, full).
        steps: training steps per run (at least), an int or (quick, full).
        configs: the gradient methods (``verify.gd_checks.GDConfig``).
        informative: the largest tolerance / ‖W∞ − W0‖ that counts as informative
            (default ``verify.gd_checks.INFORMATIVE``, the contract's resolution).
        salt: independent random stream (``ctx.rng(salt)``).
        label: the evidence's name in a report and in test ids.
        describe: one sentence on the claim's closed form, for the report.

    Returns:
        A check ``ctx -> Evidence`` of kind ``closed-form-vs-training``.
    """
    for name, fn in (("problem", problem), ("closed_form", closed_form)):
        if not callable(fn):
            raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
    n_quick, n_full = _budget(instances, "instances")
    s_quick, s_full = _budget(steps, "steps")
    configs = tuple(configs)
    if not configs or not all(isinstance(c, GDConfig) for c in configs):
        raise TypeError("configs: expected a non-empty sequence of verify.gd_checks.GDConfig")
    informative = _finite_number(informative, "informative")
    if informative <= 0:
        raise ValueError(f"informative: expected > 0, got {informative}")
    function = (f"{getattr(closed_form, '__module__', '?')}:"
                f"{getattr(closed_form, '__qualname__', type(closed_form).__name__)}")

    def check(ctx: Context) -> Evidence:
        rng = ctx.rng(salt)

        def draw() -> tuple:
            X, Y, W0 = (np.asarray(a, dtype=float) for a in problem(rng))
            if Y.ndim == 1:
                Y, W0 = Y[:, None], W0.reshape(-1, 1)
            W_lim = np.asarray(closed_form(X, Y, W0), dtype=float).reshape(W0.shape)
            return X, Y, W0, W_lim

        evidence, _ = closed_form_vs_training(
            draw, count=ctx.budget(n_quick, n_full), steps=ctx.budget(s_quick, s_full),
            function=function, arguments=lambda p: {"X": p[0], "Y": p[1], "W0": p[2]},
            label=describe or "closed form vs overparam's trainer", xp=np, configs=configs,
            level=informative)
        return evidence
    return _named(check, label)


# ---------------------------------------------------------------------- counterexample search


def search_check(strategy: Any, measure: Callable[[Any], tuple[float, dict]], *,
                 recheck: Callable[[Any], tuple[bool, dict]], entry_point: str,
                 arguments: Callable[[Any], dict], domain: str, tolerance: dict,
                 examples: int | tuple[int, int] = (100, 2000),
                 label: str = "counterexample_search") -> Check:
    """A check that searches the statement's domain for a violation (``search_counterexample``
    with the budget and seed of the run).

    ``measure(example)`` returns (discrepancy / derived tolerance, metrics): a ratio above 1
    is a violation in floating point; ``recheck(example)`` confirms it at higher precision
    (exact rationals, mpmath) and returns (confirmed, metrics). Only a confirmed, shrunk
    violation makes the claim ``falsified``; its counterexample re-runs as
    ``entry_point(**arguments(example))`` ("module:function").

    Args:
        strategy: a hypothesis strategy over the statement's whole domain.
        measure: example → (discrepancy / tolerance, metrics); above 1 is a violation.
        recheck: example → (confirmed at higher precision?, metrics).
        entry_point: "module:function" the counterexample re-runs.
        arguments: example → the entry point's keyword arguments.
        domain: the domain searched, in words, for the report.
        tolerance: how the tolerance is derived (its "rule" in words), for the report.
        examples: the search budget per phase, an int or (quick, full).
        label: the evidence's name in a report and in test ids.

    Returns:
        A check ``ctx -> Evidence`` of kind ``counterexample-search``.
    """
    from hypothesis.strategies import SearchStrategy

    if not isinstance(strategy, SearchStrategy):
        raise TypeError(f"strategy: expected a hypothesis strategy, got "
                        f"{type(strategy).__name__}")
    for name, fn in (("measure", measure), ("recheck", recheck), ("arguments", arguments)):
        if not callable(fn):
            raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
    if not isinstance(entry_point, str) or entry_point.count(":") != 1:
        raise ValueError(f"entry_point: expected 'module:function', got {entry_point!r}")
    _text(domain, "domain")
    if not isinstance(tolerance, Mapping):
        raise TypeError(f"tolerance: expected a dict (its 'rule' in words), got "
                        f"{type(tolerance).__name__}")
    quick, full = _budget(examples, "examples")

    def check(ctx: Context) -> Evidence:
        return search_counterexample(
            strategy, measure, recheck=recheck, entry_point=entry_point, arguments=arguments,
            max_examples=ctx.budget(quick, full), seed=ctx.seed, domain=domain,
            tolerance=dict(tolerance))
    return _named(check, label)


# ------------------------------------------------------------------------ loading claims


def _import(spec: str) -> ModuleType:
    """The module named by ``spec``: a dotted module name, or a path to a .py file."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if not path.is_file():
            raise ValueError(f"claims: no such file {spec!r}")
        if not path.stem.isidentifier():
            raise ValueError(f"claims: expected a file named like a module, got {spec!r}")
        # as `python path/to/file.py` does: its folder goes on the path, so that the module
        # is importable by its own name and its counterexamples re-run as "stem:function"
        loaded = sys.modules.get(path.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path:
            raise ValueError(f"claims: a different module named {path.stem!r} is already "
                             f"imported (from {getattr(loaded, '__file__', None)}); rename "
                             f"{spec!r}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec = path.stem
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise ValueError(f"claims: cannot import {spec!r} ({exc}); give PACKAGE.MODULE on "
                         f"the Python path, or a path to a .py file") from exc


def _claim_list(value: Any, origin: str) -> list[Claim]:
    if isinstance(value, ModuleType):
        if not hasattr(value, "CLAIMS"):
            raise ValueError(f"claims: {origin} has no CLAIMS list")
        value = value.CLAIMS
    if not isinstance(value, list | tuple):
        raise TypeError(f"claims: expected {origin}'s CLAIMS to be a list of Claim, got "
                        f"{type(value).__name__}")
    for i, c in enumerate(value):
        if not isinstance(c, Claim):
            raise TypeError(f"claims: expected {origin}'s CLAIMS to hold "
                            f"overparam.claims.Claim objects, got {type(c).__name__} at "
                            f"position {i}")
    return list(value)


def load_user_claims(spec: str) -> list[Claim]:
    """The ``CLAIMS`` list of the module ``spec``: ``"package.module"`` (importable) or a
    path to a ``.py`` file (``"examples/my_claims.py"``).

    Raises ValueError (module not found, no ``CLAIMS``, duplicate ids) or TypeError (not a
    list of ``Claim``), each naming ``claims`` and the module, so that the command line can
    report it as a usage error. Exceptions raised by the module's own code propagate.
    """
    _text(spec, "claims")
    claims = _claim_list(_import(spec), spec)
    ids = [c.id for c in claims]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"claims: {spec} declares the ids {dupes} more than once")
    return claims


def plugin_claims() -> list[Claim]:
    """The claims of every installed plugin: each entry point of the group
    ``overparam.claims`` names a module holding ``CLAIMS`` (``"pkg.mod"``) or the list
    itself (``"pkg.mod:CLAIMS"``). A package registers one in its pyproject.toml:

        [project.entry-points."overparam.claims"]
        mine = "my_package.my_claims"
    """
    claims: list[Claim] = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda e: e.name):
        claims.extend(_claim_list(ep.load(), f"entry point {ep.name!r} ({ep.value})"))
    return claims


def select_all_claims(ids: Iterable[str] | None = None,
                      specs: Iterable[str] = ()) -> list[Claim]:
    """overparam's claims, installed plugins' and those of the modules ``specs``, selected by
    ``ids`` as ``overparam verify`` selects (an exact id, or a pattern such as ``'ic.*'``;
    all claims when ``ids`` is empty), in the order the ids are given.

    Raises ValueError naming an id that matches nothing, or a user claim whose id is already
    taken (by overparam or another module)."""
    from overparam.verify.registry import all_claims, select_claims

    pool = list(all_claims())
    sources = {c.id: "overparam" for c in pool}
    extra = [(c, "an installed plugin") for c in plugin_claims()]
    for spec in specs:
        extra.extend((c, spec) for c in load_user_claims(spec))
    for c, origin in extra:
        if c.id in sources:
            raise ValueError(f"claims: the id {c.id!r} from {origin} is already taken by "
                             f"{sources[c.id]}")
        sources[c.id] = origin
        pool.append(c)
    return select_claims(list(ids or []), pool)


def run_claims(claims: Iterable[Claim], *, level: str = "quick", seed: int = 0,
               backend: str = "numpy") -> dict:
    """Run ``claims`` (yours, overparam's, or both) as ``overparam verify`` does and return
    the report as a dict (the JSON schema of ``report.json``; ``verify.report.markdown``
    renders it as ``report.md``). Figures are not written (no output directory)."""
    from overparam.numerics.backend import get_xp
    from overparam.verify.registry import run_claim
    from overparam.verify.report import build_report, environment
    from overparam.verify.types import LEVELS

    if level not in LEVELS:
        raise ValueError(f"level: expected one of {LEVELS}, got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    ctx = Context(level=level, seed=int(seed), xp=get_xp(backend=backend))
    results = [run_claim(c, ctx) for c in claims]
    return build_report(results, environment(backend, level, int(seed)))

