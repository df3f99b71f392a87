"""The pytest plugin (``pytest --overparam PATTERN``) and ``parametrize_with_claims``, run in
throw-away pytest sessions (pytester). Only cheap checks run: ``ic.params`` (a table and a
search over parameter counts, ~0.1 s) and tiny user claims."""

from __future__ import annotations

import textwrap

import pytest

# imported here, before any inner session: in-process pytester runs restore sys.modules
# after each run, and compiled extensions (numpy.fft, scipy) cannot load twice per process
import overparam.claims  # noqa: F401
import overparam.testing  # noqa: F401
import overparam.verify.registry  # noqa: F401

pytest_plugins = ["pytester"]

SUITE = """
    def test_plain():
        assert 1 + 1 == 2
"""

# a user's claims: a Monte Carlo that verifies, one that falsifies, one too weak to decide
USER_CLAIMS = """
    from overparam import claims as oc

    def uniform(rng, n):
        return rng.random(n)

    CLAIMS = [
        oc.define_claim("{p}.half", statement="E U = 1/2", where="here", checks=(
            oc.monte_carlo_check(uniform, expected=0.5, draws=4000, label="mean_half"),)),
        oc.define_claim("{p}.wrong", statement="E U = 0.6", where="here", checks=(
            oc.monte_carlo_check(uniform, expected=0.6, draws=4000, label="mean_wrong"),)),
        oc.define_claim("{p}.weak", statement="E U ≤ 1/2", where="here", checks=(
            oc.monte_carlo_check(uniform, upper=0.5, draws=4000, label="mean_weak"),)),
    ]
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=textwrap.dedent(SUITE))
    return pytester


def _user_claims(pytester: pytest.Pytester, prefix: str) -> str:
    # a module name per test: modules stay imported across in-process pytest runs
    name = f"claims_{prefix}"
    pytester.makepyfile(**{name: textwrap.dedent(USER_CLAIMS).replace("{p}", prefix)})
    return f"{name}.py"


def test_without_the_option_the_plugin_changes_nothing(suite):
    result = suite.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "overparam::" not in result.stdout.str()
    # loaded (its options are offered) but it declares nothing: no marker without the option
    assert "--overparam=PATTERN" in suite.runpytest("--help").stdout.str()
    assert "overparam:" not in suite.runpytest("--markers").stdout.str()


def test_claims_run_as_items_with_readable_ids_beside_the_suite(suite):
    result = suite.runpytest("--overparam", "ic.params", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_suite.py::test_plain PASSED*",
                                 "overparam::ic.params:params_table PASSED*",
                                 "overparam::ic.params:params_search PASSED*"])


def test_only_keyword_and_marker_selection(suite):
    only = suite.runpytest("--overparam", "ic.params", "--overparam-only")
    only.assert_outcomes(passed=2, deselected=1)
    keyword = suite.runpytest("--overparam", "ic.*", "--overparam-only", "-k", "params_table",
                              "-v")
    keyword.assert_outcomes(passed=1, deselected=keyword.parseoutcomes()["deselected"])
    keyword.stdout.fnmatch_lines(["overparam::ic.params:params_table PASSED*"])
    marker = suite.runpytest("--overparam", "ic.params", "-m", "overparam")
    marker.assert_outcomes(passed=2, deselected=1)


def test_verdicts_map_to_outcomes_and_a_failure_shows_the_evidence(suite):
    mod = _user_claims(suite, "pluga")
    result = suite.runpytest("--overparam", "pluga.*", "--overparam-claims", mod,
                             "--overparam-only", "-rs")
    # verified passes, falsified fails, inconclusive (the interval straddles 1/2) skips
    result.assert_outcomes(passed=1, failed=1, skipped=1, deselected=1)
    out = result.stdout.str()
    assert "pluga.wrong (user, here): E U = 0.6" in out
    assert "monte-carlo: falsified" in out and '"z_score"' in out
    assert "pluga.weak:mean_weak inconclusive" in out
    strict = suite.runpytest("--overparam", "pluga.weak", "--overparam-claims", mod,
                             "--overparam-only", "--overparam-strict")
    strict.assert_outcomes(failed=1, deselected=1)


def test_unknown_ids_are_a_usage_error(suite):
    result = suite.runpytest("--overparam", "no.such.claim")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--overparam: unknown claim id 'no.such.claim'*"])


def test_parametrize_with_claims_in_a_users_suite(pytester):
    mod = _user_claims(pytester, "plugb")
    pytester.makepyfile(test_mine=textwrap.dedent(f"""
        from overparam import claims as oc
        from overparam.testing import parametrize_with_claims

        extra = oc.define_claim("plugb.extra", statement="E U ≥ 0.4", where="there",
                                checks=(oc.monte_carlo_check(lambda r, n: r.random(n),
                                                             lower=0.4, draws=2000,
                                                             label="mean_low"),))

        @parametrize_with_claims(["ic.params", "plugb.half", extra], claims="{mod}")
        def test_claim(claim, check):
            evidence = check()
            assert claim.id in ("ic.params", "plugb.half", "plugb.extra")
            assert all(e.verdict == "verified" for e in evidence)
    """))
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_claim?ic.params:params_table? PASSED*",
                                 "*test_claim?ic.params:params_search? PASSED*",
                                 "*test_claim?plugb.half:mean_half? PASSED*",
                                 "*test_claim?plugb.extra:mean_low? PASSED*"])


def test_parametrize_with_claims_names_bad_selections():
    from overparam.testing import claim_checks

    with pytest.raises(ValueError, match="unknown claim id 'zz.*'"):
        claim_checks(["zz.*"])
    with pytest.raises(TypeError, match="selection: expected ids, patterns or Claim objects, "
                                        "got int at position 1"):
        claim_checks(["ic.params", 3])
    with pytest.raises(TypeError, match="claims: expected module names or .py paths"):
        claim_checks("ic.params", claims=[3])
    ids = [c.id for c in claim_checks("ic.params")]
    assert ids == ["ic.params:params_table", "ic.params:params_search"]
