"""One call that finds, embeds and reads everything in an image, timing each model stage.

Detectors run on the whole image or, when ``regions`` are given (see
:mod:`skynet.ingest.regions`), on those crops only. Crops are seen finer than the whole image
(up to twice as fine, never beyond the image's own pixels) as long as all of them together hold no
more than half the pixels of the detector's view of the whole image (:data:`FINE_REGIONS_MAX`,
:data:`FINE_REGIONS_BUDGET`), never coarser than that view: a small face or plate in a region is
seen large enough to be found (a 65-pixel face in a 720p frame, halved for the face detector,
scores around its threshold from frame to frame; at its own size 0.8-0.9). With ``fine_regions``
off each crop is scaled as the whole image would be (README "Accuracy on real footage").
:meth:`ImageAnalyzer.analyze_batch` does the same for several images (cameras) at once, each
detector running once over all their inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import groupby
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
FINE_REGIONS_BUDGET = 0.5  # fine region crops hold at most this share of the pixels of the whole image's view
FINE_REGIONS_MAX = 2.0  # ... and are seen at most this many times finer than the whole image


@dataclass
class ImageAnalyzer:
    """Faces (detected, scored for quality, embedded) and plates (detected, read) of an image."""

    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    plate_detector: PlateDetector
    plate_reader: PlateReader
    face_long_side: int | None = None  # full frames are scaled to this long side (None: native)
    plate_long_side: int | None = None
    fine_regions: bool = True  # region crops seen finer within the whole image's pixel budget (module doc)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageAnalyzer:
        """Build the back-ends the configured model pack names (plate reader overridable)."""
        pack = get_pack(settings.model_pack)
        context = registry.BackendContext(settings, ModelStore(settings.models_path), pack)
        chosen = dict(pack.backends)
        if settings.plate_reader:
            chosen["plate_reader"] = settings.plate_reader
        backends = {role: registry.create(role, name, context) for role, name in chosen.items()}
        return cls(
            **backends,
            face_long_side=settings.face_detect_long_side,
            plate_long_side=settings.plate_detect_long_side,
            fine_regions=settings.region_fine_scale,
        )

    @property
    def embedding_dim(self) -> int:
        return self.face_embedder.dim

    def analyze(
        self,
        image: np.ndarray,
        faces: bool = True,
        plates: bool = True,
        embed: bool = True,
        regions: Sequence[Box] | None = None,
        read: bool = True,
    ) -> Detections:
        """Run the enabled stages on a BGR uint8 image; ``embed=False`` leaves faces without
        embeddings (a tracker embeds only the best faces of each track, see :meth:`embed_each`),
        ``read=False`` plates without their text (a tracker reads them as each track needs, see
        :meth:`read_plates`); ``regions`` (boxes in image pixels, not overlapping) limit
        detection to those crops."""
        return self._analyze([image], [regions], faces, plates, embed, read, batched=False)[0]

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        regions: Sequence[Sequence[Box] | None] | None = None,
        faces: bool = True,
        plates: bool = True,
        embed: bool = True,
        read: bool = True,
    ) -> list[Detections]:
        """:meth:`analyze` for several images (e.g. one frame of each camera), each with its own
        ``regions`` (or None): a detector with ``detect_batch`` runs once over every whole image
        and region crop of the batch, others once per input. Each result's ``model_ms`` holds the
        time of the batch's stages."""
        regions = [None] * len(images) if regions is None else list(regions)
        if len(regions) != len(images):
            raise ValueError(f"{len(images)} images but {len(regions)} region lists")
        return self._analyze(images, regions, faces, plates, embed, read, batched=True)

    def _analyze(
        self,
        images: Sequence[np.ndarray],
        regions: Sequence[Sequence[Box] | None],
        faces: bool,
        plates: bool,
        embed: bool,
        read: bool,
        batched: bool,
    ) -> list[Detections]:
        results = [Detections(image_width=image.shape[1], image_height=image.shape[0]) for image in images]
        if faces:
            with _timed(results, "face_detect"):
                found = _detect(
                    _runner(self.face_detector, batched), images, regions, self.face_long_side, self.fine_regions
                )
            found = [
                [face.with_quality(face_quality(image, face)) for face in image_faces]
                for image, image_faces in zip(images, found, strict=True)
            ]
            if embed:
                with _timed(results, "face_embed"):
                    pairs = [
                        (image, face) for image, image_faces in zip(images, found, strict=True) for face in image_faces
                    ]
                    embedded = iter(self.embed_each(pairs))
                    found = [[next(embedded) for _ in image_faces] for image_faces in found]
            for result, image_faces in zip(results, found, strict=True):
                result.faces = image_faces
        if plates:
            with _timed(results, "plate_detect"):
                detected = _detect(
                    _runner(self.plate_detector, batched), images, regions, self.plate_long_side, self.fine_regions
                )
            with _timed(results, "plate_read"):
                for result, image, image_plates in zip(results, images, detected, strict=True):
                    result.plates = self.read_plates(image, image_plates) if read else image_plates
        return results

    def read_plates(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]:
        """``plates`` (found in ``image``) with their text read."""
        return self.plate_reader.read(image, plates) if plates else []

    def embed_faces(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` (found in ``image``) with their embeddings."""
        return self.face_embedder.embed(image, faces) if faces else []

    def embed_each(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]:
        """Each of ``faces`` (given with the image it was found in: the faces of several frames, or a
        track's best faces in their crops) with its embedding, in the same order: one batch through the
        network where the back-end has ``embed_each``, else one call per run of faces of the same image."""
        if not faces:
            return []
        batched = getattr(self.face_embedder, "embed_each", None)
        if batched is not None:
            return batched(faces)
        done: list[FaceDetection] = []
        for _, run in groupby(faces, key=lambda pair: id(pair[0])):
            pairs = list(run)
            done += self.face_embedder.embed(pairs[0][0], [face for _, face in pairs])
        return done


Detect = Callable[[list[np.ndarray]], list[list[Found]]]


def _runner(detector: FaceDetector | PlateDetector, batched: bool) -> Detect:
    """Runs ``detector`` on a list of inputs: in one ``detect_batch`` call when ``batched`` and the
    detector has one, else one ``detect`` call per input."""
    if batched and hasattr(detector, "detect_batch"):
        return detector.detect_batch
    return lambda inputs: [detector.detect(pixels) for pixels in inputs]


@dataclass(frozen=True, slots=True)
class _View:
    """What a detector is given of an image: the whole of it (no ``scale``), or a region crop
    whose pixels map back to the image's by ``* scale + origin``."""

    pixels: np.ndarray
    scale: np.ndarray | None = None
    origin: np.ndarray | None = None


def _views(image: np.ndarray, regions: Sequence[Box] | None, long_side: int | None, fine: bool) -> list[_View]:
    """The whole image, or each region scaled as the whole image would be or, when ``fine``, as finely as
    the whole image's pixel budget allows (see the module doc; too small regions left out)."""
    if regions is None:
        return [_View(image)]
    height, width = image.shape[:2]
    factor = 1.0 if long_side is None else min(1.0, long_side / max(height, width))
    crops = []
    for region in regions:
        x1, y1, x2, y2 = (int(v) for v in region.clipped(width, height).as_list())
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            crops.append((x1, y1, x2, y2))
    if fine and crops:
        area = sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in crops)
        finer = min(FINE_REGIONS_MAX, float(np.sqrt(FINE_REGIONS_BUDGET * width * height / area)))
        factor = min(1.0, factor * max(1.0, finer))
    views = []
    for x1, y1, x2, y2 in crops:
        crop = image[y1:y2, x1:x2]
        if factor < 1.0:
            size = (max(1, round((x2 - x1) * factor)), max(1, round((y2 - y1) * factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        scale = np.array([(x2 - x1) / crop.shape[1], (y2 - y1) / crop.shape[0]], np.float32)
        views.append(_View(crop, scale, np.array([x1, y1], np.float32)))
    return views


def _detect(
    detect: Detect,
    images: Sequence[np.ndarray],
    regions: Sequence[Sequence[Box] | None],
    long_side: int | None,
    fine: bool,
) -> list[list]:
    """Detections of each image (whole, or in its regions), from one ``detect`` over all their views."""
    views = [
        _views(image, image_regions, long_side, fine) for image, image_regions in zip(images, regions, strict=True)
    ]
    inputs = [view.pixels for image_views in views for view in image_views]
    found = iter(detect(inputs) if inputs else [])
    results = []
    for image, image_views in zip(images, views, strict=True):
        height, width = image.shape[:2]
        image_found = []
        for view in image_views:
            in_view = next(found)
            if view.scale is None or view.origin is None:
                image_found += in_view
            else:
                image_found += [_placed(d, view.scale, view.origin, width, height) for d in in_view]
        results.append(image_found)
    return results


def _placed(found: Found, scale: np.ndarray, origin: np.ndarray, width: int, height: int) -> Found:
    """A detection made on a scaled crop, moved to the pixels of the whole image."""
    (x1, y1), (x2, y2) = np.array(found.box.as_list(), np.float32).reshape(2, 2) * scale + origin
    placed = Box(float(x1), float(y1), float(x2), float(y2)).clipped(width, height)
    if isinstance(found, FaceDetection):
        return replace(found, box=placed, landmarks=(found.landmarks * scale + origin).astype(np.float32))
    return replace(found, box=placed, corners=(found.corners * scale + origin).astype(np.float32))


@contextmanager
def _timed(results: list[Detections], stage: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = (time.perf_counter() - start) * 1000.0
        for result in results:
            result.model_ms[stage] = elapsed
