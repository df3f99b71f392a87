"""Step-size schedules: callables mapping a step index t (0-based) to a learning rate."""

from __future__ import annotations

from dataclasses import dataclass

from overparam.numerics.validation import check_scalar

__all__ = ["Constant", "InverseTime", "Stagewise", "ic_appendix_a"]


def _step(t: int) -> int:
    return check_scalar(t, "t", integer=True, low=0)


def _rate(lr: float) -> float:
    return check_scalar(lr, "lr", low=0.0, low_open=True)


@dataclass(frozen=True)
class Constant:
    """η_t = lr for every step."""

    lr: float

    def __post_init__(self) -> None:
        _rate(self.lr)

    def __call__(self, t: int) -> float:
        _step(t)
        return self.lr


@dataclass(frozen=True)
class Stagewise:
    """Stagewise-constant decay: η_t = lr · factor^k, k = number of milestones passed.

    Milestones are fractions of ``total_steps``; a milestone at fraction f takes effect at
    step ⌊f · total_steps⌋. IC App. A: lr 0.01, factor 0.2 at 30%, 60% and 80% of the steps.
    """

    lr: float
    total_steps: int
    milestones: tuple[float, ...] = (0.3, 0.6, 0.8)
    factor: float = 0.2

    def __post_init__(self) -> None:
        _rate(self.lr)
        check_scalar(self.total_steps, "total_steps", integer=True, low=1)
        for m in self.milestones:
            check_scalar(m, "milestones", low=0.0, high=1.0, low_open=True, high_open=True)
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones: expected increasing fractions in (0, 1), "
                             f"got {self.milestones}")
        check_scalar(self.factor, "factor", low=0.0, high=1.0, low_open=True)

    def boundaries(self) -> tuple[int, ...]:
        """The steps at which the rate drops."""
        return tuple(int(m * self.total_steps) for m in self.milestones)

    def __call__(self, t: int) -> float:
        t = _step(t)
        passed = sum(1 for b in self.boundaries() if t >= b)
        return self.lr * self.factor**passed


def ic_appendix_a(total_steps: int, lr: float = 0.01) -> Stagewise:
    """IC App. A's schedule: base rate ``lr`` decayed by 0.2 at 30%, 60%, 80% of the steps."""
    return Stagewise(lr=lr, total_steps=total_steps)


@dataclass(frozen=True)
class InverseTime:
    """η_t = lr / (1 + t / t0): a decaying schedule with Σ η_t = ∞ (SGD's classic choice)."""

    lr: float
    t0: float = 100.0

    def __post_init__(self) -> None:
        _rate(self.lr)
        check_scalar(self.t0, "t0", low=0.0, low_open=True)

    def __call__(self, t: int) -> float:
        t = _step(t)
        return self.lr / (1.0 + t / self.t0)
