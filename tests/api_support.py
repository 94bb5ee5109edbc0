"""Helpers for the API tests: a service over a real SQLite store, users of each role, a fake analyser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from skynet.accounts.credentials import hash_password, issue_token
from skynet.accounts.model import Role, User
from skynet.api.deps import camera_service
from skynet.app import build
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.records import Box, Camera, Detections, FaceDetection
from skynet.services.cameras import CameraControl, CameraService
from skynet.system import System, SystemRole

DIM = 8
PASSWORD = "correct horse battery staple"
SECRET_URL = "rtsp://admin:hunter2secret@10.0.0.9/stream1"
CAMERA_NETWORKS = ["10.0.0.0/8", "h"]  # the camera allow-list of the API tests' cameras


def colour_jpeg(bgr: tuple[int, int, int], size: int = 64) -> bytes:
    """A solid-colour JPEG; :class:`FakeAnalyzer` finds the faces registered for its colour."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:] = bgr
    return cv2.imencode(".jpg", image)[1].tobytes()


class FakeAnalyzer:
    """Faces by image colour (the centre pixel, rounded to tens): a stand-in for the slow real models."""

    def __init__(self) -> None:
        self.faces: dict[tuple[int, int, int], list[tuple[Box, np.ndarray]]] = {}

    def register(self, bgr: tuple[int, int, int], *faces: tuple[Box, np.ndarray]) -> bytes:
        self.faces[_key(bgr)] = list(faces)
        return colour_jpeg(bgr)

    def __call__(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        found = self.faces.get(_key(tuple(int(v) for v in image[h // 2, w // 2])), [])
        faces = [
            FaceDetection(box, 0.9, np.zeros((5, 2), np.float32), embedding=e / np.linalg.norm(e)) for box, e in found
        ]
        return Detections(w, h, faces=faces)


def _key(bgr: tuple[int, ...]) -> tuple[int, int, int]:
    return tuple(int(round(v / 10.0)) * 10 for v in bgr)  # type: ignore[return-value]


@dataclass
class Api:
    client: TestClient
    system: System
    analyzer: FakeAnalyzer
    tokens: dict[str, str]  # role -> token

    def as_role(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def catalog(self) -> Catalog:
        return self.system.catalog

    def use_cameras(self, control: CameraControl) -> None:
        """Let the camera routes drive ``control`` as the running camera workers."""
        system = self.system
        cameras = CameraService(system.catalog.store, system.auditor, system.cameras.policy, control)
        self.client.app.dependency_overrides[camera_service] = lambda: cameras

    def close(self) -> None:
        self.client.close()
        self.system.close()


def make_api(data_dir: Path, clock=None, analyzer=None, **settings_given) -> Api:
    """An API node over a fresh store in ``data_dir`` with cameras cam-a/cam-b and one user per role, its
    photos analysed by ``analyzer`` (default a :class:`FakeAnalyzer`); ``settings_given`` overrides settings."""
    settings = Settings(
        **{"data_dir": data_dir, "max_image_bytes": 200_000, "camera_networks": CAMERA_NETWORKS, **settings_given}
    )
    catalog = Catalog.open(data_dir)
    catalog.store.cameras.save(Camera("cam-a", "Gate A", SECRET_URL, 22.81, 108.32))
    catalog.store.cameras.save(Camera("cam-b", "Bridge B", "rtsp://10.0.0.8/stream", 22.82, 108.33))
    analyzer = FakeAnalyzer() if analyzer is None else analyzer
    system = build(
        settings, SystemRole.API_NODE, analyzer=analyzer, catalog=catalog, **({} if clock is None else {"clock": clock})
    )
    tokens = {}
    for role in Role:
        user = catalog.store.users.add_user(User(role.value, role, 0.0, hash_password(PASSWORD)))
        tokens[role.value] = issue_token(catalog.store.users, user, system.clock())[0]
    assert system.api is not None
    return Api(TestClient(system.api), system, analyzer, tokens)
