"""Combining a track's many observations: one face embedding, one plate text."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from skynet.records import PlateText


def fuse_embeddings(embeddings: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Quality-weighted mean of L2-normalised embeddings, re-normalised to unit length."""
    if not embeddings:
        raise ValueError("no embeddings to fuse")
    w = np.clip(np.asarray(weights, dtype=np.float64), 1e-6, None)
    mean = (np.stack(embeddings).astype(np.float64) * w[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return np.asarray(embeddings[int(np.argmax(w))], dtype=np.float32)
    return (mean / norm).astype(np.float32)


def vote_plate(reads: list[PlateText]) -> PlateText:
    """The plate text a track's reads agree on, weighting each read by its confidence.

    Whole strings first choose the length (a CTC reader that drops or adds a character shifts
    every later position, so positions of reads of different lengths do not line up); then
    each position is voted separately among the reads of that length, weighted by character
    confidence, so two reads wrong at different positions still give the right plate. The
    confidence of a character is the mean, over the reads of that length, of the confidence
    given to it (0 where a read says another character); ``alternatives``
    are the distinct whole reads ranked by summed confidence.
    """
    reads = [r for r in reads if r.text]
    if not reads:
        raise ValueError("no plate reads to vote on")
    by_length: dict[int, float] = defaultdict(float)
    by_text: dict[str, float] = defaultdict(float)
    for read in reads:
        by_length[len(read.text)] += read.confidence
        by_text[read.text] += read.confidence
    length = max(by_length, key=lambda n: (by_length[n], n))
    same_length = [r for r in reads if len(r.text) == length]
    chars: list[str] = []
    confidences: list[float] = []
    for position in range(length):
        weights: dict[str, float] = defaultdict(float)
        for read in same_length:
            weights[read.text[position]] += _char_confidence(read, position)
        best = max(weights, key=lambda c: weights[c])
        chars.append(best)
        confidences.append(min(1.0, weights[best] / len(same_length)))
    text = "".join(chars)
    alternatives = tuple(sorted(((t, w) for t, w in by_text.items() if t != text), key=lambda tw: -tw[1]))
    best_format = max(
        (r for r in reads if r.text == text and r.format is not None), key=lambda r: r.confidence, default=None
    )
    return PlateText(
        text=text,
        char_confidences=tuple(confidences),
        format=best_format.format if best_format else None,
        alternatives=alternatives[:5],
    )


def _char_confidence(read: PlateText, position: int) -> float:
    if position < len(read.char_confidences):
        return max(float(read.char_confidences[position]), 1e-6)
    return max(read.confidence, 1e-6)
