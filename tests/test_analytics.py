"""The investigative analyses: the pure rankings, the store's queries on both backends, and the service's
limits and audit."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from store_support import database_url  # noqa: F401  (fixture)

from skynet.accounts.model import Role, User
from skynet.analytics.clones import cloned_plates
from skynet.analytics.companions import companions
from skynet.analytics.intersections import intersect
from skynet.analytics.patterns import first_seen, night_activity
from skynet.config import Settings
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Box, Camera, Observation, ObservationTable, PlateText, Sighting, SightingKind
from skynet.services.analytics import AnalyticsService, Area, Place, Target
from skynet.services.audit import Auditor
from skynet.store import open_store

# three cameras in a row, about 1.1 km apart (0.01 degrees of latitude)
CAMERAS = {
    c.id: c
    for c in (
        Camera("north", "North", "rtsp://10.0.0.1/n", 22.83, 108.32),
        Camera("mid", "Middle", "rtsp://10.0.0.2/m", 22.82, 108.32),
        Camera("south", "South", "rtsp://10.0.0.3/s", 22.81, 108.32),
        Camera("nowhere", "No position", "rtsp://10.0.0.4/x"),
    )
}
T0 = 1_700_000_000.0


def seen(sid: int, key: str, camera: str, at: float, span: float = 4.0) -> Observation:
    return Observation(sid, key, camera, at - span / 2, at + span / 2, at)


def table(*observations: Observation) -> ObservationTable:
    return ObservationTable.of_rows([(o.sighting_id, o.key, o.camera_id, o.first, o.last, o.at) for o in observations])


# --- pure --------------------------------------------------------------------------------------------


def test_a_plate_two_km_apart_within_a_minute_is_a_clone_and_a_normal_drive_is_not():
    observations = table(
        *[
            seen(1, "桂A12345", "north", T0),
            seen(2, "桂A12345", "south", T0 + 60),  # 2.2 km in ~56 s: 140+ km/h
            seen(3, "桂B00001", "north", T0),
            seen(4, "桂B00001", "mid", T0 + 120),  # 1.1 km in 2 min: 33 km/h
            seen(5, "桂C00002", "north", T0),
            seen(6, "桂C00002", "south", T0 + 1),  # both passes overlap: at the same time
            seen(7, "桂D00003", "north", T0),
            seen(8, "桂D00003", "nowhere", T0 + 1),  # a camera without a position says nothing
        ][::-1]  # in no order
    )
    found = cloned_plates(observations, CAMERAS, max_speed_kmh=120)
    assert [c.plate for c in found] == ["桂C00002", "桂A12345"]  # simultaneous first
    assert math.isinf(found[0].speed_kmh) and found[0].gap_s == 0
    assert (found[1].first.sighting_id, found[1].second.sighting_id) == (1, 2)
    assert 2200 < found[1].distance_m < 2250 and 140 < found[1].speed_kmh < 150
    assert cloned_plates(observations, CAMERAS, max_speed_kmh=200)[1:] == []  # only the simultaneous one is left


def test_companions_rank_by_cameras_then_by_how_rare_the_meeting_is():
    target = [seen(1, "TARGET", "north", T0), seen(2, "TARGET", "mid", T0 + 300), seen(3, "TARGET", "south", T0 + 600)]
    near = {
        0: [seen(10, "FRIEND", "north", T0 + 5), seen(20, "BUSY", "north", T0 - 10), seen(30, "ONCE", "north", T0)],
        1: [seen(11, "FRIEND", "mid", T0 + 305), seen(21, "BUSY", "mid", T0 + 290)],
        2: [seen(12, "FRIEND", "south", T0 + 590)],
    }
    # BUSY is at north and mid all day long; FRIEND only when the target is
    counts = {("FRIEND", "north"): 1, ("FRIEND", "mid"): 1, ("FRIEND", "south"): 1, ("BUSY", "north"): 500}
    counts |= {("BUSY", "mid"): 500, ("ONCE", "north"): 1}
    found = companions(target, near, counts, window_s=30, span_s=86400, min_cameras=2)
    assert [c.key for c in found] == ["FRIEND", "BUSY"]  # ONCE: one camera only
    assert found[0].cameras == ("mid", "north", "south")
    assert (10, 1) in found[0].with_target
    two = companions(target[:2], near, counts, window_s=30, span_s=86400, min_cameras=2)
    assert [c.key for c in two] == ["FRIEND", "BUSY"] and two[0].surprise > two[1].surprise + 2
    assert companions(target, near, counts, 30, 86400, 1, exclude=frozenset({"FRIEND"}))[0].key == "BUSY"


def test_intersection_needs_every_place_or_at_least_m():
    present = [{"A", "B", "C"}, {"A", "C"}, {"A", "D"}]
    assert [(p.key, p.at) for p in intersect(present, 3)] == [("A", (0, 1, 2))]
    assert [p.key for p in intersect(present, 2)] == ["A", "C"]
    with pytest.raises(ValueError):
        intersect(present, 4)


def test_first_seen_and_night_activity():
    period = [seen(1, "OLD", "north", T0), seen(2, "NEW", "north", T0 + 50), seen(3, "NEW", "mid", T0 + 10)]
    found = first_seen(table(*period), seen_before={"OLD"})
    assert [(f.key, f.first.sighting_id, f.sightings) for f in found] == [("NEW", 3, 2)]
    midnight = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    hours = [1, 2, 3, 23, 14]  # four of five at night
    nightly = [seen(i, "OWL", "north", midnight + h * 3600) for i, h in enumerate(hours)]
    daily = [seen(10 + i, "LARK", "north", midnight + h * 3600) for i, h in enumerate((9, 10, 11, 12))]
    found = night_activity(table(*nightly, *daily), UTC, (22, 6), min_sightings=3, min_fraction=0.7)
    assert [(n.key, n.night, n.sightings, n.sighting_ids) for n in found] == [("OWL", 4, 5, (0, 1, 2, 3))]
    assert first_seen(table(), set()) == [] and night_activity(table(), UTC, (22, 6), 1, 0.5) == []


# --- the store and the service, on both backends ------------------------------------------------------


def plate(camera: str, text: str, at: float, span: float = 4.0) -> Sighting:
    read = PlateText(text, (0.95,) * len(text))
    return Sighting(camera, SightingKind.PLATE, at - span / 2, at + span / 2, at, Box(0, 0, 90, 30), 0.9, plate=read)


@pytest.fixture
def analytics(tmp_path, database_url):  # noqa: F811
    store = open_store(tmp_path, database_url)
    for camera in CAMERAS.values():
        store.cameras.save(camera)
    sightings = [
        plate("north", "桂A12345", T0),
        plate("south", "桂A12345", T0 + 30),  # the clone
        plate("north", "桂F11111", T0 + 10),  # FRIEND of the target 桂T00000
        plate("mid", "桂F11111", T0 + 610),
        plate("north", "桂T00000", T0 + 5),
        plate("mid", "桂T00000", T0 + 600),
        plate("south", "桂T00000", T0 + 2000),
        plate("mid", "桂X99999", T0 - 5 * 86400),  # seen days before: not new
        plate("mid", "桂X99999", T0 + 20),
    ]
    store.sightings.add(sightings)
    settings = Settings(data_dir=tmp_path, analysis_max_span_days=7)
    auditor = Auditor(store.audit, lambda: T0)
    service = AnalyticsService(store, search=None, auditor=auditor, settings=settings)  # type: ignore[arg-type]
    yield service, store
    store.close()


ANALYST = User("ana", Role.INVESTIGATOR, 0.0)


def test_the_service_finds_each_pattern_in_the_store_and_audits_it(analytics):
    service, store = analytics
    clones = service.cloned_plates(ANALYST, "case 2026-17", T0 - 3600, T0 + 3600)
    assert [c.plate for c in clones] == ["桂A12345"]
    passes, found = service.companions(ANALYST, "case 2026-17", Target(plate="桂T00000"), T0 - 60, T0 + 3600, 30, 2)
    assert len(passes) == 3 and [c.key for c in found] == ["桂F11111"]
    places = [Place(Area(("north",)), T0 - 60, T0 + 60), Place(Area(("mid",)), T0 + 500, T0 + 700)]
    assert [p.key for p in service.intersections(ANALYST, "case 2026-17", places)] == ["桂F11111", "桂T00000"]
    circle = Area(latitude=22.82, longitude=108.32, radius_m=500)  # the middle camera only
    new = service.first_seen(ANALYST, "case 2026-17", circle, T0 - 60, T0 + 3600, lookback_s=6 * 86400)
    assert [f.key for f in new] == ["桂T00000", "桂F11111"]  # earliest first; 桂X99999 was there days before
    actions = [e.action for e in store.audit.events(10)]
    assert actions[:4] == [
        "analysis.first_seen",
        "analysis.intersections",
        "analysis.companions",
        "analysis.cloned_plates",
    ]
    event = store.audit.events(1, action="analysis.companions")[0]
    assert event.reason == "case 2026-17" and event.detail["results"] == 1
    assert event.detail["target"] == {"plate": "桂T00000", "face_sighting_id": None, "identity_id": None}


def test_the_service_keeps_to_its_limits(analytics):
    service, _ = analytics
    with pytest.raises(InvalidInputError, match="analyses may span 7"):
        service.cloned_plates(ANALYST, "case 1", T0, T0 + 8 * 86400)
    with pytest.raises(InvalidInputError, match="since < until"):
        service.cloned_plates(ANALYST, "case 1", T0, T0 - 1)
    with pytest.raises(InvalidInputError, match="since < until"):
        service.cloned_plates(ANALYST, "case 1", math.nan, T0)
    with pytest.raises(NotFoundError, match="unknown cameras: nope"):
        service.first_seen(ANALYST, "case 1", Area(("nope",)), T0, T0 + 60, 86400)
    with pytest.raises(InvalidInputError, match="window_s"):
        service.companions(ANALYST, "case 1", Target(plate="桂T00000"), T0, T0 + 60, window_s=10_000)
