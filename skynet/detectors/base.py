"""The four detector roles every back-end implements; each works on a BGR uint8 image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from skynet.records import FaceDetection, PlateDetection


class FaceDetector(Protocol):
    """Finds faces (box, score, 5 landmarks) in an image."""

    def detect(self, image: np.ndarray) -> list[FaceDetection]: ...


class FaceEmbedder(Protocol):
    """Aligns each face and adds an L2-normalised embedding of ``dim`` values: the faces of one image
    (:meth:`embed`) or faces given with their images (:meth:`embed_each`), one batch through the network."""

    dim: int

    def embed(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]: ...

    def embed_each(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]: ...


class PlateDetector(Protocol):
    """Finds licence plates (box, score, 4 corners) in an image. ``close_ups`` False says the image is a
    camera's view (a frame or a region of one), where no plate fills the view: a detector that looks for
    such close-ups separately (a photo of a plate) may leave that look out."""

    def detect(self, image: np.ndarray, close_ups: bool = True) -> list[PlateDetection]: ...


class PlateReader(Protocol):
    """Reads the text of each detected plate (batched where the model allows)."""

    def read(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]: ...


ROLES = ("face_detector", "face_embedder", "plate_detector", "plate_reader")
