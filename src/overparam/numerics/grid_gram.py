"""Exact RBF kernel blocks of data on a grid — X = grid·P with P integer-valued, as 8-bit
images scaled by 1/255 are — by float32 GEMM at twice the float64 rate.

⟨p, q⟩ of integer vectors is computed exactly by float32 GEMM when every partial sum is an
integer of magnitude ≤ 2²⁴ (float32 represents those exactly, whatever the order of the
additions or fused multiply-adds). Distances do not change when every vector is moved by the
same c, so each feature is first centred on an integer level c_f midway between its smallest
and largest value (0…255: c = 127, |p − c| ≤ 128), and the features are cut into chunks whose
per-feature maxima max_i (p_if − c_f)² sum to at most 2²⁴: 784 centred pixels, 784·128² ≈
1.3e7, fit in one chunk, where the raw 0…255 levels (784·255² ≈ 5.1e7) would need four. One
GEMM per chunk; the chunks' exact float32 results are summed in float64 (exact: integers far
below 2⁵³). Then ‖p − q‖² = ‖p − c‖² + ‖q − c‖² − 2⟨p − c, q − c⟩ is exact too, and each
kernel entry exp(−γ·grid²·‖p − q‖²) has only the rounding of one product and the exp: more
accurate than the float64-GEMM form, whose cancellation leaves u₆₄·‖x‖² in the distance. RR
Sec. 5's kernel passes (60,000 Fashion-MNIST images, d = 784) spend most of their time in these
GEMMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EXACT_FLOAT32", "GridLayout", "GridRows", "chunk_bounds", "feature_chunks",
           "grid_layout", "grid_rbf_block", "grid_rows"]

#: the largest integer magnitude float32 holds exactly, with all smaller ones
EXACT_FLOAT32 = 2.0**24


@dataclass(frozen=True)
class GridLayout:
    """How data on a grid is cut for exact float32 GEMMs: ``centre`` (d,) the integer level
    subtracted from each feature, ``bounds`` the feature chunks (f0, f1). Every data set
    compared with another must share its layout."""

    centre: np.ndarray
    bounds: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class GridRows:
    """Rows X = grid·P of a data set: ``chunks`` the float32 P − centre restricted to each
    feature chunk (n, d_k), contiguous; ``sq`` the exact ‖p_i − centre‖² (float64); ``grid``
    the step; ``layout`` the centre and chunks."""

    chunks: tuple[np.ndarray, ...]
    sq: np.ndarray
    grid: float
    layout: GridLayout


def feature_chunks(max_square: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive feature ranges whose Σ max_i p_if² stay ≤ ``EXACT_FLOAT32`` (greedy)."""
    chunks, start, total = [], 0, 0.0
    for f, m in enumerate(max_square):
        if total + m > EXACT_FLOAT32 and f > start:
            chunks.append((start, f))
            start, total = f, 0.0
        total += m
    chunks.append((start, len(max_square)))
    return chunks


def _levels(X: np.ndarray, grid: float, name: str) -> np.ndarray:
    """rint(X/grid), ValueError naming ``name`` when X is not within 1e-6 steps of it."""
    P = np.rint(X / grid)
    off = float(np.abs(X / grid - P).max()) if X.size else 0.0
    if not off <= 1e-6:
        raise ValueError(f"{name}: expected entries on the grid {grid:g} (integer multiples), "
                         f"got one {off:.3g} steps off it")
    return P


def grid_layout(grid: float, named: dict[str, np.ndarray]) -> GridLayout:
    """The ``GridLayout`` valid for every data set in ``named`` ({name: X (n, d)}) at once:
    each feature centred on the integer level midway between its smallest and largest value
    over all of them, the chunks cut from the centred maxima, so a block between any two is
    exact (a test set brighter than its training set in some pixel included). ValueError
    naming the data set that is off the grid, or the data sets when a feature spans more than
    8192 steps (its centred square beyond 2²⁴)."""
    lo = hi = None
    for name, X in named.items():
        P = _levels(X, grid, name)
        if not len(P):
            continue
        lo = P.min(axis=0) if lo is None else np.minimum(lo, P.min(axis=0))
        hi = P.max(axis=0) if hi is None else np.maximum(hi, P.max(axis=0))
    if lo is None:
        d = next(iter(named.values())).shape[1]
        lo = hi = np.zeros(d)
    centre = np.floor((lo + hi) / 2)
    top = np.maximum(hi - centre, centre - lo) ** 2
    if top.size and top.max() > EXACT_FLOAT32:
        raise ValueError(f"{' and '.join(named)}: a feature spans "
                         f"{float((hi - lo).max()):.0f} grid steps, beyond float32's exact "
                         f"integers (at most 8192 steps)")
    return GridLayout(centre=centre, bounds=tuple(feature_chunks(top)))


def grid_rows(X: np.ndarray, grid: float, name: str = "X",
              layout: GridLayout | None = None) -> GridRows:
    """``GridRows`` of X (n, d) float64 whose entries are integer multiples of ``grid``
    (within 1e-6 of a multiple, relative to the step: the rounding of k·grid in float64).
    ``layout``: the centre and chunks to use (those of the data it is compared with, from
    ``grid_layout``); default X's own. ValueError naming ``name`` when X is not on the grid,
    a feature spans too many steps for float32, or X reaches farther from the given layout's
    centre than its chunks allow."""
    if layout is None:
        layout = grid_layout(grid, {name: X})
    P = _levels(X, grid, name) - layout.centre
    max_square = (P * P).max(axis=0) if len(P) else np.zeros(X.shape[1])
    for f0, f1 in layout.bounds:
        if max_square[f0:f1].sum() > EXACT_FLOAT32:
            raise ValueError(f"{name}: larger values than the data it is compared with: "
                             f"its products would not be exact in float32")
    P32 = P.astype(np.float32)
    return GridRows(chunks=tuple(np.ascontiguousarray(P32[:, f0:f1])
                                 for f0, f1 in layout.bounds),
                    sq=np.einsum("ij,ij->i", P, P), grid=float(grid), layout=layout)


def chunk_bounds(rows: GridRows) -> list[tuple[int, int]]:
    """The feature ranges of ``rows``' chunks."""
    out, f = [], 0
    for c in rows.chunks:
        out.append((f, f + c.shape[1]))
        f += c.shape[1]
    return out


def grid_rbf_block(A: GridRows, a0: int, a1: int, B: GridRows, b0: int, b1: int,
                   gamma: float) -> Any:
    """exp(−γ‖x_i − x_j‖²) in float64 for rows a0..a1 of A and b0..b1 of B (of one layout):
    (a1 − a0, b1 − b0). The B side is copied before each product, so no GEMM multiplies an
    array by a view of itself (NumPy's SYRK shortcut). ValueError when A and B were laid out
    apart (their centres or chunks differ)."""
    if A.layout is not B.layout and not (
            A.layout.bounds == B.layout.bounds
            and np.array_equal(A.layout.centre, B.layout.centre)):
        raise ValueError("grid_rbf_block: A and B have different layouts (build both with "
                         "grid_layout over both data sets)")
    G = None
    for pa, pb in zip(A.chunks, B.chunks, strict=True):
        part = pa[a0:a1] @ pb[b0:b1].copy().T  # exact: integers ≤ 2²⁴
        if G is None:
            # −2⟨p, q⟩ in one pass: doubling an integer below 2²⁴ is exact in either dtype
            G = np.multiply(part, -2.0, dtype=np.float64)
        else:
            G -= part
            G -= part
    G += A.sq[a0:a1, None]
    G += B.sq[None, b0:b1]  # the exact integer ‖p − q‖²
    G *= -gamma * A.grid * A.grid
    np.exp(G, out=G)
    return G
