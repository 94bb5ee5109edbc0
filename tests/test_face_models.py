"""The real face models (CenterFace, dlib 5-point + ResNet) on real photos from ../shared/data."""

from __future__ import annotations

import csv
import json
from itertools import groupby
from pathlib import Path

import cv2
import numpy as np
import pytest

from skynet.detectors.face_quality import face_quality
from skynet.images import load_image
from skynet.records import Box, FaceDetection

pytestmark = pytest.mark.models


def _rows(data: Path) -> list[dict[str, str]]:
    with (data / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _load(data: Path, filename: str, settings) -> np.ndarray:
    return load_image(data / "images" / filename, settings.max_image_pixels, settings.max_image_bytes)


def _largest_face(analyzer, image: np.ndarray) -> FaceDetection:
    faces = analyzer.analyze(image, plates=False).faces
    assert faces, "no face found"
    return max(faces, key=lambda face: face.box.area)


def test_same_person_is_closer_than_different_people(analyzer, model_settings, shared_data):
    data = shared_data("faces_identities")
    rows = sorted(_rows(data), key=lambda row: (row["source"], row["identity"], row["filename"]))
    chosen = []  # two photos of the first identity of each source (LFW, TV stills, chips, celebrities)
    for _, by_source in groupby(rows, key=lambda row: row["source"]):
        first = next(by_source)
        chosen += [first, next(row for row in by_source if row["identity"] == first["identity"])]
    embeddings = np.stack(
        [_largest_face(analyzer, _load(data, row["filename"], model_settings)).embedding for row in chosen]
    )
    labels = np.array([row["identity"] for row in chosen])
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=2)
    for i in range(len(chosen)):
        same = (labels == labels[i]) & (np.arange(len(chosen)) != i)
        assert distances[i, same].max() < distances[i, labels != labels[i]].min(), chosen[i]["filename"]


def test_every_labelled_face_in_the_group_photos_is_found(analyzer, model_settings, shared_data):
    data = shared_data("faces_groups")
    labelled = [row for row in _rows(data) if row["face_boxes_xywh"].strip()]
    assert labelled
    for row in labelled:
        found = analyzer.face_detector.detect(_load(data, row["filename"], model_settings))
        for x, y, w, h in json.loads(row["face_boxes_xywh"]):
            truth = Box(x, y, x + w, y + h)
            best = max((face.box.iou(truth) for face in found), default=0.0)
            assert best >= 0.3, f"{row['filename']}: face at {[x, y, w, h]} not found"


def test_a_detected_face_is_well_formed(analyzer, model_settings, shared_data):
    data = shared_data("faces_identities")
    row = next(row for row in _rows(data) if row["source"] == "lfw_krasserm")
    image = _load(data, row["filename"], model_settings)
    result = analyzer.analyze(image, plates=False)
    assert {"face_detect", "face_embed"} <= set(result.model_ms)
    face = max(result.faces, key=lambda f: f.box.area)
    height, width = image.shape[:2]
    assert 0 <= face.box.x1 < face.box.x2 <= width and 0 <= face.box.y1 < face.box.y2 <= height
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
    assert face.embedding.shape == (analyzer.embedding_dim,) == (128,) and face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    assert face.quality is not None and 0.0 < face.quality.score <= 1.0


def test_real_face_quality_drops_when_blurred(analyzer, model_settings, shared_data):
    data = shared_data("faces_identities")
    row = next(row for row in _rows(data) if row["source"] == "deepface")
    image = _load(data, row["filename"], model_settings)
    face = _largest_face(analyzer, image)
    blur = max(1.0, face.box.width / 40)
    assert face_quality(image, face).score > face_quality(cv2.GaussianBlur(image, (0, 0), blur), face).score


@pytest.mark.parametrize("shape", [(480, 640, 3), (2, 2, 3), (20, 3000, 3), (3000, 20, 3)])
def test_images_without_faces_give_none(analyzer, shape):
    assert analyzer.face_detector.detect(np.full(shape, 127, np.uint8)) == []


def test_embedding_nothing_gives_nothing(analyzer):
    assert analyzer.face_embedder.embed(np.zeros((64, 64, 3), np.uint8), []) == []
