"""POST /api/exports: a case file (manifest, CSV, media, trajectory) streamed as a ZIP, audited, and
free of camera credentials."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from api_support import SECRET_URL, Api, colour_jpeg, make_api

from skynet.records import Box, Origin, PlateText, Sighting, SightingKind
from skynet.services.zipstream import Member, zip_chunks
from skynet.store.sighting_writes import SightingMedia

CASE = "case 2026-0042"
T0 = 1_800_000_000.0


@pytest.fixture
def api(tmp_path: Path):
    api = make_api(tmp_path)
    face = np.eye(8, dtype=np.float32)[0]
    other = np.eye(8, dtype=np.float32)[1]
    sightings = [
        Sighting(
            "cam-a",
            SightingKind.FACE,
            T0,
            T0 + 5,
            T0 + 2,
            Box(1, 2, 30, 40),
            0.8,
            embedding=face,
            origin=Origin("archive", "rtsp://admin:hunter2secret@10.0.0.9/rec.mp4", 12.5),
        ),
        Sighting(
            "cam-b", SightingKind.FACE, T0 + 600, T0 + 610, T0 + 605, Box(0, 0, 9, 9), 0.7, embedding=face + 0.1 * other
        ),
        Sighting("cam-b", SightingKind.FACE, T0 + 900, T0 + 905, T0 + 901, Box(0, 0, 9, 9), 0.6, embedding=other),
        Sighting(
            "cam-b",
            SightingKind.PLATE,
            T0 + 100,
            T0 + 104,
            T0 + 101,
            Box(5, 5, 50, 20),
            0.9,
            plate=PlateText("桂B12345", (0.9,) * 7),
        ),
        Sighting(
            "cam-a",
            SightingKind.PLATE,
            T0 + 2000,
            T0 + 2004,
            T0 + 2001,
            Box(5, 5, 50, 20),
            0.9,
            plate=PlateText("桂B12345", (0.9,) * 7),
        ),
    ]
    media = [
        SightingMedia(thumbnail=colour_jpeg((i, 2, 3), 16), context=colour_jpeg((3, 2, i), 32))
        for i in range(len(sightings))
    ]
    api.ids = api.catalog.add_sightings(sightings, media)
    yield api
    api.close()


def _export(api: Api, role: str = "investigator", **body):
    return api.client.post("/api/exports", headers=api.as_role(role), json={"reason": CASE, **body})


def _unzip(content: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.testzip() is None
    return {name: archive.read(name) for name in archive.namelist()}


def _rows(files: dict[str, bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files["sightings.csv"].decode("utf-8-sig"))))


def test_export_by_ids_is_a_complete_audited_case_file(api: Api) -> None:
    face_id, plate_id = api.ids[0], api.ids[3]
    response = _export(api, sighting_ids=[plate_id, face_id, face_id])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="skynet-export-')
    files = _unzip(response.content)
    assert set(files) == {
        "manifest.json",
        "sightings.csv",
        f"thumbnails/{face_id}.jpg",
        f"context/{face_id}.jpg",
        f"thumbnails/{plate_id}.jpg",
        f"context/{plate_id}.jpg",
    }
    stored = api.catalog.store.sightings.get(face_id)
    assert files[f"thumbnails/{face_id}.jpg"] == (api.system.settings.data_dir / stored.thumbnail_path).read_bytes()

    rows = _rows(files)
    assert [int(r["sighting_id"]) for r in rows] == [face_id, plate_id]  # oldest first, once each
    face_row, plate_row = rows
    assert face_row["camera_name"] == "Gate A" and face_row["best_time_utc"] == "2027-01-15T08:00:02.000+00:00"
    assert face_row["origin_file"] == "rtsp://***@10.0.0.9/rec.mp4" and face_row["origin_offset_s"] == "12.5"
    assert face_row["thumbnail"] == f"thumbnails/{face_id}.jpg" and face_row["similarity"] == ""
    assert plate_row["plate"] == "桂B12345" and plate_row["kind"] == "plate"

    manifest = json.loads(files["manifest.json"])
    assert (manifest["created_by"], manifest["role"], manifest["reason"]) == ("investigator", "investigator", CASE)
    assert manifest["sighting_ids"] == [face_id, plate_id] and manifest["missing_media"] == []
    assert [c["id"] for c in manifest["cameras"]] == ["cam-a", "cam-b"]
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name != "manifest.json"
    }

    [event] = api.catalog.store.audit.events(10, action="export")
    assert (event.actor, event.action, event.reason) == ("investigator", "export.create", CASE)
    assert event.detail["export"] == manifest["export_id"] and event.detail["sighting_ids"] == [face_id, plate_id]


def test_camera_credentials_never_appear_in_an_export(api: Api) -> None:
    response = _export(api, plate={"q": "桂B12345"}, trajectory=True)
    assert response.status_code == 200
    everything = response.content + b"".join(_unzip(response.content).values())
    assert b"hunter2secret" not in everything and SECRET_URL.encode() not in everything


def test_export_a_plate_query_with_its_trajectory(api: Api) -> None:
    response = _export(
        api, plate={"q": "桂B12345", "mode": "exact"}, trajectory=True, media=False, since=T0, until=T0 + 1000
    )
    assert response.status_code == 200, response.text
    files = _unzip(response.content)
    assert set(files) == {"manifest.json", "sightings.csv", "trajectory.geojson"}
    rows = _rows(files)
    assert [int(r["sighting_id"]) for r in rows] == [api.ids[3]]  # the later read is outside the time range
    assert rows[0]["plate_distance"] == "0.0" and rows[0]["thumbnail"] == ""
    geojson = json.loads(files["trajectory.geojson"])
    assert geojson["type"] == "FeatureCollection"
    [stop] = [f for f in geojson["features"] if f["properties"]["role"] == "stop"]
    assert stop["geometry"]["coordinates"] == [108.33, 22.82] and stop["properties"]["camera_id"] == "cam-b"


def test_export_a_face_query_with_similarities(api: Api) -> None:
    response = _export(api, face={"sighting_id": api.ids[0], "min_similarity": 0.9})
    assert response.status_code == 200, response.text
    rows = _rows(_unzip(response.content))
    assert [int(r["sighting_id"]) for r in rows] == api.ids[:2]  # not the dissimilar third face
    assert float(rows[0]["similarity"]) == pytest.approx(1.0, abs=1e-5)
    assert 0.9 < float(rows[1]["similarity"]) < 1.0


def test_bad_export_requests_get_clear_answers(api: Api) -> None:
    assert _export(api, role="operator", sighting_ids=[api.ids[0]]).status_code == 403
    both = _export(api, sighting_ids=[api.ids[0]], plate={"q": "B1"})
    assert both.status_code == 422 and "exactly one of" in str(both.json()["detail"])
    assert _export(api).status_code == 422
    no_reason = api.client.post("/api/exports", headers=api.as_role("investigator"), json={"sighting_ids": [1]})
    assert no_reason.status_code == 422
    missing = _export(api, sighting_ids=[api.ids[0], 999_999])
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    not_a_face = _export(api, face={"sighting_id": api.ids[3]})
    assert not_a_face.status_code == 422 and "not a face" in not_a_face.json()["detail"]
    assert api.catalog.store.audit.events(10, action="export") == []  # refused exports are not exports


def test_the_zip_goes_out_member_by_member() -> None:
    members = [Member(f"m{i}.bin", bytes([i]) * 50_000, compress=i % 2 == 0) for i in range(4)]
    chunks = list(zip_chunks(members))
    assert len(chunks) == 5 and all(chunks[:4])
    assert max(len(c) for c in chunks) < 60_000  # one member at a time, never the whole archive
    assert _unzip(b"".join(chunks)) == {m.name: m.data for m in members}
