"""Greedy and (constrained) beam CTC decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skynet.detectors.ctc import beam_decode, greedy_decode
from skynet.detectors.plate_format import CN_RULES

CHARSET = ["", "A", "B", "1", "皖", "湘"]


def frames(*rows: dict[str, float]) -> np.ndarray:
    """(T, C) probabilities from per-frame {char: p}; the rest of each frame goes to the blank."""
    probs = np.zeros((len(rows), len(CHARSET)), np.float32)
    for t, row in enumerate(rows):
        for char, p in row.items():
            probs[t, CHARSET.index(char)] = p
        probs[t, 0] = 1.0 - sum(row.values())
    return probs


def test_greedy_merges_repeats_and_drops_blanks():
    probs = frames({"A": 0.9}, {"A": 0.95}, {}, {"A": 0.8}, {"B": 0.7}, {})
    read = greedy_decode(probs, CHARSET)
    assert read.text == "AAB"
    assert read.char_confidences == pytest.approx((0.95, 0.8, 0.7))


def test_greedy_respects_the_allowed_mask():
    probs = frames({"A": 0.6, "1": 0.3})
    allowed = np.array([c in {"1"} for c in CHARSET])
    read = greedy_decode(probs, CHARSET, allowed)
    assert read.text == "1"
    assert read.char_confidences == pytest.approx((0.3,))


def test_greedy_of_all_blank_is_empty():
    read = greedy_decode(frames({}, {}), CHARSET)
    assert read.text == "" and read.char_confidences == ()


def test_beam_sums_alignments_where_greedy_does_not():
    # best path is blank-blank (""), but "A" has more total probability (0.4*0.6 + 0.6*0.4 + 0.4*0.4)
    probs = frames({"A": 0.4}, {"A": 0.4})
    assert greedy_decode(probs, CHARSET).text == ""
    reads = beam_decode(probs, CHARSET)
    assert reads[0].text == "A"
    assert math.exp(reads[0].log_prob) == pytest.approx(0.4 * 0.6 + 0.6 * 0.4 + 0.4 * 0.4, rel=1e-5)


def test_beam_reads_are_ranked_and_rescaling_keeps_probabilities():
    long = frames(*([{"A": 0.99}, {}] * 60))  # 120 frames: would underflow without rescaling
    reads = beam_decode(long, CHARSET, beam_width=4)
    assert reads[0].text == "A" * 60
    assert [r.log_prob for r in reads] == sorted((r.log_prob for r in reads), reverse=True)
    assert reads[0].log_prob == pytest.approx(60 * math.log(0.99), abs=1e-3)


class OnlyAfterProvince:
    """A toy grammar: a province, then exactly one letter."""

    def next_chars(self, prefix: str) -> frozenset[str]:
        return frozenset("皖湘") if not prefix else frozenset("AB") if len(prefix) == 1 else frozenset()

    def accepts(self, text: str) -> bool:
        return len(text) == 2


def test_grammar_forces_a_missing_character_from_weak_evidence():
    # the province is barely visible; free decoding drops it
    probs = frames({"湘": 0.02, "皖": 0.01}, {"A": 0.97})
    assert greedy_decode(probs, CHARSET).text == "A"
    reads = beam_decode(probs, CHARSET, grammar=OnlyAfterProvince())
    assert [r.text for r in reads[:2]] == ["湘A", "皖A"]
    assert reads[0].char_confidences == pytest.approx((0.02, 0.97))


def test_grammar_may_find_nothing():
    assert beam_decode(frames({"A": 0.9}), CHARSET, grammar=OnlyAfterProvince()) == []


class CountingGrammar(OnlyAfterProvince):
    """The toy grammar, counting how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def next_chars(self, prefix: str) -> frozenset[str]:
        self.asked += 1
        return super().next_chars(prefix)


def test_grammar_answers_are_kept_across_searches():
    grammar = CountingGrammar()
    probs = frames({"湘": 0.6, "皖": 0.3}, {"A": 0.5, "B": 0.4})
    first = beam_decode(probs, CHARSET, grammar=grammar)
    asked = grammar.asked
    assert asked > 0
    assert beam_decode(probs, CHARSET, grammar=grammar) == first
    assert grammar.asked == asked  # the second search asked nothing new


def test_plate_rules_act_as_a_grammar():
    charset = ["", "皖", "A", "1", "2", "3", "4", "5", "O"]
    seq = ["皖", "A", "1", "2", "3", "4", "O"]  # last digit looks like the letter O
    probs = np.zeros((len(seq) * 2, len(charset)), np.float32)
    for i, char in enumerate(seq):
        probs[2 * i, charset.index(char)] = 0.9
        probs[2 * i, 0] = 0.1
        probs[2 * i + 1, 0] = 1.0
    probs[12, charset.index("5")] = 0.05  # the only plate-valid last character
    probs[12, 0] = 0.05
    assert greedy_decode(probs, charset).text == "皖A1234O"
    assert beam_decode(probs, charset, grammar=CN_RULES)[0].text == "皖A12345"


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="probabilities"):
        greedy_decode(np.zeros((3, 4), np.float32), CHARSET)
