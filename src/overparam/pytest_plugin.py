"""The pytest plugin (registered under the ``pytest11`` entry point): run claims' checks as
test items of any suite.

    pytest --overparam 'ic.*'                        # IC's claims, one item per check
    pytest --overparam 'em.*' --overparam-only       # only those items, not the suite's tests
    pytest --overparam 'user.*' --overparam-claims my_pkg.my_claims --overparam-level full
    pytest --overparam 'ic.thm2' --overparam-backend cupy     # on the GPU (CuPy)

Items are named ``overparam::<claim id>:<check name>`` (``-k`` selects among them). A check
passes when its evidence is verified, fails with the evidence and any counterexample when
falsified or error, and is skipped with the reason when inconclusive (failed with
``--overparam-strict``) — see ``overparam.testing.ClaimCheck``.

Without ``--overparam`` the plugin adds its options and nothing else: it collects, changes
and imports nothing of overparam's claims.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["ClaimItem", "pytest_addoption", "pytest_collection_modifyitems"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options (group ``overparam``)."""
    group = parser.getgroup("overparam", "run overparam claims' checks as test items")
    group.addoption("--overparam", action="append", default=[], metavar="PATTERN",
                    help="run the checks of the claims matching PATTERN (an id or a pattern "
                         "such as 'ic.*'; repeatable) as test items")
    group.addoption("--overparam-claims", action="append", default=[], metavar="MODULE",
                    help="a module (PACKAGE.MODULE or a .py path) whose CLAIMS join the pool "
                         "(repeatable); installed overparam.claims plugins always do")
    group.addoption("--overparam-level", choices=("quick", "full"), default="quick",
                    help="the level the checks run at (default: quick)")
    group.addoption("--overparam-seed", type=int, default=0,
                    help="the seed of every check (default: 0)")
    group.addoption("--overparam-backend", choices=("numpy", "cupy"), default="numpy",
                    help="the array backend the checks run on (default: numpy)")
    group.addoption("--overparam-strict", action="store_true", default=False,
                    help="fail inconclusive checks instead of skipping them")
    group.addoption("--overparam-only", action="store_true", default=False,
                    help="deselect every other test item")


class ClaimItem(pytest.Item):
    """One check of one claim as a test item."""

    def __init__(self, *, claim_check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claim_check = claim_check
        self.add_marker(pytest.mark.overparam)

    def runtest(self) -> None:
        opt = self.config.option
        self.claim_check(level=opt.overparam_level, seed=opt.overparam_seed,
                         backend=opt.overparam_backend, strict=opt.overparam_strict)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        from overparam.testing import ClaimCheckError

        if isinstance(excinfo.value, ClaimCheckError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[str, int | None, str]:
        claim = self.claim_check.claim
        return "overparam", None, f"{claim.id} ({claim.paper}, {claim.where})"


class _Claims(pytest.Collector):
    """The collector the items hang from (node id ``overparam``)."""

    def __init__(self, *, claim_checks: list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._claim_checks = claim_checks

    def collect(self) -> list[ClaimItem]:
        return [ClaimItem.from_parent(self, name=cc.id, claim_check=cc)
                for cc in self._claim_checks]


def pytest_configure(config: pytest.Config) -> None:
    """With ``--overparam``: declare the ``overparam`` marker the items carry (so ``-m
    overparam`` selects them and ``--strict-markers`` accepts it)."""
    if config.getoption("overparam"):
        config.addinivalue_line("markers", "overparam: a check of an overparam claim "
                                           "(added by --overparam)")


# first, so that -k and -m (the mark plugin's own hook, which runs after) filter these
# items as they filter collected ones
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """With ``--overparam``: append one item per check of the selected claims (and, with
    ``--overparam-only``, deselect the others). Without it: nothing."""
    patterns = config.getoption("overparam")
    if not patterns:
        return
    from overparam.testing import claim_checks

    try:
        checks = claim_checks(patterns, claims=config.getoption("overparam_claims"))
    except (ValueError, TypeError) as exc:
        raise pytest.UsageError(f"--overparam: {exc}") from exc
    collector = _Claims.from_parent(session, name="overparam", nodeid="overparam",
                                    claim_checks=checks)
    new = collector.collect()
    # reported as collected, so that the counts ("collected N items") include them
    config.hook.pytest_collectreport(report=pytest.CollectReport(
        collector.nodeid, "passed", None, list(new)))
    if config.getoption("overparam_only") and items:
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
    items.extend(new)
