"""First-order optimizers as pure update rules over a dict of parameter arrays.

Each optimizer has ``init(params) -> state`` and
``update(params, grads, lr, state) -> (new_params, new_state)``; nothing is mutated in place,
so a caller can keep any iterate. Conventions follow the common deep-learning libraries
(momentum as in SGD with a velocity buffer, IC App. A's "SGD with momentum 0.9").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overparam.numerics.backend import get_xp
from overparam.numerics.validation import check_choice, check_scalar

__all__ = ["Adagrad", "Adam", "Adamax", "GradientDescent", "Momentum", "Params", "RMSprop",
           "make_optimizer"]

Params = dict[str, Any]


def _decay(value: float, name: str) -> None:
    check_scalar(value, name, low=0.0, high=1.0, high_open=True)


def _eps(value: float) -> None:
    # eps = 0 is allowed (the exact sign-like first step); a zero gradient entry then gives
    # 0/0, which the trainer reports as divergence
    check_scalar(value, "eps", low=0.0)


def _checked(params: Params, grads: Params, lr: float) -> None:
    """The update's inputs: same keys, a finite learning rate ≥ 0."""
    check_scalar(lr, "lr", low=0.0)
    for name, tree in (("params", params), ("grads", grads)):
        if not isinstance(tree, dict):
            raise TypeError(f"{name}: expected a dict of arrays, got {type(tree).__name__}")
    if params.keys() != grads.keys():
        raise ValueError(f"grads: expected the keys of params {sorted(params)}, "
                         f"got {sorted(grads)}")


def _zeros_like(params: Params) -> Params:
    return {k: get_xp(v).zeros_like(v) for k, v in params.items()}


def _scaled_plus(a: Any, c: float, b: Any) -> Any:
    """c·a + b as a new array with one temporary instead of two: a·c, then b added into it.
    The same IEEE operations in the same order as ``c * a + b`` (products and sums commute),
    so the same bits. Where a and b are not both C- or both Fortran-ordered, or the sum would
    change dtype or shape, that expression itself: its result's memory order then differs
    from a's, and a later matrix product with the parameters rounds differently with it."""
    out = a * c
    same_order = ((out.flags.c_contiguous and b.flags.c_contiguous)
                  or (out.flags.f_contiguous and b.flags.f_contiguous))
    if (not same_order or out.dtype != get_xp(out).result_type(out, b)
            or out.shape != b.shape):
        return c * a + b
    out += b
    return out


def _minus_scaled(p: Any, lr: float, d: Any) -> Any:
    """p − lr·d as ``_scaled_plus(d, −lr, p)``: negation is exact and x − y is x + (−y), so
    the same bits as ``p - lr * d`` (one temporary in place of two)."""
    return _scaled_plus(d, -lr, p)


@dataclass(frozen=True)
class GradientDescent:
    """Plain gradient descent: w ← w − η g."""

    name: str = "gd"

    def init(self, params: Params) -> dict:
        return {}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        return {k: _minus_scaled(params[k], lr, grads[k]) for k in params}, state


@dataclass(frozen=True)
class Momentum:
    """Heavy-ball momentum (v ← βv + g; w ← w − ηv) or, with ``nesterov``, Nesterov's
    variant (v ← βv + g; w ← w − η(g + βv)). Updates stay in the span of past gradients."""

    beta: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        _decay(self.beta, "beta")

    @property
    def name(self) -> str:
        return "nesterov" if self.nesterov else "momentum"

    def init(self, params: Params) -> dict:
        return {"v": _zeros_like(params)}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        v = {k: _scaled_plus(state["v"][k], self.beta, grads[k]) for k in params}
        if self.nesterov:
            new = {k: _minus_scaled(params[k], lr, _scaled_plus(v[k], self.beta, grads[k]))
                   for k in params}
        else:
            new = {k: _minus_scaled(params[k], lr, v[k]) for k in params}
        return new, {"v": v}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; ``amsgrad`` is not offered."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: str = "adam"

    def __post_init__(self) -> None:
        _decay(self.beta1, "beta1")
        _decay(self.beta2, "beta2")
        _eps(self.eps)

    def init(self, params: Params) -> dict:
        return {"m": _zeros_like(params), "s": _zeros_like(params), "t": 0}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        t = state["t"] + 1
        m = {k: self.beta1 * state["m"][k] + (1 - self.beta1) * grads[k] for k in params}
        s = {k: self.beta2 * state["s"][k] + (1 - self.beta2) * grads[k] ** 2 for k in params}
        c1, c2 = 1 - self.beta1**t, 1 - self.beta2**t
        new = {}
        for k in params:
            xp = get_xp(params[k])
            new[k] = params[k] - lr * (m[k] / c1) / (xp.sqrt(s[k] / c2) + self.eps)
        return new, {"m": m, "s": s, "t": t}


@dataclass(frozen=True)
class Adamax:
    """Adamax (Kingma & Ba 2015, Sec. 7): Adam with an infinity-norm second moment."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: str = "adamax"

    def __post_init__(self) -> None:
        _decay(self.beta1, "beta1")
        _decay(self.beta2, "beta2")
        _eps(self.eps)

    def init(self, params: Params) -> dict:
        return {"m": _zeros_like(params), "u": _zeros_like(params), "t": 0}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        t = state["t"] + 1
        m = {k: self.beta1 * state["m"][k] + (1 - self.beta1) * grads[k] for k in params}
        u = {}
        new = {}
        for k in params:
            xp = get_xp(params[k])
            u[k] = xp.maximum(self.beta2 * state["u"][k], xp.abs(grads[k]))
            new[k] = params[k] - lr / (1 - self.beta1**t) * m[k] / (u[k] + self.eps)
        return new, {"m": m, "u": u, "t": t}


@dataclass(frozen=True)
class Adagrad:
    """Adagrad (Duchi et al. 2011): per-coordinate steps η / sqrt(Σ g²)."""

    eps: float = 1e-10
    name: str = "adagrad"

    def __post_init__(self) -> None:
        _eps(self.eps)

    def init(self, params: Params) -> dict:
        return {"s": _zeros_like(params)}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        s = {k: state["s"][k] + grads[k] ** 2 for k in params}
        new = {}
        for k in params:
            xp = get_xp(params[k])
            new[k] = params[k] - lr * grads[k] / (xp.sqrt(s[k]) + self.eps)
        return new, {"s": s}


@dataclass(frozen=True)
class RMSprop:
    """RMSprop (Tieleman & Hinton 2012): steps η / sqrt(running mean of g²)."""

    rho: float = 0.99
    eps: float = 1e-8
    name: str = "rmsprop"

    def __post_init__(self) -> None:
        _decay(self.rho, "rho")
        _eps(self.eps)

    def init(self, params: Params) -> dict:
        return {"s": _zeros_like(params)}

    def update(self, params: Params, grads: Params, lr: float, state: dict):
        _checked(params, grads, lr)
        s = {k: self.rho * state["s"][k] + (1 - self.rho) * grads[k] ** 2 for k in params}
        new = {}
        for k in params:
            xp = get_xp(params[k])
            new[k] = params[k] - lr * grads[k] / (xp.sqrt(s[k]) + self.eps)
        return new, {"s": s}


def make_optimizer(name: str, **kwargs: Any):
    """An optimizer by name: gd, momentum, nesterov, adam, adamax, adagrad, rmsprop."""
    table = {
        "gd": GradientDescent,
        "momentum": Momentum,
        "nesterov": lambda **kw: Momentum(nesterov=True, **kw),
        "adam": Adam,
        "adamax": Adamax,
        "adagrad": Adagrad,
        "rmsprop": RMSprop,
    }
    check_choice(name, "name", sorted(table))
    return table[name](**kwargs)
