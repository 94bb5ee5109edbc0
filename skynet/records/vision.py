"""What the detectors see in one image: boxes, faces, plates, and the frame they come from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in image pixels, ``x2``/``y2`` exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def scaled(self, factor: float) -> Box:
        """The box with every coordinate multiplied by ``factor``."""
        return Box(self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor)

    def clipped(self, width: int, height: int) -> Box:
        """The box limited to an image of ``width`` x ``height``."""
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when either is empty)."""
        iw = min(self.x2, other.x2) - max(self.x1, other.x1)
        ih = min(self.y2, other.y2) - max(self.y1, other.y1)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)

    def overlaps_any(self, others: Iterable[Box]) -> bool:
        """Whether the box shares some area with any of ``others``."""
        return any(self.iou(other) > 0 for other in others)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


@dataclass(frozen=True, slots=True)
class Region(Box):
    """A box of an image to detect in, and whether the detectors may see it finer than the whole
    image (``fine``, the default for a plain :class:`Box`) or only at the whole image's scale;
    ``inner``: it lies in another region and is there only to be seen finer (left out where regions
    are not seen finer); ``faces`` / ``plates``: which detectors it needs (a plain :class:`Box`: both;
    a region there only for a live plate track needs the plate detector alone; neither: it is not looked at
    on this frame, see :mod:`skynet.ingest.regions`); ``settled``: the box of a live track that more looks
    would tell little new (:meth:`~skynet.tracking.track.TrackAccumulator.steady`)."""

    fine: bool = True
    inner: bool = False
    faces: bool = True
    plates: bool = True
    settled: bool = False


def needs_faces(box: Box) -> bool:
    """Whether the face detector looks at ``box`` (a plain :class:`Box`: yes)."""
    return not isinstance(box, Region) or box.faces


def needs_plates(box: Box) -> bool:
    """Whether the plate detector looks at ``box`` (a plain :class:`Box`: yes)."""
    return not isinstance(box, Region) or box.plates


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """How useful a face crop is for recognition; ``score`` (0..1) ranks faces of one track.

    ``size``, ``sharpness``, ``frontalness`` and ``exposure`` are 0..1 each (see
    :mod:`skynet.detectors.face_quality`); ``plausible`` tells whether the landmarks lie as a face's do.
    """

    score: float
    size: float
    sharpness: float
    frontalness: float
    exposure: float = 1.0
    plausible: bool = True


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face: box, detector score, five landmarks and, once embedded, its embedding.

    ``landmarks`` is a (5, 2) float32 array in image pixels: left eye, right eye, nose tip,
    left mouth corner, right mouth corner (left/right as seen in the image).
    ``embedding`` is a (D,) float32 L2-normalised vector.
    """

    box: Box
    score: float
    landmarks: np.ndarray
    quality: FaceQuality | None = None
    embedding: np.ndarray | None = None

    def with_embedding(self, embedding: np.ndarray) -> FaceDetection:
        return replace(self, embedding=embedding)

    def with_quality(self, quality: FaceQuality) -> FaceDetection:
        return replace(self, quality=quality)


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """Which plate format a text matches (``kind`` such as ``blue``, ``new_energy``, ``police``)."""

    region: str
    kind: str | None
    valid: bool
    confidence: float


@dataclass(frozen=True, slots=True)
class PlateText:
    """A plate reading: the text, one confidence per character, and alternative reads."""

    text: str
    char_confidences: tuple[float, ...]
    format: PlateFormat | None = None
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def confidence(self) -> float:
        """Confidence of the whole read: the weakest character's confidence."""
        return min(self.char_confidences) if self.char_confidences else 0.0


@dataclass(frozen=True, slots=True)
class PlateDetection:
    """One plate: box, detector score, four corners and, once read, its text.

    ``corners`` is a (4, 2) float32 array in image pixels, clockwise from the top-left
    corner: left-top, right-top, right-bottom, left-bottom.
    """

    box: Box
    score: float
    corners: np.ndarray
    read: PlateText | None = None

    def with_read(self, read: PlateText) -> PlateDetection:
        return replace(self, read=read)


@dataclass(slots=True)
class Detections:
    """Everything found in one image: faces, plates, and the model time each stage took."""

    image_width: int
    image_height: int
    faces: list[FaceDetection] = field(default_factory=list)
    plates: list[PlateDetection] = field(default_factory=list)
    model_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_model_ms(self) -> float:
        return float(sum(self.model_ms.values()))


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded image with where and when it was captured.

    ``image`` is BGR uint8 (H, W, 3); ``timestamp`` is Unix seconds (wall clock at capture for
    live streams, file start + presentation time for archives).
    """

    image: np.ndarray
    camera_id: str | None = None
    timestamp: float = 0.0
    index: int = 0
