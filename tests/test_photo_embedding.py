"""A search or watch-list photo is queried by its face together with the face's mirror image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skynet.records import Box, Detections, FaceDetection
from skynet.services.faces import photo_embedding


def _face(box: Box, embedding: np.ndarray) -> FaceDetection:
    return FaceDetection(box, 0.99, np.zeros((5, 2), np.float32)).with_embedding(embedding.astype(np.float32))


def test_the_mirror_view_is_averaged_in_only_where_the_mirrored_face_lies():
    image = np.zeros((100, 200, 3), np.uint8)
    face = _face(Box(10, 20, 50, 70), np.array([1.0, 0.0]))
    # the mirror image of the face lies at x 150-190; another face elsewhere is not its twin
    twin = _face(Box(151, 21, 190, 70), np.array([0.0, 1.0]))
    other = _face(Box(60, 20, 100, 70), np.array([-1.0, 0.0]))

    def analyze(found: list[FaceDetection]):
        return lambda image: Detections(image_width=200, image_height=100, faces=found)

    averaged = photo_embedding(analyze([other, twin]), image, face)
    np.testing.assert_allclose(averaged, np.array([1.0, 1.0]) / np.sqrt(2.0), atol=1e-6)
    np.testing.assert_allclose(photo_embedding(analyze([other]), image, face), [1.0, 0.0])
    np.testing.assert_allclose(photo_embedding(analyze([]), image, face), [1.0, 0.0])


@pytest.mark.models
def test_a_real_photo_and_its_mirror_give_the_same_query(analyzer, shared_data):
    """The dlib embedding of a face and of its mirror image differ; the query made of both does not depend
    on which of the two was uploaded (DEV faces)."""
    faces = shared_data("faces_identities")

    def analyze(image: np.ndarray) -> Detections:
        return analyzer.analyze(image, plates=False)

    for name in ("face_0001.jpg", "face_0049.jpg", "face_0143.png"):
        photo = cv2.imread(str(faces / "images" / name))
        mirror = cv2.flip(photo, 1)
        face = max(analyze(photo).faces, key=lambda f: f.box.area)
        mirrored_face = max(analyze(mirror).faces, key=lambda f: f.box.area)
        plain = float(face.embedding @ mirrored_face.embedding)
        query, mirror_query = photo_embedding(analyze, photo, face), photo_embedding(analyze, mirror, mirrored_face)
        assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
        together = float(query @ mirror_query)
        assert together > 0.999 and 1.0 - together < (1.0 - plain) / 5, (name, plain, together)
