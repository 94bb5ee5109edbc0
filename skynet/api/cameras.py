"""Cameras: list, create, update, delete, status, snapshot and live preview (:mod:`skynet.services.cameras`).
Source URLs are write-only (returned redacted) and must be inside the camera allow-list."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import Permission, User
from skynet.api.camera_schemas import CameraIn, CameraOut, CameraStatusOut, CameraUpdate
from skynet.api.deps import AuthOf, camera_service, require, require_stream
from skynet.api.schemas import ErrorBody, Reason
from skynet.records import Camera
from skynet.services.annotate import annotated_jpeg
from skynet.services.cameras import CameraService

BOUNDARY = "skynetframe"
CameraId = Annotated[str, PathParam(min_length=1, max_length=100)]
Viewer = Annotated[User, Depends(require(Permission.VIEW_CAMERAS))]
Manager = Annotated[User, Depends(require(Permission.MANAGE_CAMERAS))]
Cameras = Annotated[CameraService, Depends(camera_service)]

router = APIRouter(tags=["cameras"], responses={c: {"model": ErrorBody} for c in (401, 403, 404, 409, 422)})


@router.get("/api/cameras", response_model=list[CameraOut])
def list_cameras(user: Viewer, cameras: Cameras) -> list[CameraOut]:
    """Every camera (source URLs redacted)."""
    return [CameraOut.of(c) for c in cameras.list()]


@router.post("/api/cameras", response_model=CameraOut, status_code=status.HTTP_201_CREATED)
def create_camera(body: CameraIn, user: Manager, cameras: Cameras) -> CameraOut:
    """Add a camera and start its worker; without ``source_url``, a camera without a stream (archive footage
    only, a checkpoint): a name and a position."""
    camera = Camera(
        body.id,
        body.name,
        body.source_url or "",
        body.latitude,
        body.longitude,
        tuple(body.tags),
        body.tls_verify,
        body.tls_ca_file,
    )
    return CameraOut.of(cameras.create(user, camera, body.reason))


@router.patch("/api/cameras/{camera_id}", response_model=CameraOut)
def update_camera(camera_id: CameraId, body: CameraUpdate, user: Manager, cameras: Cameras) -> CameraOut:
    """Change a camera's fields (``null`` clears the position or the CA file); its worker restarts with them.
    Audited with the reason and each field's old and new value; sightings stored before keep the position
    the camera had when they were seen."""
    changes = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason")
    return CameraOut.of(cameras.update(user, camera_id, changes, reason))


@router.delete("/api/cameras/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_camera(camera_id: CameraId, reason: Annotated[Reason, Query()], user: Manager, cameras: Cameras) -> Response:
    """Stop a camera's worker and remove it (refused, 409, while it still has sightings); audited with the reason."""
    cameras.delete(user, camera_id, reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/cameras/{camera_id}/status", response_model=CameraStatusOut)
def camera_status(camera_id: CameraId, user: Viewer, cameras: Cameras) -> CameraStatusOut:
    """The live worker's state, frame rates, last error (credential-free; the diagnosis for admins, one
    sentence per kind of failure for others)."""
    current = cameras.status(user, camera_id)
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
        last_error=current.last_error,
        frames_read=current.frames_read,
        frames_analysed=current.frames_analysed,
        sightings=current.sightings,
    )


@router.get(
    "/api/cameras/{camera_id}/snapshot", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
async def snapshot(camera_id: CameraId, user: Viewer, cameras: Cameras) -> Response:
    """The latest analysed frame with boxes and labels (JPEG); 404 before the first one."""
    data = await run_in_threadpool(cameras.snapshot, camera_id)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/api/cameras/{camera_id}/preview",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
async def preview(
    camera_id: CameraId,
    user: Annotated[User, Depends(require_stream(Permission.VIEW_CAMERAS))],
    cameras: Cameras,
    auth: AuthOf,
    fps: Annotated[float, Query(gt=0, le=10)] = 2.0,
    frames: Annotated[
        int | None,
        Query(ge=1, le=1_000_000, description=("Stop after this many frames (default: until the client leaves).")),
    ] = None,
) -> StreamingResponse:
    """A live MJPEG stream of annotated frames, one part per new analysed frame. Authenticated with the
    Authorization header, or (for an <img> tag) a ticket from POST /api/stream-tickets as ?ticket=. Ends
    when its token is revoked or expires, or its user is disabled or gets another role."""
    cameras.check_preview(camera_id)  # 404 for an unknown camera, or without camera workers, before the stream starts

    async def parts() -> AsyncIterator[bytes]:
        sent, last = 0, None
        with auth.streams.opened(user) as stream:
            while frames is None or sent < frames:
                found = cameras.latest(camera_id)
                if found is not None and found[0] is not last:
                    last = found[0]
                    data = await run_in_threadpool(annotated_jpeg, *found)
                    yield (
                        (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode()
                        + data
                        + b"\r\n"
                    )
                    sent += 1
                if await stream.ended(1.0 / fps) is not None:
                    return

    return StreamingResponse(
        parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
    )
