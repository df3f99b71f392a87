"""Symbolic identities as evidence: sympy proves ``lhs − rhs = 0``, or an exact rational point
where it is non-zero refutes it; when sympy can do neither the identity is undecided
(``inconclusive`` with the unsimplified residual), never ``falsified``."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import sympy

__all__ = ["exact_nonzero_instance", "identities_verdict"]


def _random_rational(rng: random.Random, symbol: Any) -> Any:
    if symbol.is_integer:
        return sympy.Integer(rng.randint(1, 9))
    return sympy.Rational(rng.randint(1, 97), rng.randint(1, 31))


def exact_nonzero_instance(expr: Any, seed: int, tries: int = 8) -> dict | None:
    """Positive rationals (positive integers for integer symbols) for the free symbols at
    which ``expr`` evaluates exactly to a non-zero number, or None if none was found."""
    rng = random.Random(seed)
    symbols = sorted(expr.free_symbols, key=str)
    for _ in range(tries):
        values = {s: _random_rational(rng, s) for s in symbols}
        try:
            value = sympy.simplify(expr.subs(values))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if value.is_number and value.is_zero is False:
            return {"at": {str(s): str(v) for s, v in values.items()}, "value": str(value)}
    return None


def identities_verdict(expressions: Mapping[str, Any], seed: int) -> tuple[str, dict, dict]:
    """Decide each named ``lhs − rhs`` (a sympy expression or Matrix): ``true`` when it
    simplifies to 0, ``false at {...}`` when it is exactly non-zero at a rational point
    (``falsified``), else ``undecided (residue …)`` (``inconclusive``). Returns the combined
    verdict, the per-identity results and the exact counterexamples found."""
    results, verdicts, found = {}, [], {}
    for name, expr in expressions.items():
        expr = sympy.sympify(expr)
        if isinstance(expr, sympy.MatrixBase):
            residue = expr.applyfunc(sympy.simplify)
            zero = residue.is_zero_matrix is True
            entries = [e for e in residue if e.is_zero is not True]
            witness = next((w for e in entries if
                            (w := exact_nonzero_instance(e, seed)) is not None), None)
        else:
            residue = sympy.simplify(expr)
            zero = residue == 0 or residue.is_zero is True
            witness = None if zero else exact_nonzero_instance(residue, seed)
        if zero:
            results[name], verdict = "true", "verified"
        elif witness is not None:
            results[name], verdict = f"false at {witness['at']}", "falsified"
            found[name] = witness
        else:
            results[name], verdict = f"undecided (residue {residue})", "inconclusive"
        verdicts.append(verdict)
    verdict = next((v for v in ("falsified", "inconclusive") if v in verdicts), "verified")
    return verdict, results, found
