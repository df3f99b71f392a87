"""verify.registry.run_check: a check that raises is reported as an ``error`` item, but an
interruption stops the run, also when a library wrapped it (CI once saw a SIGTERM during
ic.params' hypothesis search come out as an ``error`` verdict and exit status 1)."""

import numpy as np
import pytest
from hypothesis.errors import FlakyFailure

from overparam.verify.registry import run_check
from overparam.verify.types import Context

CTX = Context(level="quick", seed=0, xp=np)


def raising(make):
    def check(ctx):
        raise make()

    return check


def test_an_exception_is_an_error_item_with_its_traceback():
    def check(ctx):
        try:
            _ = 1 / 0
        except ZeroDivisionError as exc:  # an unrelated exception in the context
            raise ValueError("bad shape") from exc

    (ev,) = run_check(check, CTX)
    assert ev.verdict == "error" and ev.details.startswith("ValueError: bad shape")


def _raised_while_interrupted():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("generator didn't stop") from None  # context kept, not shown
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize("make", [
    # raised while the interruption was being handled: the interrupt is its context
    _raised_while_interrupted,
    # hypothesis's own wrapping of an interrupted test case (an Exception group)
    lambda: FlakyFailure("Inconsistent results", [KeyboardInterrupt()]),
    # an exception group one of whose members was caused by the interrupt
    lambda: ExceptionGroup("two", [ValueError("a"), _cause(KeyboardInterrupt())]),
], ids=["context", "hypothesis-flaky", "group-member-cause"])
def test_a_wrapped_interruption_stops_the_run(make):
    with pytest.raises(KeyboardInterrupt):
        run_check(raising(make), CTX)


def _cause(inner):
    outer = ValueError("wrapped")
    outer.__cause__ = inner
    return outer
