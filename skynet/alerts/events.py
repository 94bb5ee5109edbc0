"""The events Skynet pushes out: one JSON document shape for the live stream, webhooks and MQTT.

Every event is ``{"type": ..., "at": <unix seconds>, "data": {...}}``. Sightings are summarised
(no embedding, no file paths), so nothing secret or bulky leaves; ``thumbnail_url`` is whatever link the
publisher gives (the API's live stream puts links made for each subscriber there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from skynet.records import Alert, Sighting, WatchlistEntry
from skynet.serialize import to_jsonable


class EventType(StrEnum):
    ALERT = "alert"
    SIGHTING = "sighting"
    CAMERA_STATUS = "camera_status"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event; ``data`` is JSON-ready."""

    type: EventType
    at: float
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"type": self.type.value, "at": self.at, "data": self.data}, separators=(",", ":"))

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")


def alert_event(
    alert: Alert,
    entry: WatchlistEntry,
    sighting: Sighting,
    thumbnail_url: str | None,
    *,
    updated: bool | None = None,
) -> LiveEvent:
    """An ``alert`` event: the alert, which watch-list entry matched (not its reason or case number,
    which stay in the audited API), and the sighting with its thumbnail URL. ``updated``: an alert
    already announced, now showing a better sighting of its pass or acknowledged (only the live view is told:
    ``acknowledged_by`` and ``acknowledged_at`` say by whom and when, null while it is open); by default
    whether the alert was updated since it was raised (a follower of the store announcing an alert it reads
    for the first time says False: its pass may have been folded into it already)."""
    data = {
        "alert_id": alert.id,
        "camera_id": alert.camera_id,
        "score": to_jsonable(alert.score),
        "updated": alert.updated_at is not None if updated is None else updated,
        "sightings": alert.sightings,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": to_jsonable(alert.acknowledged_at),
        "entry": {"id": entry.id, "kind": entry.kind.value, "label": entry.label},
        "sighting": sighting_summary(sighting, thumbnail_url),
    }
    return LiveEvent(EventType.ALERT, alert.created_at, data)


def sighting_event(sighting: Sighting, thumbnail_url: str | None, at: float) -> LiveEvent:
    """A ``sighting`` event for a newly stored sighting."""
    return LiveEvent(EventType.SIGHTING, at, sighting_summary(sighting, thumbnail_url))


def camera_status_event(status: object, at: float) -> LiveEvent:
    """A ``camera_status`` event from a status record (``skynet.ingest.status.CameraStatus``) or
    dict; record fields hidden from ``repr``, such as a camera's source URL, are left out."""
    return LiveEvent(EventType.CAMERA_STATUS, at, to_jsonable(status))


def sighting_summary(sighting: Sighting, thumbnail_url: str | None) -> dict[str, Any]:
    """What a subscriber needs to show a sighting."""
    plate = sighting.plate
    return {
        "id": sighting.id,
        "camera_id": sighting.camera_id,
        "kind": sighting.kind.value,
        "first_seen": sighting.first_seen,
        "last_seen": sighting.last_seen,
        "best_time": sighting.best_time,
        "quality": to_jsonable(sighting.quality),
        "box": to_jsonable(sighting.box.as_list()),
        "plate": None if plate is None else {"text": plate.text, "confidence": to_jsonable(plate.confidence)},
        "source": sighting.source.value,
        "identity": sighting.feed.identity.masked if sighting.feed and sighting.feed.identity else None,
        "thumbnail_url": thumbnail_url,
    }
