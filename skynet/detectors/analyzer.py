"""One call that finds, embeds and reads everything in an image, timing each model stage.

Detectors run on the whole image or, when ``regions`` are given (see
:mod:`skynet.ingest.regions`), on those crops only, each scaled by the factor the whole image
would have been scaled by: an object inside a region is seen at the same size as in a
full-frame pass, for a fraction of the cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

import cv2
import numpy as np

from skynet.config import Settings
from skynet.detectors import registry
from skynet.detectors.base import FaceDetector, FaceEmbedder, PlateDetector, PlateReader
from skynet.detectors.face_quality import face_quality
from skynet.models import ModelStore, get_pack
from skynet.records import Box, Detections, FaceDetection, PlateDetection

Found = TypeVar("Found", FaceDetection, PlateDetection)


@dataclass
class ImageAnalyzer:
    """Faces (detected, scored for quality, embedded) and plates (detected, read) of an image."""

    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    plate_detector: PlateDetector
    plate_reader: PlateReader
    face_long_side: int | None = None  # full frames are scaled to this long side (None: native)
    plate_long_side: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageAnalyzer:
        """Build the back-ends the configured model pack names (plate reader overridable)."""
        pack = get_pack(settings.model_pack)
        context = registry.BackendContext(settings, ModelStore(settings.models_path), pack)
        chosen = dict(pack.backends)
        if settings.plate_reader:
            chosen["plate_reader"] = settings.plate_reader
        backends = {role: registry.create(role, name, context) for role, name in chosen.items()}
        return cls(**backends, face_long_side=settings.face_detect_long_side,
                   plate_long_side=settings.plate_detect_long_side)

    @property
    def embedding_dim(self) -> int:
        return self.face_embedder.dim

    def analyze(self, image: np.ndarray, faces: bool = True, plates: bool = True, embed: bool = True,
                regions: Sequence[Box] | None = None, read: bool = True) -> Detections:
        """Run the enabled stages on a BGR uint8 image; ``embed=False`` leaves faces without
        embeddings (a tracker embeds only the best faces of each track, see :meth:`embed_faces`),
        ``read=False`` plates without their text (a tracker reads them as each track needs, see
        :meth:`read_plates`); ``regions`` (boxes in image pixels, not overlapping) limit
        detection to those crops."""
        height, width = image.shape[:2]
        result = Detections(image_width=width, image_height=height)
        if faces:
            with _timed(result, "face_detect"):
                found = _detect(self.face_detector.detect, image, regions, self.face_long_side)
            found = [face.with_quality(face_quality(image, face)) for face in found]
            if embed:
                with _timed(result, "face_embed"):
                    found = self.face_embedder.embed(image, found) if found else []
            result.faces = found
        if plates:
            with _timed(result, "plate_detect"):
                detected = _detect(self.plate_detector.detect, image, regions, self.plate_long_side)
            with _timed(result, "plate_read"):
                result.plates = self.read_plates(image, detected) if read else detected
        return result

    def read_plates(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]:
        """``plates`` (found in ``image``) with their text read."""
        return self.plate_reader.read(image, plates) if plates else []

    def embed_faces(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` (found in ``image``) with their embeddings."""
        return self.face_embedder.embed(image, faces) if faces else []


def _detect(detect, image: np.ndarray, regions: Sequence[Box] | None, long_side: int | None) -> list:
    """``detect`` on the whole image, or on each region scaled as the whole image would be."""
    if regions is None:
        return detect(image)
    height, width = image.shape[:2]
    factor = 1.0 if long_side is None else min(1.0, long_side / max(height, width))
    found = []
    for region in regions:
        x1, y1, x2, y2 = (int(v) for v in region.clipped(width, height).as_list())
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        crop = image[y1:y2, x1:x2]
        if factor < 1.0:
            size = (max(1, round((x2 - x1) * factor)), max(1, round((y2 - y1) * factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        scale = np.float32([(x2 - x1) / crop.shape[1], (y2 - y1) / crop.shape[0]])
        found += [_placed(d, scale, np.float32([x1, y1]), width, height) for d in detect(crop)]
    return found


def _placed(found: Found, scale: np.ndarray, origin: np.ndarray, width: int, height: int) -> Found:
    """A detection made on a scaled crop, moved to the pixels of the whole image."""
    (x1, y1), (x2, y2) = np.float32(found.box.as_list()).reshape(2, 2) * scale + origin
    placed = Box(float(x1), float(y1), float(x2), float(y2)).clipped(width, height)
    if isinstance(found, FaceDetection):
        return replace(found, box=placed, landmarks=(found.landmarks * scale + origin).astype(np.float32))
    return replace(found, box=placed, corners=(found.corners * scale + origin).astype(np.float32))


@contextmanager
def _timed(result: Detections, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        result.model_ms[stage] = (time.perf_counter() - start) * 1000.0
