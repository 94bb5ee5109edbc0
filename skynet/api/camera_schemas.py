"""Request and response bodies of the camera routes: a camera's settings (its source write-only) and its status."""

from __future__ import annotations

from pydantic import BaseModel, Field

from skynet.api.schemas import Reason, Strict
from skynet.records import Camera
from skynet.redaction import redact_url

TLS_VERIFY = (
    "https:// and rtsps:// sources: verify the camera's certificate (default). False trusts any certificate "
    "(only on a trusted network; audited)."
)
TLS_CA_FILE = (
    "https:// and rtsps:// sources: absolute path, on the server, of a PEM file with the camera's own "
    "certificate or its private CA's, trusted instead of the system's certificate authorities."
)


class CameraIn(Strict):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    source_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Write-only: never returned. Must be inside the camera allow-list (SKYNET_CAMERA_NETWORKS, "
        "SKYNET_CAMERA_SCHEMES, SKYNET_CAMERA_FILE_DIRS, SKYNET_CAMERA_DEVICES), else 422. Leave it out for a "
        "camera without a stream (archive footage only, a checkpoint): it is stored, nothing runs.",
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    tags: list[str] = Field(default_factory=list, max_length=50)
    tls_verify: bool = Field(default=True, description=TLS_VERIFY)
    tls_ca_file: str | None = Field(default=None, min_length=1, max_length=4096, description=TLS_CA_FILE)
    reason: Reason


class CameraUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    source_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Write-only; inside the camera allow-list. null: the camera has no stream from now on.",
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    tags: list[str] | None = Field(default=None, max_length=50)
    tls_verify: bool | None = Field(default=None, description=TLS_VERIFY)
    tls_ca_file: str | None = Field(default=None, min_length=1, max_length=4096, description=TLS_CA_FILE)
    reason: Reason


class CameraOut(BaseModel):
    id: str
    name: str
    source: str = Field(
        description="The source URL with its user-info, every query value, the fragment and the values of "
        "path parameters (;password=...) replaced by ***."
    )
    has_credentials: bool = Field(description="Whether anything of the source URL is hidden in `source`.")
    live: bool = Field(description="Whether the camera has a stream (archive-only cameras and checkpoints have none).")
    latitude: float | None
    longitude: float | None
    tags: list[str]
    tls_verify: bool = Field(description=TLS_VERIFY)
    tls_ca_file: str | None = Field(description=TLS_CA_FILE)

    @classmethod
    def of(cls, camera: Camera) -> CameraOut:
        redacted = redact_url(camera.source_url)
        return cls(
            id=camera.id,
            name=camera.name,
            source=redacted,
            has_credentials=redacted != camera.source_url,
            live=camera.live,
            latitude=camera.latitude,
            longitude=camera.longitude,
            tags=list(camera.tags),
            tls_verify=camera.tls_verify,
            tls_ca_file=camera.tls_ca_file,
        )


class CameraStatusOut(BaseModel):
    camera_id: str
    running: bool
    state: str | None = None
    input_fps: float | None = None
    analysed_fps: float | None = None
    last_frame_time: float | None = None
    reconnects: int | None = None
    last_error: str | None = Field(
        default=None,
        description="Why the camera cannot be read or analysed: the diagnosis for admins, one sentence that "
        "reveals nothing about the network for everyone else.",
    )
    frames_read: int | None = None
    frames_analysed: int | None = None
    sightings: int | None = None
