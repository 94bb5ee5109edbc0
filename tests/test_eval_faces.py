"""The face benchmark's camera-view calibration: the degraded view and the threshold arithmetic."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import eval_faces
from eval_faces import VIDEO_FRAME, camera_view, video_metrics

from skynet.records import Box, FaceDetection


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_camera_view_is_a_street_frame_holding_the_face_small_and_recompressed():
    photo = np.full((200, 200, 3), 40, np.uint8)
    photo[50:150, 60:140] = (30, 160, 230)  # the "face": an orange block
    face = FaceDetection(Box(60, 50, 140, 150), 0.99, np.zeros((5, 2), np.float32))
    view = camera_view(photo, face, np.random.default_rng(1))
    assert view.shape == (VIDEO_FRAME[1], VIDEO_FRAME[0], 3) and view.dtype == np.uint8
    orange = (np.abs(view.astype(int) - (30, 160, 230)).sum(axis=2) < 60).sum()
    low, high = eval_faces.VIDEO_FACE_PX
    # the 80 x 100 px block is shown 65-130 px tall: about 0.8 x height^2 pixels
    assert 0.5 * 0.8 * low**2 < orange < 1.2 * 0.8 * high**2


def test_video_metrics_thresholds_follow_the_impostor_pairs_and_skip_a_photo_with_its_own_view():
    rng = np.random.default_rng(0)
    people = [_unit(rng.normal(size=16)) for _ in range(40)]
    identities = [f"p{i}" for i in range(40) for _ in range(2)]
    queries: list[np.ndarray | None] = [people[i] for i in range(40) for _ in range(2)]
    queries[1] = None  # an undetected photo is no query
    views = [(row, _unit(people[row // 2] + rng.normal(scale=0.1, size=16)), 0.8) for row in range(80)]
    metrics = video_metrics(identities, queries, views, configured=0.5)
    # 79 queries x 80 views: a query's same-identity views are 2 (one of them its own photo's, left out)
    assert metrics["genuine_pairs"] == 79 * 1 and metrics["impostor_pairs"] == 79 * 78
    assert metrics["tar_at_far_0.01"] == 1.0  # random 16-d people are far apart; views stay close
    assert metrics["threshold_at_far_0.01"] <= metrics["threshold_at_far_0.001"] <= metrics["threshold_at_far_0.0001"]
    found = [i for i, q in enumerate(queries) if q is not None]
    similarity = np.stack([queries[i] for i in found]) @ np.stack([v[1] for v in views]).T
    labels = np.array(identities)
    impostor = similarity[labels[found][:, None] != labels[None, :]]
    for far in eval_faces.VIDEO_FARS:
        threshold = metrics[f"threshold_at_far_{far:g}"]
        assert (impostor > threshold).mean() <= far
    assert metrics["far_at_configured"] == pytest.approx((impostor >= 0.5).mean())
