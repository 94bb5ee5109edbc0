"""Cameras: created, changed and deleted (each change audited, the running worker started, restarted or
stopped with it), their live status and their latest analysed frame with its detections drawn on.

Source URLs must be inside the camera allow-list (:mod:`skynet.ingest.source_policy`); why a camera
cannot be read is told in detail only to those who may diagnose cameras (to others it would make the
server a port scanner)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from skynet.accounts.model import Permission, User
from skynet.alerts import LiveHub, camera_status_event
from skynet.errors import ConflictError, NotFoundError, UnusableInputError
from skynet.ingest.diagnose import ca_file_problem
from skynet.ingest.source_policy import SourceNotAllowedError, SourcePolicy
from skynet.ingest.status import CameraStatus
from skynet.records import Camera, Detections, Frame
from skynet.redaction import redact_url
from skynet.services.annotate import annotated_jpeg
from skynet.services.audit import Auditor
from skynet.store import Store
from skynet.store.errors import CameraInUseError

STATUS_EVERY_S = 2.0
"""How often the running cameras' statuses go out on the live stream."""

CLEARABLE = ("latitude", "longitude", "tls_ca_file")
"""The fields a change may clear (set to None)."""


class CameraControl(Protocol):
    """The running camera workers, as the camera use cases drive them (:class:`skynet.ingest.cameras.CameraSet`)."""

    def start_camera(self, camera: Camera) -> None:
        """Start (or restart, when already running) the worker of ``camera``."""
        ...

    def stop_camera(self, camera_id: str) -> None:
        """Stop the worker of ``camera_id`` if it runs."""
        ...

    def status(self, camera_id: str) -> CameraStatus | None:
        """The worker's status, or None when the camera has no running worker."""
        ...

    def last_analysed(self, camera_id: str) -> tuple[Frame, Detections] | None:
        """The worker's latest analysed frame and its detections (``CameraWorker.last_analysed``)."""
        ...


class CameraService:
    """The cameras of ``store``; ``control`` runs their workers (None: changes are only stored)."""

    def __init__(self, store: Store, auditor: Auditor, policy: SourcePolicy, control: CameraControl | None) -> None:
        self.store = store
        self.auditor = auditor
        self.policy = policy
        self.control = control

    def list(self) -> list[Camera]:
        """Every camera."""
        return self.store.cameras.all()

    def get(self, camera_id: str) -> Camera:
        """Camera ``camera_id``; :class:`NotFoundError` if there is none."""
        for camera in self.store.cameras.all():
            if camera.id == camera_id:
                return camera
        raise NotFoundError(f"no camera with id {camera_id!r}")

    def create(self, user: User | str, camera: Camera, reason: str) -> Camera:
        """Add a camera and start its worker, audited with ``reason``; a camera without a stream (``source_url``
        "": archive footage only, or a checkpoint) is only stored."""
        reason = self.auditor.reason(reason)
        if any(c.id == camera.id for c in self.store.cameras.all()):
            raise ConflictError(f"camera {camera.id!r} already exists", "use PATCH to change it")
        if camera.live:
            self._check_source(camera)
        self._check_ca_file(camera)
        self.store.cameras.save(camera)
        self._audit(user, "camera.create", reason, camera)
        if self.control is not None and camera.live:
            self.control.start_camera(camera)
        return camera

    def update(self, user: User, camera_id: str, changes: Mapping[str, Any], reason: str) -> Camera:
        """Change the fields in ``changes`` (None clears the position, the CA file or the source: the camera
        has no stream then; other fields stay); the worker restarts with them. Audited with ``reason`` and each
        changed field's old and new value (a source URL redacted). Sightings stored before keep the position the
        camera had then."""
        reason = self.auditor.reason(reason)
        before = self.get(camera_id)
        if "source_url" in changes and changes["source_url"] is None:
            changes = {**changes, "source_url": ""}
        fields: dict[str, Any] = {
            k: (tuple(v) if k == "tags" else v) for k, v in changes.items() if v is not None or k in CLEARABLE
        }
        camera = replace(before, **fields)
        if "source_url" in changes and camera.live:
            self._check_source(camera)
        if "tls_ca_file" in changes:
            self._check_ca_file(camera)
        self.store.cameras.save(camera)
        self._audit(user, "camera.update", reason, camera, before)
        if self.control is not None:
            self.control.stop_camera(camera_id)
            if camera.live:
                self.control.start_camera(camera)
        return camera

    def delete(self, user: User, camera_id: str, reason: str) -> None:
        """Stop a camera's worker and remove it (:class:`CameraInUseError` while it still has sightings)."""
        reason = self.auditor.reason(reason)
        camera = self.get(camera_id)
        if self.control is not None:
            self.control.stop_camera(camera_id)
        try:
            self.store.cameras.delete(camera_id)
        except CameraInUseError as error:  # stopped, but kept
            raise CameraInUseError(f"{error.message}; its worker is stopped", error.hint) from None
        self._audit(user, "camera.delete", reason, camera)

    def status(self, user: User, camera_id: str) -> CameraStatus | None:
        """The live worker's status (None: not running), ``last_error`` the diagnosis for those who may
        diagnose cameras and one sentence per kind of failure for others."""
        self.get(camera_id)
        current = self.control.status(camera_id) if self.control is not None else None
        if current is None or user.may(Permission.DIAGNOSE_CAMERAS):
            return current
        return replace(current, last_error=current.problem)

    def latest(self, camera_id: str) -> tuple[Frame, Detections] | None:
        """The camera's latest analysed frame and its detections (None before the first or when no worker runs)."""
        self.get(camera_id)
        return self.control.last_analysed(camera_id) if self.control is not None else None

    def snapshot(self, camera_id: str) -> bytes:
        """The latest analysed frame with boxes and labels, as JPEG; :class:`NotFoundError` before the first."""
        found = self.latest(camera_id)
        if found is None:
            raise NotFoundError(f"camera {camera_id!r} has no analysed frame yet")
        return annotated_jpeg(*found)

    def check_preview(self, camera_id: str) -> None:
        """:class:`NotFoundError` unless camera ``camera_id`` exists and this server runs camera workers."""
        self.latest(camera_id)
        if self.control is None:
            raise NotFoundError("this server runs no camera workers: no live preview")

    def _audit(self, user: User | str, action: str, reason: str, camera: Camera, before: Camera | None = None) -> None:
        detail: dict[str, Any] = {
            "camera": camera.id,
            "name": camera.name,
            "source": redact_url(camera.source_url),
            "latitude": camera.latitude,
            "longitude": camera.longitude,
            "tls_verify": camera.tls_verify,
            "tls_ca_file": camera.tls_ca_file,
        }
        if before is not None:
            detail["changes"] = _changes(before, camera)
        self.auditor.record(user, action, reason, detail)
        if not camera.tls_verify and (before is None or before.tls_verify):
            self.auditor.record(user, "camera.tls_verification_off", reason, detail)

    def _check_source(self, camera: Camera) -> None:
        try:
            self.policy.check(camera.source_url)
        except SourceNotAllowedError as error:
            raise SourceNotAllowedError(f"camera {camera.id}: {error.message}") from None

    def _check_ca_file(self, camera: Camera) -> None:
        problem = ca_file_problem(camera.tls_ca_file) if camera.tls_ca_file is not None else None
        if problem is not None:
            raise UnusableInputError(f"camera {camera.id}: {problem}")


def _changes(before: Camera, after: Camera) -> dict[str, dict[str, Any]]:
    """Each field that differs: ``{"old": ..., "new": ...}`` (source URLs redacted, tags as lists)."""
    changed = {}
    for name in ("name", "source_url", "latitude", "longitude", "tags", "tls_verify", "tls_ca_file"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            if name == "source_url":
                old, new = redact_url(old), redact_url(new)
            elif name == "tags":
                old, new = list(old), list(new)
            changed["source" if name == "source_url" else name] = {"old": old, "new": new}
    return changed


class CameraStatuses(Protocol):
    def statuses(self) -> list[CameraStatus]: ...


def publish_statuses(
    cameras: CameraStatuses, hub: LiveHub, stop: threading.Event, every_s: float = STATUS_EVERY_S
) -> None:
    """Publish every running camera's status on ``hub`` every ``every_s`` until ``stop`` is set (a thread)."""
    while not stop.wait(every_s):
        now = time.time()
        for status in cameras.statuses():
            hub.publish(camera_status_event(status, now))
