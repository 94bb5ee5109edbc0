"""CTC decoding of a recogniser's per-frame class probabilities (class 0 = blank).

Greedy decoding, and a prefix beam search that can be restricted to a set of classes and
constrained by a :class:`Grammar` (which characters may follow a prefix, which texts are whole).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
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
    """The texts a constrained search may produce. Its answers must not change: searches keep them
    (per grammar, hence hashable) across reads."""

    def __hash__(self) -> int: ...

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
    probs, charset = restricted(probs, charset, allowed)
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
    probs, charset = restricted(probs, charset, allowed)
    search = _search(tuple(charset), grammar, min_prob, min_candidates)
    allowed_after = search.allowed_after
    # prefix (tuple of classes) -> [p_blank_end, p_char_end, confidences, best alignment's probability]; the
    # additions below are those of one helper that sums an alignment's probabilities into an entry and keeps
    # the confidences of its most probable alignment, written out (this loop is most of a plate read's Python)
    # and building an alignment's confidences only when they are kept.
    beams: dict[tuple[int, ...], list] = {(): [1.0, 0.0, (), 1.0]}
    log_scale = 0.0
    # per frame, at once for all frames: Python floats (indexed per prefix and class, far faster than numpy
    # scalars), the classes most probable first (ties: lower class first) and how many reach ``min_prob``
    rows = probs.tolist()
    ranks = (np.argsort(-probs[:, 1:], axis=1, kind="stable") + 1).tolist()
    strongs = np.count_nonzero(probs[:, 1:] >= min_prob, axis=1).tolist()
    for row, ranked, strong in zip(rows, ranks, strongs, strict=True):
        blank = row[0]
        choose = search.chooser(ranked, strong) if blank < blank_skip else None
        nxt: dict[tuple[int, ...], list] = {}
        for prefix, (p_b, p_nb, conf, _) in beams.items():
            total = p_b + p_nb
            p = total * blank  # the prefix ends in a blank
            entry = nxt.get(prefix)
            if entry is None:
                nxt[prefix] = entry = [p, 0.0, conf, p]
            else:
                entry[0] += p
                if p > entry[3]:
                    entry[2], entry[3] = conf, p
            if prefix:  # the last character goes on in this frame
                last = row[prefix[-1]]
                p = p_nb * last
                entry[1] += p
                if p > entry[3]:
                    entry[2], entry[3] = conf[:-1] + (max(conf[-1], last),), p
            if choose is None:
                continue
            repeat = prefix[-1] if prefix else -1
            for cls in choose(allowed_after(prefix)):
                q = row[cls]
                # a repeated class starts a new character only after a blank
                p = (p_b if cls == repeat else total) * q
                key = prefix + (cls,)
                entry = nxt.get(key)
                if entry is None:
                    nxt[key] = [0.0, p, conf + (q,), p]
                else:
                    entry[1] += p
                    if p > entry[3]:
                        entry[2], entry[3] = conf + (q,), p
        ranked = sorted(nxt.items(), key=_total, reverse=True)
        beams = dict(ranked[:beam_width])
        norm = sum(v[0] + v[1] for v in beams.values())
        if norm <= 0.0:
            break
        log_scale += math.log(norm)
        for value in beams.values():  # rescaled so that long inputs never underflow
            value[0] /= norm
            value[1] /= norm
    reads = []
    for prefix, (p_b, p_nb, conf, _) in beams.items():
        text = "".join(charset[c] for c in prefix)
        if prefix and p_b + p_nb > 0.0 and (grammar is None or grammar.accepts(text)):
            reads.append(CtcRead(text, tuple(conf), log_scale + math.log(p_b + p_nb)))
    return sorted(reads, key=lambda read: read.log_prob, reverse=True)


MAX_PREFIXES = 50_000  # grammar answers kept per search table before it starts afresh


@functools.lru_cache(maxsize=16)
def _search(charset: tuple[str, ...], grammar: Grammar | None, min_prob: float, min_candidates: int) -> _Search:
    """The search table of a charset and grammar, shared by every search with them: the grammar's
    answer for a prefix is worked out once, not once per read."""
    return _Search(charset, grammar, min_prob, min_candidates)


class _Search:
    """Which classes extend a prefix, with the grammar's answers cached per prefix (as sets of classes)."""

    def __init__(self, charset: tuple[str, ...], grammar: Grammar | None, min_prob: float, min_candidates: int) -> None:
        self.charset = charset
        self.grammar = grammar
        self.min_prob = min_prob
        self.min_candidates = min_candidates
        self._class_of = {charset[c]: c for c in range(1, len(charset))}
        self._allowed: dict[tuple[int, ...], frozenset[int]] = {}

    def chooser(self, ranked: list[int], strong: int) -> Callable[[frozenset[int] | None], list[int]]:
        """For one frame whose classes are ``ranked`` most probable first (ties: lower class first), the first
        ``strong`` of them of probability ``>= min_prob``: the classes that extend a prefix allowing ``allowed``
        (``None``: any): the strong ones and at least the ``min_candidates`` most probable, in class order.
        Prefixes share few allowed sets: each set's answer is worked out once."""
        wanted = self.min_candidates
        chosen: dict[frozenset[int] | None, list[int]] = {}

        def choose(allowed: frozenset[int] | None) -> list[int]:
            taken = chosen.get(allowed)
            if taken is None:
                if allowed is None:
                    taken = ranked[: max(strong, wanted)]
                else:
                    taken = [cls for cls in ranked[:strong] if cls in allowed]
                    if len(taken) < wanted:  # weaker classes, most probable first, up to ``wanted``
                        for cls in ranked[strong:]:
                            if cls in allowed:
                                taken.append(cls)
                                if len(taken) >= wanted:
                                    break
                taken.sort()
                chosen[allowed] = taken
            return taken

        return choose

    def allowed_after(self, prefix: tuple[int, ...]) -> frozenset[int] | None:
        """The classes the grammar allows after ``prefix`` (``None``: every class)."""
        if self.grammar is None:
            return None
        allowed = self._allowed.get(prefix)
        if allowed is None:
            if len(self._allowed) >= MAX_PREFIXES:
                self._allowed.clear()
            chars = self.grammar.next_chars("".join(self.charset[c] for c in prefix))
            allowed = frozenset(self._class_of[c] for c in chars if c in self._class_of)
            self._allowed[prefix] = allowed
        return allowed


def _total(item: tuple[tuple[int, ...], list]) -> float:
    """A beam entry's probability (ends in a blank + ends in a character)."""
    return item[1][0] + item[1][1]


def restricted(
    probs: np.ndarray, charset: Sequence[str], allowed: np.ndarray | None
) -> tuple[np.ndarray, Sequence[str]]:
    """Only the blank and the allowed classes' columns (and their characters), as float64; probabilities
    already restricted and cast (``allowed`` None, float64) are used as they are, not copied."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != len(charset):
        raise ValueError(f"expected (T, {len(charset)}) probabilities, got shape {probs.shape}")
    if allowed is None:
        return np.asarray(probs, np.float64), charset
    keep = np.flatnonzero(np.asarray(allowed, bool))
    keep = np.concatenate([[0], keep[keep != 0]])
    return probs[:, keep].astype(np.float64), [charset[int(i)] for i in keep]
