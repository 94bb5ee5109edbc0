"""Decoded face-detector output before it becomes :class:`FaceDetection` records; shared by the
face-detector back-ends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skynet.records import Box, FaceDetection


@dataclass(frozen=True, slots=True)
class RawFaces:
    """Decoded faces in input-tensor pixels: ``boxes`` (N, 4) x1 y1 x2 y2, ``scores`` (N,),
    ``landmarks`` (N, 5, 2) x y."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def detections(self, factor: float, width: int, height: int) -> list[FaceDetection]:
        """The faces in the pixels of a ``width`` x ``height`` image the input was resized from by
        ``factor``; boxes clipped to the image, empty ones left out."""
        faces = []
        for box, score, points in zip(self.boxes / factor, self.scores, self.landmarks / factor, strict=True):
            clipped = Box(*map(float, box)).clipped(width, height)
            if clipped.area > 0:
                faces.append(FaceDetection(box=clipped, score=float(score), landmarks=points.astype(np.float32)))
        return faces
