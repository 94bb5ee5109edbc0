"""Synthetic face embeddings and plate texts for index tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
PLATE_SYMBOLS = PLATE_LETTERS + "0123456789"


def clustered_embeddings(
    n: int, dim: int = 128, identities: int = 5_000, spread: float = 0.35, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` L2-normalised vectors around ``identities`` random centres; returns (vectors, identity)."""
    chunks = list(clustered_chunks(n, dim, identities, spread, seed))
    if not chunks:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
    return np.concatenate([c[1] for c in chunks]), np.concatenate([c[2] for c in chunks])


def clustered_chunks(
    n: int, dim: int = 128, identities: int = 5_000, spread: float = 0.35, seed: int = 0, chunk: int = 100_000
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The vectors of :func:`clustered_embeddings` (the same ones) as (first row, vectors, identity)
    chunks, so that a benchmark of 10M vectors never holds them all."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((identities, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, identities, n)
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        noise = rng.standard_normal((end - start, dim), dtype=np.float32) * (spread / np.sqrt(dim))
        vectors = centres[labels[start:end]] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield start, vectors, labels[start:end]


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
