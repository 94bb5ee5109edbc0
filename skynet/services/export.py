"""Evidence export: sightings chosen by id, or by a plate or face query (through the search service), as
one ZIP made as a stream — ``manifest.json`` (who, when, why, what was asked, a SHA-256 per file),
``sightings.csv``, ``thumbnails/`` and ``context/`` JPEGs and, when asked, ``trajectory.geojson`` (or, for an
analysis's sightings, ``analysis.json``: what it found). Every
export is audited before its first byte. Camera source URLs (which may hold credentials) are never
written; archive file names are redacted the same way."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from skynet import __version__
from skynet.accounts.model import User
from skynet.errors import NotFoundError
from skynet.records import Camera
from skynet.redaction import redact_url
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQueries
from skynet.services.search import Filters, SearchService
from skynet.services.sightings import Found, SightingService
from skynet.services.trajectory import TrajectoryService
from skynet.services.zipstream import Member, zip_chunks
from skynet.store.holds import HoldCause
from skynet.store.plates import PlateMode
from skynet.trajectory.build import position_of
from skynet.trajectory.geojson import to_geojson

CSV_COLUMNS = (
    "sighting_id",
    "kind",
    "camera_id",
    "camera_name",
    "latitude",
    "longitude",
    "first_seen_utc",
    "last_seen_utc",
    "best_time_utc",
    "best_time",
    "quality",
    "box_x1",
    "box_y1",
    "box_x2",
    "box_y2",
    "plate",
    "similarity",
    "plate_distance",
    "origin",
    "origin_file",
    "origin_offset_s",
    "thumbnail",
    "context",
)


@dataclass(frozen=True, slots=True)
class PlateSelection:
    """The sightings of a plate: ``text`` matched as ``mode`` says."""

    text: str
    mode: PlateMode = PlateMode.EXACT


@dataclass(frozen=True, slots=True)
class FaceSelection:
    """The sightings of the face of sighting ``sighting_id`` (threshold default: the watch-list's)."""

    sighting_id: int
    min_similarity: float | None = None


@dataclass(frozen=True, slots=True)
class ExportOrder:
    """What to export: exactly one of ``sighting_ids``, ``plate`` and ``face`` (``filters`` and ``limit``
    narrow the queries), with or without media and the trajectory. ``request`` is the request as it
    was made, recorded in the manifest and (without the reason) in the audit log."""

    reason: str
    request: dict[str, Any]
    sighting_ids: list[int] | None = None
    plate: PlateSelection | None = None
    face: FaceSelection | None = None
    filters: Filters = field(default_factory=Filters)
    limit: int = 1000
    media: bool = True
    trajectory: bool = False
    max_speed_kmh: float | None = None
    analysis: dict[str, Any] | None = None  # an analysis's result, written as analysis.json


@dataclass(frozen=True, slots=True)
class Export:
    """An export under way: its id (the ZIP's name without ``.zip``) and the ZIP's bytes, made as read."""

    export_id: str
    chunks: Iterator[bytes]


class ExportService:
    """Selects, audits and packs exports; media files come from the data directory one at a time."""

    def __init__(
        self,
        search: SearchService,
        trajectories: TrajectoryService,
        faces: FaceQueries,
        sightings: SightingService,
        auditor: Auditor,
        clock: Callable[[], float],
    ) -> None:
        self.search = search
        self.trajectories = trajectories
        self.faces = faces
        self.sightings = sightings
        self.auditor = auditor
        self.clock = clock

    def select(self, order: ExportOrder) -> list[Found]:
        """The sightings ``order`` asks for, oldest first: :class:`NotFoundError` for ids that do not exist,
        and the face query's errors for an unknown or non-face sighting."""
        filters = order.filters
        if order.sighting_ids is not None:
            ids = list(dict.fromkeys(order.sighting_ids))
            chosen = self.sightings.found(ids)
            known = {f.sighting.id for f in chosen}
            missing = [str(i) for i in ids if i not in known]
            if missing:
                raise NotFoundError(
                    f"no sightings with ids {', '.join(missing[:20])}"
                    + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
                )
        elif order.plate is not None:
            chosen = self.search.found_plates(
                self.search.plate_hits(order.plate.text, order.plate.mode, order.limit, filters)
            )
        else:
            assert order.face is not None  # an order holds exactly one selection
            embedding = self.faces.from_sighting(order.face.sighting_id)
            threshold = self.trajectories.threshold(order.face.min_similarity)
            chosen = self.search.found_faces(self.search.face_hits(embedding, order.limit, filters, threshold))
        return sorted(chosen, key=lambda f: (f.sighting.best_time, f.sighting.id or 0))

    def create(self, user: User, order: ExportOrder) -> Export:
        """Select, audit as ``export.create``, hold the exported sightings as evidence (no deletion removes
        them: :mod:`skynet.store.holds`), and start the ZIP (media are read as the chunks are taken)."""
        reason = self.auditor.reason(order.reason)
        selected = self.select(order)
        trajectory = None
        if order.trajectory:
            built = self.trajectories.build([f.sighting for f in selected], order.max_speed_kmh)
            trajectory = _json(to_geojson(built))
        now = self.clock()
        export_id = f"skynet-export-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        ids = [int(f.sighting.id or 0) for f in selected]
        self.auditor.record(
            user,
            "export.create",
            reason,
            {
                "export": export_id,
                "request": {k: v for k, v in order.request.items() if k != "reason"},
                "sightings": len(ids),
                "sighting_ids": ids,
            },
        )
        self.sightings.store.holds.hold(ids, HoldCause.EXPORT, export_id, user.name, now)
        head = {
            "export_id": export_id,
            "created_at": now,
            "created_at_utc": _utc(now),
            "created_by": user.name,
            "role": user.role.value,
            "reason": reason,
            "request": order.request,
            "software": f"skynet {__version__}",
        }
        return Export(export_id, zip_chunks(self._members(order, selected, trajectory, head)))

    def _members(
        self, order: ExportOrder, selected: list[Found], trajectory: bytes | None, head: dict[str, Any]
    ) -> Iterator[Member]:
        """The archive's files, media read one at a time; the manifest (with every file's hash) comes last."""
        files: list[dict[str, Any]] = []
        missing: list[str] = []

        def member(name: str, data: bytes, compress: bool = True) -> Member:
            files.append({"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            return Member(name, data, compress)

        store = self.sightings.store.media
        media: dict[str, str] = {}  # name in the archive -> media name in the store
        for chosen in selected if order.media else ():
            for folder, relative in (
                ("thumbnails", chosen.sighting.thumbnail_path),
                ("context", chosen.sighting.context_path),
            ):
                if relative and store.exists(relative):
                    media[f"{folder}/{chosen.sighting.id}.jpg"] = relative
        yield member("sightings.csv", _csv(selected, set(media)))
        if trajectory is not None:
            yield member("trajectory.geojson", trajectory)
        if order.analysis is not None:
            yield member("analysis.json", _json(order.analysis))
        for name, relative in media.items():
            data = store.read(relative)
            if data is None:  # deleted since (retention): the manifest says so
                missing.append(name)
                continue
            yield member(name, data, compress=False)  # JPEG: deflating gains nothing
        cameras = {f.sighting.camera_id: f.camera for f in selected}
        manifest = {
            **head,
            "sightings": len(selected),
            "sighting_ids": [f.sighting.id for f in selected],
            "cameras": [_camera(cameras[c], c) for c in sorted(cameras)],
            "files": files,
            "missing_media": missing,
        }
        yield Member("manifest.json", _json(manifest))


def _csv(selected: list[Found], media: set[str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for chosen in selected:
        s, camera = chosen.sighting, chosen.camera
        thumbnail, context = f"thumbnails/{s.id}.jpg", f"context/{s.id}.jpg"
        writer.writerow(
            [
                s.id,
                s.kind.value,
                s.camera_id,
                camera.name if camera else "",
                *(_blank(v) for v in (position_of(s, camera) or (None, None))),
                _utc(s.first_seen),
                _utc(s.last_seen),
                _utc(s.best_time),
                s.best_time,
                round(s.quality, 4),
                *(round(v, 1) for v in s.box.as_list()),
                s.plate.text if s.plate else "",
                _blank(chosen.similarity),
                _blank(chosen.plate_distance),
                s.origin.kind,
                redact_url(s.origin.file) if s.origin.file else "",
                _blank(s.origin.offset_s),
                thumbnail if thumbnail in media else "",
                context if context in media else "",
            ]
        )
    return text.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read the plates' Chinese right


def _camera(camera: Camera | None, camera_id: str) -> dict[str, Any]:
    """A camera as exported: never its source URL."""
    if camera is None:
        return {"id": camera_id, "name": None, "latitude": None, "longitude": None, "tags": []}
    return {
        "id": camera.id,
        "name": camera.name,
        "latitude": camera.latitude,
        "longitude": camera.longitude,
        "tags": list(camera.tags),
    }


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _blank(value: object) -> object:
    return "" if value is None else value


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")
