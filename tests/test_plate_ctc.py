"""Greedy and (constrained) beam CTC decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skynet.detectors.ctc import beam_decode, greedy_decode, restricted
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


# The search written out (beam_decode) against the same search in its plain form, kept here as the oracle:
# every read, confidence and log-probability must be the same float, on generated and on real recogniser output.


def reference_beam(probs, charset, grammar=None, beam_width=8, min_prob=1e-3, min_candidates=3, blank_skip=0.9999):
    """CTC prefix beam search in its plain form: one helper adds an alignment into an entry."""
    probs = np.asarray(probs, np.float64)

    def add(beams, prefix, p_b, p_nb, conf):
        entry = beams.setdefault(prefix, [0.0, 0.0, conf, 0.0])
        entry[0] += p_b
        entry[1] += p_nb
        if p_b + p_nb > entry[3]:
            entry[2], entry[3] = conf, p_b + p_nb

    def allowed_after(prefix):
        if grammar is None:
            return set(range(1, len(charset)))
        chars = grammar.next_chars("".join(charset[c] for c in prefix))
        return {c for c in range(1, len(charset)) if charset[c] in chars}

    def candidates(row, allowed):
        ranked = sorted(range(1, len(charset)), key=lambda c: -row[c])  # stable: ties, lower class first
        taken = []
        for cls in ranked:
            if len(taken) >= min_candidates and row[cls] < min_prob:
                break
            if cls in allowed:
                taken.append(cls)
        return sorted(taken)

    beams = {(): [1.0, 0.0, (), 1.0]}
    log_scale = 0.0
    for frame in probs:
        row = frame.tolist()
        nxt = {}
        for prefix, (p_b, p_nb, conf, _) in beams.items():
            total = p_b + p_nb
            add(nxt, prefix, total * row[0], 0.0, conf)
            if prefix:
                p = row[prefix[-1]]
                add(nxt, prefix, 0.0, p_nb * p, conf[:-1] + (max(conf[-1], p),))
            if row[0] >= blank_skip:
                continue
            for cls in candidates(row, allowed_after(prefix)):
                p = row[cls]
                before = p_b if prefix and prefix[-1] == cls else total
                add(nxt, prefix + (cls,), 0.0, before * p, conf + (p,))
        ranked = sorted(nxt.items(), key=lambda item: item[1][0] + item[1][1], reverse=True)
        beams = dict(ranked[:beam_width])
        norm = sum(v[0] + v[1] for v in beams.values())
        if norm <= 0.0:
            break
        log_scale += math.log(norm)
        for value in beams.values():
            value[0] /= norm
            value[1] /= norm
    reads = []
    for prefix, (p_b, p_nb, conf, _) in beams.items():
        text = "".join(charset[c] for c in prefix)
        if prefix and p_b + p_nb > 0.0 and (grammar is None or grammar.accepts(text)):
            reads.append((text, tuple(conf), log_scale + math.log(p_b + p_nb)))
    return sorted(reads, key=lambda read: read[2], reverse=True)


PLATE_CHARSET = ["", *sorted(CN_RULES.charset)]


def plate_like(rng: np.random.Generator, frames: int = 40) -> np.ndarray:
    """Recogniser-like output over the plate characters: blank stretches, characters over 1-3 frames, some
    of them doubtful (a rival close behind), near-ties, a tail of small probabilities everywhere."""
    probs = rng.dirichlet(np.full(len(PLATE_CHARSET), 0.05), size=frames) * rng.uniform(1e-5, 0.05, (frames, 1))
    t = int(rng.integers(0, 6))
    while t < frames:
        span = int(rng.integers(1, 4))
        cls = int(rng.integers(1, len(PLATE_CHARSET)))
        rival = int(rng.integers(1, len(PLATE_CHARSET)))
        for u in range(t, min(frames, t + span)):
            share = rng.choice([1.0, 0.9, 0.6, 0.5])
            probs[u, cls] += share
            probs[u, rival] += 1.0 - share
        t += span + int(rng.integers(0, 4))
    probs[:, 0] += rng.choice([0.0, 1.0, 50.0], size=frames)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def same_reads(probs, charset, **options):
    fast = [(r.text, r.char_confidences, r.log_prob) for r in beam_decode(probs, charset, **options)]
    assert fast == reference_beam(probs, charset, **options)


@pytest.mark.parametrize("seed", range(25))
def test_beam_search_equals_its_plain_form_on_generated_output(seed):
    probs = plate_like(np.random.default_rng(seed))
    for width in (8, 32):
        same_reads(probs, PLATE_CHARSET, grammar=CN_RULES, beam_width=width)
    same_reads(probs, PLATE_CHARSET, beam_width=8)


def test_beam_search_equals_its_plain_form_on_toy_grammars_and_ties():
    tied = frames({"A": 0.3, "B": 0.3}, {"A": 0.3, "B": 0.3}, {"1": 0.2, "湘": 0.2, "皖": 0.2})
    for probs in (tied, frames({"湘": 0.02, "皖": 0.01}, {"A": 0.97}), frames(*([{"A": 0.99}, {}] * 30))):
        same_reads(probs, CHARSET)
        same_reads(probs, CHARSET, grammar=OnlyAfterProvince(), beam_width=3)


@pytest.mark.models
def test_plate_reads_equal_the_plain_search_on_real_recogniser_output(analyzer, shared_data, model_settings):
    """PP-OCRv4's output for real plate crops, decoded as the reader decodes it."""
    from skynet.images import load_image

    data = shared_data("cn_plate_crops")
    reader = analyzer.plate_reader
    names = sorted(p.name for p in (data / "images").iterdir())[:40]
    crops = [
        load_image(data / "images" / name, model_settings.max_image_pixels, model_settings.max_image_bytes)
        for name in names
    ]
    batch = reader.session.run(None, {reader.session.get_inputs()[0].name: reader._batch(crops)})[0]
    for probs in batch:
        plate_probs, charset = restricted(probs, reader.charset, reader.allowed)
        same_reads(plate_probs, charset, grammar=reader.rules, beam_width=8)
        same_reads(plate_probs, charset, beam_width=8)


@pytest.mark.models
def test_the_reader_refuses_output_with_the_wrong_number_of_classes(analyzer):
    reader = analyzer.plate_reader
    with pytest.raises(ValueError, match="probabilities"):
        reader._decode(np.full((10, len(reader.charset) + 1), 0.5, np.float32), None)
