"""Exact RBF kernel blocks of data on a grid — X = grid·P with P integer-valued, as 8-bit
images scaled by 1/255 are — by float32 GEMM at twice the float64 rate.

⟨p, q⟩ of integer vectors is computed exactly by float32 GEMM when every partial sum is an
integer of magnitude ≤ 2²⁴ (float32 represents those exactly, whatever the order of the
additions or fused multiply-adds): the features are cut into chunks whose per-feature maxima
max_i p_if² sum to at most 2²⁴ (784 pixels of 0…255: four chunks), one GEMM per chunk, and the
chunks' exact float32 results are summed in float64 (exact: integers far below 2⁵³). Then
‖p − q‖² = ‖p‖² + ‖q‖² − 2⟨p, q⟩ is exact too, and each kernel entry exp(−γ·grid²·‖p − q‖²)
has only the rounding of one product and the exp: more accurate than the float64-GEMM form,
whose cancellation leaves u₆₄·‖x‖² in the distance. RR Sec. 5's kernel passes (60,000
Fashion-MNIST images, d = 784) spend most of their time in these GEMMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EXACT_FLOAT32", "GridRows", "chunk_bounds", "feature_chunks", "grid_rbf_block",
           "grid_rows", "shared_bounds"]

#: the largest integer magnitude float32 holds exactly, with all smaller ones
EXACT_FLOAT32 = 2.0**24


@dataclass(frozen=True)
class GridRows:
    """Rows X = grid·P of a data set: ``chunks`` the float32 P restricted to each feature
    chunk (n, d_k), contiguous; ``sq`` the exact ‖p_i‖² (float64); ``grid`` the step."""

    chunks: tuple[np.ndarray, ...]
    sq: np.ndarray
    grid: float


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


def shared_bounds(grid: float, named: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """Feature chunks valid for every data set in ``named`` ({name: X}) at once: cut from the
    per-feature maxima of p² over all of them, so a block between any two is exact (a test set
    brighter than its training set in some pixel included). ValueError naming the data set
    that is off the grid or has a value beyond 4096 steps."""
    top = None
    for name, X in named.items():
        P = _levels(X, grid, name)
        m = (P * P).max(axis=0) if len(P) else np.zeros(X.shape[1])
        if m.size and m.max() > EXACT_FLOAT32:
            raise ValueError(f"{name}: a value of {np.sqrt(m.max()):.0f} grid steps is beyond "
                             f"float32's exact integers (at most 4096 steps)")
        top = m if top is None else np.maximum(top, m)
    return feature_chunks(top)


def grid_rows(X: np.ndarray, grid: float, name: str = "X",
              bounds: list[tuple[int, int]] | None = None) -> GridRows:
    """``GridRows`` of X (n, d) float64 whose entries are integer multiples of ``grid``
    (within 1e-6 of a multiple, relative to the step: the rounding of k·grid in float64).
    ``bounds``: the feature chunks to use (those of another data set, so both sides of a
    block are cut alike); default from X itself. ValueError naming ``name`` when X is not on
    the grid, or a single feature's square exceeds 2²⁴ (a grid too fine for float32)."""
    P = _levels(X, grid, name)
    max_square = (P * P).max(axis=0) if len(P) else np.zeros(X.shape[1])
    if bounds is None:
        bounds = shared_bounds(grid, {name: X})
    else:
        for f0, f1 in bounds:
            if max_square[f0:f1].sum() > EXACT_FLOAT32:
                raise ValueError(f"{name}: larger values than the data it is compared with: "
                                 f"its products would not be exact in float32")
    P32 = P.astype(np.float32)
    return GridRows(chunks=tuple(np.ascontiguousarray(P32[:, f0:f1]) for f0, f1 in bounds),
                    sq=np.einsum("ij,ij->i", P, P), grid=float(grid))


def chunk_bounds(rows: GridRows) -> list[tuple[int, int]]:
    """The feature ranges of ``rows``' chunks."""
    out, f = [], 0
    for c in rows.chunks:
        out.append((f, f + c.shape[1]))
        f += c.shape[1]
    return out


def grid_rbf_block(A: GridRows, a0: int, a1: int, B: GridRows, b0: int, b1: int,
                   gamma: float) -> Any:
    """exp(−γ‖x_i − x_j‖²) in float64 for rows a0..a1 of A and b0..b1 of B (cut into the
    same feature chunks): (a1 − a0, b1 − b0). The B side is copied before each product, so
    no GEMM multiplies an array by a view of itself (NumPy's SYRK shortcut)."""
    G = None
    for pa, pb in zip(A.chunks, B.chunks, strict=True):
        part = pa[a0:a1] @ pb[b0:b1].copy().T  # exact: integers ≤ 2²⁴
        if G is None:
            G = part.astype(np.float64)
        else:
            G += part
    G *= -2.0
    G += A.sq[a0:a1, None]
    G += B.sq[None, b0:b1]  # the exact integer ‖p − q‖²
    G *= -gamma * A.grid * A.grid
    np.exp(G, out=G)
    return G
