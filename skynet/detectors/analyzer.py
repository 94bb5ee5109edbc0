"""One call that finds, embeds and reads everything in an image, timing each model stage.

Detectors run on the whole image or, when ``regions`` are given (see
:mod:`skynet.ingest.regions`), on those crops only. Crops are seen finer than the whole image
(up to twice as fine, never beyond the image's own pixels) as long as all of them together hold no
more than half the pixels of the detector's view of the whole image (:data:`FINE_REGIONS_MAX`,
:data:`FINE_REGIONS_BUDGET`), never coarser than that view: a small face or plate in a region is
seen large enough to be found (a 65-pixel face in a 720p frame, halved for the face detector,
scores around its threshold from frame to frame; at its own size 0.8-0.9). With ``fine_regions``
off each crop is scaled as the whole image would be (README "Accuracy on real footage"). A
:class:`~skynet.records.Region` with ``fine`` False is seen at the whole image's scale even so, and
the budget is shared by the fine ones only: a camera's planner looks at its regions finely on some
frames and at the coarse scale plus small fine crops around its live tracks on the others; a coarse
view's detection of an object a fine view found too is dropped, as is any object found twice where regions
overlap (:data:`SAME_OBJECT_OVERLAP`). Each detector sees only the regions that need it (a region kept
only for a live plate track goes to the plate detector alone, see :class:`~skynet.records.Region`),
at the scale it would have with every region seen.
:meth:`ImageAnalyzer.analyze_batch` does the same for several images (cameras) at once, each
detector running once over all their inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from skynet.records import Box, Detections, FaceDetection, PlateDetection, Region, needs_faces, needs_plates

Found = TypeVar("Found", FaceDetection, PlateDetection)
FINE_REGIONS_BUDGET = 0.5  # fine region crops hold at most this share of the pixels of the whole image's view
FINE_REGIONS_MAX = 2.0  # ... and are seen at most this many times finer than the whole image
SAME_OBJECT_OVERLAP = 0.5  # detections of two views overlapping by more (of the smaller) are one object


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
        camera: bool = False,
    ) -> Detections:
        """Run the enabled stages on a BGR uint8 image; ``embed=False`` leaves faces without
        embeddings (a tracker embeds only the best faces of each track, see :meth:`embed_each`),
        ``read=False`` plates without their text (a tracker reads them as each track needs, see
        :meth:`read_plates`); ``regions`` (boxes in image pixels, :class:`~skynet.records.Region` records
        saying how finely; an object found in two that overlap is kept once) limit detection to those crops.
        ``camera``: the image is a camera's frame, not a photo, so no plate fills it (the plate detector
        may leave out its look for close-ups, see :class:`~skynet.detectors.base.PlateDetector`)."""
        return self._analyze([image], [regions], faces, plates, embed, read, camera, batched=False)[0]

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        regions: Sequence[Sequence[Box] | None] | None = None,
        faces: bool = True,
        plates: bool = True,
        embed: bool = True,
        read: bool = True,
        camera: bool = False,
    ) -> list[Detections]:
        """:meth:`analyze` for several images (e.g. one frame of each camera), each with its own
        ``regions`` (or None): a detector with ``detect_batch`` runs once over every whole image
        and region crop of the batch, others once per input. Each result's ``model_ms`` holds the
        time of the batch's stages."""
        regions = [None] * len(images) if regions is None else list(regions)
        if len(regions) != len(images):
            raise ValueError(f"{len(images)} images but {len(regions)} region lists")
        return self._analyze(images, regions, faces, plates, embed, read, camera, batched=True)

    def _analyze(
        self,
        images: Sequence[np.ndarray],
        regions: Sequence[Sequence[Box] | None],
        faces: bool,
        plates: bool,
        embed: bool,
        read: bool,
        camera: bool,
        batched: bool,
    ) -> list[Detections]:
        results = [Detections(image_width=image.shape[1], image_height=image.shape[0]) for image in images]
        if faces:
            with _timed(results, "face_detect"):
                found = _detect(
                    _runner(self.face_detector, batched),
                    images,
                    regions,
                    self.face_long_side,
                    self.fine_regions,
                    needs_faces,
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
                    _runner(self.plate_detector, batched, close_ups=not camera),
                    images,
                    regions,
                    self.plate_long_side,
                    self.fine_regions,
                    needs_plates,
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
        network."""
        return self.face_embedder.embed_each(faces) if faces else []


Detect = Callable[[list[np.ndarray]], list[list[Found]]]


def _runner(detector: FaceDetector | PlateDetector, batched: bool, **options: bool) -> Detect:
    """Runs ``detector`` on a list of inputs, with ``options`` for its ``detect``: in one ``detect_batch``
    call when ``batched`` and the detector has one, else one ``detect`` call per input."""
    if batched and hasattr(detector, "detect_batch"):
        return lambda inputs: detector.detect_batch(inputs, **options)
    return lambda inputs: [detector.detect(pixels, **options) for pixels in inputs]


@dataclass(frozen=True, slots=True)
class _View:
    """What a detector is given of an image: the whole of it (no ``scale``), or a region crop
    whose pixels map back to the image's by ``* scale + origin``, seen finer than the whole image or not."""

    pixels: np.ndarray
    scale: np.ndarray | None = None
    origin: np.ndarray | None = None
    fine: bool = False
    rect: tuple[int, int, int, int] | None = None  # the crop's box in the image


def _views(
    image: np.ndarray,
    regions: Sequence[Box] | None,
    long_side: int | None,
    fine: bool,
    needed: Callable[[Box], bool],
) -> list[_View]:
    """The whole image, or each region that is ``needed`` by the detector, scaled as the whole image would be
    or, when ``fine`` and the region allows it (a :class:`Region` may not), as finely as the whole image's pixel
    budget allows the fine ones together, counted over every region (see the module doc; too small regions
    left out)."""
    if regions is None:
        return [_View(image)]
    height, width = image.shape[:2]
    factor = 1.0 if long_side is None else min(1.0, long_side / max(height, width))
    crops = []
    for region in regions:
        if isinstance(region, Region) and region.inner and not fine:
            continue
        x1, y1, x2, y2 = (int(v) for v in region.clipped(width, height).as_list())
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            crops.append(((x1, y1, x2, y2), fine and (not isinstance(region, Region) or region.fine), needed(region)))
    fine_area = sum((x2 - x1) * (y2 - y1) for (x1, y1, x2, y2), finer, _ in crops if finer)
    fine_factor = factor
    if fine_area:
        finer_by = min(FINE_REGIONS_MAX, float(np.sqrt(FINE_REGIONS_BUDGET * width * height / fine_area)))
        fine_factor = min(1.0, factor * max(1.0, finer_by))
    views = []
    for (x1, y1, x2, y2), finer, wanted in crops:
        if not wanted:
            continue
        crop, crop_factor = image[y1:y2, x1:x2], fine_factor if finer else factor
        if crop_factor < 1.0:
            size = (max(1, round((x2 - x1) * crop_factor)), max(1, round((y2 - y1) * crop_factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        scale = np.array([(x2 - x1) / crop.shape[1], (y2 - y1) / crop.shape[0]], np.float32)
        views.append(
            _View(
                crop,
                scale,
                np.array([x1, y1], np.float32),
                finer and crop_factor > factor,
                (x1, y1, x2, y2),
            )
        )
    return views


def _detect(
    detect: Detect,
    images: Sequence[np.ndarray],
    regions: Sequence[Sequence[Box] | None],
    long_side: int | None,
    fine: bool,
    needed: Callable[[Box], bool],
) -> list[list]:
    """Detections of each image (whole, or in those of its regions that are ``needed`` by the detector), from
    one ``detect`` over all their views; an object found in two overlapping views is kept once (:func:`_once`)."""
    views = [
        _views(image, image_regions, long_side, fine, needed)
        for image, image_regions in zip(images, regions, strict=True)
    ]
    inputs = [view.pixels for image_views in views for view in image_views]
    found = iter(detect(inputs) if inputs else [])
    results = []
    for image, image_views in zip(images, views, strict=True):
        height, width = image.shape[:2]
        ranked: list[tuple[FaceDetection | PlateDetection, int, tuple[bool, bool, float]]] = []
        for index, view in enumerate(image_views):
            in_view = next(found)
            if view.scale is None or view.origin is None or view.rect is None:
                ranked += [(d, index, (True, False, d.score)) for d in in_view]
                continue
            for d in (_placed(d, view.scale, view.origin, width, height) for d in in_view):
                ranked.append((d, index, (not _cut(d.box, view.rect, width, height), view.fine, d.score)))
        results.append(_once(ranked) if len(image_views) > 1 else [d for d, _, _ in ranked])
    return results


def _once(
    ranked: list[tuple[FaceDetection | PlateDetection, int, tuple[bool, bool, float]]],
) -> list[FaceDetection | PlateDetection]:
    """Detections (with their view and rank), but those that lie mostly (:data:`SAME_OBJECT_OVERLAP` of the
    smaller box) on one of a higher rank from another view: whole before cut by a view's edge, fine before
    coarse, surer first. In their order."""
    kept: list[tuple[FaceDetection | PlateDetection, int]] = []
    for found, view, _ in sorted(ranked, key=lambda item: item[2], reverse=True):
        if all(
            other_view == view or _overlap(found.box, other.box) <= SAME_OBJECT_OVERLAP for other, other_view in kept
        ):
            kept.append((found, view))
    ids = {id(found) for found, _ in kept}
    return [found for found, _, _ in ranked if id(found) in ids]


def _overlap(a: Box, b: Box) -> float:
    """The intersection of ``a`` and ``b`` as a share of the smaller one."""
    iw, ih = min(a.x2, b.x2) - max(a.x1, b.x1), min(a.y2, b.y2) - max(a.y1, b.y1)
    return 0.0 if iw <= 0 or ih <= 0 else iw * ih / max(min(a.area, b.area), 1e-6)


def _cut(box: Box, crop: tuple[int, int, int, int], width: int, height: int, within: float = 2.0) -> bool:
    """Whether ``box`` reaches an edge of ``crop`` that is not the image's (the object goes on beyond it)."""
    x1, y1, x2, y2 = crop
    return (
        (x1 > 0 and box.x1 <= x1 + within)
        or (y1 > 0 and box.y1 <= y1 + within)
        or (x2 < width and box.x2 >= x2 - within)
        or (y2 < height and box.y2 >= y2 - within)
    )


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
