"""Synthetic images for the report's figures: a stroke "7" standing in for IC's MNIST training
digit, and structured test patterns in the spirit of IC Fig. 2/3 (checkerboard, stripes,
gradient, noise)."""

from __future__ import annotations

import numpy as np

__all__ = ["channels", "digit_seven", "pattern_images"]


def digit_seven(size: int = 28) -> np.ndarray:
    """A stroke "7" on a size×size canvas with values in {0, 1}."""
    img = np.zeros((size, size))
    s = size / 28
    img[int(5 * s):int(8 * s) + 1, int(6 * s):int(22 * s)] = 1.0
    for r in range(int(8 * s), int(24 * s)):
        c = int((21 - (r / s - 8) * 10 / 16) * s)
        img[r, max(c - 1, 0):c + 2] = 1.0
    return img


def pattern_images(size: int = 28, seed: int = 0) -> dict[str, np.ndarray]:
    """Named size×size test images with values in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(seed)
    return {
        "checkerboard": ((yy // 4 + xx // 4) % 2).astype(float),
        "stripes": ((xx // 3) % 2).astype(float),
        "gradient": (xx + yy) / (2.0 * (size - 1)),
        "noise": rng.random((size, size)),
        "ring": (np.abs(np.hypot(yy - size / 2, xx - size / 2) - size / 4) < 2).astype(float),
    }


def channels(img: np.ndarray, c: int) -> np.ndarray:
    """An H×W×c image from a grey one, each channel shifted by one pixel more, so that the
    channels differ."""
    return np.stack([np.roll(img, k, axis=1) for k in range(c)], axis=-1)
