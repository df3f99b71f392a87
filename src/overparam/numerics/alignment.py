"""Gradient and representation alignment (EM Sec. 3.2) and the statistics EM compares it with.

Ω (eq. 2–3) of vectors g_1..g_n (n ≥ 2): n·Σ_{i≠j}⟨g_i, g_j⟩ / ((n − 1)(Σ_i ‖g_i‖)²), with
Σ_{i≠j}⟨g_i, g_j⟩ = ‖Σ g_i‖² − Σ‖g_i‖² (eq. 4), so one pass over the vectors suffices.
Ω_c (eq. 5) is Ω over the examples of class c; Ω_in-class (eq. 6) their mean over classes.

Defined behaviour where the formulas are not: a class with fewer than two examples is skipped
and listed; vectors that are all zero give Ω = 0 (no direction to agree on). Never NaN:
NaN/inf inputs raise ValueError. Everything is computed in float64 whatever the input dtype
(int8 gradients would overflow, float16 keeps three digits); complex or string inputs raise
TypeError. Labels are integers ≥ 0, one per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overparam.numerics.backend import get_xp, to_numpy
from overparam.numerics.validation import check_array, check_labels

__all__ = ["AlignmentAccumulator", "InClassAlignment", "alignment", "alignment_pairwise",
           "cosine_stiffness", "gradient_confusion", "gradient_diversity", "in_class_alignment",
           "in_class_alignment_pairwise"]


def _vectors(G: Any, name: str = "G", *, pairs: bool = False) -> Any:
    G = check_array(G, name, ndim=2, dtype="float64")
    if pairs and G.shape[0] < 2:
        raise ValueError(f"{name}: expected at least two rows (vectors), "
                         f"got shape {tuple(G.shape)}")
    return G


def _labels_for(labels: Any, n: int) -> Any:
    # on the host: the labels only index rows
    return check_labels(to_numpy(labels), "labels", n=n)


def _omega(n: int, sum_sq_of_sum: float, sum_of_sq: float, sum_of_norms: float) -> float:
    if n < 2:
        raise ValueError(f"n: alignment needs at least two vectors, got {n}")
    if sum_of_norms == 0.0:
        return 0.0
    return n * (sum_sq_of_sum - sum_of_sq) / ((n - 1) * sum_of_norms**2)


def _rescaled(G: Any) -> Any:
    # Ω is invariant under G → cG (c > 0); dividing by max|G| keeps tiny or huge gradients
    # from underflowing or overflowing in the squared norms
    xp = get_xp(G)
    m = float(xp.max(xp.abs(G))) if G.size else 0.0
    return G / m if m > 0 else G


def alignment(G: Any) -> float:
    """Ω of the rows of G (n ≥ 2, p), in O(n·p) through eq. (4)."""
    G = _rescaled(_vectors(G, pairs=True))
    xp = get_xp(G)
    norms = xp.sqrt((G * G).sum(axis=1))
    s = G.sum(axis=0)
    return _omega(G.shape[0], float(s @ s), float((norms**2).sum()), float(norms.sum()))


def alignment_pairwise(G: Any) -> float:
    """Ω of the rows of G (n ≥ 2, p) by its O(n²) definition (eq. 3): every pair's inner
    product."""
    G = _rescaled(_vectors(G, pairs=True))
    xp = get_xp(G)
    n = G.shape[0]
    gram = G @ G.T
    off = float(gram.sum() - xp.trace(gram))
    return _omega(n, off + float(xp.trace(gram)), float(xp.trace(gram)),
                  float(xp.sqrt(xp.diag(gram)).sum()))


@dataclass
class InClassAlignment:
    """Ω_c per class, their mean Ω_in-class (eq. 6), and the classes skipped (< 2 examples)."""

    per_class: dict[int, float]
    skipped: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_class.values()))) if self.per_class else 0.0


class AlignmentAccumulator:
    """Streaming Ω_c: feed minibatches of per-example vectors (or of the factors of an MLP's
    per-example gradients) and their labels; holds per class only Σg, Σ‖g‖², Σ‖g‖ and n,
    never the individual vectors. Sums stay on the arrays' device until ``result``.

    Ω is invariant under g → cg, so each class's sums are kept in units of a per-class scale
    e^L (L the log of the largest entry seen): gradients of any magnitude neither overflow
    nor underflow in the squared norms."""

    def __init__(self) -> None:
        self._sum: dict[int, Any] = {}
        self._sq: dict[int, Any] = {}
        self._norms: dict[int, Any] = {}
        self._count: dict[int, int] = {}
        self._log_scale: dict[int, float] = {}

    def _add(self, c: int, total: Any, sq: Any, norms: Any, count: int,
             log_scale: float) -> None:
        """Add sums measured in units of e^log_scale to class c's."""
        if c in self._sum:
            if self._sum[c].shape != total.shape:
                raise ValueError(f"G: expected vectors of length {self._sum[c].shape[0]} as "
                                 f"in earlier updates, got {total.shape[0]}")
            old = self._log_scale[c]
            xp = get_xp(total)
            self._sum[c] = self._sum[c].astype(xp.result_type(self._sum[c], total), copy=False)
            # the class's sum vector (p entries: an MLP's every weight) is rescaled and added
            # to in place: it is this accumulator's own array (``total`` is always a fresh one)
            if log_scale > old:
                f = math.exp(old - log_scale)
                self._sum[c] *= f
                self._sq[c], self._norms[c] = self._sq[c] * (f * f), self._norms[c] * f
                self._log_scale[c] = log_scale
            else:
                f = math.exp(log_scale - old) if log_scale > -math.inf else 0.0
                total *= f
                sq, norms = sq * (f * f), norms * f
            self._sum[c] += total
            self._sq[c] = self._sq[c] + sq
            self._norms[c] = self._norms[c] + norms
        else:
            self._sum[c], self._sq[c], self._norms[c] = total, sq, norms
            self._log_scale[c] = log_scale
        self._count[c] = self._count.get(c, 0) + count

    @staticmethod
    def _groups(labels: Any, xp: Any):
        # integer indices built on the host: boolean masks on a GPU force a synchronisation
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            yield int(c), xp.asarray(idx), idx.size

    def update(self, G: Any, labels: Any) -> None:
        """Add per-example vectors G (n, p) with integer labels (n,)."""
        G = _vectors(G)
        labels = _labels_for(labels, G.shape[0])
        xp = get_xp(G)
        for c, idx, count in self._groups(labels, xp):
            Gc = G[idx]
            m = float(xp.max(xp.abs(Gc)))
            if m > 0:
                Gc = Gc / m
            norms = xp.sqrt((Gc * Gc).sum(axis=1))
            self._add(c, Gc.sum(axis=0), (norms * norms).sum(), norms.sum(), count,
                      _log(m))

    def update_mlp(self, factors: dict, labels: Any) -> None:
        """Add an MLP minibatch from ``mlp.per_example_factors`` without forming any
        per-example gradient: per class Σg = (Σδ_i x_iᵀ, ΣG_i R_iᵀ) and
        ‖g_i‖² = ‖δ_i‖²‖x_i‖² + ‖G_i‖²‖R_i‖²."""
        if not isinstance(factors, dict) or not {"X", "R", "G", "delta"} <= factors.keys():
            raise TypeError("factors: expected the dict of mlp.per_example_factors "
                            "(keys X, R, G, delta)")
        X, R, G, delta = (_vectors(factors[k], f"factors[{k!r}]")
                          for k in ("X", "R", "G", "delta"))
        n = X.shape[0]
        for name, arr in (("R", R), ("G", G), ("delta", delta)):
            if arr.shape[0] != n:
                raise ValueError(f"factors[{name!r}]: expected {n} rows to match X, "
                                 f"got shape {tuple(arr.shape)}")
        labels = _labels_for(labels, n)
        xp = get_xp(X)
        for c, idx, count in self._groups(labels, xp):
            # both blocks divided by one common scale e^L, L = max(log mδ·mx, log mG·mR),
            # formed in logs: the products of the maxima may overflow
            parts = [_unit_max(a[idx], xp) for a in (delta, X, G, R)]
            first, second = (_log(parts[0][1]) + _log(parts[1][1]),
                             _log(parts[2][1]) + _log(parts[3][1]))
            log_scale = max(first, second)
            k1, k2 = (math.exp(v - log_scale) if v > -math.inf else 0.0
                      for v in (first, second))
            d, x, g, r = (p[0] for p in parts)
            sq = (k1 * k1) * (d * d).sum(1) * (x * x).sum(1) + (k2 * k2) * (g * g).sum(1) * (
                r * r).sum(1)
            # both blocks' products written straight into the one flat vector, then scaled
            total = xp.empty(d.shape[1] * x.shape[1] + g.shape[1] * r.shape[1],
                             dtype=xp.result_type(d, x, g, r))
            head = total[:d.shape[1] * x.shape[1]].reshape(d.shape[1], x.shape[1])
            tail = total[d.shape[1] * x.shape[1]:].reshape(g.shape[1], r.shape[1])
            xp.matmul(d.T, x, out=head)
            xp.matmul(g.T, r, out=tail)
            head *= k1
            tail *= k2
            self._add(c, total, sq.sum(), xp.sqrt(sq).sum(), count, log_scale)

    def result(self) -> InClassAlignment:
        """Ω_c of every class seen so far (classes with one example are skipped)."""
        per_class, skipped = {}, []
        for c in sorted(self._count):
            if self._count[c] < 2:
                skipped.append(c)
                continue
            s = self._sum[c]
            per_class[c] = _omega(self._count[c], float((s * s).sum()), float(self._sq[c]),
                                  float(self._norms[c]))
        return InClassAlignment(per_class, skipped)


def _log(m: float) -> float:
    return math.log(m) if m > 0 else -math.inf


def _unit_max(a: Any, xp: Any) -> tuple[Any, float]:
    """a / max|a| and max|a| (a itself when it is all zero)."""
    m = float(xp.max(xp.abs(a)))
    return (a / m if m > 0 else a), m


def in_class_alignment(G: Any, labels: Any) -> InClassAlignment:
    """Ω_c (eq. 5) for every class and Ω_in-class (eq. 6) of per-example vectors G (n, p)."""
    acc = AlignmentAccumulator()
    acc.update(G, labels)
    return acc.result()


def in_class_alignment_pairwise(G: Any, labels: Any) -> InClassAlignment:
    """The same by the O(n²) pairwise definition, class by class."""
    G = _vectors(G)
    labels = _labels_for(labels, G.shape[0])
    xp = get_xp(G)
    per_class, skipped = {}, []
    for c in np.unique(labels):
        m = labels == c
        if m.sum() < 2:
            skipped.append(int(c))
            continue
        per_class[int(c)] = alignment_pairwise(G[xp.asarray(m)])
    return InClassAlignment(per_class, skipped)


def gradient_diversity(G: Any) -> float:
    """Σ‖g_i‖² / ‖Σg_i‖² (Yin et al. 2018); inf when the sum vanishes but some g_i does not,
    0 when every g_i is zero. Rescaled by max|g| first (the ratio is scale-free), so
    neither tiny nor huge gradients underflow or overflow."""
    G = _rescaled(_vectors(G))
    num = float((G * G).sum())
    s = G.sum(axis=0)
    den = float(s @ s)
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


def _cosines(G: Any) -> Any:
    xp = get_xp(G)
    norms = xp.sqrt((G * G).sum(axis=1))
    keep = norms > 0
    U = G[keep] / norms[keep][:, None]
    return U @ U.T


def cosine_stiffness(G: Any, labels: Any | None = None) -> float:
    """E_{i≠j} cos(g_i, g_j) (Fort et al. 2019), over all pairs or, with ``labels``, over
    pairs of the same class. Zero vectors have no direction and are left out; 0 when fewer
    than two pairs remain."""
    G = _vectors(G)
    xp = get_xp(G)
    if labels is None:
        C = _cosines(G)
        m = C.shape[0]
        return float((C.sum() - xp.trace(C)) / (m * (m - 1))) if m >= 2 else 0.0
    labels = _labels_for(labels, G.shape[0])
    total, pairs = 0.0, 0
    for c in np.unique(labels):
        C = _cosines(G[xp.asarray(labels == c)])
        m = C.shape[0]
        total += float(C.sum() - xp.trace(C))
        pairs += m * (m - 1)
    return total / pairs if pairs else 0.0


def gradient_confusion(G: Any) -> float:
    """min_{i≠j} ⟨g_i, g_j⟩ (Sankararaman et al. 2019); needs n ≥ 2. Raises ValueError
    when an inner product overflows float64 (it is not scale-free, so no rescaling helps)."""
    G = _vectors(G, pairs=True)
    xp = get_xp(G)
    gram = G @ G.T
    if not bool(xp.all(xp.isfinite(gram))):
        raise ValueError("G: inner products overflow float64; rescale the vectors")
    gram = gram + xp.diag(xp.full(G.shape[0], xp.inf))
    return float(gram.min())
