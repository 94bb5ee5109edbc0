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
    """The plate text a track's reads agree on, each read weighing by its confidence.

    A read's weight is its confidence (:attr:`PlateText.confidence`: the probability, among the
    reads the plate format allows, that its weakest character is right; 0 for a text no plate
    format accepts), so reads of valid plates outvote invalid ones; when no read has any weight
    they weigh alike. Whole strings first choose the length (a CTC reader that drops or adds a
    character shifts every later position, so positions of reads of different lengths do not
    line up); then each position is voted separately among the reads of that length, each read
    giving its character that read's weight times the character's own confidence, so two reads
    wrong at different positions still give the right plate. A character's confidence is the
    weighted mean of the confidence the reads of that length give it (0 from a read saying another
    character), the same scale as a single read's; ``alternatives`` are the other distinct reads
    with their share of the weight.
    """
    reads = [r for r in reads if r.text]
    if not reads:
        raise ValueError("no plate reads to vote on")
    weights = [r.confidence for r in reads]
    if sum(weights) <= 0.0:
        weights = [1.0] * len(reads)
    by_length: dict[int, float] = defaultdict(float)
    by_text: dict[str, float] = defaultdict(float)
    for read, weight in zip(reads, weights, strict=True):
        by_length[len(read.text)] += weight
        by_text[read.text] += weight
    length = max(by_length, key=lambda n: (by_length[n], n))
    same_length = [(r, w) for r, w in zip(reads, weights, strict=True) if len(r.text) == length]
    total = sum(w for _, w in same_length) or 1.0
    chars: list[str] = []
    confidences: list[float] = []
    for position in range(length):
        votes: dict[str, float] = defaultdict(float)
        belief: dict[str, float] = defaultdict(float)
        for read, weight in same_length:
            confidence = _char_confidence(read, position)
            votes[read.text[position]] += weight * max(confidence, 1e-6)  # a read without confidence still votes
            belief[read.text[position]] += weight * confidence
        best = max(votes, key=lambda c: votes[c])
        chars.append(best)
        confidences.append(min(1.0, belief[best] / total))
    text = "".join(chars)
    everything = sum(by_text.values())
    alternatives = tuple(
        sorted(((t, round(w / everything, 4)) for t, w in by_text.items() if t != text), key=lambda tw: -tw[1])
    )
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
        return float(read.char_confidences[position])
    return read.confidence
