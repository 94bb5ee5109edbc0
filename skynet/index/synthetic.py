"""Synthetic face embeddings and plate texts for index tests and benchmarks."""

from __future__ import annotations

import numpy as np

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
PLATE_SYMBOLS = PLATE_LETTERS + "0123456789"


def clustered_embeddings(
    n: int, dim: int = 128, identities: int = 5_000, spread: float = 0.35, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` L2-normalised vectors around ``identities`` random centres; returns (vectors, identity)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((identities, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, identities, n)
    vectors = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        noise = rng.standard_normal((end - start, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        vectors[start:end] = centres[labels[start:end]] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, labels


def random_plates(n: int, seed: int = 0) -> list[str]:
    """``n`` random Chinese plate texts: a province, a letter, then five letters or digits."""
    rng = np.random.default_rng(seed)
    provinces = rng.integers(0, len(PROVINCES), n)
    letters = rng.integers(0, len(PLATE_LETTERS), n)
    tails = rng.integers(0, len(PLATE_SYMBOLS), (n, 5))
    symbols = np.array(list(PLATE_SYMBOLS))
    return [
        PROVINCES[p] + PLATE_LETTERS[a] + "".join(symbols[t])
        for p, a, t in zip(provinces, letters, tails, strict=False)
    ]
