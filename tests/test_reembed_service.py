"""The re-embedding job as the service runs it: the jobs route and its progress, photo search while
the index holds the old model, watch-list photos kept, and the job `skynet serve` starts by itself."""

from __future__ import annotations

import time

import numpy as np
from api_support import make_api
from reembed_support import MODEL_A, MODEL_B, PixelFaces, face_frame, jpeg, store_faces
from store_support import open_catalog
from typer.testing import CliRunner
from waiting import wait_for

from skynet.cli import _register_commands, app
from skynet.detectors.pool import AnalyzerPool
from skynet.index.face_models import face_model_id, index_dir
from skynet.index.reembed import Reembedder, ReembedJob
from skynet.records import JobState
from skynet.store.faces import DEFAULT_FACE_MODEL

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
    api = make_api(tmp_path)
    catalog = api.services.catalog
    catalog.live_model = MODEL_B  # as a server whose model pack now embeds with model B
    api.services.start_reembedding = lambda user: (
        ReembedJob(Reembedder(catalog, b, MODEL_B), user, time.time).start().job
        if catalog.live_model != catalog.face_model
        else None
    )
    frame, _ = face_frame(1, 50)
    photo = jpeg(frame)
    api.analyzer.faces.clear()
    api.services.analyze = lambda image: b.analyze(image)
    investigator = api.as_role("investigator")
    pending = api.client.post(
        "/api/search/face", headers=investigator, data=REASON, files={"image": ("q.jpg", photo, "image/jpeg")}
    )
    assert pending.status_code == 503 and MODEL_B in pending.json()["detail"]
    api.services.analyze_search = lambda image: a.analyze(image)  # the old model's pack, as the runtime loads it
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

    started = api.client.post("/api/jobs/reembed", headers=api.as_role("admin"))
    assert started.status_code == 202, started.text
    job = _wait_done(api, started.json()["id"])
    assert job["kind"] == "reembed" and job["state"] == "done" and job["params"]["to_model"] == MODEL_B
    assert job["progress"]["faces_done"] == job["progress"]["faces_total"] == 4 and job["progress"]["switched"]
    assert api.client.post("/api/jobs/reembed", headers=api.as_role("admin")).status_code == 409
    assert api.client.post("/api/jobs/reembed", headers=investigator).status_code == 403
    found = api.client.post(
        "/api/search/face", headers=investigator, data=REASON, files={"image": ("q.jpg", photo, "image/jpeg")}
    )
    assert found.status_code == 200 and {r["sighting"]["id"] for r in found.json()["results"][:2]} == set(ids[2:])
    assert any(e["action"] == "job.reembed" for e in api.client.get("/api/audit", headers=api.as_role("admin")).json())
    catalog.close()


def test_the_service_starts_the_job_after_a_pack_switch(tmp_path, model_settings):
    """A store searched with model A, served with the default pack: the runtime re-embeds with the
    real default models (they find no face in the synthetic squares, and say so), then switches."""
    from skynet.service.runtime import ServiceRuntime

    settings = model_settings.model_copy(update={"data_dir": tmp_path, "model_dir": model_settings.models_path})
    with open_catalog(tmp_path, face_model=MODEL_A) as catalog:
        store_faces(catalog, PixelFaces(16, seed=1), [0, 1])
    with open_catalog(tmp_path, face_model=face_model_id(settings.model_pack)) as catalog:
        pool = AnalyzerPool([PixelFaces(16, seed=1)])  # the cameras' pool; the job loads its own analyser
        runtime = ServiceRuntime(settings, catalog, pool, outbox=None)  # type: ignore[arg-type]
        assert runtime.matcher.model == catalog.live_model != catalog.face_model
        job = runtime.start_reembedding()
        assert job is not None and runtime.start_reembedding() is not None
        runtime.reembed.join(60)
        done = catalog.store.jobs.get(job.id)
        assert done.state is JobState.DONE and done.progress["faces_failed"] == 2
        assert catalog.face_model == catalog.live_model and runtime.start_reembedding() is None
        runtime.writer.close()


def test_a_face_index_saved_before_per_model_indexes_is_adopted(tmp_path):
    a = PixelFaces(16, seed=1)
    with open_catalog(tmp_path) as catalog:  # the default model, as every store before schema 3
        ids = store_faces(catalog, a, [0, 1, 2])
    model_dir = index_dir(tmp_path, DEFAULT_FACE_MODEL)
    for path in model_dir.iterdir():  # the old layout: index/faces.npz
        path.rename(tmp_path / "index" / path.name)
    model_dir.rmdir()
    with open_catalog(tmp_path) as catalog:
        assert (model_dir / "faces.npz").is_file() and not (tmp_path / "index" / "faces.npz").exists()
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
    """While the index holds the old model, the runtime embeds search photos with the old model's own pack."""
    import pytest

    from skynet.service.runtime import ServiceRuntime
    from skynet.store.errors import QueryError

    settings = model_settings.model_copy(update={"data_dir": tmp_path, "model_dir": model_settings.models_path})
    frame, _ = face_frame(0, 1)
    with open_catalog(tmp_path, face_model=DEFAULT_FACE_MODEL) as catalog:
        b = PixelFaces(24, seed=2)
        pool = AnalyzerPool([b])  # the cameras' analysers: the configured pack, model B
        runtime = ServiceRuntime(settings, catalog, pool, outbox=None)  # type: ignore[arg-type]
        assert runtime.analyze_search(frame).faces[0].embedding.shape == (24,)  # no switch pending
        catalog.live_model = MODEL_B  # the configured pack now embeds with model B
        found = runtime.analyze_search(np.zeros((120, 160, 3), np.uint8))
        assert found.faces == [] and found.plates == [] and "plate_detect" not in found.model_ms
        assert runtime._search_analyzer[0] == DEFAULT_FACE_MODEL  # the default pack's real analyser
        catalog.faces.model = MODEL_A  # a searched model whose pack is not installed: a clear error
        with pytest.raises(QueryError, match="search by photo needs model pack 'test'"):
            runtime.analyze_search(frame)
        runtime.writer.close()
