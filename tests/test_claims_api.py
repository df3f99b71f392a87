"""overparam.claims: declaring one's own claims from overparam's evidence builders, loading
them from a module, a file or an installed plugin, and selecting them beside overparam's."""

from __future__ import annotations

import math
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import strategies as st

from overparam import claims as oc
from overparam.verify.registry import all_claims

CTX = oc.Context(level="quick", seed=3, xp=np)


def _uniform(rng, n):
    return rng.random(n)


# ------------------------------------------------------------------------------ define_claim


def test_define_claim_builds_the_claim_and_names_bad_arguments():
    c = oc.define_claim("me.one", statement="s", where="w", checks=(_uniform,))
    assert (c.id, c.paper, c.where, c.statement, c.checks) == ("me.one", "user", "w", "s",
                                                               (_uniform,))
    with pytest.raises(TypeError, match="id: expected a string"):
        oc.define_claim(3, statement="s", where="w", checks=(_uniform,))
    with pytest.raises(ValueError, match="id: expected no whitespace"):
        oc.define_claim("me one", statement="s", where="w", checks=(_uniform,))
    with pytest.raises(ValueError, match="statement: expected a non-empty"):
        oc.define_claim("me.one", statement=" ", where="w", checks=(_uniform,))
    with pytest.raises(ValueError, match="checks: expected at least one"):
        oc.define_claim("me.one", statement="s", where="w", checks=())
    with pytest.raises(TypeError, match="checks: expected callables.*position 1"):
        oc.define_claim("me.one", statement="s", where="w", checks=(_uniform, 5))


# ------------------------------------------------------------------------------ Monte Carlo


def test_monte_carlo_mean_and_standard_error_match_numpy_on_the_same_draws():
    n = 30_000
    ev = oc.monte_carlo_check(_uniform, expected=0.5, draws=n, salt=7)(CTX)
    v = np.random.default_rng([CTX.seed, 7]).random(n)  # the stream ctx.rng(7) gives
    # shifted running sums vs numpy's pairwise sum: both within n·u relative of the truth
    assert ev.metrics["mean"] == pytest.approx(v.mean(), rel=4 * n * 2**-53)
    assert ev.metrics["standard_error"] == pytest.approx(v.std(ddof=1) / math.sqrt(n),
                                                         rel=1e-9)
    assert ev.kind == "monte-carlo" and ev.verdict == "verified"


@pytest.mark.parametrize(("claim", "verdict"), [
    # U[0, 1] with 40,000 draws: se = 1/√(12·40000) = 0.00144, so 4 se = 0.0058
    ({"expected": 0.5}, "verified"),
    ({"expected": 0.52}, "falsified"),       # 14 se away
    ({"upper": 0.5}, "inconclusive"),        # the interval straddles the bound
    ({"upper": 0.51}, "verified"),           # 7 se above the mean
    ({"upper": 0.49}, "falsified"),
    ({"lower": 0.49, "upper": 0.51}, "verified"),
    ({"lower": 0.51}, "falsified"),
])
def test_monte_carlo_decides_at_the_stated_z(claim, verdict):
    ev = oc.monte_carlo_check(_uniform, draws=40_000, **claim)(CTX)
    assert ev.verdict == verdict, ev.metrics


def test_monte_carlo_with_a_wider_z_stays_inconclusive_where_four_decides():
    # mean ≈ 0.5 ± 0.00144: a bound 0.507 is ~5 se away — decided at z = 4, not at z = 10
    assert oc.monte_carlo_check(_uniform, draws=40_000, upper=0.507,
                                z=4)(CTX).verdict == "verified"
    assert oc.monte_carlo_check(_uniform, draws=40_000, upper=0.507,
                                z=10)(CTX).verdict == "inconclusive"


def test_monte_carlo_refuses_bad_arguments_and_bad_samples():
    with pytest.raises(ValueError, match="expected/upper/lower"):
        oc.monte_carlo_check(_uniform, draws=10)
    with pytest.raises(ValueError, match="expected: give expected= alone"):
        oc.monte_carlo_check(_uniform, draws=10, expected=1.0, upper=2.0)
    with pytest.raises(ValueError, match="z: expected > 0"):
        oc.monte_carlo_check(_uniform, draws=10, expected=1.0, z=0)
    with pytest.raises(ValueError, match="upper: expected a finite"):
        oc.monte_carlo_check(_uniform, draws=10, upper=math.nan)
    with pytest.raises(TypeError, match="draws: expected an int or a pair"):
        oc.monte_carlo_check(_uniform, draws=1.5, expected=0.5)
    with pytest.raises(ValueError, match="draws: expected ≥ 1"):
        oc.monte_carlo_check(_uniform, draws=(0, 5), expected=0.5)
    with pytest.raises(TypeError, match="sample: expected a callable"):
        oc.monte_carlo_check([1, 2], draws=10, expected=0.5)
    with pytest.raises(ValueError, match="sample: returned NaN"):
        oc.monte_carlo_check(lambda rng, n: np.full(n, np.nan), draws=10, expected=0.5)(CTX)
    with pytest.raises(ValueError, match=r"sample: expected an array of shape \(10,\)"):
        oc.monte_carlo_check(lambda rng, n: np.zeros(3), draws=10, expected=0.5)(CTX)


# ------------------------------------------------------------------------------- symbolic


def test_symbolic_check_proves_identities_and_refutes_a_false_one_exactly():
    x = sympy.Symbol("x", real=True)
    ok = oc.symbolic_check({"pythagoras": sympy.sin(x) ** 2 + sympy.cos(x) ** 2 - 1,
                            "matrix": sympy.Matrix([[x - x, 0]])})(CTX)
    assert ok.kind == "exact" and ok.verdict == "verified"
    assert ok.metrics == {"pythagoras": "true", "matrix": "true"}
    bad = oc.symbolic_check(lambda: {"square": (x + 1) ** 2 - x**2 - 1})(CTX)
    assert bad.verdict == "falsified"
    # the witness is exact: (x + 1)² − x² − 1 = 2x at the stated rational point
    witness = bad.metrics["exact_counterexamples"]["square"]
    at = sympy.Rational(witness["at"]["x"])
    assert sympy.Rational(witness["value"]) == 2 * at != 0


def test_symbolic_check_names_bad_arguments():
    with pytest.raises(TypeError, match="expressions: expected a dict"):
        oc.symbolic_check(3)
    with pytest.raises(ValueError, match="expressions: expected a non-empty dict"):
        oc.symbolic_check({})(CTX)


# --------------------------------------------------------------- closed form vs training


def _wide_problem(rng):
    X = rng.normal(size=(3, 6))
    return X, rng.normal(size=(3, 2)), rng.normal(size=(6, 2))


def _pinv_limit(X, Y, W0):
    # IC Lemma 1 for full row rank, in its own formula: W0 + Xᵀ(XXᵀ)⁻¹(Y − XW0)
    return W0 + X.T @ np.linalg.solve(X @ X.T, Y - X @ W0)


def test_least_squares_check_verifies_the_true_limit_and_not_a_wrong_one():
    good = oc.least_squares_check(_wide_problem, _pinv_limit, instances=2, steps=1500)(CTX)
    assert good.kind == "closed-form-vs-training" and good.verdict == "verified"
    assert good.metrics["runs"] == 6 and good.metrics["worst_ratio_to_tolerance"] <= 1
    # claiming that GD does not move at all: every run ends far outside its tolerance
    wrong = oc.least_squares_check(_wide_problem, lambda X, Y, W0: W0, instances=2,
                                   steps=1500)(CTX)
    assert wrong.verdict == "inconclusive" and wrong.metrics["worst_ratio_to_tolerance"] > 1e6
    with pytest.raises(TypeError, match="closed_form: expected a callable"):
        oc.least_squares_check(_wide_problem, None)
    with pytest.raises(ValueError, match="informative: expected > 0"):
        oc.least_squares_check(_wide_problem, _pinv_limit, informative=0.0)


# ----------------------------------------------------------------------- search


def square_gap(x):
    """x − x² (a module-level function: the counterexample's entry point)."""
    return x - x * x


def _square_search():
    # the claim x² ≥ x on [0, 1]: the float discrepancy x − x² over its rounding 4u flags it
    return oc.search_check(
        st.fractions(0, 1, max_denominator=50).map(float),
        lambda x: ((x - x * x) / (4 * 2**-53), {"x": x}),
        recheck=lambda x: (Fraction(x) - Fraction(x) ** 2 > 0, {}),
        entry_point=f"{__name__}:square_gap", arguments=lambda x: {"x": x},
        domain="x ∈ [0, 1]", tolerance={"rule": "x − x² > 4u, confirmed in rationals"},
        examples=50)


def test_search_check_falsifies_with_a_rerunnable_counterexample():
    ev = _square_search()(CTX)  # x² ≥ x is false inside (0, 1)
    assert ev.verdict == "falsified"
    cx = ev.counterexample
    assert cx.entry_point == f"{__name__}:square_gap"
    assert square_gap(**cx.arguments) > 0
    assert oc.search_check(st.floats(0, 1), lambda x: (0.0, {}), recheck=lambda x: (True, {}),
                           entry_point="m:f", arguments=lambda x: {"x": x}, domain="[0, 1]",
                           tolerance={"rule": "none"}, examples=20)(CTX).verdict == "verified"


def test_search_check_names_bad_arguments():
    kw = {"recheck": lambda x: (True, {}), "arguments": lambda x: {}, "domain": "d",
          "tolerance": {}}
    with pytest.raises(TypeError, match="strategy: expected a hypothesis strategy"):
        oc.search_check([1], lambda x: (0.0, {}), entry_point="m:f", **kw)
    with pytest.raises(ValueError, match="entry_point: expected 'module:function'"):
        oc.search_check(st.just(1), lambda x: (0.0, {}), entry_point="m.f", **kw)


# ------------------------------------------------------------------------ loading


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


CLAIMS_MODULE = """
    import numpy as np
    from overparam import claims as oc
    CLAIMS = [oc.define_claim("{prefix}.mean", statement="E U = 1/2", where="here",
                              checks=(oc.monte_carlo_check(lambda r, n: r.random(n),
                                                           expected=0.5, draws=1000),))]
"""


def test_load_user_claims_from_a_module_name_and_from_a_file(tmp_path, monkeypatch):
    _write(tmp_path, "mine_by_name", CLAIMS_MODULE.format(prefix="byname"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [c.id for c in oc.load_user_claims("mine_by_name")] == ["byname.mean"]
    (tmp_path / "sub").mkdir()
    path = _write(tmp_path / "sub", "mine_by_file", CLAIMS_MODULE.format(prefix="byfile"))
    assert [c.id for c in oc.load_user_claims(str(path))] == ["byfile.mean"]
    # another file of a name already imported from elsewhere is refused, not confused
    (tmp_path / "other").mkdir()
    clash = _write(tmp_path / "other", "mine_by_file", CLAIMS_MODULE.format(prefix="x"))
    with pytest.raises(ValueError, match="a different module named 'mine_by_file'"):
        oc.load_user_claims(str(clash))


def test_load_user_claims_names_what_is_wrong(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path, "no_claims_here", "X = 1\n")
    _write(tmp_path, "wrong_items", "CLAIMS = [1]\n")
    _write(tmp_path, "twice", textwrap.dedent(CLAIMS_MODULE.format(prefix="t")) +
           "CLAIMS = CLAIMS + CLAIMS\n")
    with pytest.raises(ValueError, match="claims: cannot import 'no_such_module_xyz'"):
        oc.load_user_claims("no_such_module_xyz")
    with pytest.raises(ValueError, match="claims: no_claims_here has no CLAIMS"):
        oc.load_user_claims("no_claims_here")
    with pytest.raises(TypeError, match="Claim objects, got int at position 0"):
        oc.load_user_claims("wrong_items")
    with pytest.raises(ValueError, match=r"ids \['t.mean'\] more than once"):
        oc.load_user_claims("twice")
    with pytest.raises(ValueError, match="claims: no such file"):
        oc.load_user_claims(str(tmp_path / "absent.py"))
    with pytest.raises(TypeError, match="claims: expected a string"):
        oc.load_user_claims(None)


def test_select_all_claims_mixes_ours_and_the_users_and_refuses_clashes(tmp_path,
                                                                       monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path, "sel_mine", CLAIMS_MODULE.format(prefix="mine"))
    chosen = oc.select_all_claims(["mine.*", "ic.thm1"], ["sel_mine"])
    assert [c.id for c in chosen] == ["mine.mean", "ic.thm1"]
    everything = oc.select_all_claims([], ["sel_mine"])
    assert [c.id for c in everything] == [c.id for c in all_claims()] + ["mine.mean"]
    with pytest.raises(ValueError, match="unknown claim id 'nope.*'"):
        oc.select_all_claims(["nope.*"], ["sel_mine"])
    _write(tmp_path, "sel_clash", CLAIMS_MODULE.replace("{prefix}.mean", "ic.thm1"))
    with pytest.raises(ValueError, match="'ic.thm1' from sel_clash is already taken by "
                                         "overparam"):
        oc.select_all_claims([], ["sel_clash"])


def test_installed_plugins_are_found_through_the_entry_point_group(tmp_path, monkeypatch):
    # a real installed distribution: a dist-info folder on the path, as pip writes it
    _write(tmp_path, "plugin_claims_mod", CLAIMS_MODULE.format(prefix="plugged"))
    info = tmp_path / "plugin_claims_dist-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-claims-dist\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{oc.ENTRY_POINT_GROUP}]\n"
                                           "plugged = plugin_claims_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [c.id for c in oc.plugin_claims()] == ["plugged.mean"]
    assert [c.id for c in oc.select_all_claims(["plugged.*"])] == ["plugged.mean"]


def test_run_claims_gives_the_report_schema_and_verdict_rules():
    mean = oc.define_claim("me.mean", statement="E U = 1/2", where="here",
                           checks=(oc.monte_carlo_check(_uniform, expected=0.5, draws=1000),))
    wrong = oc.define_claim("me.wrong", statement="E U = 0.6", where="here",
                            checks=(oc.monte_carlo_check(_uniform, expected=0.6,
                                                         draws=10_000),
                                    oc.symbolic_check({"zero": sympy.Integer(0)})))
    report = oc.run_claims([mean, wrong], seed=1)
    assert set(report) == {"overparam", "created", "environment", "claims"}
    by_id = {c["id"]: c for c in report["claims"]}
    assert by_id["me.mean"]["verdict"] == "verified"
    # one falsified evidence beside a verified one: the claim is falsified (combine_verdicts)
    assert [e["verdict"] for e in by_id["me.wrong"]["evidence"]] == ["falsified", "verified"]
    assert by_id["me.wrong"]["verdict"] == "falsified"
    with pytest.raises(ValueError, match="level: expected one of"):
        oc.run_claims([mean], level="slow")
