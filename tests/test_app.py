"""The composition root: each role is a choice of parts, one lifespan starts and stops them, and a camera
node stores, matches and alerts without HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from waiting import wait_for

from skynet.app import build
from skynet.config import Settings
from skynet.ingest.camera_config import CameraConfig
from skynet.records import Job, JobState, SightingKind, WatchlistEntry
from skynet.services.jobs import FEED_IMPORT, REEMBED, REINDEX
from skynet.synthetic import DEMO_PLATES, write_demo_clip
from skynet.system import PARTS, Part, SystemRole


def test_roles_are_choices_of_parts():
    assert PARTS[SystemRole.ALL_IN_ONE] == {Part.CAMERAS, Part.API, Part.BACKGROUND}
    assert PARTS[SystemRole.CAMERA_NODE] == {Part.CAMERAS}
    assert PARTS[SystemRole.API_NODE] == {Part.API, Part.BACKGROUND}


def test_an_api_node_serves_and_runs_background_work_without_cameras(tmp_path):
    system = build(Settings(data_dir=tmp_path), SystemRole.API_NODE, analysers=0)
    try:
        assert system.api is not None and system.camera_workers is None and system.cameras.control is None
        # no analysers: no re-index jobs (503), photo searches 503; feed imports need none
        assert set(system.runner.kinds) == {REEMBED, FEED_IMPORT}
        stale = system.catalog.store.jobs.add(Job(REINDEX, "operator", 1.0, 1.0, JobState.RUNNING))
        with TestClient(system.api) as client:  # the app's lifespan starts the system, and stops it at the end
            assert client.get("/api/health").json() == {"status": "ok"}
            failed = system.catalog.store.jobs.get(stale)
            assert failed.state is JobState.FAILED and "interrupted" in failed.errors[0]
            assert [thread.name for thread in system._threads] == ["retention", "index-refresh"]
        assert not any(thread.is_alive() for thread in system._threads)
    finally:
        system.close()


def test_a_camera_role_needs_analysers(tmp_path):
    with pytest.raises(ValueError, match="needs analysers"):
        build(Settings(data_dir=tmp_path), SystemRole.CAMERA_NODE, analysers=0)


@pytest.mark.models
@pytest.mark.slow
def test_a_camera_node_stores_matches_and_alerts_without_http(model_settings, tmp_path):
    (tmp_path / "clips").mkdir()
    clip = write_demo_clip(tmp_path / "clips" / "street.avi", seconds=4.0)
    settings = model_settings.model_copy(
        update={
            "data_dir": tmp_path / "data",
            "model_dir": model_settings.models_path,
            "camera_file_dirs": [clip.parent],
        }
    )
    camera = CameraConfig(id="street", name="Street", url=str(clip), analysis_fps=10)
    system = build(settings, SystemRole.CAMERA_NODE, analysers=1, cameras=[camera])
    try:
        assert system.api is None and system.camera_workers is not None and not system.runner.kinds
        store = system.catalog.store
        assert [c.id for c in store.cameras.all()] == ["street"]  # the given cameras are stored
        now = time.time()
        store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "demo", "test", "tester", now, plate_pattern=DEMO_PLATES[0])
        )

        async def run() -> None:
            async with system.running():
                await asyncio.to_thread(wait_for, lambda: store.alerts.latest(1), 120, "an alert from the camera node")

        asyncio.run(run())
        [alert] = store.alerts.latest(1)
        assert alert.camera_id == "street" and store.sightings.get(alert.sighting_id).kind is SightingKind.PLATE
        assert alert.score >= 0.9  # the read's calibrated confidence: the demo plate is read right
        assert not system._threads  # no retention, no camera-status events without the API
    finally:
        system.close()
