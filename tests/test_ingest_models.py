"""The whole camera pipeline with the real model pack: a clip of a real face and a real plate
moving across the frame gives one face sighting (right person) and one plate sighting (right text)."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
from ingest_support import ListSink, make_clip

from skynet.detectors.pool import AnalyzerPool
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.status import CameraState
from skynet.ingest.worker import CameraWorker, WorkerOptions

pytestmark = [
    pytest.mark.models,
    pytest.mark.slow,
    pytest.mark.requires("ffmpeg"),
]


@pytest.mark.parametrize(
    "lazy", [False, True], ids=["embed-and-read-every-frame", "embed-best-faces-read-plates-as-tracks-need"]
)
def test_real_face_and_plate_become_sightings(analyzer, shared_data, tmp_path, lazy):
    faces_dir, plates_dir = shared_data("faces_identities"), shared_data("cn_plate_ccpd")
    face = cv2.imread(str(faces_dir / "images" / "face_0001.jpg"))
    with open(plates_dir / "labels.csv", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    car = cv2.imread(str(plates_dir / "images" / row["filename"]))
    x1, y1, x2, y2 = (int(row[k]) for k in ("x1", "y1", "x2", "y2"))
    car = car[max(0, y1 - 120) : y2 + 120, max(0, x1 - 60) : x2 + 60]

    def paint(index: int, image: np.ndarray) -> None:
        image[:] = 90
        dx = 3 * index
        image[100 : 100 + face.shape[0], 60 + dx : 60 + dx + face.shape[1]] = face
        image[300 : 300 + car.shape[0], 500 + dx : 500 + dx + car.shape[1]] = car[
            :, : min(car.shape[1], 1280 - 500 - dx)
        ]

    clip = make_clip(tmp_path / "scene.mp4", 3.0, 1280, 720, 25, paint, preset="veryfast")
    sink = ListSink()
    spec = SourceSpec("cam-models", str(clip), start_time=1_700_000_000.0)
    pool = AnalyzerPool([analyzer], lazy_embedding=lazy, lazy_reading=lazy)
    worker = CameraWorker(spec, pool, sink, WorkerOptions(), embed=pool.embed, read=pool.read).start()
    assert worker.join(timeout=120)
    assert worker.status().state is CameraState.FINISHED

    faces = [s for s, _, _ in sink.items if s.kind.value == "face"]
    plates = [s for s, _, _ in sink.items if s.kind.value == "plate"]
    assert len(faces) == 1 and len(plates) == 1, [(s.kind, s.first_seen, s.plate) for s, _, _ in sink.items]
    reference = analyzer.analyze(face).faces[0].embedding
    assert faces[0].embedding.shape == reference.shape
    assert float(np.linalg.norm(faces[0].embedding - reference)) < 0.4  # same person, same photo
    assert plates[0].plate.text == row["plate_text"]
    assert 1_700_000_000.0 <= faces[0].first_seen < faces[0].last_seen <= 1_700_000_003.0
