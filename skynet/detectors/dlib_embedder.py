"""dlib face embeddings: 5-point alignment on the detector's box, then the 128-d dlib ResNet."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np

from skynet.detectors import registry
from skynet.errors import ModelFileError
from skynet.records import FaceDetection

SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DIM = 128


class DlibResNetEmbedder:
    """Aligns each face with dlib's 5-point shape predictor and embeds the 150x150 chip.

    dlib runs the network on all faces of an image as one batch. It has no thread-count
    setting: the dlib-bin CPU build runs on one thread (measured: CPU time = wall time) and
    holds the GIL, so ``intra_op_threads`` does not apply here.
    """

    dim = DIM

    def __init__(self, shape_model: Path, resnet_model: Path) -> None:
        self.shape_predictor = _load(dlib.shape_predictor, shape_model)
        self.resnet = _load(dlib.face_recognition_model_v1, resnet_model)

    def embed(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` with an L2-normalised float32 embedding each (same order)."""
        if not faces:
            return []
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        shapes = dlib.full_object_detections()
        for face in faces:
            box = face.box
            rect = dlib.rectangle(round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1)
            shapes.append(self.shape_predictor(rgb, rect))
        descriptors = self.resnet.compute_face_descriptor(rgb, shapes)  # one batch for all faces
        vectors = np.asarray(descriptors, dtype=np.float32).reshape(len(faces), DIM)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [face.with_embedding(vector) for face, vector in zip(faces, vectors, strict=False)]


def _load(loader, path: Path):
    try:
        return loader(str(path))
    except RuntimeError as exc:  # dlib reports unreadable files as RuntimeError
        raise ModelFileError(f"Model {path.name} could not be loaded by dlib: {exc}") from exc


@registry.register("face_embedder", "dlib_resnet")
def create(context: registry.BackendContext) -> DlibResNetEmbedder:
    """The dlib embedder with the pack's shape-predictor and ResNet files."""
    return DlibResNetEmbedder(context.model_path(SHAPE_FILE), context.model_path(RESNET_FILE))
