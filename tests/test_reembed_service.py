"""The re-embedding job as the system runs it: the jobs route and its progress, photo search while
the index holds the old model, watch-list photos kept, and the job `skynet serve` starts by itself."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from api_support import make_api
from reembed_support import MODEL_A, MODEL_B, PixelFaces, face_frame, jpeg, store_faces
from store_support import open_catalog
from typer.testing import CliRunner
from waiting import wait_for

from skynet.api.deps import face_queries
from skynet.app import build
from skynet.cli import _register_commands, app
from skynet.detectors.pool import AnalyzerPool
from skynet.errors import ConflictError
from skynet.index.face_models import face_model_id, index_dir
from skynet.records import JobState
from skynet.services.faces import FaceQueries, SearchedModelAnalyzer
from skynet.services.jobs import REEMBED
from skynet.services.reembed import ReembedJobs
from skynet.store.errors import QueryError
from skynet.store.faces import DEFAULT_FACE_MODEL
from skynet.system import SystemRole

REASON = {"reason": "case 2026-8"}


def _wait_done(api, job_id: int) -> dict:
    def finished() -> dict | None:
        job = api.client.get(f"/api/jobs/{job_id}", headers=api.as_role("admin")).json()
        return job if job["state"] in ("done", "failed") else None

    return wait_for(finished, 30, "the re-embedding job to finish")


def test_reembed_route_progress_and_photo_search_while_pending(tmp_path):
    a, b = PixelFaces(16, seed=1), PixelFaces(24, seed=2)
    with open_catalog(tmp_path, face_model=MODEL_A) as catalog:
        ids = store_faces(catalog, a, [0, 0, 1, 1])
    # photos analysed by model B's pack (the cameras'); while the job runs, none of model A's is loaded: 503
    api = make_api(tmp_path, analyzer=lambda image: b.analyze(image))
    catalog = api.catalog
    catalog.live_model = MODEL_B  # as a server whose model pack now embeds with model B
    api.system.runner.register(ReembedJobs(catalog, lambda: b, api.system.matcher.invalidate))  # the job's pack: B
    frame, _ = face_frame(1, 50)
    photo = jpeg(frame)
    investigator = api.as_role("investigator")
    pending = api.client.post(
        "/api/search/face", headers=investigator, data=REASON, files={"image": ("q.jpg", photo, "image/jpeg")}
    )
    assert pending.status_code == 503 and MODEL_B in pending.json()["detail"]
    # search photos embedded by model A's pack, as the running system loads it
    searched = FaceQueries(catalog, api.system.settings, lambda image: b.analyze(image), lambda image: a.analyze(image))
    api.client.app.dependency_overrides[face_queries] = lambda: searched
    old_index = api.client.post(
        "/api/search/face", headers=investigator, data=REASON, files={"image": ("q.jpg", photo, "image/jpeg")}
    )
    assert {r["sighting"]["id"] for r in old_index.json()["results"][:2]} == set(ids[2:])
    by_id = api.client.post("/api/search/face", headers=investigator, data={**REASON, "sighting_id": str(ids[2])})
    assert [r["sighting"]["id"] for r in by_id.json()["results"]][:2] == [ids[2], ids[3]]
    # a new watch-list face keeps its photo and is labelled with the model that embedded it
    added = api.client.post(
        "/api/watchlist",
        headers=api.as_role("admin"),
        data={"kind": "face", "label": "p1", **REASON},
        files=[("photos", ("p.jpg", photo, "image/jpeg"))],
    )
    assert added.status_code == 201, added.text
    entry_id = added.json()["id"]
    assert catalog.store.watchlists.photos(entry_id) == [photo]
    assert len({e.id: e for e in catalog.store.watchlists.all(MODEL_B)}[entry_id].embeddings) == 1

    started = api.client.post("/api/jobs/reembed", headers=api.as_role("admin"), json=REASON)
    assert started.status_code == 202, started.text
    job = _wait_done(api, started.json()["id"])
    assert job["kind"] == "reembed" and job["state"] == "done" and job["params"]["to_model"] == MODEL_B
    assert job["progress"]["faces_done"] == job["progress"]["faces_total"] == 4 and job["progress"]["switched"]
    assert api.client.post("/api/jobs/reembed", headers=api.as_role("admin"), json=REASON).status_code == 409
    assert api.client.post("/api/jobs/reembed", headers=investigator, json=REASON).status_code == 403
    found = api.client.post(
        "/api/search/face", headers=investigator, data=REASON, files={"image": ("q.jpg", photo, "image/jpeg")}
    )
    assert found.status_code == 200 and {r["sighting"]["id"] for r in found.json()["results"][:2]} == set(ids[2:])
    assert any(e["action"] == "job.reembed" for e in api.client.get("/api/audit", headers=api.as_role("admin")).json())
    api.close()


def test_the_service_starts_the_job_after_a_pack_switch(tmp_path, model_settings):
    """A store searched with model A, served with the default pack: the system re-embeds with the
    real default models (they find no face in the synthetic squares, and say so), then switches."""
    settings = model_settings.model_copy(update={"data_dir": tmp_path, "model_dir": model_settings.models_path})
    with open_catalog(tmp_path, face_model=MODEL_A) as catalog:
        store_faces(catalog, PixelFaces(16, seed=1), [0, 1])
    catalog = open_catalog(tmp_path, face_model=face_model_id(settings.model_pack))
    # photos analysed by a stand-in; the job loads the configured pack's own analyser
    system = build(settings, SystemRole.API_NODE, analyzer=PixelFaces(16, seed=1).analyze, catalog=catalog)
    try:
        assert system.matcher.model == catalog.live_model != catalog.face_model
        system.start()
        [job] = catalog.store.jobs.latest()
        assert job.kind == REEMBED and job.created_by == "system"
        assert system.runner.request(REEMBED, "admin", {}).id == job.id  # one at a time: the running one
        system.runner.join(60)
        done = catalog.store.jobs.get(job.id)
        assert done.state is JobState.DONE and done.progress["faces_failed"] == 2
        assert catalog.face_model == catalog.live_model
        with pytest.raises(ConflictError, match="nothing to re-embed"):
            system.runner.request(REEMBED, "admin", {})
        system.stop()
    finally:
        system.close()


def test_a_face_index_saved_before_per_model_indexes_is_replaced(tmp_path):
    a = PixelFaces(16, seed=1)
    with open_catalog(tmp_path) as catalog:  # the default model, as every store before schema 3
        ids = store_faces(catalog, a, [0, 1, 2])
    model_dir = index_dir(tmp_path, DEFAULT_FACE_MODEL)
    shutil.rmtree(model_dir)
    (tmp_path / "index" / "faces.npz").write_bytes(b"an index of the old layout and format")
    with open_catalog(tmp_path) as catalog:  # removed, and the index rebuilt from the store
        assert not (tmp_path / "index" / "faces.npz").exists() and (model_dir / "index.json").is_file()
        np.testing.assert_array_equal(catalog.faces.ids(), ids)


def test_cli_status_rebuild_and_reembed(tmp_path, model_settings):
    with open_catalog(tmp_path, face_model=MODEL_A) as catalog:
        store_faces(catalog, PixelFaces(16, seed=1), [0, 1, 2])
    _register_commands()
    where = ["--data-dir", str(tmp_path)]
    status = CliRunner().invoke(app, ["index", "status", *where])
    assert status.exit_code == 0, status.output
    assert f"face model searched: {MODEL_A}" in status.output and "re-embedding pending: 3 faces" in status.output
    rebuilt = CliRunner().invoke(app, ["index", "rebuild", *where])
    assert f"face index of {MODEL_A} rebuilt: 3 vectors" in rebuilt.output
    # the default pack's real models find no face in the synthetic squares: the job says so and switches
    result = CliRunner().invoke(app, ["index", "reembed", *where, "--model-dir", str(model_settings.models_path)])
    assert result.exit_code == 0, result.output
    assert "0 faces re-embedded, 3 without a face found" in result.output
    again = CliRunner().invoke(app, ["index", "reembed", *where, "--model-dir", str(model_settings.models_path)])
    assert f"nothing to do: face search already uses {DEFAULT_FACE_MODEL}" in again.output


def test_search_photos_are_embedded_by_the_searched_model_during_the_job(tmp_path, model_settings):
    """While the index holds the old model, the system embeds search photos with the old model's own pack."""
    settings = model_settings.model_copy(update={"data_dir": tmp_path, "model_dir": model_settings.models_path})
    frame, _ = face_frame(0, 1)
    with open_catalog(tmp_path, face_model=DEFAULT_FACE_MODEL) as catalog:
        b = PixelFaces(24, seed=2)
        pool = AnalyzerPool([b])  # the cameras' analysers: the configured pack, model B
        searched = SearchedModelAnalyzer(settings, catalog, pool.analyze)
        assert searched(frame).faces[0].embedding.shape == (24,)  # no switch pending
        catalog.live_model = MODEL_B  # the configured pack now embeds with model B
        found = searched(np.zeros((120, 160, 3), np.uint8))
        assert found.faces == [] and found.plates == [] and "plate_detect" not in found.model_ms
        assert searched.loaded is not None and searched.loaded[0] == DEFAULT_FACE_MODEL  # the default pack's
        catalog.faces.model = MODEL_A  # a searched model whose pack is not installed: a clear error
        with pytest.raises(QueryError, match="search by photo needs model pack 'test'"):
            searched(frame)
