"""Cameras: list, create, update, delete, status. Source URLs are write-only (returned redacted) and must be
inside the camera allow-list (:mod:`skynet.ingest.source_policy`); why a camera cannot be read is told in
detail only to admins (to others it would make the server a port scanner)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import Permission, User
from skynet.api.annotate import annotate, jpeg
from skynet.api.schemas import CameraIn, CameraOut, CameraStatusOut, CameraUpdate, ErrorBody
from skynet.api.services import Services
from skynet.errors import ConflictError, NotFoundError, UnusableInputError
from skynet.ingest.diagnose import ca_file_problem
from skynet.ingest.source_policy import SourceNotAllowedError, SourcePolicy
from skynet.records import Camera, Detections, Frame
from skynet.redaction import redact_url
from skynet.store.errors import CameraInUseError

BOUNDARY = "skynetframe"
CameraId = Annotated[str, PathParam(min_length=1, max_length=100)]


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["cameras"], responses={c: {"model": ErrorBody} for c in (401, 403, 404, 409, 422)})
    viewer = services.auth.require(Permission.VIEW_CAMERAS)
    manager = services.auth.require(Permission.MANAGE_CAMERAS)
    store = services.catalog.store
    policy = SourcePolicy.from_settings(services.settings)

    def find(camera_id: str) -> Camera:
        for camera in store.cameras.all():
            if camera.id == camera_id:
                return camera
        raise NotFoundError(f"no camera with id {camera_id!r}")

    def audit(user: User, action: str, camera: Camera, before: Camera | None = None) -> None:
        detail = {
            "camera": camera.id,
            "name": camera.name,
            "source": redact_url(camera.source_url),
            "tls_verify": camera.tls_verify,
            "tls_ca_file": camera.tls_ca_file,
        }
        services.audit(user, action, None, detail)
        if not camera.tls_verify and (before is None or before.tls_verify):
            services.audit(user, "camera.tls_verification_off", None, detail)

    def check_source(camera: Camera) -> None:
        try:
            policy.check(camera.source_url)
        except SourceNotAllowedError as error:
            raise SourceNotAllowedError(f"camera {camera.id}: {error.message}") from None

    def check_ca_file(camera: Camera) -> None:
        problem = ca_file_problem(camera.tls_ca_file) if camera.tls_ca_file is not None else None
        if problem is not None:
            raise UnusableInputError(f"camera {camera.id}: {problem}")

    @api.get("/api/cameras", response_model=list[CameraOut])
    def list_cameras(user: Annotated[User, Depends(viewer)]) -> list[CameraOut]:
        """Every camera (source URLs redacted)."""
        return [CameraOut.of(c) for c in store.cameras.all()]

    @api.post("/api/cameras", response_model=CameraOut, status_code=status.HTTP_201_CREATED)
    def create_camera(body: CameraIn, user: Annotated[User, Depends(manager)]) -> CameraOut:
        """Add a camera and start its worker."""
        if any(c.id == body.id for c in store.cameras.all()):
            raise ConflictError(f"camera {body.id!r} already exists", "use PATCH to change it")
        camera = Camera(
            body.id,
            body.name,
            body.source_url,
            body.latitude,
            body.longitude,
            tuple(body.tags),
            body.tls_verify,
            body.tls_ca_file,
        )
        check_source(camera)
        check_ca_file(camera)
        store.cameras.save(camera)
        audit(user, "camera.create", camera)
        if services.cameras is not None:
            services.cameras.start_camera(camera)
        return CameraOut.of(camera)

    @api.patch("/api/cameras/{camera_id}", response_model=CameraOut)
    def update_camera(camera_id: CameraId, body: CameraUpdate, user: Annotated[User, Depends(manager)]) -> CameraOut:
        """Change a camera's fields (``null`` clears the position or the CA file); its worker restarts with them."""
        before = find(camera_id)
        camera = replace(
            before,
            **{
                k: (tuple(v) if k == "tags" else v)
                for k, v in body.model_dump(exclude_unset=True).items()
                if v is not None or k in ("latitude", "longitude", "tls_ca_file")
            },
        )
        if "source_url" in body.model_fields_set:
            check_source(camera)
        if "tls_ca_file" in body.model_fields_set:
            check_ca_file(camera)
        store.cameras.save(camera)
        audit(user, "camera.update", camera, before)
        if services.cameras is not None:
            services.cameras.stop_camera(camera_id)
            services.cameras.start_camera(camera)
        return CameraOut.of(camera)

    @api.delete("/api/cameras/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_camera(camera_id: CameraId, user: Annotated[User, Depends(manager)]) -> Response:
        """Stop a camera's worker and remove it (refused, 409, while it still has sightings)."""
        camera = find(camera_id)
        if services.cameras is not None:
            services.cameras.stop_camera(camera_id)
        try:
            store.cameras.delete(camera_id)
        except CameraInUseError as error:  # stopped, but kept
            raise CameraInUseError(f"{error.message}; its worker is stopped", error.hint) from None
        audit(user, "camera.delete", camera)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/api/cameras/{camera_id}/status", response_model=CameraStatusOut)
    def camera_status(camera_id: CameraId, user: Annotated[User, Depends(viewer)]) -> CameraStatusOut:
        """The live worker's state, frame rates, last error (credential-free; the diagnosis for admins, one
        sentence per kind of failure for others)."""
        find(camera_id)
        current = services.cameras.status(camera_id) if services.cameras is not None else None
        if current is None:
            return CameraStatusOut(camera_id=camera_id, running=False)
        return CameraStatusOut(
            camera_id=camera_id,
            running=True,
            state=current.state.value,
            input_fps=current.input_fps,
            analysed_fps=current.analysed_fps,
            last_frame_time=current.last_frame_time,
            reconnects=current.reconnects,
            last_error=current.last_error if user.may(Permission.DIAGNOSE_CAMERAS) else current.problem,
            frames_read=current.frames_read,
            frames_analysed=current.frames_analysed,
            sightings=current.sightings,
        )

    def latest(camera_id: str) -> tuple[Frame, Detections] | None:
        find(camera_id)
        return services.cameras.last_analysed(camera_id) if services.cameras is not None else None

    @api.get(
        "/api/cameras/{camera_id}/snapshot", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
    )
    async def snapshot(camera_id: CameraId, user: Annotated[User, Depends(viewer)]) -> Response:
        """The latest analysed frame with boxes and labels (JPEG); 404 before the first one."""
        found = latest(camera_id)
        if found is None:
            raise NotFoundError(f"camera {camera_id!r} has no analysed frame yet")
        data = await run_in_threadpool(_annotated_jpeg, *found)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @api.get(
        "/api/cameras/{camera_id}/preview",
        response_class=StreamingResponse,
        responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
    )
    async def preview(
        camera_id: CameraId,
        user: Annotated[User, Depends(services.auth.require_stream(Permission.VIEW_CAMERAS))],
        fps: Annotated[float, Query(gt=0, le=10)] = 2.0,
        frames: Annotated[
            int | None,
            Query(ge=1, le=1_000_000, description=("Stop after this many frames (default: until the client leaves).")),
        ] = None,
    ) -> StreamingResponse:
        """A live MJPEG stream of annotated frames, one part per new analysed frame. Authenticated with the
        Authorization header, or (for an <img> tag) a ticket from POST /api/stream-tickets as ?ticket=."""
        latest(camera_id)  # 404 for an unknown camera before the stream starts
        if services.cameras is None:
            raise NotFoundError("this server runs no camera workers: no live preview")

        async def parts() -> AsyncIterator[bytes]:
            sent, last = 0, None
            while frames is None or sent < frames:
                found = latest(camera_id)
                if found is not None and found[0] is not last:
                    last = found[0]
                    data = await run_in_threadpool(_annotated_jpeg, *found)
                    yield (
                        (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode()
                        + data
                        + b"\r\n"
                    )
                    sent += 1
                await asyncio.sleep(1.0 / fps)

        return StreamingResponse(
            parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
        )

    return api


def _annotated_jpeg(frame: Frame, detections: Detections) -> bytes:
    return jpeg(annotate(frame.image, detections))
