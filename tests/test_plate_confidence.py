"""Plate read confidences: posterior probabilities among the reads the plate format allows."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from skynet.detectors.ctc import CtcRead
from skynet.detectors.plate_format import normalize_plate
from skynet.detectors.plate_readers import posterior_confidences, read_posteriors
from skynet.images import load_image
from skynet.synthetic import paste_demo_plates, street_scene


def test_posteriors_normalise_the_path_probabilities_of_the_valid_reads():
    reads = [CtcRead("京A12345", (), -1.0), CtcRead("京A12845", (), -2.0), CtcRead("京A12345", (), -5.0)]
    posterior = read_posteriors(reads)
    total = math.exp(-1) + math.exp(-2) + math.exp(-5)
    assert posterior["京A12345"] == pytest.approx((math.exp(-1) + math.exp(-5)) / total)
    assert sum(posterior.values()) == pytest.approx(1.0)
    assert read_posteriors([]) == {}
    assert read_posteriors([CtcRead("京A12345", (), -900.0)]) == {"京A12345": 1.0}  # no underflow


def test_a_character_is_as_sure_as_the_reads_that_agree_on_it():
    posterior = {"京A12345": 0.7, "京A12845": 0.2, "津A12345": 0.1}
    confidences = posterior_confidences("京A12345", posterior)
    assert confidences[0] == pytest.approx(0.9) and confidences[4] == pytest.approx(0.8)
    assert confidences[1] == pytest.approx(1.0)
    assert posterior_confidences("京A1234", posterior) == (0.0,) * 6  # a text no valid read has


@pytest.mark.models
def test_correct_reads_of_the_demo_plates_are_confident(analyzer, cjk_font):
    # 桂B12345's B lies under the CTC blank in every frame (its per-frame probability 0.03); the plate
    # format demands a letter there, and every read the format allows agrees on B
    result = analyzer.analyze(paste_demo_plates(street_scene()), faces=False)
    reads = {p.read.text: p.read for p in result.plates}
    assert set(reads) == {"桂B12345", "粤BD12345"}
    for read in reads.values():
        assert read.confidence >= 0.9
        assert read.format.valid and read.format.confidence >= read.confidence
        assert all(0.0 <= c <= 1.0 for _, c in read.alternatives)
        # an alternative differs from the read in some character, whose confidence leaves it room: the read's
        # (its weakest character's) and any alternative's add up to at most 1 (both rounded to 4 places); all the
        # alternatives together may exceed what is left when they differ in other characters than the weakest
        assert read.confidence + max((c for _, c in read.alternatives), default=0.0) <= 1.0 + 1e-4


@pytest.mark.models
def test_confident_reads_of_real_crops_are_right(analyzer, shared_data, model_settings):
    data = shared_data("cn_plate_crops")
    with (data / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:150]
    limits = (model_settings.max_image_pixels, model_settings.max_image_bytes)
    images = [load_image(data / "images" / r["filename"], *limits) for r in rows]
    reads = analyzer.plate_reader.read_crops(images)
    right = np.array(
        [normalize_plate(t.text) == normalize_plate(r["plate_text"]) for t, r in zip(reads, rows, strict=True)]
    )
    confidence = np.array([t.confidence for t in reads])
    sure = confidence >= 0.9
    assert sure.mean() >= 0.9 and right[sure].mean() >= 0.97
    if (~right).any():
        assert confidence[~right].mean() < confidence[right].mean()
