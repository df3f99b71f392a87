"""Step-size schedules: callables mapping a step index t (0-based) to a learning rate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    """η_t = lr for every step."""

    lr: float

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive step size, got {self.lr}")

    def __call__(self, t: int) -> float:
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
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive step size, got {self.lr}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps: expected >= 1, got {self.total_steps}")
        if not all(0 < m < 1 for m in self.milestones) or list(self.milestones) != sorted(
            self.milestones
        ):
            raise ValueError(f"milestones: expected increasing fractions in (0, 1), "
                             f"got {self.milestones}")
        if not 0 < self.factor <= 1:
            raise ValueError(f"factor: expected a value in (0, 1], got {self.factor}")

    def boundaries(self) -> tuple[int, ...]:
        """The steps at which the rate drops."""
        return tuple(int(m * self.total_steps) for m in self.milestones)

    def __call__(self, t: int) -> float:
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
        if not self.lr > 0 or not self.t0 > 0:
            raise ValueError(f"lr, t0: expected positive values, got {self.lr}, {self.t0}")

    def __call__(self, t: int) -> float:
        return self.lr / (1.0 + t / self.t0)
