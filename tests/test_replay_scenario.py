"""The scenario replay's bookkeeping: which sighting names which visit, and how runs are compared."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scenario_score as score
from replay_scenario import differences, named, visit_delays

from skynet.records import Box, PlateText, Sighting, SightingKind


def sighting(kind: SightingKind, first: float, last: float, **extra) -> Sighting:
    return Sighting("cam01", kind, first, last, first, Box(0, 0, 10, 10), 0.9, **extra)


def test_each_visit_gets_the_first_sighting_naming_it_on_its_camera_and_in_its_time():
    vectors = {"ann": np.array([[1.0, 0.0]], np.float32), "bob": np.array([[0.0, 1.0]], np.float32)}
    ann = sighting(SightingKind.FACE, 10.2, 12.0, embedding=np.array([0.9, 0.1], np.float32))
    stranger = sighting(SightingKind.FACE, 10.0, 12.0, embedding=np.array([0.5, 0.5], np.float32))
    plate = sighting(SightingKind.PLATE, 20.1, 21.0, plate=PlateText("皖A12345", (0.9,) * 7))
    assert named(ann, vectors, 0.6) == "ann" and named(stranger, vectors, 0.6) is None
    assert named(plate, vectors, 0.6) == "皖A12345"
    made = [  # (camera, frame time the sighting was made, sighting, whom it names)
        (camera, at, s, named(s, vectors, 0.6))
        for camera, at, s in [
            ("cam01", 10.6, ann),
            ("cam01", 10.4, stranger),
            ("cam01", 20.3, plate),
            ("cam02", 10.3, ann),
        ]
    ]
    truth = [
        score.Visit("face", "ann", "cam01", 10.0, 13.0),
        score.Visit("plate", "皖A12345", "cam01", 20.0, 22.0),
        score.Visit("face", "ann", "cam01", 40.0, 43.0),  # not seen: nothing in its time
    ]
    rows = visit_delays(truth, made, {"face": ["ann"]})
    assert [(r["first_seen"], r["published"], r["watched"]) for r in rows] == [
        (0.2, 0.6, True),
        (0.1, 0.3, False),
        (None, None, True),
    ]
    later = [dict(r, published=r["published"] and r["published"] + 0.4) for r in rows]
    assert differences(rows, rows) == []
    lines = differences(later, rows)
    assert len(lines) == 2 and lines[0].startswith("later") and "watched face ann cam01" in lines[0]
    assert differences(rows, later)[0].startswith("earlier")
