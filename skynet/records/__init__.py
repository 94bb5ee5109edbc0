"""Typed records shared by every stage (ingest -> detectors -> tracking -> store/index -> api).

Detections of one image travel together in :class:`Detections`, the one container every
stage passes on, in the spirit of ``supervision.Detections``. The records are grouped in one
module per subject; every stage imports them from here (``from skynet.records import Sighting``).
"""

from skynet.records.alerting import Alert, Channel, Delivery, DeliveryState, Recipient, WatchlistEntry
from skynet.records.observations import Observation, ObservationTable
from skynet.records.operations import AuditEvent, Job, JobState
from skynet.records.sightings import (
    Camera,
    FeedDetail,
    Identity,
    Origin,
    RegistrationPlace,
    Sighting,
    SightingKind,
    SightingSource,
)
from skynet.records.vision import (
    Box,
    Detections,
    FaceDetection,
    FaceQuality,
    Frame,
    PlateDetection,
    PlateFormat,
    PlateText,
    Region,
    needs_faces,
    needs_plates,
)

__all__ = [
    "Alert",
    "AuditEvent",
    "Box",
    "Camera",
    "Channel",
    "Delivery",
    "DeliveryState",
    "Detections",
    "FaceDetection",
    "FaceQuality",
    "FeedDetail",
    "Frame",
    "Identity",
    "Job",
    "JobState",
    "Observation",
    "ObservationTable",
    "Origin",
    "PlateDetection",
    "PlateFormat",
    "PlateText",
    "Recipient",
    "Region",
    "RegistrationPlace",
    "Sighting",
    "SightingKind",
    "SightingSource",
    "WatchlistEntry",
    "needs_faces",
    "needs_plates",
]
