"""The cohort score normalisation benchmark's arithmetic: top-k cohort statistics, which cohort faces a side
may use, Z/T/S-norm, and TAR at a false-match rate."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from score_norm import cohort_masks, cohort_stats, first_few, normalised, tar_at_far


def test_cohort_stats_take_the_k_highest_allowed_scores_or_all_of_them():
    scores = np.array([[0.9, 0.1, 0.5, 0.7], [0.2, 0.4, 0.6, 0.8]])
    allowed = np.array([[False, True, True, True], [True, True, True, True]])
    mean, spread = cohort_stats(scores, allowed, k=2)
    assert mean == pytest.approx([0.6, 0.7])  # row 0 leaves out its 0.9: 0.7 and 0.5
    assert spread == pytest.approx([0.1, 0.1])
    mean, _ = cohort_stats(scores, allowed, k=0)
    assert mean == pytest.approx([np.mean([0.1, 0.5, 0.7]), 0.5])
    mean, _ = cohort_stats(scores, allowed, k=10)  # more than there are: all of them
    assert mean == pytest.approx([np.mean([0.1, 0.5, 0.7]), 0.5])


def test_first_few_keeps_that_many_of_each_rows_candidates():
    candidates = np.array([[True, True, True, False], [False, True, False, False], [False] * 4])
    kept = first_few(candidates, 2, np.random.default_rng(0))
    assert kept.sum(axis=1).tolist() == [2, 1, 0]
    assert not (kept & ~candidates).any()


def test_others_cohorts_leave_out_the_own_persons_faces_and_others_plus_m_keeps_m():
    own = np.array([[True, True, True, False, False]])
    anything = np.ones_like(own)
    query, gallery = cohort_masks("others", own, own, anything, anything, np.random.default_rng(0))
    assert query.tolist() == [[False, False, False, True, True]] and gallery.tolist() == query.tolist()
    query, _ = cohort_masks("others +1", own, own, anything, anything, np.random.default_rng(0))
    assert query[0, :3].sum() == 1 and query[0, 3:].all()
    query, _ = cohort_masks("gallery", own, own, anything, anything, np.random.default_rng(0))
    assert query.all()


def test_s_norm_is_the_mean_of_the_query_and_the_gallery_sides():
    raw = np.array([[0.9, 0.5]])
    query_side = (np.array([0.5]), np.array([0.1]))
    gallery_side = (np.array([0.7, 0.3]), np.array([0.2, 0.1]))
    scores = normalised(raw, query_side, gallery_side)
    assert scores["z"][0] == pytest.approx([4.0, 0.0])
    assert scores["t"][0] == pytest.approx([1.0, 2.0])
    assert scores["s"][0] == pytest.approx([2.5, 1.0])


def test_tar_at_far_puts_the_threshold_at_that_rank_of_the_impostor_scores():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0.0, 1.0, 10_000), np.linspace(0.99, 1.1, 10)])
    genuine = np.arange(len(scores)) >= 10_000
    figures = tar_at_far(scores, genuine, ~genuine)
    for far in (1e-3, 1e-4):
        threshold = figures[f"threshold_{far:g}"]
        assert (scores[~genuine] > threshold).mean() <= far
        assert figures[f"tar_{far:g}"] == pytest.approx((scores[genuine] > threshold).mean())
    assert figures["tar_0.0001"] <= figures["tar_0.001"]
