"""Tracking faces and plates across frames, and turning finished tracks into sightings."""

from skynet.tracking.sink import SightingSink
from skynet.tracking.tracker import ArchiveClock, CameraTracker, TrackerOptions

__all__ = ["ArchiveClock", "CameraTracker", "SightingSink", "TrackerOptions"]
