"""Cameras that are not live: created without a stream over the API and the CLI, never started, left off the
live wall; a re-index never creates a camera; faces another process stores become searchable in a running
server within seconds."""

from __future__ import annotations

import numpy as np
import pytest
from api_support import make_api
from store_support import face, open_catalog
from typer.testing import CliRunner
from waiting import wait_for

from skynet.cli import _register_commands, app
from skynet.index.catalog import Catalog
from skynet.store import open_store


class Workers:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def start_camera(self, camera) -> None:
        self.calls.append(("start", camera.id))

    def stop_camera(self, camera_id: str) -> None:
        self.calls.append(("stop", camera_id))

    def status(self, camera_id: str):
        return None


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path / "data")
    yield api
    api.close()


def test_a_camera_without_a_stream_is_stored_and_never_started(api):
    api.use_cameras(workers := Workers())
    operator = api.as_role("operator")
    body = {"id": "archive-7", "name": "Old depot", "latitude": 22.8, "longitude": 108.3, "reason": "case 2026-4"}
    created = api.client.post("/api/cameras", json=body, headers=operator)
    assert created.status_code == 201 and created.json()["live"] is False and created.json()["source"] == ""
    listed = {c["id"]: c["live"] for c in api.client.get("/api/cameras", headers=operator).json()}
    assert listed == {"cam-a": True, "cam-b": True, "archive-7": False}
    api.client.patch("/api/cameras/archive-7", json={"name": "Depot", "reason": "case 2026-4"}, headers=operator)
    given = api.client.patch(
        "/api/cameras/archive-7", json={"source_url": "rtsp://10.0.0.7/s", "reason": "case 2026-4"}, headers=operator
    )
    assert given.json()["live"] is True
    taken = api.client.patch(
        "/api/cameras/archive-7", json={"source_url": None, "reason": "case 2026-4"}, headers=operator
    )
    assert taken.json()["live"] is False
    assert workers.calls == [
        ("stop", "archive-7"),
        ("stop", "archive-7"),
        ("start", "archive-7"),
        ("stop", "archive-7"),
    ]


def test_cli_reindex_never_creates_a_camera_and_cameras_add_does(tmp_path):
    _register_commands()
    data = tmp_path / "data"
    clip = tmp_path / "clip_20240501_080000.mp4"
    clip.write_bytes(b"not really a video")
    runner = CliRunner()
    for paths in ([str(clip)], [str(tmp_path / "missing.mp4")]):
        refused = runner.invoke(app, ["reindex", *paths, "--camera", "typo", "--data-dir", str(data)])
        assert refused.exit_code != 0
    with open_store(data) as store:
        assert store.cameras.all() == []
    added = runner.invoke(app, ["cameras", "add", "depot", "--name", "Depot", "--latitude", "22.8", "--longitude", "108.3",
                                "--data-dir", str(data)])  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["cameras", "list", "--data-dir", str(data)])
    assert "depot\tDepot\t22.8, 108.3\tno stream" in listed.output
    with open_store(data) as store:
        assert [(c.id, c.live) for c in store.cameras.all()] == [("depot", False)]
        assert store.audit.events(10, action="camera.create")[0].actor == "cli"


def test_faces_another_process_stores_become_searchable_in_a_running_server(tmp_path):
    data = tmp_path / "data"
    open_catalog(data).close()
    api = make_api(data, index_refresh_s=0.1)
    try:
        api.system.start()
        vector = np.random.default_rng(3).standard_normal(8).astype(np.float32)
        with Catalog.open(data) as other:  # a CLI re-index beside the server: its own store handle and index
            ids = other.add_sightings([face(100.0, vector), face(200.0, vector, camera="cam-b")])
        found = wait_for(
            lambda: sorted(h.sighting_id for h in api.catalog.search_faces(vector, 5)) == sorted(ids) or None,
            5.0,
            "the server to index faces stored by another process",
        )
        assert found
    finally:
        api.system.stop()
        api.close()
