"""One track's observations, reduced as they arrive to what its sighting needs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from skynet.records import (
    Box,
    FaceDetection,
    Origin,
    PlateDetection,
    PlateText,
    Sighting,
    SightingKind,
)
from skynet.tracking.face_gate import FaceGate
from skynet.tracking.fusion import fuse_embeddings, vote_plate

log = logging.getLogger(__name__)
Embed = Callable[[list[tuple[np.ndarray, FaceDetection]]], list[FaceDetection]]  # faces with their images, one batch
Read = Callable[[np.ndarray, list[PlateDetection]], list[PlateDetection]]
FACE_CROP_MARGIN = 0.5  # kept around a face not yet embedded, for the aligner's context
FAILED_READ_BELOW = 0.01  # a plate read this unsure found no text the plate format accepts (the CTC readers give 0)


@dataclass(frozen=True, slots=True)
class Observation:
    """A face or plate detection of one analysed frame."""

    timestamp: float
    detection: FaceDetection | PlateDetection

    @property
    def box(self) -> Box:
        return self.detection.box

    @property
    def quality(self) -> float:
        """How good a view this is: face quality score, or plate read confidence x detector score."""
        det = self.detection
        if isinstance(det, FaceDetection):
            return det.quality.score if det.quality is not None else det.score
        return det.score * (det.read.confidence if det.read is not None else 0.0)


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """How thumbnails and context frames are cut: margin around the box, context size limit."""

    thumbnail_margin: float = 0.25
    context_long_side: int = 1280


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """When a plate track analysed without plate reading reads its plate again (see
    :meth:`TrackAccumulator.wants_read`): until it has ``min_reads`` reads of the whole plate and
    the text they vote for is that of the latest and another read, one of them at least
    ``good_confidence`` (then the track is settled too), or when the plate looks ``closer`` times
    larger than in the largest view read so far.

    A track whose last ``backoff_after`` reads all failed (no text, or none the plate format accepts:
    confidence under :data:`FAILED_READ_BELOW`) is read less often: on every 2nd analysed frame, then
    every 4th, ... at most ``max_gap`` frames apart (1.6 s at 5 fps). A sign, a shop front or a
    texture taken for a plate would otherwise be read (tens of ms each, twice when unsure) on every
    analysed frame for as long as it is in view. A real plate that read badly is still read again,
    at once when it looks closer or, after failed reads of it cut by the image border, when it is
    first seen whole; one good read ends the back-off."""

    min_reads: int = 3
    good_confidence: float = 0.9
    closer: float = 1.5
    backoff_after: int = 3
    max_gap: int = 8


class TrackAccumulator:
    """Everything a sighting needs from one track (or one segment of a long track).

    Faces: only usable views (see :class:`~skynet.tracking.face_gate.FaceGate`) can be the best
    view or give the identity (the quality-weighted mean of the ``max_faces`` best), and the track
    must pass the gate's track checks to become a sighting. Plates: a view of the whole plate is
    always preferred to one cut by the image border, and the text is voted over the reads of whole
    views when there are any.
    """

    def __init__(
        self,
        kind: SightingKind,
        track_id: int,
        images: ImageOptions,
        max_faces: int = 3,
        gate: FaceGate | None = None,
        frames_before: int = 0,
    ) -> None:
        """``frames_before``: analysed frames the track was seen in before this segment."""
        self.kind = kind
        self.track_id = track_id
        self.images = images
        self.max_faces = max_faces
        self.gate = gate or FaceGate()
        self.first_seen: float | None = None
        self.last_seen = 0.0
        self.frames = frames_before  # analysed frames the track was seen in, earlier segments included
        self.unusable: Counter[str] = Counter()  # face views not used, by reason
        self._usable_scores: list[float] = []  # detector scores of the usable face views
        self._best: Observation | None = None
        self._best_rank: tuple[bool, float] | None = None
        self._thumbnail: np.ndarray | None = None
        self._frame: np.ndarray | None = None  # the best view's frame, shrunk to the context image at the end
        self._faces: list[tuple[float, FaceDetection, np.ndarray | None]] = []
        self._reads: list[PlateText] = []
        self._whole_reads: list[PlateText] = []  # reads of plates clear of the image border (not cut off)
        self._read_area = 0.0  # the largest plate box read so far
        self._failed_reads = 0  # reads that failed in a row, all of views cut by the border or all of whole ones
        self._failed_whole = False  # whether those were views of the whole plate
        self._unread_frames = 0  # plate views not read since the last read
        self._frame_shape: tuple[int, ...] = ()  # the analysed frames' shape

    def add(self, observation: Observation, image: np.ndarray) -> None:
        """Take in one observation made on ``image`` (the full analysed frame)."""
        if self.first_seen is None:
            self.first_seen = observation.timestamp
        self.last_seen = observation.timestamp
        self.frames += 1
        det = observation.detection
        rank: tuple[bool, float] | None = (True, observation.quality)  # the best view has the highest rank
        if isinstance(det, FaceDetection):
            problem = self.gate.view_problem(det)
            if problem is None:
                self._usable_scores.append(det.score)
                self._faces.append((observation.quality, *face_to_keep(det, image)))
                self._faces.sort(key=lambda entry: -entry[0])
                del self._faces[self.max_faces :]
            else:
                self.unusable[problem] += 1
                rank = None
        else:
            self._frame_shape = image.shape
            whole = _clear_of_border(det.box, image.shape)
            rank = (whole, observation.quality)
            if det.read is None:
                self._unread_frames += 1
            else:
                self._unread_frames = 0
                self._read_area = max(self._read_area, det.box.area)
                self._count_failure(det.read, whole)
                if det.read.text:
                    self._reads.append(det.read)
                    if whole:
                        self._whole_reads.append(det.read)
        if rank is not None and (self._best_rank is None or rank > self._best_rank):
            self._best, self._best_rank = observation, rank
            self._thumbnail = crop(image, observation.box, self.images.thumbnail_margin)
            self._frame = image  # frames are never written to: keeping a reference is safe and free

    def wants_read(self, plate: PlateDetection, options: ReadOptions) -> bool:
        """Whether this plate track needs ``plate`` (not yet read) to be read (see :class:`ReadOptions`;
        only reads of plates clear of the image border count towards ``min_reads``)."""
        if plate.box.area >= options.closer * self._read_area:
            return True
        if self._failed_reads >= options.backoff_after:
            if not self._failed_whole and _clear_of_border(plate.box, self._frame_shape):
                return True  # the failed reads were of the plate cut off: now it is in view whole
            gap = min(2 ** (self._failed_reads - options.backoff_after + 1), options.max_gap)
            return self._unread_frames + 1 >= gap
        return len(self._whole_reads) < options.min_reads or not self._reads_agree(options)

    def _count_failure(self, read: PlateText, whole: bool) -> None:
        """Count ``read`` (of a view of the whole plate or not) in the run of failed reads, or end the run."""
        if read.text and read.confidence >= FAILED_READ_BELOW:
            self._failed_reads = 0
        elif self._failed_reads and self._failed_whole == whole:
            self._failed_reads += 1
        else:
            self._failed_reads, self._failed_whole = 1, whole

    def settled(self, options: ReadOptions) -> bool:
        """Whether an early sighting of this track would already say what it is: a face track
        once it passes the face gate's track checks; a plate track once its reads agree (see
        :meth:`_reads_agree`), which they do whenever :meth:`wants_read` reads it no more (else its
        early sighting would wait until the track ends)."""
        if self.kind is SightingKind.FACE:
            return self.face_problem() is None
        return self._reads_agree(options)

    def steady(self, options: ReadOptions) -> bool:
        """Whether more looks at this track would tell little new, so it may be looked at less often: a plate
        track once its reads agree (it is read no more unless it looks closer); a face track once it passes the
        face gate's track checks and has its ``max_faces`` usable views, whose embeddings make its identity."""
        return self.settled(options) and (self.kind is not SightingKind.FACE or len(self._faces) >= self.max_faces)

    def _reads_agree(self, options: ReadOptions) -> bool:
        """Whether the text the reads of the whole plate (clear of the image border: a plate entering the view
        is read cut off) vote for (:func:`vote_plate`, the sighting's text) is that of the latest of them and of
        another one, one of these at least ``good_confidence``: the early sighting says what the reads agree
        on, not a text the latest read is voting out."""
        whole = self._whole_reads
        if len(whole) < 2:
            return False
        voted = vote_plate(whole).text
        agreeing = [r.confidence for r in whole if r.text == voted]
        return whole[-1].text == voted and len(agreeing) >= 2 and max(agreeing) >= options.good_confidence

    def face_problem(self) -> str | None:
        """Why this face track is no sighting (see :meth:`FaceGate.track_problem`), or None."""
        return self.gate.track_problem(self.frames, self._usable_scores)

    def sighting(
        self, camera_id: str, origin: Origin, embed: Embed | None = None
    ) -> tuple[Sighting, np.ndarray, np.ndarray] | None:
        """The track's sighting and images; ``None`` when it has nothing to search by
        (a face that cannot be embedded, a plate never read). Faces analysed without an
        embedding are embedded now with ``embed`` (only the track's best few)."""
        problem = self.face_problem() if self.kind is SightingKind.FACE else None
        if problem is not None:
            log.debug(
                "camera %s: face track %d is no sighting: %s (%d frames; views not used: %s)",
                camera_id,
                self.track_id,
                problem,
                self.frames,
                dict(self.unusable),
            )
            return None
        best = self._best
        if best is None or self.first_seen is None or self._thumbnail is None or self._frame is None:
            return None
        embedding = plate = None
        if self.kind is SightingKind.FACE:
            embedded = _embedded(self._faces, embed)
            if not embedded:
                return None
            embedding = fuse_embeddings([e for _, e in embedded], [q for q, _ in embedded])
        else:
            if not self._reads:
                return None
            plate = vote_plate(self._whole_reads or self._reads)
        sighting = Sighting(
            camera_id=camera_id,
            kind=self.kind,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            best_time=best.timestamp,
            box=best.box,
            quality=best.quality,
            embedding=embedding,
            plate=plate,
            track_id=self.track_id,
            origin=origin,
        )
        return sighting, self._thumbnail, shrink(self._frame, self.images.context_long_side)


def _clear_of_border(box: Box, shape: tuple[int, ...], margin: float = 2.0) -> bool:
    """Whether ``box`` keeps ``margin`` pixels from every edge of an image of ``shape``."""
    height, width = shape[:2]
    return box.x1 >= margin and box.y1 >= margin and box.x2 <= width - margin and box.y2 <= height - margin


def face_to_keep(face: FaceDetection, image: np.ndarray) -> tuple[FaceDetection, np.ndarray | None]:
    """An embedded face as it is; otherwise the face moved into a crop of the frame around it, and
    that crop (so the frame itself need not be kept until the track ends)."""
    if face.embedding is not None:
        return face, None
    chip, (left, top) = crop_with_origin(image, face.box, FACE_CROP_MARGIN)
    box = Box(face.box.x1 - left, face.box.y1 - top, face.box.x2 - left, face.box.y2 - top)
    return replace(face, box=box, landmarks=face.landmarks - np.array([left, top], np.float32)), chip


def _embedded(
    faces: list[tuple[float, FaceDetection, np.ndarray | None]], embed: Embed | None
) -> list[tuple[float, np.ndarray]]:
    """(quality, embedding) of each kept face that has an embedding or can get one: those kept in their
    crops are embedded now, all in one ``embed`` call (one batch through the network)."""
    pending = [(chip, face) for _, face, chip in faces if face.embedding is None and chip is not None]
    done = iter(embed(pending) if pending and embed is not None else [])
    embedded = []
    for quality, face, chip in faces:
        if face.embedding is None and chip is not None:
            face = next(done, face)
        if face.embedding is not None:
            embedded.append((quality, face.embedding))
    return embedded


def crop(image: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """A copy of ``box`` grown by ``margin`` of its size on every side, clipped to the image."""
    return crop_with_origin(image, box, margin)[0]


def crop_with_origin(image: np.ndarray, box: Box, margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`crop`, with the crop's top-left corner in the image."""
    height, width = image.shape[:2]
    grow_x, grow_y = box.width * margin, box.height * margin
    grown = Box(box.x1 - grow_x, box.y1 - grow_y, box.x2 + grow_x, box.y2 + grow_y).clipped(width, height)
    x1, y1 = min(int(grown.x1), width - 1), min(int(grown.y1), height - 1)
    x2, y2 = max(x1 + 1, int(np.ceil(grown.x2))), max(y1 + 1, int(np.ceil(grown.y2)))
    return image[y1 : min(y2, height), x1 : min(x2, width)].copy(), (x1, y1)


def shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    """A copy of ``image`` scaled down so its long side is at most ``long_side``."""
    scale = long_side / max(image.shape[:2])
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
