"""ArcFace face embeddings of insightface (``w600k_r50.onnx`` of buffalo_l): 512-d.

Each face is aligned by its five landmarks onto insightface's 112 x 112 template with a
similarity transform (rotation, uniform scale, shift), then all faces of an image run as one
batch: input ``[B, 3, 112, 112]`` RGB scaled ``(x - 127.5) / 127.5``, output ``[B, 512]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from skynet.detectors import registry
from skynet.detectors.runtime import create_session
from skynet.errors import ModelFileError
from skynet.records import Box, FaceDetection

MODEL_FILE = "w600k_r50.onnx"
SIZE = 112
MEAN, STD = 127.5, 127.5
# where insightface's aligned 112 x 112 crops put left eye, right eye, nose tip, mouth corners
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
)


def align(image: np.ndarray, landmarks: np.ndarray, box: Box) -> np.ndarray:
    """The 112 x 112 face crop whose five ``landmarks`` (image pixels) land on :data:`TEMPLATE`;
    the face ``box`` stretched to the crop when the landmarks are degenerate (all on one point)."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32).reshape(5, 2), TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        corners = np.array([[box.x1, box.y1], [box.x2, box.y1], [box.x1, box.y2]], np.float32)
        matrix = cv2.getAffineTransform(corners, np.array([[0, 0], [SIZE, 0], [0, SIZE]], np.float32))
    return cv2.warpAffine(image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


class ArcFaceEmbedder:
    """Aligned ArcFace embeddings, L2-normalised."""

    def __init__(self, session) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [3, SIZE, SIZE] or len(outputs[0].shape) != 2:
            raise ModelFileError(f"{MODEL_FILE}: expected an input [B, 3, {SIZE}, {SIZE}] and an output [B, D].")
        dim = outputs[0].shape[1]
        if not isinstance(dim, int):
            raise ModelFileError(f"{MODEL_FILE}: the embedding size of its output is not fixed.")
        self.session = session
        self.dim = dim
        self._input = inputs[0].name

    def embed(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` with an L2-normalised float32 embedding each (same order)."""
        return self.embed_each([(image, face) for face in faces])

    def embed_each(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]:
        """Each face of ``faces`` (given with the BGR image it lies in) with its embedding, in one batch."""
        if not faces:
            return []
        crops = np.stack([align(image, face.landmarks, face.box) for image, face in faces])
        tensor = (crops[..., ::-1].astype(np.float32) - MEAN) / STD
        vectors = self.session.run(None, {self._input: np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))})[0]
        vectors = vectors.astype(np.float32).reshape(len(faces), self.dim)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [face.with_embedding(vector) for (_, face), vector in zip(faces, vectors, strict=True)]


def load(path: Path, providers: list[str], threads: int) -> ArcFaceEmbedder:
    """The embedder for the ArcFace model at ``path``."""
    return ArcFaceEmbedder(create_session(path, providers, threads, path.name))


@registry.register("face_embedder", "arcface")
def create(context: registry.BackendContext) -> ArcFaceEmbedder:
    """ArcFace with the pack's ``w600k_r50.onnx``."""
    settings = context.settings
    return load(context.model_path(MODEL_FILE), settings.execution_providers, settings.intra_op_threads)
