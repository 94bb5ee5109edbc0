"""Case exports: sightings chosen by id, or by a plate or face query, streamed back as one ZIP —
``manifest.json`` (who, when, why, what was asked, a SHA-256 per file), ``sightings.csv``,
``thumbnails/`` and ``context/`` JPEGs and, when asked, ``trajectory.geojson``. Every export is
audited before it is sent. Camera source URLs (which may hold credentials) are never written; archive
file names are redacted the same way."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import csv
import hashlib
import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from skynet import __version__
from skynet.accounts.model import Permission, User
from skynet.api.schemas import ErrorBody, ExportRequest
from skynet.api.services import Services
from skynet.api.sightings import media_file
from skynet.api.uploads import face_from_sighting
from skynet.api.zipstream import Member, zip_chunks
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Camera, Sighting
from skynet.redaction import redact_url
from skynet.trajectory import TrajectoryOptions, build_trajectory
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
class Selected:
    """A sighting to export and how well it matched the query (None: chosen by id)."""

    sighting: Sighting
    similarity: float | None = None
    plate_distance: float | None = None


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["exports"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 422)})
    searcher = services.auth.require(Permission.SEARCH)

    @api.post(
        "/api/exports",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": (
                    "The case file: manifest.json, sightings.csv, thumbnails/, context/, trajectory.geojson."
                ),
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    def create_export(body: ExportRequest, user: Annotated[User, Depends(searcher)]) -> StreamingResponse:
        """Export sightings for a case, as a ZIP streamed back; audited with the reason or case number."""
        selected = select(services, body)
        trajectory = _trajectory_geojson(services, body, selected) if body.trajectory else None
        now = services.clock()
        export_id = f"skynet-export-{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        ids = [int(s.sighting.id or 0) for s in selected]
        services.audit(
            user,
            "export.create",
            body.reason,
            {
                "export": export_id,
                "request": body.model_dump(mode="json", exclude={"reason"}),
                "sightings": len(ids),
                "sighting_ids": ids,
            },
        )
        head = {
            "export_id": export_id,
            "created_at": now,
            "created_at_utc": _utc(now),
            "created_by": user.name,
            "role": user.role.value,
            "reason": body.reason,
            "request": body.model_dump(mode="json"),
            "software": f"skynet {__version__}",
        }
        members = _members(services, body, selected, trajectory, head)
        return StreamingResponse(
            zip_chunks(members),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{export_id}.zip"'},
        )

    return api


def select(services: Services, body: ExportRequest) -> list[Selected]:
    """The sightings ``body`` asks for, oldest first: 404 for ids that do not exist, and the face query's
    404/422 for an unknown or non-face sighting."""
    store = services.catalog.store
    if body.sighting_ids is not None:
        ids = list(dict.fromkeys(body.sighting_ids))
        found = store.sightings.get_many(ids)
        known = {s.id for s in found}
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise NotFoundError(
                f"no sightings with ids {', '.join(missing[:20])}"
                + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            )
        chosen = [Selected(s) for s in found]
    elif body.plate is not None:
        hits = store.plates.search(
            body.plate.q, body.plate.mode, limit=body.limit, since=body.since, until=body.until, cameras=body.cameras
        )
        distances = {h.sighting_id: h.distance for h in hits}
        chosen = [Selected(s, plate_distance=distances[s.id]) for s in store.sightings.get_many(list(distances))]
    else:
        assert body.face is not None  # ExportRequest holds exactly one selection
        embedding = face_from_sighting(services, body.face.sighting_id)
        threshold = body.face.min_similarity
        hits = services.catalog.search_faces(
            embedding,
            body.limit,
            since=body.since,
            until=body.until,
            cameras=body.cameras,
            min_similarity=services.settings.watchlist_min_similarity if threshold is None else threshold,
        )
        similarities = {h.sighting_id: h.similarity for h in hits}
        chosen = [Selected(s, similarity=similarities[s.id]) for s in store.sightings.get_many(list(similarities))]
    return sorted(chosen, key=lambda s: (s.sighting.best_time, s.sighting.id or 0))


def _trajectory_geojson(services: Services, body: ExportRequest, selected: list[Selected]) -> bytes:
    options = TrajectoryOptions() if body.max_speed_kmh is None else TrajectoryOptions(max_speed_kmh=body.max_speed_kmh)
    try:
        trajectory = build_trajectory([s.sighting for s in selected], services.catalog.store.cameras.all(), options)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    return _json(to_geojson(trajectory))


def _members(
    services: Services, body: ExportRequest, selected: list[Selected], trajectory: bytes | None, head: dict[str, Any]
) -> Iterator[Member]:
    """The archive's files, media read one at a time; the manifest (with every file's hash) comes last."""
    cameras = {c.id: c for c in services.catalog.store.cameras.all()}
    files: list[dict[str, Any]] = []
    missing: list[str] = []

    def member(name: str, data: bytes, compress: bool = True) -> Member:
        files.append({"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        return Member(name, data, compress)

    media: dict[str, Path] = {}  # name in the archive -> file
    for chosen in selected if body.media else ():
        for folder, relative in (
            ("thumbnails", chosen.sighting.thumbnail_path),
            ("context", chosen.sighting.context_path),
        ):
            path = media_file(services.settings.data_dir, relative)
            if path is not None:
                media[f"{folder}/{chosen.sighting.id}.jpg"] = path
    yield member("sightings.csv", _csv(selected, cameras, set(media)))
    if trajectory is not None:
        yield member("trajectory.geojson", trajectory)
    for name, path in media.items():
        try:
            data = path.read_bytes()
        except OSError:  # deleted since (retention): the manifest says so
            missing.append(name)
            continue
        yield member(name, data, compress=False)  # JPEG: deflating gains nothing
    used = sorted({s.sighting.camera_id for s in selected})
    manifest = {
        **head,
        "sightings": len(selected),
        "sighting_ids": [s.sighting.id for s in selected],
        "cameras": [_camera(cameras.get(c), c) for c in used],
        "files": files,
        "missing_media": missing,
    }
    yield Member("manifest.json", _json(manifest))


def _csv(selected: list[Selected], cameras: dict[str, Camera], media: set[str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    for chosen in selected:
        s = chosen.sighting
        camera = cameras.get(s.camera_id)
        thumbnail, context = f"thumbnails/{s.id}.jpg", f"context/{s.id}.jpg"
        writer.writerow(
            [
                s.id,
                s.kind.value,
                s.camera_id,
                camera.name if camera else "",
                _blank(camera and camera.latitude),
                _blank(camera and camera.longitude),
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
