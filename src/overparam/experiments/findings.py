"""Findings as data: what a reproduction says about each of its paper's statements.

A ``Finding`` holds the paper's statement and where it is, its **precondition** as the paper
sets it (every net fits its training set, 100 % training accuracy, the trainer converged) with
the measured numbers and whether it is met, the statistic, the test (p-value or confidence
interval over seeds), the threshold, the seeds used, and the verdict: ``shown``, ``not shown``
or ``not assessable``. The constructor refuses ``shown`` (or ``not shown``) with an unmet
precondition — a net that did not fit tells nothing about which interpolant training picks
(IC Sec. 3; EM Sec. 3: "trained to 100 % training accuracy").

Each reproduction's ``results.json`` carries its ``findings`` (``Finding.to_json``); its
summary.md's verdict lines are ``render`` of them and the README's reproduction table is
``readme_table`` of the committed outputs, so no verdict line states a number that is not in
that run's results.

Statistics shared by the reproductions: ``seed_stats`` (mean, sample standard deviation and
Student-t 95 % interval over seeds), ``t_test`` (one-sample, one-sided, against a threshold),
``spearman`` and ``partial_spearman`` (a correlation with a swept control — σ, depth, p — held
out: rank-based partial correlation, so a finding never rests on two quantities that both just
follow the control).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CONFIDENCE", "MIN_SEEDS", "NOT_ASSESSABLE", "NOT_SHOWN", "README_END",
           "README_START", "SHOWN", "VERDICTS", "Finding", "Precondition", "decide", "from_json",
           "partial_spearman", "readme_table", "render", "seed_stats", "spearman", "t_test",
           "update_readme"]

SHOWN, NOT_SHOWN, NOT_ASSESSABLE = "shown", "not shown", "not assessable"
VERDICTS = (SHOWN, NOT_SHOWN, NOT_ASSESSABLE)
#: seeds a finding that rests on training needs before it is more than indicative (issue 25)
MIN_SEEDS = 3
#: the level of every interval and test here (two-sided intervals, one-sided tests at 1 − it)
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Precondition:
    """What the paper's statement assumes (``statement``, as the paper sets it), the numbers
    measured for it (``measured``: JSON-ready) and whether it holds (``met``)."""

    statement: str
    measured: Mapping[str, Any]
    met: bool

    def __post_init__(self) -> None:
        if not isinstance(self.met, bool):
            raise TypeError(f"met: expected a bool, got {type(self.met).__name__}")


@dataclass(frozen=True)
class Finding:
    """One of the paper's statements checked on a run's numbers.

    Attributes:
        key: a short stable id within the experiment, e.g. "chance".
        statement: the paper's statement, paraphrased closely.
        where: where the paper says it (figure, section).
        precondition: ``Precondition``.
        statistic: what is measured, in words.
        value: the statistic's value (mean over seeds where several); None if not computed.
        test: the test or rule applied to the statistic, in words.
        threshold: the threshold the rule compares with, and how it was derived.
        verdict: one of ``VERDICTS``.
        seeds: the seeds whose runs the statistic pools.
        p_value: the test's p-value (None where the rule is a threshold on one seed).
        ci: a 95 % interval of the statistic over seeds (None with fewer than two).
        spread: the sample standard deviation over seeds (None with fewer than two).
        paper: the paper's number or wording to print beside ours.
        details: further measured numbers (JSON-ready), e.g. per-seed values.
    """

    key: str
    statement: str
    where: str
    precondition: Precondition
    statistic: str
    value: float | None
    test: str
    threshold: str
    verdict: str
    seeds: Sequence[int]
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    spread: float | None = None
    paper: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: expected one of {VERDICTS}, got {self.verdict!r}")
        if not self.precondition.met and self.verdict != NOT_ASSESSABLE:
            raise ValueError(f"finding {self.key!r}: verdict {self.verdict!r} with its "
                             f"precondition unmet ({self.precondition.statement}); only "
                             f"{NOT_ASSESSABLE!r} is allowed")
        if not self.seeds:
            raise ValueError(f"finding {self.key!r}: seeds: expected at least one")
        for name in ("value", "p_value", "spread"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"finding {self.key!r}: {name}: expected a finite number or "
                                 f"None, got {v!r}")

    def to_json(self) -> dict:
        """The JSON form stored in results.json (``from_json`` reads it back)."""
        return {"key": self.key, "statement": self.statement, "where": self.where,
                "precondition": {"statement": self.precondition.statement,
                                 "measured": dict(self.precondition.measured),
                                 "met": self.precondition.met},
                "statistic": self.statistic, "value": self.value, "test": self.test,
                "threshold": self.threshold, "p_value": self.p_value,
                "ci": None if self.ci is None else list(self.ci), "spread": self.spread,
                "seeds": list(self.seeds), "verdict": self.verdict, "paper": self.paper,
                "details": dict(self.details)}


def from_json(d: Mapping[str, Any]) -> Finding:
    """A ``Finding`` from its JSON form (the constructor's checks apply again)."""
    pre = d["precondition"]
    return Finding(key=d["key"], statement=d["statement"], where=d["where"],
                   precondition=Precondition(pre["statement"], pre["measured"], pre["met"]),
                   statistic=d["statistic"], value=d["value"], test=d["test"],
                   threshold=d["threshold"], verdict=d["verdict"], seeds=d["seeds"],
                   p_value=d["p_value"], ci=None if d["ci"] is None else tuple(d["ci"]),
                   spread=d["spread"], paper=d["paper"], details=d["details"])


def decide(passed: bool | None, precondition: Precondition) -> str:
    """The verdict: ``not assessable`` when the precondition is unmet or the rule could not be
    applied (``passed`` None), else ``shown`` / ``not shown``."""
    if not precondition.met or passed is None:
        return NOT_ASSESSABLE
    return SHOWN if passed else NOT_SHOWN


# --- statistics --------------------------------------------------------------------------

def seed_stats(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation and two-sided Student-t ``CONFIDENCE`` interval of the
    mean over seeds: {"n", "mean", "sd", "ci"} (sd and ci None with one value)."""
    from scipy.stats import t as student_t

    v = np.asarray([float(x) for x in values])
    if v.size == 0:
        raise ValueError("values: expected at least one")
    if v.size == 1:
        return {"n": 1, "mean": float(v[0]), "sd": None, "ci": None}
    sd = float(v.std(ddof=1))
    half = float(student_t.ppf(0.5 + CONFIDENCE / 2, v.size - 1)) * sd / math.sqrt(v.size)
    m = float(v.mean())
    return {"n": int(v.size), "mean": m, "sd": sd, "ci": (m - half, m + half)}


def t_test(values: Sequence[float], threshold: float, *, greater: bool = True
           ) -> float | None:
    """One-sided one-sample t-test p-value of mean > ``threshold`` (``greater``) or
    < ``threshold``; None with fewer than two values. Identical values (sd 0) give 0 or 1 by
    which side of the threshold they lie."""
    from scipy.stats import ttest_1samp

    v = np.asarray([float(x) for x in values])
    if v.size < 2:
        return None
    if np.all(v == v[0]):
        side = v[0] > threshold if greater else v[0] < threshold
        return 0.0 if side else 1.0
    res = ttest_1samp(v, threshold, alternative="greater" if greater else "less")
    return float(res.pvalue)


def spearman(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, float | None]:
    """Spearman's ρ and its two-sided p-value (``em_scale.spearman``: exact for small n);
    (None, None) with fewer than three points or a constant side."""
    from overparam.experiments.em_scale import spearman as _spearman

    return _spearman(list(a), list(b))


def partial_spearman(a: Sequence[float], b: Sequence[float], control: Sequence[float]
                     ) -> tuple[float | None, float | None]:
    """Spearman correlation of ``a`` and ``b`` with ``control`` held out: the Pearson
    correlation of the residuals of rank(a) and rank(b) after a least-squares line on
    rank(control), with its two-sided p-value from Student's t on n − 3 degrees of freedom.
    (None, None) with fewer than four points or a residual that vanishes (a side fully
    explained by the control)."""
    from scipy.stats import rankdata
    from scipy.stats import t as student_t

    n = len(a)
    if not (len(b) == n == len(control)):
        raise ValueError(f"a, b, control: expected one length, got {len(a)}, {len(b)}, "
                         f"{len(control)}")
    if n < 4:
        return None, None
    ra, rb, rc = (rankdata(np.asarray(x, dtype=float)) for x in (a, b, control))
    design = np.column_stack([np.ones(n), rc])

    def resid(r: np.ndarray) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(design, r, rcond=None)
        return r - design @ coef

    ea, eb = resid(ra), resid(rb)
    scale = math.sqrt(float(ea @ ea) * float(eb @ eb))
    # ranks are integers or halves ≤ n: a residual below n·1e-9 is rounding of an exact 0
    if scale <= (n * 1e-9) ** 2:
        return None, None
    r = max(-1.0, min(1.0, float(ea @ eb) / scale))
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt((n - 3) / (1 - r * r))
    return r, float(2 * student_t.sf(abs(t), n - 3))


# --- rendering ------------------------------------------------------------------------------

def _num(v: float | None) -> str:
    """Three significant digits, more where those would round a non-integer to an integer
    (a training accuracy of 0.9995 is not 1)."""
    if v is None:
        return "—"
    text = format(v, ".3g")
    if v != round(v) and float(text) == round(v):
        text = format(v, ".6g")
    return text


def _measured(m: Mapping[str, Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, float):
            return _num(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return str(v)

    return ", ".join(f"{k} {one(v)}" for k, v in m.items())


def render(f: Finding) -> str:
    """The finding as one summary line (every number in it is in the finding's data)."""
    seeds = ", ".join(str(s) for s in f.seeds)
    stat = f"{f.statistic} = {_num(f.value)}"
    if f.spread is not None:
        stat += f" (sd {_num(f.spread)} over {len(f.seeds)} seeds)"
    if f.ci is not None:
        stat += f", 95 % CI [{_num(f.ci[0])}, {_num(f.ci[1])}]"
    test = f.test + (f", p = {_num(f.p_value)}" if f.p_value is not None else "")
    pre = ("met" if f.precondition.met else "**NOT met**")
    paper = f" Paper: {f.paper}." if f.paper else ""
    few = (f" (fewer than {MIN_SEEDS} seeds: no spread over seeds, indicative only)"
           if len(f.seeds) < MIN_SEEDS else "")
    return (f"**{f.verdict}** — {f.statement} ({f.where}).{paper} Precondition: "
            f"{f.precondition.statement} — {pre} ({_measured(f.precondition.measured)}). "
            f"Ours: {stat}; {test}; threshold: {f.threshold}; seeds {seeds}{few}.")


def readme_table(root: str | Path) -> str:
    """The README's reproduction table from the committed outputs under ``root``
    (docs/reproductions): one row per finding, with the paper's number, each preset's value
    (mean ± sd over seeds where several) and verdict."""
    root = Path(root)
    runs: dict[str, dict[str, dict]] = {}
    for path in sorted(root.glob("*/results.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "findings" not in data:
            continue
        # "<experiment id>-<preset>" (the full-size kernel run: "rr.kernel-60k")
        exp, preset = path.parent.name.rsplit("-", 1)
        runs.setdefault(data.get("experiment", exp), {})[preset] = {
            f["key"]: f for f in data["findings"]}
    others = sorted({p for r in runs.values() for p in r} - {"standard", "quick"})
    presets = ["standard", "quick", *others]
    lines = ["| reproduction | finding (where) | paper | "
             + " | ".join(f"{p}: ours (verdict)" for p in presets) + " |",
             "|---|---|---|" + "---|" * len(presets)]
    for exp in sorted(runs):
        keys: list[str] = []
        for p in presets:
            keys += [k for k in runs[exp].get(p, {}) if k not in keys]
        for k in keys:
            first = next(runs[exp][p][k] for p in presets if k in runs[exp].get(p, {}))
            cells = []
            for p in presets:
                f = runs[exp].get(p, {}).get(k)
                if f is None:
                    cells.append("—" if p in others else "not run")
                    continue
                v = _num(f["value"])
                if f["spread"] is not None:
                    v += f" ± {_num(f['spread'])}"
                cells.append(f"{v} ({f['verdict']}, {len(f['seeds'])} seed"
                             f"{'s' if len(f['seeds']) > 1 else ''})")
            statement = first["statement"].replace("|", "/")
            lines.append(f"| `{exp}` | {statement} ({first['where']}) | "
                         f"{(first['paper'] or '—').replace('|', '/')} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- reproductions:start -->", "<!-- reproductions:end -->"


def update_readme(readme: str | Path, root: str | Path) -> None:
    """Write ``readme_table(root)`` between the README's reproduction markers."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme}: expected the markers {README_START} and {README_END}")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(f"{head}{README_START}\n{readme_table(root)}{README_END}{tail}",
                      encoding="utf-8")
