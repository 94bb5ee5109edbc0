"""Per-camera tracking of faces and plates (norfair: Kalman-filtered boxes, IoU association).

Library choice: roboflow ``trackers`` (ByteTrack) and ``supervision`` releases that still ship
ByteTrack depend on non-headless ``opencv-python``; upstream ``norfair`` pins ``numpy<2``.
``norfair-enough``, the maintained norfair fork (numpy, scipy, rich only), is used: the same
tracking-by-detection class as ByteTrack (Kalman motion model + IoU assignment, lost tracks
kept for a while), and it carries each detection's payload through, which a sighting needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from norfair import Detection as NorfairDetection
from norfair import Tracker
from norfair.distances import VectorizedDistance, iou
from norfair.filter import OptimizedKalmanFilterFactory

from skynet.records import (
    Box,
    Detections,
    FaceDetection,
    Origin,
    PlateDetection,
    Region,
    Sighting,
    SightingKind,
)
from skynet.tracking.face_gate import FaceGate
from skynet.tracking.track import (
    Embed,
    ImageOptions,
    Observation,
    Read,
    ReadOptions,
    TrackAccumulator,
)

Published = tuple[Sighting, np.ndarray, np.ndarray]
# Runs the making of finished tracks' sightings (face embedding included): at once, returning
# them, or elsewhere (returning nothing now) so analysis does not wait for the embeddings.
Defer = Callable[[Callable[[], list[Published]]], list[Published]]


def run_now(make: Callable[[], list[Published]]) -> list[Published]:
    """The default :data:`Defer`: make the sightings now and return them."""
    return make()


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """Tracking settings. Times are seconds of frame time; ``analysis_fps`` converts them to
    the tracker's frame counts."""

    analysis_fps: float = 5.0
    lost_after_s: float = 2.0  # a track not matched for this long is finished
    segment_s: float = 30.0  # a longer track is published every segment_s, then goes on
    # Live cameras: a track's first segment is published once it has been seen this long and its
    # plate reads agree, so a watch-list alert does not wait for the object to leave the view
    # (None: at segment_s).
    first_segment_s: float | None = None
    max_iou_distance: float = 0.8  # 1 - IoU (of the grown boxes) above which a detection cannot join a track
    match_reach: float = 1.0  # boxes are compared grown by this fraction of their size on every side
    speed_px: float = 100.0  # prior spread of speeds (pixels per analysed frame) of a new track
    max_faces: int = 3  # best usable faces (by quality) whose embeddings are averaged
    faces: FaceGate = field(default_factory=FaceGate)  # which faces become sightings
    images: ImageOptions = field(default_factory=ImageOptions)
    reads: ReadOptions = field(default_factory=ReadOptions)


@dataclass(frozen=True, slots=True)
class ArchiveClock:
    """For archive files: the file and its start, so sightings carry their offset in the file."""

    file: str
    start_time: float


class KindTracker:
    """One norfair tracker for one kind of object (faces or plates) of one camera."""

    def __init__(self, kind: SightingKind, options: TrackerOptions, read: Read | None = None) -> None:
        """``read`` reads plates detected without their text, only as often as each track
        needs (see :class:`~skynet.tracking.track.ReadOptions`)."""
        self.kind = kind
        self.options = options
        self.read = read
        hits = max(2, math.ceil(options.lost_after_s * options.analysis_fps))
        # At 5 fps a passing car's plate moves about its own width between analysed frames: plain
        # IoU would be 0 before the Kalman filter has learnt the speed (which, with norfair's
        # default prior of about 1 px per frame, takes many frames). Boxes grown by
        # ``match_reach`` still overlap, the nearest track still wins, and a wide speed prior
        # lets the filter follow from the second frame.
        self._tracker = Tracker(
            distance_function="iou",
            distance_threshold=options.max_iou_distance,
            hit_counter_max=hits,
            initialization_delay=0,
            filter_factory=OptimizedKalmanFilterFactory(vel_variance=options.speed_px**2),
        )
        reach = options.match_reach
        self._tracker.distance_function = VectorizedDistance(lambda a, b: iou(_grown(a, reach), _grown(b, reach)))
        self._tracks: dict[int, TrackAccumulator] = {}
        self._continued: set[int] = set()  # tracks whose first segment is published

    def update(
        self,
        detections: Sequence[FaceDetection | PlateDetection],
        timestamp: float,
        image: np.ndarray,
        unlooked: Sequence[Box] = (),
    ) -> list[TrackAccumulator]:
        """Feed one analysed frame; returns the tracks (or long-track segments) that finished. A track that was
        where ``unlooked`` boxes lie (parts of the frame the detectors were not run on) and is not matched coasts
        on its motion estimate: that frame is no miss (it neither shortens nor ends the track)."""
        observations = [Observation(timestamp, det) for det in detections if det.box.area > 0]
        before = {id(obj): _box(obj.estimate) for obj in self._tracker.tracked_objects} if unlooked else {}
        self._tracker.update([_to_norfair(o) for o in observations] or None)
        matched_now = {id(o) for o in observations}
        if unlooked:
            for obj in self._tracker.tracked_objects:
                box = before.get(id(obj))
                if box is not None and id(obj.last_detection.data) not in matched_now and box.overlaps_any(unlooked):
                    obj.hit_counter = min(obj.hit_counter + 1, obj.hit_counter_max)  # undo norfair's miss
        alive = set()
        matched: list[tuple[TrackAccumulator, Observation]] = []
        for obj in self._tracker.tracked_objects:
            key = obj.initializing_id
            assert key is not None  # norfair gives every object one when it creates it
            alive.add(key)
            observation = obj.last_detection.data
            if id(observation) not in matched_now:
                continue  # not matched in this frame
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = self._accumulator(key)
            matched.append((track, observation))
        for track, observation in self._read_plates(matched, image):
            track.add(observation, image)
        finished = [self._tracks.pop(key) for key in list(self._tracks) if key not in alive]
        finished += self._expire(timestamp)
        return finished + self._split_long(timestamp)

    def _read_plates(
        self, matched: list[tuple[TrackAccumulator, Observation]], image: np.ndarray
    ) -> list[tuple[TrackAccumulator, Observation]]:
        """``matched`` with the unread plates that their tracks still need read (in one call)."""
        due = [
            (i, o.detection)
            for i, (track, o) in enumerate(matched)
            if isinstance(o.detection, PlateDetection)
            and o.detection.read is None
            and track.wants_read(o.detection, self.options.reads)
        ]
        if self.read is None or not due:
            return matched
        done = self.read(image, [plate for _, plate in due])
        out = list(matched)
        for (i, _), plate in zip(due, done, strict=True):
            out[i] = (matched[i][0], Observation(matched[i][1].timestamp, plate))
        return out

    def live_boxes(self) -> list[Region]:
        """Where the live tracks are expected now (the tracker's motion estimates), image pixels, each a region
        for this kind's detector only, ``settled`` when its track is steady (:meth:`TrackAccumulator.steady`: a
        look at it may be skipped, the track coasting on its estimate; an unmatched frame is no end of it)."""
        faces, plates = self.kind is SightingKind.FACE, self.kind is SightingKind.PLATE
        regions = []
        for obj in self._tracker.tracked_objects:
            x1, y1, x2, y2 = _box(obj.estimate).as_list()
            track = self._tracks.get(obj.initializing_id) if obj.initializing_id is not None else None
            steady = track is not None and track.steady(self.options.reads)
            regions.append(Region(x1, y1, x2, y2, faces=faces, plates=plates, settled=steady))
        return regions

    def idle(self, timestamp: float) -> list[TrackAccumulator]:
        """A frame that was not analysed (static scene): finish tracks unseen for ``lost_after_s``."""
        return self._expire(timestamp)

    def flush(self) -> list[TrackAccumulator]:
        """End of stream: every open track is finished."""
        finished = list(self._tracks.values())
        self._tracks.clear()
        self._tracker.tracked_objects = []
        return finished

    def _expire(self, timestamp: float) -> list[TrackAccumulator]:
        stale = [key for key, t in self._tracks.items() if timestamp - t.last_seen > self.options.lost_after_s]
        if stale:
            self._tracker.tracked_objects = [o for o in self._tracker.tracked_objects if o.initializing_id not in stale]
        return [self._tracks.pop(key) for key in stale]

    def _split_long(self, timestamp: float) -> list[TrackAccumulator]:
        self._continued &= self._tracks.keys()
        first = self.options.first_segment_s
        done = []
        for key, track in self._tracks.items():
            if track.first_seen is None:
                continue
            age = timestamp - track.first_seen
            early = (
                first is not None and key not in self._continued and age >= first and track.settled(self.options.reads)
            )
            if early or age >= self.options.segment_s:
                done.append(track)
                self._continued.add(key)
                self._tracks[key] = self._accumulator(key, frames_before=track.frames)
        return done

    def _accumulator(self, key: int, frames_before: int = 0) -> TrackAccumulator:
        options = self.options
        return TrackAccumulator(self.kind, key, options.images, options.max_faces, options.faces, frames_before)


class CameraTracker:
    """Faces and plates of one camera, tracked separately, turned into sightings."""

    def __init__(
        self,
        camera_id: str,
        options: TrackerOptions | None = None,
        archive: ArchiveClock | None = None,
        embed: Embed | None = None,
        read: Read | None = None,
        defer: Defer = run_now,
    ) -> None:
        """``embed`` embeds the best faces of tracks analysed without embeddings; ``read`` reads
        plates analysed without reading, as often as each track needs; ``defer`` runs the making
        of sightings (see :data:`Defer`)."""
        self.camera_id = camera_id
        self.options = options or TrackerOptions()
        self.archive = archive
        self.embed = embed
        self.defer = defer
        self._faces = KindTracker(SightingKind.FACE, self.options)
        self._plates = KindTracker(SightingKind.PLATE, self.options, read)

    def update(
        self, detections: Detections, timestamp: float, image: np.ndarray, unlooked: Sequence[Box] = ()
    ) -> list[Published]:
        """Feed the detections of one analysed frame; returns the sightings that are finished. Tracks in the
        ``unlooked`` boxes (not looked at on this frame) coast, unmatched but not missed."""
        return self._publish(
            self._faces.update(detections.faces, timestamp, image, unlooked)
            + self._plates.update(detections.plates, timestamp, image, unlooked)
        )

    def live_boxes(self) -> list[Region]:
        """Where this camera's live face and plate tracks are expected now, image pixels (each a region for
        its own kind's detector)."""
        return self._faces.live_boxes() + self._plates.live_boxes()

    def idle(self, timestamp: float) -> list[Published]:
        """A frame skipped by pacing: tracks unseen for too long are finished."""
        return self._publish(self._faces.idle(timestamp) + self._plates.idle(timestamp))

    def flush(self) -> list[Published]:
        """End of stream: every open track becomes a sighting."""
        return self._publish(self._faces.flush() + self._plates.flush())

    def _publish(self, tracks: list[TrackAccumulator]) -> list[Published]:
        if not tracks:
            return []
        origins = [(track, self._origin(track)) for track in tracks]

        def make() -> list[Published]:
            made = (track.sighting(self.camera_id, origin, self.embed) for track, origin in origins)
            return [m for m in made if m is not None]

        return self.defer(make)

    def _origin(self, track: TrackAccumulator) -> Origin:
        if self.archive is None:
            return Origin()
        first = track.first_seen if track.first_seen is not None else self.archive.start_time
        return Origin(kind="archive", file=self.archive.file, offset_s=max(0.0, first - self.archive.start_time))


def _grown(boxes: np.ndarray, reach: float) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 boxes grown by ``reach`` times their width and height on every side."""
    size = np.abs(boxes[:, 2:] - boxes[:, :2]) * reach
    return np.hstack([boxes[:, :2] - size, boxes[:, 2:] + size])


def _box(estimate: np.ndarray) -> Box:
    """A norfair estimate (two corner points) as a box."""
    x1, y1, x2, y2 = (float(v) for v in estimate.ravel())
    return Box(x1, y1, x2, y2)


def _to_norfair(observation: Observation) -> NorfairDetection:
    box = observation.box
    return NorfairDetection(points=np.array([[box.x1, box.y1], [box.x2, box.y2]], dtype=np.float64), data=observation)
