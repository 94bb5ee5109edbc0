"""Issue 14, item 10: moving a camera moves no past trajectory stop. A sighting keeps the position its camera
had when it was seen (trajectories, maps and exports use it), and a move is audited with the old and new
position and a reason. Through the whole HTTP app in-process: a real server adds nothing to these rules."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from api_support import Api, colour_jpeg, make_api

from skynet.records import Box, PlateText, Sighting, SightingKind
from skynet.store.sighting_writes import SightingMedia

T0 = 1_750_000_000.0
PLATE = "桂B12345"
CASE = "case 2026-21"
OLD, NEW = (22.81, 108.32), (23.5, 109.0)


@pytest.fixture
def api(tmp_path) -> Api:
    api = make_api(tmp_path)
    yield api
    api.close()


def _seen(api: Api, t: float, camera: str = "cam-a") -> int:
    read = PlateText(PLATE, (0.9,) * len(PLATE))
    sighting = Sighting(camera, SightingKind.PLATE, t, t + 1, t, Box(5, 5, 100, 40), 0.7, plate=read)
    return api.catalog.add_sightings([sighting], [SightingMedia(thumbnail=colour_jpeg((9, 9, 9)))])[0]


def test_a_moved_camera_keeps_past_positions_and_the_move_is_audited(api: Api) -> None:
    before = _seen(api, T0)
    _seen(api, T0 + 600, "cam-b")
    operator = api.as_role("operator")
    move = {"latitude": NEW[0], "longitude": NEW[1]}
    assert api.client.patch("/api/cameras/cam-a", headers=operator, json=move).status_code == 422  # no reason
    assert api.client.patch("/api/cameras/cam-a", headers=operator, json={**move, "reason": "..."}).status_code == 422
    moved = api.client.patch("/api/cameras/cam-a", headers=operator, json={**move, "reason": "pole moved, ticket 88"})
    assert moved.status_code == 200 and (moved.json()["latitude"], moved.json()["longitude"]) == NEW
    after = _seen(api, T0 + 1200)

    investigator = api.as_role("investigator")
    trajectory = api.client.get("/api/trajectory/plate", headers=investigator, params={"q": PLATE, "reason": CASE})
    assert trajectory.status_code == 200, trajectory.text
    stops = [(s["camera_id"], s["latitude"], s["longitude"]) for s in trajectory.json()["stops"]]
    assert stops == [("cam-a", *OLD), ("cam-b", 22.82, 108.33), ("cam-a", *NEW)]
    export = api.client.post(
        "/api/exports", headers=investigator, json={"reason": CASE, "sighting_ids": [before, after]}
    )
    rows = list(
        csv.DictReader(
            io.StringIO(zipfile.ZipFile(io.BytesIO(export.content)).read("sightings.csv").decode("utf-8-sig"))
        )
    )
    assert [(r["sighting_id"], float(r["latitude"]), float(r["longitude"])) for r in rows] == [
        (str(before), *OLD),
        (str(after), *NEW),
    ]

    events = api.client.get("/api/audit", headers=api.as_role("admin"), params={"action": "camera.update"}).json()
    assert len(events) == 1
    assert (events[0]["actor"], events[0]["reason"]) == ("operator", "pole moved, ticket 88")
    assert events[0]["detail"]["changes"] == {
        "latitude": {"old": OLD[0], "new": NEW[0]},
        "longitude": {"old": OLD[1], "new": NEW[1]},
    }
