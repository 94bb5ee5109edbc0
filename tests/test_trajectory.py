"""Trajectory building: stops, transitions, implausible moves, GeoJSON."""

from __future__ import annotations

import json
import math
import random

import pytest

from skynet.records import Box, Camera, Sighting, SightingKind
from skynet.trajectory import TrajectoryOptions, build_trajectory, to_geojson, trajectory_json
from skynet.trajectory.geo import haversine_m

# Along a meridian, 0.01 degree of latitude is R * pi / 18000 metres.
LAT0, LON0 = 31.2304, 121.4737
METRES_PER_CENTIDEGREE = 6_371_008.8 * math.pi / 18000  # ~1111.95 m

CAMERAS = [
    Camera("a", "Gate A", "rtsp://user:pw@10.0.0.1/s", LAT0, LON0),
    Camera("b", "Gate B", "rtsp://10.0.0.2/s", LAT0 + 0.01, LON0),
    Camera("far", "Far away", "rtsp://10.0.0.3/s", LAT0 + 0.09, LON0),  # ~10 km north of a
    Camera("next-door", "Next to A", "rtsp://10.0.0.4/s", LAT0 + 0.0003, LON0),  # ~33 m from a
    Camera("nopos", "No position", "rtsp://10.0.0.5/s"),
    Camera("bad", "Bad position", "rtsp://10.0.0.6/s", 123.0, LON0),
]

_next_id = iter(range(1, 10_000))


def sighting(camera: str, first: float, last: float, quality: float = 0.5, thumb: str | None = "t.jpg") -> Sighting:
    sid = next(_next_id)
    return Sighting(
        camera_id=camera,
        kind=SightingKind.PLATE,
        first_seen=first,
        last_seen=last,
        best_time=(first + last) / 2,
        box=Box(0, 0, 10, 10),
        quality=quality,
        thumbnail_path=None if thumb is None else f"thumbs/{sid}-{thumb}",
        id=sid,
    )


def test_haversine_matches_meridian_arc_and_is_symmetric():
    d = haversine_m(LAT0, LON0, LAT0 + 0.01, LON0)
    assert d == pytest.approx(METRES_PER_CENTIDEGREE, rel=1e-9)
    assert haversine_m(LAT0 + 0.01, LON0, LAT0, LON0) == pytest.approx(d)
    assert haversine_m(LAT0, LON0, LAT0, LON0) == 0.0
    # Half the equator.
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * 6_371_008.8)


def test_consecutive_sightings_at_one_camera_merge_within_gap_in_any_input_order():
    seen = [
        sighting("a", 100, 110),
        sighting("a", 150, 160),  # 40 s after the run's departure -> same stop
        sighting("a", 155, 158),  # contained
        sighting("a", 700, 705),  # 540 s later -> new stop at the same camera
        sighting("b", 800, 820),
    ]
    shuffled = seen[:]
    random.Random(3).shuffle(shuffled)
    trajectory = build_trajectory(shuffled, CAMERAS, TrajectoryOptions(merge_gap_s=300))

    assert [(s.camera_id, s.arrival, s.departure, s.sighting_count) for s in trajectory.stops] == [
        ("a", 100, 160, 3),
        ("a", 700, 705, 1),
        ("b", 800, 820, 1),
    ]
    assert trajectory.stops[0].dwell_s == 60
    assert trajectory.stops[0].sighting_ids == tuple(s.id for s in seen[:3])
    assert [s.index for s in trajectory.stops] == [0, 1, 2]
    assert trajectory.stops[2].camera_name == "Gate B"
    # A smaller gap splits the first run.
    split = build_trajectory(seen, CAMERAS, TrajectoryOptions(merge_gap_s=30))
    assert [s.sighting_count for s in split.stops] == [1, 2, 1, 1]


def test_a_different_camera_in_between_breaks_the_run():
    trajectory = build_trajectory([sighting("a", 0, 10), sighting("next-door", 12, 14), sighting("a", 16, 20)], CAMERAS)
    assert [s.camera_id for s in trajectory.stops] == ["a", "next-door", "a"]


def test_best_sighting_is_highest_quality_with_a_thumbnail():
    low = sighting("a", 0, 1, quality=0.3)
    high = sighting("a", 2, 3, quality=0.9)
    highest_no_thumb = sighting("a", 4, 5, quality=0.99, thumb=None)
    stop = build_trajectory([low, highest_no_thumb, high], CAMERAS).stops[0]
    assert stop.best_sighting_id == high.id
    assert stop.best_quality == 0.9
    assert stop.thumbnail_path == high.thumbnail_path

    only_unthumbed = build_trajectory([sighting("a", 0, 1, 0.2, None), sighting("a", 2, 3, 0.7, None)], CAMERAS)
    assert only_unthumbed.stops[0].thumbnail_path is None
    assert only_unthumbed.stops[0].best_quality == 0.7


def test_transition_speed_and_implausible_flag():
    trajectory = build_trajectory(
        [
            sighting("a", 0, 10),
            sighting("b", 70, 80),  # 1112 m in 60 s = 66.7 km/h
            sighting("far", 140, 150),  # 8.9 km in 60 s = 534 km/h
        ],
        CAMERAS,
    )
    ab, bfar = trajectory.transitions
    assert (ab.from_stop, ab.to_stop, ab.from_camera_id, ab.to_camera_id) == (0, 1, "a", "b")
    assert ab.seconds == 60
    assert ab.distance_m == pytest.approx(METRES_PER_CENTIDEGREE, rel=1e-6)
    assert ab.speed_kmh == pytest.approx(METRES_PER_CENTIDEGREE / 60 * 3.6, rel=1e-6)
    assert not ab.implausible
    assert bfar.distance_m == pytest.approx(8 * METRES_PER_CENTIDEGREE, rel=1e-6)
    assert bfar.speed_kmh == pytest.approx(8 * METRES_PER_CENTIDEGREE / 60 * 3.6, rel=1e-6)
    assert bfar.implausible
    assert trajectory.implausible == (bfar,)


def test_max_speed_is_a_parameter():
    seen = [sighting("a", 0, 10), sighting("b", 70, 80)]  # 66.7 km/h
    assert not build_trajectory(seen, CAMERAS, TrajectoryOptions(max_speed_kmh=150)).transitions[0].implausible
    assert build_trajectory(seen, CAMERAS, TrajectoryOptions(max_speed_kmh=15)).transitions[0].implausible


def test_overlapping_stops_far_apart_are_implausible_but_neighbours_are_not():
    far = build_trajectory([sighting("a", 0, 100), sighting("far", 50, 60)], CAMERAS).transitions[0]
    assert far.seconds == -50
    assert far.speed_kmh is None
    assert far.implausible

    # Neighbouring cameras (33 m apart, within the 50 m tolerance) may see the same car at once.
    near = build_trajectory([sighting("a", 0, 100), sighting("next-door", 50, 60)], CAMERAS).transitions[0]
    assert near.distance_m == pytest.approx(0.03 * METRES_PER_CENTIDEGREE, rel=1e-6)
    assert not near.implausible
    strict = TrajectoryOptions(position_tolerance_m=0)
    assert build_trajectory([sighting("a", 0, 100), sighting("next-door", 50, 60)], CAMERAS, strict).implausible


def test_stops_without_position_are_kept_skipped_on_the_path_and_noted():
    trajectory = build_trajectory(
        [
            sighting("a", 0, 10),
            sighting("nopos", 20, 30),
            sighting("ghost", 40, 50),  # camera not in the list (e.g. deleted)
            sighting("bad", 60, 70),
            sighting("b", 200, 210),
        ],
        CAMERAS,
    )
    assert [s.camera_id for s in trajectory.stops] == ["a", "nopos", "ghost", "bad", "b"]
    assert [s.position is not None for s in trajectory.stops] == [True, False, False, False, True]
    assert trajectory.stops[0].position == (LAT0, LON0)
    assert trajectory.stops[2].camera_name is None
    (only,) = trajectory.transitions
    assert (only.from_stop, only.to_stop, only.skipped_stops) == (0, 4, 3)
    assert only.seconds == 190  # departure from a to arrival at b, across the skipped stops
    notes = " | ".join(trajectory.notes)
    assert "'nopos' has no position" in notes
    assert "'ghost' is not a known camera" in notes
    assert "'bad' has an invalid position (123.0, 121.4737)" in notes


def test_geojson_splits_the_path_around_implausible_moves():
    trajectory = build_trajectory(
        [
            sighting("a", 0, 10),
            sighting("b", 70, 80),
            sighting("far", 140, 150),  # implausible b -> far
            sighting("b", 2000, 2010),  # 8.9 km in 1850 s = 17 km/h
            sighting("nopos", 2100, 2110),
        ],
        CAMERAS,
    )
    geo = to_geojson(trajectory)
    assert geo["type"] == "FeatureCollection"
    by_role: dict[str, list[dict]] = {}
    for feature in geo["features"]:
        by_role.setdefault(feature["properties"]["role"], []).append(feature)

    paths = by_role["path"]
    assert [(p["properties"]["from_stop"], p["properties"]["to_stop"]) for p in paths] == [(0, 1), (2, 3)]
    assert paths[0]["geometry"] == {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0, LAT0 + 0.01]]}
    assert all(p["properties"]["implausible"] is False for p in paths)

    (bad,) = by_role["transition"]
    assert bad["properties"]["implausible"] is True
    assert (bad["properties"]["from_stop"], bad["properties"]["to_stop"]) == (1, 2)
    assert bad["properties"]["speed_kmh"] == pytest.approx(8 * METRES_PER_CENTIDEGREE / 60 * 3.6, abs=1e-3)
    assert bad["geometry"]["coordinates"] == [[LON0, LAT0 + 0.01], [LON0, LAT0 + 0.09]]

    points = by_role["stop"]
    assert [p["properties"]["index"] for p in points] == [0, 1, 2, 3]  # the unpositioned stop 4 is not drawn
    assert points[0]["geometry"] == {"type": "Point", "coordinates": [LON0, LAT0]}
    assert points[0]["properties"]["thumbnail_path"] == trajectory.stops[0].thumbnail_path
    assert "latitude" not in points[0]["properties"]


def test_trajectory_json_is_strict_json_and_hides_camera_urls():
    trajectory = build_trajectory([sighting("a", 0, 10), sighting("far", 12, 20), sighting("nopos", 30, 40)], CAMERAS)
    data = trajectory_json(trajectory)
    text = json.dumps(data, allow_nan=False)
    assert "rtsp" not in text and "pw@" not in text
    assert set(data) == {"stops", "transitions", "notes", "options", "geojson"}
    assert data["options"] == {"merge_gap_s": 300.0, "max_speed_kmh": 150.0, "position_tolerance_m": 50.0}
    assert data["stops"][0]["latitude"] == LAT0
    assert data["transitions"][0]["implausible"] is True
    assert data["transitions"][0]["speed_kmh"] == pytest.approx(9 * METRES_PER_CENTIDEGREE / 2 * 3.6, rel=1e-6)
    assert len(data["notes"]) == 1


def test_no_sightings_give_an_empty_trajectory():
    trajectory = build_trajectory([], CAMERAS)
    assert trajectory.stops == () and trajectory.transitions == () and trajectory.notes == ()
    assert to_geojson(trajectory) == {"type": "FeatureCollection", "features": []}


def test_single_stop_has_a_point_and_no_line():
    geo = to_geojson(build_trajectory([sighting("a", 0, 5)], CAMERAS))
    assert [f["geometry"]["type"] for f in geo["features"]] == ["Point"]


def test_reversed_times_in_a_sighting_do_not_give_negative_dwell():
    stop = build_trajectory([sighting("a", 50, 40)], CAMERAS).stops[0]
    assert (stop.arrival, stop.departure, stop.dwell_s) == (50, 50, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"merge_gap_s": -1}, "merge_gap_s must be >= 0"),
        ({"max_speed_kmh": 0}, "max_speed_kmh must be > 0"),
        ({"max_speed_kmh": float("nan")}, "max_speed_kmh must be > 0"),
        ({"position_tolerance_m": -5}, "position_tolerance_m must be >= 0"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrajectoryOptions(**kwargs)
