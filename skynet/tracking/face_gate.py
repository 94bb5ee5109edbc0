"""Which faces become sightings: gates on each view of a face track, and on the track as a whole.

A view is *usable* when its face is big enough, sharp enough, turned to the camera, well lit and
its landmarks lie as a face's do (measured by :mod:`skynet.detectors.face_quality`); only usable
views can be a track's best view or give its identity. A track becomes a sighting when it was seen
in enough analysed frames, has a usable view, and the face detector was sure enough of its best
usable views (the detector's own score, averaged over them: clothing, a back of a head or a dark
blob may reach the detector's threshold in one frame, not in several). Measurements and defaults:
README, "Which faces become sightings".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skynet.config import Settings
from skynet.records import FaceDetection

TRACK_SCORE_VIEWS = 3  # the detector scores of this many best usable views are averaged


@dataclass(frozen=True, slots=True)
class FaceGate:
    """Thresholds of the gates (``Settings.face_min_*``)."""

    min_px: float = 40.0
    min_sharpness: float = 0.1
    min_frontalness: float = 0.5
    min_exposure: float = 0.5
    min_frames: int = 2
    min_track_score: float = 0.6

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceGate:
        return cls(
            min_px=settings.face_min_px,
            min_sharpness=settings.face_min_sharpness,
            min_frontalness=settings.face_min_frontalness,
            min_exposure=settings.face_min_exposure,
            min_frames=settings.face_min_track_frames,
            min_track_score=settings.face_min_track_score,
        )

    def view_problem(self, face: FaceDetection) -> str | None:
        """Why ``face`` is no usable view, or None when it is (a face without measured quality is
        judged by its size alone)."""
        if min(face.box.width, face.box.height) < self.min_px:
            return "small"
        quality = face.quality
        if quality is None:
            return None
        if not quality.plausible:
            return "landmarks"
        if quality.frontalness < self.min_frontalness:
            return "pose"
        if quality.sharpness < self.min_sharpness:
            return "blur"
        if quality.exposure < self.min_exposure:
            return "exposure"
        return None

    def track_problem(self, frames: int, usable_scores: Sequence[float]) -> str | None:
        """Why a track seen in ``frames`` analysed frames, whose usable views had the detector scores
        ``usable_scores``, is no sighting; None when it is one."""
        if frames < self.min_frames:
            return "short"
        if not usable_scores:
            return "no usable view"
        best = sorted(usable_scores, reverse=True)[:TRACK_SCORE_VIEWS]
        if sum(best) / len(best) < self.min_track_score:
            return "not face-like"
        return None
