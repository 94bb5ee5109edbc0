"""Cameras: where sightings come from."""

from __future__ import annotations

import json

from skynet.records import Camera
from skynet.store.database import Database
from skynet.store.errors import CameraInUseError, InvalidSightingError, UnknownCameraError

_COLUMNS = "id, name, source_url, latitude, longitude, tags, tls_verify, tls_ca_file"


class CameraRepository:
    """The ``cameras`` table; known ids are cached, so checking a sighting's camera costs nothing."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: set[str] = {row[0] for row in db.execute("SELECT id FROM cameras")}

    def save(self, camera: Camera) -> None:
        """Add ``camera``, or update the camera with its id."""
        if not camera.id or not isinstance(camera.id, str):
            raise InvalidSightingError("a camera needs a non-empty id")
        with self.db.write("adding a camera"):
            self.db.execute(
                f"INSERT INTO cameras ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name, source_url = excluded.source_url, "
                "latitude = excluded.latitude, longitude = excluded.longitude, tags = excluded.tags, "
                "tls_verify = excluded.tls_verify, tls_ca_file = excluded.tls_ca_file",
                (
                    camera.id,
                    camera.name,
                    camera.source_url,
                    camera.latitude,
                    camera.longitude,
                    json.dumps(list(camera.tags), ensure_ascii=False),
                    bool(camera.tls_verify),
                    camera.tls_ca_file,
                ),
            )
        self._known.add(camera.id)

    def delete(self, camera_id: str) -> bool:
        """Remove a camera that has no sightings; ``False`` if there was none with that id."""
        with self.db.write("deleting a camera"):
            if self.db.execute("SELECT 1 FROM sightings WHERE camera_id = ? LIMIT 1", (camera_id,)).fetchone():
                raise CameraInUseError(
                    f"camera {camera_id!r} still has sightings and cannot be deleted",
                    "keep it (stopped), or delete its sightings by retention first",
                )
            deleted = self.db.execute("DELETE FROM cameras WHERE id = ?", (camera_id,)).rowcount > 0
        self._known.discard(camera_id)
        return deleted

    def all(self) -> list[Camera]:
        """Every camera, by id."""
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM cameras ORDER BY id")
        return [Camera(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), bool(r[6]), r[7]) for r in rows]

    def positions(self) -> dict[str, tuple[float | None, float | None]]:
        """Every camera's (latitude, longitude) now (None where it has none)."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, latitude, longitude FROM cameras")}

    def name(self, camera_id: str) -> str | None:
        """The name of camera ``camera_id``; None when there is none."""
        row = self.db.execute("SELECT name FROM cameras WHERE id = ?", (camera_id,)).fetchone()
        return None if row is None else row[0]

    def require(self, camera_id: str) -> None:
        """Refuse an unknown camera id (:class:`UnknownCameraError`)."""
        if camera_id in self._known:
            return
        if self.db.execute("SELECT 1 FROM cameras WHERE id = ?", (camera_id,)).fetchone():
            self._known.add(camera_id)
            return
        raise UnknownCameraError(f"unknown camera id {camera_id!r}", "add the camera first")
