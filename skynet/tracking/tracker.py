"""Per-camera tracking of faces and plates (norfair: Kalman-filtered boxes, IoU association).

Library choice: roboflow ``trackers`` (ByteTrack) and ``supervision`` releases that still ship
ByteTrack depend on non-headless ``opencv-python``; upstream ``norfair`` pins ``numpy<2``.
``norfair-enough``, the maintained norfair fork (numpy, scipy, rich only), is used: the same
tracking-by-detection class as ByteTrack (Kalman motion model + IoU assignment, lost tracks
kept for a while), and it carries each detection's payload through, which a sighting needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from norfair import Detection as NorfairDetection
from norfair import Tracker

from skynet.records import Detections, FaceDetection, Origin, PlateDetection, Sighting, SightingKind
from skynet.tracking.track import Embed, ImageOptions, Observation, TrackAccumulator

Published = tuple[Sighting, np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """Tracking settings. Times are seconds of frame time; ``analysis_fps`` converts them to
    the tracker's frame counts."""

    analysis_fps: float = 5.0
    lost_after_s: float = 2.0  # a track not matched for this long is finished
    segment_s: float = 30.0  # a longer track is published every segment_s, then goes on
    max_iou_distance: float = 0.8  # 1 - IoU above which a detection cannot join a track
    max_faces: int = 3  # best faces (by quality) whose embeddings are averaged
    images: ImageOptions = field(default_factory=ImageOptions)


@dataclass(frozen=True, slots=True)
class ArchiveClock:
    """For archive files: the file and its start, so sightings carry their offset in the file."""

    file: str
    start_time: float


class KindTracker:
    """One norfair tracker for one kind of object (faces or plates) of one camera."""

    def __init__(self, kind: SightingKind, options: TrackerOptions) -> None:
        self.kind = kind
        self.options = options
        hits = max(2, math.ceil(options.lost_after_s * options.analysis_fps))
        self._tracker = Tracker(distance_function="iou", distance_threshold=options.max_iou_distance,
                                hit_counter_max=hits, initialization_delay=0)
        self._tracks: dict[int, TrackAccumulator] = {}

    def update(self, detections: Sequence[FaceDetection | PlateDetection], timestamp: float,
               image: np.ndarray) -> list[TrackAccumulator]:
        """Feed one analysed frame; returns the tracks (or long-track segments) that finished."""
        observations = [Observation(timestamp, det) for det in detections if det.box.area > 0]
        self._tracker.update([_to_norfair(o) for o in observations] or None)
        matched_now = {id(o) for o in observations}
        alive = set()
        for obj in self._tracker.tracked_objects:
            key = obj.initializing_id
            alive.add(key)
            observation = obj.last_detection.data
            if id(observation) not in matched_now:
                continue  # not matched in this frame
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = TrackAccumulator(self.kind, key, self.options.images,
                                                             self.options.max_faces)
            track.add(observation, image)
        finished = [self._tracks.pop(key) for key in list(self._tracks) if key not in alive]
        finished += self._expire(timestamp)
        return finished + self._split_long(timestamp)

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
            self._tracker.tracked_objects = [o for o in self._tracker.tracked_objects
                                             if o.initializing_id not in stale]
        return [self._tracks.pop(key) for key in stale]

    def _split_long(self, timestamp: float) -> list[TrackAccumulator]:
        done = []
        for key, track in self._tracks.items():
            if track.first_seen is not None and timestamp - track.first_seen >= self.options.segment_s:
                done.append(track)
                self._tracks[key] = TrackAccumulator(self.kind, key, self.options.images, self.options.max_faces)
        return done


class CameraTracker:
    """Faces and plates of one camera, tracked separately, turned into sightings."""

    def __init__(self, camera_id: str, options: TrackerOptions | None = None,
                 archive: ArchiveClock | None = None, embed: Embed | None = None) -> None:
        self.camera_id = camera_id
        self.options = options or TrackerOptions()
        self.archive = archive
        self.embed = embed
        self._faces = KindTracker(SightingKind.FACE, self.options)
        self._plates = KindTracker(SightingKind.PLATE, self.options)

    def update(self, detections: Detections, timestamp: float, image: np.ndarray) -> list[Published]:
        """Feed the detections of one analysed frame; returns the sightings that are finished."""
        return self._publish(self._faces.update(detections.faces, timestamp, image)
                             + self._plates.update(detections.plates, timestamp, image))

    def idle(self, timestamp: float) -> list[Published]:
        """A frame skipped by pacing: tracks unseen for too long are finished."""
        return self._publish(self._faces.idle(timestamp) + self._plates.idle(timestamp))

    def flush(self) -> list[Published]:
        """End of stream: every open track becomes a sighting."""
        return self._publish(self._faces.flush() + self._plates.flush())

    def _publish(self, tracks: list[TrackAccumulator]) -> list[Published]:
        out = []
        for track in tracks:
            made = track.sighting(self.camera_id, self._origin(track), self.embed)
            if made is not None:
                out.append(made)
        return out

    def _origin(self, track: TrackAccumulator) -> Origin:
        if self.archive is None:
            return Origin()
        first = track.first_seen if track.first_seen is not None else self.archive.start_time
        return Origin(kind="archive", file=self.archive.file, offset_s=max(0.0, first - self.archive.start_time))


def _to_norfair(observation: Observation) -> NorfairDetection:
    box = observation.box
    return NorfairDetection(points=np.array([[box.x1, box.y1], [box.x2, box.y2]], dtype=np.float64),
                            data=observation)
