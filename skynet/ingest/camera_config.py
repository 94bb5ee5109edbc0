"""The cameras file ``skynet run`` reads (TOML), validated with pydantic.

    [[cameras]]
    id = "gate-1"
    name = "North gate"
    url_env = "GATE1_URL"          # or: url = "rtsp://user:password@host/stream"
    transport = "tcp"              # rtsp: tcp | udp
    latitude = 22.5431
    longitude = 114.0579
    tags = ["gate"]
    analysis_fps = 5
    tls_ca_file = "ca/gate.pem"    # https/rtsps: trust this PEM file (or: tls_verify = false)

``url_env`` names an environment variable holding the URL, so credentials need not sit in the
file. ``https://`` and ``rtsps://`` cameras have their certificate verified (``tls_verify``,
default true) against the system's CAs, or against ``tls_ca_file`` (a path relative to the
cameras file, or absolute). Errors name the camera and the field; URLs in them are redacted. With a
:class:`~skynet.ingest.source_policy.SourcePolicy`, a camera outside the allow-list is an error of the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from skynet.errors import ConfigError
from skynet.ingest.diagnose import ca_file_problem
from skynet.ingest.source_policy import SourceNotAllowedError, SourcePolicy
from skynet.ingest.source_spec import SourceSpec
from skynet.records import Camera


class CameraConfig(BaseModel):
    """One camera of the cameras file."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = ""
    url: str | None = Field(default=None, repr=False)
    url_env: str | None = None
    transport: Literal["tcp", "udp"] = "tcp"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    tags: list[str] = Field(default_factory=list)
    analysis_fps: float = Field(default=5.0, gt=0, le=60)
    read_timeout_s: float = Field(default=5.0, gt=0)
    tls_verify: bool = Field(default=True, strict=True)
    tls_ca_file: str | None = Field(default=None, min_length=1)

    @field_validator("tls_ca_file")
    @classmethod
    def _usable_ca_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """An existing PEM file, taken relative to the cameras file's folder."""
        if value is None:
            return None
        path = os.path.abspath(Path((info.context or {}).get("folder", ".")) / Path(value).expanduser())
        problem = ca_file_problem(path)
        if problem is not None:
            raise ValueError(problem)
        return path

    @model_validator(mode="after")
    def _one_url(self) -> CameraConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' and 'url_env'")
        return self

    def source_url(self) -> str:
        """The URL, read from the environment when ``url_env`` is used."""
        if self.url is not None:
            return self.url
        value = os.environ.get(self.url_env or "")
        if not value:
            raise ConfigError(f"camera {self.id}: environment variable {self.url_env} is not set.")
        return value

    def camera(self) -> Camera:
        return Camera(
            self.id,
            self.name or self.id,
            self.source_url(),
            self.latitude,
            self.longitude,
            tuple(self.tags),
            self.tls_verify,
            self.tls_ca_file,
        )

    def source(self, policy: SourcePolicy | None = None) -> SourceSpec:
        """The camera's source, checked against ``policy`` at every open."""
        return SourceSpec.live_camera(
            self.id,
            self.source_url(),
            transport=self.transport,
            read_timeout_s=self.read_timeout_s,
            tls_verify=self.tls_verify,
            tls_ca_file=self.tls_ca_file,
            policy=policy,
        )


class CamerasFile(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    cameras: list[CameraConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> CamerasFile:
        ids = [c.id for c in self.cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(duplicates)}")
        return self


def load_cameras(path: Path, policy: SourcePolicy | None = None) -> list[CameraConfig]:
    """The cameras of a TOML cameras file; one clear error for a missing or invalid file, or for a camera
    that ``policy`` does not allow."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"cameras file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"cameras file {path} is not valid TOML: {error}") from None
    try:
        cameras = CamerasFile.model_validate(raw, context={"folder": path.parent}).cameras
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"cameras file {path}: {problems}") from None
    if policy is not None:
        for camera in cameras:
            try:
                policy.check(camera.source_url())
            except SourceNotAllowedError as error:
                raise ConfigError(f"cameras file {path}: camera {camera.id}: {error.message}") from None
    return cameras
