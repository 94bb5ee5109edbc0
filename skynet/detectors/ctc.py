"""CTC decoding of a recogniser's per-frame class probabilities (class 0 = blank).

Greedy decoding, and a prefix beam search that can be restricted to a set of classes and
constrained by a :class:`Grammar` (which characters may follow a prefix, which texts are whole).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class CtcRead:
    """A decoded string with one confidence per character and the read's log-probability."""

    text: str
    char_confidences: tuple[float, ...]
    log_prob: float


class Grammar(Protocol):
    """The texts a constrained search may produce."""

    def next_chars(self, prefix: str) -> frozenset[str]:
        """Characters that may follow ``prefix``."""
        ...

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is complete."""
        ...


def greedy_decode(probs: np.ndarray, charset: Sequence[str], allowed: np.ndarray | None = None) -> CtcRead:
    """Best class per frame, repeats merged, blanks dropped.

    ``probs`` is (T, C) softmax output; ``charset[c]`` is the character of class ``c`` (index 0,
    the blank, is never emitted). ``allowed`` (C,) bool keeps only those classes (the blank is
    always kept). A character's confidence is its highest probability over its frames;
    ``log_prob`` is that of the best path.
    """
    probs, charset = _restricted(probs, charset, allowed)
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confidences: list[float] = []
    previous = 0
    for cls, p in zip(best.tolist(), best_p.tolist(), strict=False):
        if cls != 0 and cls == previous:
            confidences[-1] = max(confidences[-1], p)
        elif cls != 0:
            chars.append(charset[cls])
            confidences.append(p)
        previous = cls
    log_prob = float(np.log(np.maximum(best_p, 1e-12)).sum())
    return CtcRead("".join(chars), tuple(confidences), log_prob)


def beam_decode(
    probs: np.ndarray,
    charset: Sequence[str],
    allowed: np.ndarray | None = None,
    grammar: Grammar | None = None,
    beam_width: int = 8,
    min_prob: float = 1e-3,
    min_candidates: int = 3,
    blank_skip: float = 0.9999,
) -> list[CtcRead]:
    """CTC prefix beam search: up to ``beam_width`` reads, most probable first.

    In each frame a prefix is extended by the classes of probability ``>= min_prob`` and by at
    least its ``min_candidates`` most probable ones, except in frames whose blank probability is
    at least ``blank_skip``, where no character starts. With a ``grammar`` only characters it
    allows after the prefix are tried and only texts it accepts are returned (possibly none). A
    character's confidence is its highest per-frame probability on the prefix's most probable
    alignment.
    """
    probs, charset = _restricted(probs, charset, allowed)
    search = _Search(probs.shape[1], charset, grammar, min_prob, min_candidates)
    # prefix (tuple of classes) -> [p_blank_end, p_char_end, confidences, best path probability]
    beams: dict[tuple[int, ...], list] = {(): [1.0, 0.0, (), 1.0]}
    log_scale = 0.0
    for frame in probs:
        nxt: dict[tuple[int, ...], list] = {}
        for prefix, (p_b, p_nb, conf, _) in beams.items():
            total = p_b + p_nb
            _add(nxt, prefix, total * frame[0], 0.0, conf)
            if prefix:  # the last character goes on in this frame
                p = float(frame[prefix[-1]])
                _add(nxt, prefix, 0.0, p_nb * p, conf[:-1] + (max(conf[-1], p),))
            if frame[0] >= blank_skip:
                continue
            for cls in search.candidates(prefix, frame):
                p = float(frame[cls])
                # a repeated class starts a new character only after a blank
                before = p_b if prefix and prefix[-1] == cls else total
                _add(nxt, prefix + (cls,), 0.0, before * p, conf + (p,))
        ranked = sorted(nxt.items(), key=lambda item: item[1][0] + item[1][1], reverse=True)
        beams = dict(ranked[:beam_width])
        norm = sum(v[0] + v[1] for v in beams.values())
        if norm <= 0.0:
            break
        log_scale += float(np.log(norm))
        for value in beams.values():  # rescaled so that long inputs never underflow
            value[0] /= norm
            value[1] /= norm
    reads = []
    for prefix, (p_b, p_nb, conf, _) in beams.items():
        text = "".join(charset[c] for c in prefix)
        if prefix and p_b + p_nb > 0.0 and (grammar is None or grammar.accepts(text)):
            reads.append(CtcRead(text, tuple(conf), log_scale + math.log(p_b + p_nb)))
    return sorted(reads, key=lambda read: read.log_prob, reverse=True)


class _Search:
    """Which classes extend a prefix, with the grammar's answers cached per prefix."""

    def __init__(
        self, classes: int, charset: Sequence[str], grammar: Grammar | None, min_prob: float, min_candidates: int
    ) -> None:
        self.charset = charset
        self.grammar = grammar
        self.min_prob = min_prob
        self.min_candidates = min_candidates
        self.any_char = np.arange(1, classes)
        self._class_of = {charset[c]: c for c in range(1, classes)}
        self._allowed: dict[tuple[int, ...], np.ndarray] = {}

    def candidates(self, prefix: tuple[int, ...], frame: np.ndarray) -> list[int]:
        allowed = self._allowed_after(prefix)
        if allowed.size == 0:
            return []
        p = frame[allowed]
        take = p >= self.min_prob
        if take.sum() < self.min_candidates:
            take[np.argsort(-p)[: self.min_candidates]] = True
        return allowed[take].tolist()

    def _allowed_after(self, prefix: tuple[int, ...]) -> np.ndarray:
        if self.grammar is None:
            return self.any_char
        if prefix not in self._allowed:
            chars = self.grammar.next_chars("".join(self.charset[c] for c in prefix))
            self._allowed[prefix] = np.array(sorted(self._class_of[c] for c in chars if c in self._class_of), dtype=int)
        return self._allowed[prefix]


def _add(beams: dict, prefix: tuple[int, ...], p_b: float, p_nb: float, conf: tuple[float, ...]) -> None:
    entry = beams.setdefault(prefix, [0.0, 0.0, conf, 0.0])
    entry[0] += p_b
    entry[1] += p_nb
    if p_b + p_nb > entry[3]:  # keep the confidences of the most probable alignment
        entry[2], entry[3] = conf, p_b + p_nb


def _restricted(
    probs: np.ndarray, charset: Sequence[str], allowed: np.ndarray | None
) -> tuple[np.ndarray, Sequence[str]]:
    """Only the blank and the allowed classes' columns (and their characters)."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(charset):
        raise ValueError(f"expected (T, {len(charset)}) probabilities, got shape {probs.shape}")
    if allowed is None:
        return probs, charset
    keep = np.flatnonzero(np.asarray(allowed, bool))
    keep = np.concatenate([[0], keep[keep != 0]])
    return probs[:, keep], [charset[int(i)] for i in keep]
