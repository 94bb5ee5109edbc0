"""Helpers for the store, face index, plate search and retention tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from skynet.index.catalog import Catalog
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind
from skynet.store import postgres, sqlite
from skynet.store.sighting_writes import SightingMedia

CAMERAS = ("cam-a", "cam-b", "cam-c")
BACKENDS = ("sqlite", "postgresql")


def face(t: float, embedding: np.ndarray, camera: str = "cam-a") -> Sighting:
    """A face sighting seen at ``t``."""
    return Sighting(camera, SightingKind.FACE, t, t + 2.0, t, Box(10, 10, 60, 70), 0.8, embedding=embedding)


def plate(t: float, text: str, camera: str = "cam-a", alternatives: tuple[tuple[str, float], ...] = ()) -> Sighting:
    """A plate sighting of ``text`` seen at ``t``."""
    read = PlateText(text, (0.9,) * len(text), alternatives=alternatives)
    return Sighting(camera, SightingKind.PLATE, t, t + 1.0, t, Box(5, 5, 100, 40), 0.7, plate=read)


def jpeg(seed: int = 0) -> bytes:
    """A small real JPEG."""
    image = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def media(seed: int = 0) -> SightingMedia:
    return SightingMedia(thumbnail=jpeg(seed), context=jpeg(seed + 1))


def open_catalog(data_dir: Path, database_url: str | None = None, **options) -> Catalog:
    """A catalog in ``data_dir`` (and PostgreSQL at ``database_url``) with the test cameras registered."""
    catalog = Catalog.open(data_dir, database_url, **options)
    for camera_id in CAMERAS:
        catalog.store.cameras.save(Camera(camera_id, camera_id.upper(), f"rtsp://user:secret@10.0.0.1/{camera_id}"))
    return catalog


@contextmanager
def database(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite; for PostgreSQL the URL of a fresh database on the session's server (the
    ``postgres_server`` fixture of ``request``), dropped afterwards."""
    if backend == "sqlite":
        yield None
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"skynet_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request) -> Iterator[str | None]:
    """Each store test runs on SQLite and on PostgreSQL (skipped where no server can start; failed under CI)."""
    with database(request.param, request) as url:
        yield url


@contextmanager
def schema_at(version: int, data_dir: Path, url: str | None) -> Iterator[Callable[..., Any]]:
    """The database of a store (SQLite in ``data_dir``, or PostgreSQL at ``url``) at schema ``version``, as a
    Skynet of that version left it: the first ``version`` migrations. Yields ``execute(sql, args)`` (``?``
    placeholders, autocommit) to fill it in."""
    if url is None:
        conn = sqlite.connect(data_dir / sqlite.DB_NAME)
        try:
            sqlite.migrate(conn, to=version)
            yield conn.execute
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        postgres.migrate(pg, to=version)
        yield lambda sql, args=(): pg.execute(sql.replace("?", "%s"), args)
