"""Sightings as rows of the ``sightings`` table: its columns, the checks that turn a sighting into a row, and back."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from skynet.records import Box, FeedDetail, Origin, PlateText, Sighting, SightingKind, SightingSource
from skynet.store import plate_search
from skynet.store.checks import finite
from skynet.store.errors import InvalidSightingError

COLUMNS = (
    "camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, thumbnail_path, context_path, "
    "plate_text, plate_confidences, track_id, origin_kind, origin_file, origin_offset, latitude, longitude, source"
).split(", ")
SELECT = f"SELECT id, {', '.join(COLUMNS)} FROM sightings"
THUMB_AT, CONTEXT_AT = COLUMNS.index("thumbnail_path"), COLUMNS.index("context_path")  # in a row without id
PLATE_AT, SOURCE_AT = 1 + COLUMNS.index("plate_text"), 1 + COLUMNS.index("source")  # in a selected row
LATITUDE_AT = 1 + COLUMNS.index("latitude")  # in a selected row


@functools.lru_cache(maxsize=1024)
def _confidences_json(confidences: tuple[float, ...]) -> str:
    """A plate read's per-character confidences as stored (a checkpoint's reads share a few: one per length)."""
    return json.dumps([float(c) for c in confidences])


def live_key(sighting: Sighting) -> tuple | None:
    """A live sighting's idempotency key (camera, kind, track, start), or None (archive rows, no track)."""
    if sighting.origin.kind != "live" or sighting.track_id is None:
        return None
    return (sighting.camera_id, SightingKind(sighting.kind).value, int(sighting.track_id), float(sighting.first_seen))


def row_of(sighting: Sighting, positions: dict[str, tuple[float | None, float | None]]) -> list:
    """Validated column values of ``sighting`` (its embedding is checked by the face repository; that its camera
    exists, by the camera repository), with the position its camera has now (``positions``)."""
    finite("sighting times", sighting.first_seen, sighting.last_seen, sighting.best_time)
    finite("sighting quality", sighting.quality)
    finite("sighting box", *sighting.box.as_list())
    if sighting.first_seen > sighting.last_seen:
        raise InvalidSightingError("sighting first_seen is after last_seen")
    if sighting.origin.kind not in ("live", "archive"):
        raise InvalidSightingError(f"sighting origin must be 'live' or 'archive', got {sighting.origin.kind!r}")
    plate_text = confidences = None
    kind, source = SightingKind(sighting.kind), SightingSource(sighting.source)
    if (source is SightingSource.VIDEO) != (sighting.feed is None):
        raise InvalidSightingError("a sighting of an external feed (and only one) carries its feed record")
    if (kind is SightingKind.IDENTITY) != (source is SightingSource.REGISTRATION):
        raise InvalidSightingError("registrations (and only they) are sightings of an identity")
    if kind is SightingKind.FACE:
        if sighting.embedding is None or sighting.plate is not None:
            raise InvalidSightingError("a face sighting needs an embedding and no plate read")
    elif kind is SightingKind.IDENTITY:
        if sighting.feed is None or sighting.feed.identity is None or sighting.plate or sighting.embedding:
            raise InvalidSightingError("an identity sighting needs an identity key, no plate, no embedding")
    else:
        plate = sighting.plate
        plate_text = plate_search.clean(plate.text) if plate is not None else ""
        if plate is None or not plate_text:
            raise InvalidSightingError("a plate sighting needs a non-empty plate text")
        if sighting.embedding is not None:
            raise InvalidSightingError("a plate sighting cannot carry a face embedding")
        confidences = _confidences_json(tuple(plate.char_confidences))
    return [
        sighting.camera_id,
        kind.value,
        sighting.first_seen,
        sighting.last_seen,
        sighting.best_time,
        *sighting.box.as_list(),
        sighting.quality,
        sighting.thumbnail_path,
        sighting.context_path,
        plate_text,
        confidences,
        sighting.track_id,
        sighting.origin.kind,
        sighting.origin.file,
        sighting.origin.offset_s,
        *positions.get(sighting.camera_id, (None, None)),
        source.value,
    ]


def sighting_of(row: Sequence[Any], alternatives: list[tuple[str, float]], feed: FeedDetail | None) -> Sighting:
    """A sighting from its ``SELECT`` row, its alternative plate reads and feed detail."""
    plate = None
    if row[PLATE_AT] is not None:
        plate = PlateText(row[PLATE_AT], tuple(json.loads(row[PLATE_AT + 1])), alternatives=tuple(alternatives))
    return Sighting(
        camera_id=row[1],
        kind=SightingKind(row[2]),
        first_seen=row[3],
        last_seen=row[4],
        best_time=row[5],
        box=Box(*row[6:10]),
        quality=row[10],
        thumbnail_path=row[11],
        context_path=row[12],
        plate=plate,
        track_id=row[15],
        origin=Origin(row[16], row[17], row[18]),
        id=row[0],
        position=None
        if row[LATITUDE_AT] is None or row[LATITUDE_AT + 1] is None
        else (row[LATITUDE_AT], row[LATITUDE_AT + 1]),
        source=SightingSource(row[SOURCE_AT]),
        feed=feed,
    )
