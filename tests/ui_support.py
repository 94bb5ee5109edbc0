"""Helpers for the web UI tests: a data directory with the demo camera, more cameras on a map, users of
each role and face sightings of real people, and a real ``skynet serve`` process over it."""

from __future__ import annotations

import contextlib
import csv
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
from servers import SkynetServe

from skynet.accounts.credentials import hash_password
from skynet.accounts.model import Role, User
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.records import Camera, Sighting, SightingKind
from skynet.services.demo import set_up_demo
from skynet.store.sighting_writes import SightingMedia
from skynet.synthetic import write_demo_clip

PASSWORD = "correct horse battery staple"
USERS = {"chief": Role.ADMIN, "ivy": Role.INVESTIGATOR, "otto": Role.OPERATOR}
# Near the demo camera (22.8170, 108.3665): a gate 0.5 km away, a bridge 1.3 km away, and a station
# 30 km away that nobody reaches in five minutes (an implausible move on the trajectory map).
# Their RTSP sources refuse connections, so their badges show a camera that is not online.
MAP_CAMERAS = (
    Camera("gate-north", "North gate", "rtsp://127.0.0.1:9/gate", 22.8215, 108.3665, ("gate",)),
    Camera("bridge-east", "East bridge", "rtsp://127.0.0.1:9/bridge", 22.8170, 108.3790, ("bridge",)),
    Camera("station-far", "Far station", "rtsp://127.0.0.1:9/station", 23.0870, 108.3665, ("station",)),
)
# (camera, minutes before now) of the seeded sightings of the person; the last move is implausible.
VISITS = (("gate-north", 180), ("bridge-east", 170), ("station-far", 165))
OTHERS = 3  # other people seen at the gate, whom a search for the person must not find
ARCHIVE_CLIP = "archive/20260101_080000.avi"  # two seconds of the demo street, for a re-index job


@dataclass(frozen=True)
class Person:
    """A person with face sightings in the store, and a photo of them that is not one of those."""

    identity: str
    query_photo: Path
    sighting_ids: tuple[int, ...]


def people(faces_dir: Path, photos: int) -> list[tuple[str, list[Path]]]:
    """Identities of a labels.csv face set with at least ``photos`` images, in file order."""
    by_identity: dict[str, list[Path]] = {}
    with (faces_dir / "labels.csv").open(encoding="utf-8") as labels:
        for row in csv.DictReader(labels):
            by_identity.setdefault(row["identity"], []).append(faces_dir / "images" / row["filename"])
    return [(identity, paths) for identity, paths in by_identity.items() if len(paths) >= photos]


def seed(data_dir: Path, analyzer, faces_dir: Path) -> Person:
    """The demo camera (as ``skynet serve`` sets it up), the map cameras, one user per role, a short
    archive clip, and face sightings found and embedded by the real models: one per visit of a person,
    and one each of a few other people."""
    (identity, paths), *others = people(faces_dir, len(VISITS) + 1)[: OTHERS + 1]
    settings = Settings(data_dir=data_dir)
    now = time.time()
    (data_dir / ARCHIVE_CLIP).parent.mkdir(parents=True)
    write_demo_clip(data_dir / ARCHIVE_CLIP, seconds=2.0)
    seen = [(camera, path, now - minutes * 60) for (camera, minutes), path in zip(VISITS, paths)]
    seen += [("gate-north", photos[0], now - 3600 * (n + 1)) for n, (_, photos) in enumerate(others)]
    with Catalog.open(data_dir) as catalog:
        set_up_demo(settings, catalog.store)
        for camera in MAP_CAMERAS:
            catalog.store.cameras.save(camera)
        for name, role in USERS.items():
            catalog.store.users.add_user(User(name, role, now, hash_password(PASSWORD)))
        found = [face_sighting(analyzer, camera, path, at) for camera, path, at in seen]
        ids = catalog.add_sightings([s for s, _ in found], [m for _, m in found])
    return Person(identity, paths[len(VISITS)], tuple(ids[: len(VISITS)]))


def face_sighting(analyzer, camera: str, photo: Path, at: float) -> tuple[Sighting, SightingMedia]:
    """A sighting of the largest face in ``photo`` at ``camera``, best seen at ``at``, with its media."""
    image = cv2.imread(str(photo))
    face = max(analyzer.analyze(image, plates=False).faces, key=lambda f: f.box.area)
    box = face.box.clipped(image.shape[1], image.shape[0])
    crop = image[int(box.y1) : int(box.y2), int(box.x1) : int(box.x2)]
    sighting = Sighting(camera, SightingKind.FACE, at - 10, at + 10, at, box, 0.9, embedding=face.embedding)
    return sighting, SightingMedia(thumbnail=_jpeg(crop), context=_jpeg(image))


def _jpeg(image) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


@contextlib.contextmanager
def serve(data_dir: Path, model_dir: Path) -> Iterator[str]:
    """``skynet serve`` over ``data_dir`` on a port it binds itself; yields its base URL, stops it at the end."""
    env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODEL_DIR": str(model_dir),
        "SKYNET_CAMERA_NETWORKS": '["127.0.0.1/32"]',  # the map cameras, and the one the camera form adds
    }
    with SkynetServe(env, data_dir / "serve.log") as server:
        yield server.url
