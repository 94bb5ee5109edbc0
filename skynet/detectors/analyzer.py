"""One call that finds, embeds and reads everything in an image, timing each model stage."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from skynet.config import Settings
from skynet.detectors import registry
from skynet.detectors.base import FaceDetector, FaceEmbedder, PlateDetector, PlateReader
from skynet.detectors.face_quality import face_quality
from skynet.models import ModelStore, get_pack
from skynet.records import Detections, FaceDetection


@dataclass
class ImageAnalyzer:
    """Faces (detected, scored for quality, embedded) and plates (detected, read) of an image."""

    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    plate_detector: PlateDetector
    plate_reader: PlateReader

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageAnalyzer:
        """Build the back-ends the configured model pack names (plate reader overridable)."""
        pack = get_pack(settings.model_pack)
        context = registry.BackendContext(settings, ModelStore(settings.models_path), pack)
        chosen = dict(pack.backends)
        if settings.plate_reader:
            chosen["plate_reader"] = settings.plate_reader
        return cls(**{role: registry.create(role, name, context) for role, name in chosen.items()})

    @property
    def embedding_dim(self) -> int:
        return self.face_embedder.dim

    def analyze(self, image: np.ndarray, faces: bool = True, plates: bool = True, embed: bool = True) -> Detections:
        """Run the enabled stages on a BGR uint8 image; ``embed=False`` leaves faces without
        embeddings (a tracker embeds only the best faces of each track, see :meth:`embed_faces`)."""
        height, width = image.shape[:2]
        result = Detections(image_width=width, image_height=height)
        if faces:
            with _timed(result, "face_detect"):
                found = self.face_detector.detect(image)
            found = [face.with_quality(face_quality(image, face)) for face in found]
            if embed:
                with _timed(result, "face_embed"):
                    found = self.face_embedder.embed(image, found) if found else []
            result.faces = found
        if plates:
            with _timed(result, "plate_detect"):
                detected = self.plate_detector.detect(image)
            with _timed(result, "plate_read"):
                result.plates = self.plate_reader.read(image, detected) if detected else []
        return result

    def embed_faces(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` (found in ``image``) with their embeddings."""
        return self.face_embedder.embed(image, faces) if faces else []


@contextmanager
def _timed(result: Detections, stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        result.model_ms[stage] = (time.perf_counter() - start) * 1000.0
