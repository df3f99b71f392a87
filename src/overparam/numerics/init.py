"""Weight initialisers of IC App. I (Fig. 31) and EM's "N(0, σ²) on one layer, Glorot uniform
elsewhere". A weight of shape (fan_out, fan_in) for dense layers, (K_H, K_W, C_in, C_out) for
convolutions (fan_in = K_H K_W C_in, fan_out = K_H K_W C_out). Randomness only from an explicit
Generator or seed.

IC App. I's text (as extracted from the PDF) reads: default N(0, σ² = 1/(f_i f_o)); Xavier
N(0, 2/(f_i + f_o)); Kaiming N(0, 2/f_i); orthogonal (Saxe et al. 2014); and uniform variants of
Xavier and Kaiming with the same variance. The "default" variance is garbled in the extraction
("1(fifo)") and read here as 1/(f_i·f_o), by analogy with "2(fi + fo)" for Xavier.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from overparam.numerics.backend import default_rng
from overparam.numerics.validation import check_choice, check_scalar, memory_for

__all__ = ["SCHEMES", "em_initialize", "fans", "initialize"]

SCHEMES = ("ic-default", "xavier-normal", "xavier-uniform", "kaiming-normal",
           "kaiming-uniform", "orthogonal", "normal")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (out, in) or convolution (K_H, K_W, C_in, C_out) weight."""
    if not isinstance(shape, tuple | list):
        raise TypeError(f"shape: expected a tuple of sizes, got {type(shape).__name__}")
    shape = tuple(check_scalar(s, "shape", integer=True, low=1) for s in shape)
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) == 4:
        taps = shape[0] * shape[1]
        return taps * shape[2], taps * shape[3]
    raise ValueError(f"shape: expected a dense (out, in) or conv (KH, KW, Cin, Cout) shape, "
                     f"got {shape}")


def initialize(shape: tuple[int, ...], scheme: str, *, seed: Any, sigma: float | None = None,
               xp: Any = np) -> Any:
    """A weight of ``shape`` drawn by ``scheme`` (see SCHEMES; "normal" is N(0, σ²) with the
    given ``sigma``, as EM draws W1). Returns float64 on ``xp``."""
    check_choice(scheme, "scheme", SCHEMES)
    fi, fo = fans(shape)
    shape = tuple(int(s) for s in shape)
    if scheme == "normal":
        if sigma is None:
            raise ValueError("sigma: the 'normal' scheme needs sigma > 0, got None")
        sigma = check_scalar(sigma, "sigma", low=0.0, low_open=True)
    rng = default_rng(seed)
    with memory_for("shape", f"a weight of shape {shape}"):
        return xp.asarray(_draw(rng, shape, scheme, sigma, fi, fo), dtype=xp.float64)


def _draw(rng: Any, shape: tuple[int, ...], scheme: str, sigma: float | None, fi: int,
          fo: int) -> np.ndarray:
    if scheme == "normal":
        W = rng.normal(0.0, sigma, shape)
    elif scheme == "ic-default":
        W = rng.normal(0.0, math.sqrt(1.0 / (fi * fo)), shape)
    elif scheme in ("xavier-normal", "kaiming-normal"):
        var = 2.0 / (fi + fo) if scheme.startswith("xavier") else 2.0 / fi
        W = rng.normal(0.0, math.sqrt(var), shape)
    elif scheme in ("xavier-uniform", "kaiming-uniform"):
        var = 2.0 / (fi + fo) if scheme.startswith("xavier") else 2.0 / fi
        limit = math.sqrt(3.0 * var)  # U(−a, a) has variance a²/3
        W = rng.uniform(-limit, limit, shape)
    elif scheme == "orthogonal":
        # the weight as a matrix: (out, in) for dense, (K_H K_W C_in, C_out) for conv
        rows, cols = (shape if len(shape) == 2 else
                      (shape[0] * shape[1] * shape[2], shape[3]))
        A = rng.normal(size=(max(rows, cols), min(rows, cols)))
        Q, R = np.linalg.qr(A)
        Q = Q * np.sign(np.diag(R))  # the Haar-distributed orthogonal factor
        W = (Q if rows >= cols else Q.T).reshape(shape)
    return W


def em_initialize(shapes: list[tuple[int, ...]], *, sigma: float, layer: int = 0,
                  seed: Any) -> list:
    """EM's scheme: N(0, σ²) on ``layer``, Glorot (Xavier) uniform on every other layer."""
    if not shapes:
        raise ValueError("shapes: expected at least one weight shape, got none")
    layer = check_scalar(layer, "layer", integer=True, low=0, high=len(shapes) - 1)
    rng = default_rng(seed)
    return [initialize(s, "normal" if i == layer else "xavier-uniform",
                       seed=int(rng.integers(2**63 - 1)), sigma=sigma)
            for i, s in enumerate(shapes)]
