"""Cancelling jobs through the jobs API: a running re-index stops where it is and keeps what it committed (a
later job resumes, adding nothing twice), a queued one never starts, a cancelled one stays cancelled across a
restart; who may cancel, audited with the reason; 404 and 409."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from api_support import Api, make_api
from ingest_support import SquareAnalyzer, make_clip, square_painter
from waiting import wait_for

from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.ingest.archive_roots import ArchiveRoots
from skynet.ingest.reindex import Reindexer
from skynet.records import Camera, Job, JobState
from skynet.services.reindex import ReindexJobs

pytestmark = pytest.mark.requires("ffmpeg")
NAMES = ("a_20240501_080000.mp4", "b_20240501_090000.mp4", "c_20240501_100000.mp4")
REASON = {"reason": "case 2026-7: wrong camera chosen"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for name in NAMES:
        make_clip(root / name, 3.0, painter=square_painter())
    return root


@pytest.fixture
def api(tmp_path: Path) -> Api:
    api = make_api(tmp_path)
    yield api
    api.close()


def _file_status(api: Api, path: Path) -> str | None:
    state = api.catalog.store.jobs.file_state(str(path))
    return None if state is None else state.status


def test_a_running_reindex_is_cancelled_keeps_what_it_did_and_resumes(api: Api, archive: Path) -> None:
    files = [archive / name for name in NAMES]
    writer = CatalogWriter(api.catalog)
    analyzer = SquareAnalyzer(delay_s=0.15)  # slow enough to be mid-file when cancelled
    reindexer = Reindexer(api.catalog, writer, writer.flush, analyzer, "default", jobs=1)
    api.system.runner.register(
        ReindexJobs(api.catalog.store, lambda: reindexer, ArchiveRoots([archive]), api.system.auditor)
    )
    operator = api.as_role("operator")
    body = {"paths": [str(archive)], "camera": "cam-a", **REASON}
    try:
        job_id = api.client.post("/api/jobs/reindex", headers=operator, json=body).json()["id"]
        wait_for(lambda: _file_status(api, files[1]) == "running", 60, "the first file done and the second under way")
        frames_read = api.client.get(f"/api/jobs/{job_id}", headers=operator).json()["frames"]
        assert (
            api.client.post(f"/api/jobs/{job_id}/cancel", headers=api.as_role("investigator"), json=REASON).status_code
            == 403
        )
        cancelled = api.client.post(f"/api/jobs/{job_id}/cancel", headers=operator, json=REASON)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        api.system.runner.join(30)
        job = api.client.get(f"/api/jobs/{job_id}", headers=operator).json()
        assert job["state"] == "cancelled" and job["files_total"] == 3 and job["files_done"] == 1
        assert job["frames"] >= frames_read > 0 and "2 file(s) not read" in job["errors"][-1]
        assert [_file_status(api, f) for f in files] == ["done", "pending", None]  # where it stopped
        again = api.client.post(f"/api/jobs/{job_id}/cancel", headers=operator, json=REASON)
        assert again.status_code == 409 and "already finished (cancelled)" in again.json()["detail"]
        assert api.client.post("/api/jobs/999/cancel", headers=operator, json=REASON).status_code == 404
        assert api.client.post(f"/api/jobs/{job_id}/cancel", headers=operator, json={}).status_code == 422
        events = api.client.get("/api/audit?action=job.cancel", headers=api.as_role("admin")).json()
        assert [(e["actor"], e["reason"], e["detail"]) for e in events] == [
            ("operator", REASON["reason"], {"job": job_id, "kind": "reindex"})
        ]

        calls = analyzer.calls
        rerun = api.client.post("/api/jobs/reindex", headers=operator, json=body).json()["id"]
        api.system.runner.join(60)
        job = api.client.get(f"/api/jobs/{rerun}", headers=operator).json()
        assert job["state"] == "done" and job["files_done"] == 3 and job["errors"] == []
        assert analyzer.calls > calls and [_file_status(api, f) for f in files] == ["done"] * 3
    finally:
        writer.close()
    assert api.catalog.store.sightings.counts() == {"face": 3, "plate": 3, "identity": 0}  # one of each per clip
    assert api.catalog.store.integrity_problems() == []


def test_a_queued_job_is_cancelled_at_once_and_a_restart_leaves_it_cancelled(api: Api) -> None:
    """A job queued on another node (its row only) is cancelled in the store; the server start that fails the
    jobs left unfinished does not touch it."""
    store = api.catalog.store
    queued = store.jobs.add(Job("feed-import", "admin", 1.0, 1.0, JobState.QUEUED, {"path": "/x.csv"}))
    refused = api.client.post(f"/api/jobs/{queued}/cancel", headers=api.as_role("investigator"), json=REASON)
    assert refused.status_code == 403 and "import_feeds" in refused.json()["detail"]
    cancelled = api.client.post(f"/api/jobs/{queued}/cancel", headers=api.as_role("admin"), json=REASON)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    with api.client:  # the lifespan starts the job runner (failing interrupted jobs) and stops it
        listed = api.client.get("/api/jobs?state=cancelled", headers=api.as_role("admin")).json()
    assert [j["id"] for j in listed] == [queued]


class Waiting:
    """A job's work that runs until told to stop, reporting as it goes."""

    def __init__(self) -> None:
        self.params: dict = {}
        self.progress = {"steps": 0}
        self.errors: list[str] = []
        self.started = threading.Event()

    def run(self, job) -> JobState:
        self.started.set()
        while not job.stop.wait(0.05):
            self.progress["steps"] += 1
            job.report()
        return JobState.FAILED


def test_a_job_cancelled_in_the_store_by_another_node_stops_at_its_next_report(api: Api) -> None:
    work = Waiting()
    job = api.system.runner.submit("reembed", "admin", work)
    assert work.started.wait(10)
    assert api.catalog.store.jobs.cancel(job.id, 2.0)  # what another API node's JobService does
    api.system.runner.join(10)
    final = api.catalog.store.jobs.get(job.id)
    assert final.state is JobState.CANCELLED and final.progress["steps"] >= 1


def test_a_reindex_interrupted_by_an_exception_stops_its_readers(archive: Path, tmp_path: Path) -> None:
    """What a Ray task's cancellation does (a KeyboardInterrupt inside the task): no reader goes on storing,
    and the file is left as a crash leaves it, for the next job to redo."""
    clip = archive / NAMES[0]

    def interrupt(frames: int) -> None:
        if frames:
            raise KeyboardInterrupt

    with Catalog.open(tmp_path) as catalog:
        catalog.store.cameras.save(Camera("cam1", "archive camera", ""))
        writer = CatalogWriter(catalog)
        reindexer = Reindexer(catalog, writer, writer.flush, SquareAnalyzer(delay_s=0.15), "default")
        with pytest.raises(KeyboardInterrupt):
            reindexer.run([clip], "cam1", on_progress=interrupt)
        readers = [t for t in threading.enumerate() if t.name in ("read-cam1", "analyse-cam1")]
        assert readers == []  # stopped and joined before the exception left the run
        assert catalog.store.jobs.file_state(str(clip)).status == "running"
        (outcome,) = reindexer.run([clip], "cam1")
        writer.close()
        assert outcome.status == "done" and catalog.store.sightings.counts()["face"] == 1
