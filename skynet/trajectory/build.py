"""A person's or vehicle's sightings grouped into time-ordered stops, and the moves between them.

Pure functions over records: no store, no I/O. A *stop* is a run of consecutive sightings at one
camera, each starting less than ``merge_gap_s`` after the run's latest departure. A *transition*
joins two consecutive stops that both have a camera position; stops at cameras without one are
kept in the stop list, skipped on the map, and named in the trajectory's notes. A stop is placed where its
camera was when the sightings were made (``Sighting.position``), so moving a camera later moves no past
stop; a camera moved in between starts a new stop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skynet.records import Camera, Sighting
from skynet.trajectory.geo import haversine_m, valid_position

VEHICLE_MAX_SPEED_KMH = 150.0
"""Default limit: a car on an urban expressway, with margin."""


@dataclass(frozen=True, slots=True)
class TrajectoryOptions:
    """How sightings are grouped and which moves count as physically implausible.

    ``max_speed_kmh``: a move needing a higher average speed is flagged (people ride vehicles too,
    so the default suits faces as well; lower it, e.g. to 15, for a pedestrian-only area).
    ``position_tolerance_m``: camera positions are approximate and neighbouring views overlap, so
    this much distance is always reachable, even in no time.
    """

    merge_gap_s: float = 300.0
    max_speed_kmh: float = VEHICLE_MAX_SPEED_KMH
    position_tolerance_m: float = 50.0

    def __post_init__(self) -> None:
        if not self.merge_gap_s >= 0:
            raise ValueError(f"merge_gap_s must be >= 0 seconds, got {self.merge_gap_s}")
        if not self.max_speed_kmh > 0:
            raise ValueError(f"max_speed_kmh must be > 0, got {self.max_speed_kmh}")
        if not self.position_tolerance_m >= 0:
            raise ValueError(f"position_tolerance_m must be >= 0 metres, got {self.position_tolerance_m}")


@dataclass(frozen=True, slots=True)
class Stop:
    """Time spent at one camera: arrival/departure in Unix seconds, the best sighting's thumbnail.

    ``latitude``/``longitude`` are None when the camera has no (valid) position or is unknown.
    """

    index: int
    camera_id: str
    camera_name: str | None
    latitude: float | None
    longitude: float | None
    arrival: float
    departure: float
    dwell_s: float
    sighting_count: int
    sighting_ids: tuple[int, ...]
    best_sighting_id: int | None
    best_quality: float
    thumbnail_path: str | None
    sources: tuple[str, ...] = ()  # where its sightings came from: video, checkpoint, registration

    @property
    def position(self) -> tuple[float, float] | None:
        """(latitude, longitude), None when the camera has no usable position."""
        if self.latitude is None or self.longitude is None:
            return None
        return self.latitude, self.longitude


@dataclass(frozen=True, slots=True)
class Transition:
    """A move between two positioned stops (``skipped_stops`` unpositioned ones lie between).

    ``seconds`` runs from departure to arrival and is negative when the stops overlap in time;
    ``speed_kmh`` is the implied average speed, None when ``seconds`` <= 0.
    """

    from_stop: int
    to_stop: int
    from_camera_id: str
    to_camera_id: str
    departure: float
    arrival: float
    seconds: float
    distance_m: float
    speed_kmh: float | None
    implausible: bool
    skipped_stops: int


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Stops in time order, transitions between positioned stops, and notes on what is missing."""

    stops: tuple[Stop, ...]
    transitions: tuple[Transition, ...]
    notes: tuple[str, ...]
    options: TrajectoryOptions

    @property
    def implausible(self) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.implausible)


def build_trajectory(
    sightings: Iterable[Sighting], cameras: Iterable[Camera], options: TrajectoryOptions | None = None
) -> Trajectory:
    """The trajectory of one face or plate from its matching ``sightings`` (any order)."""
    options = options or TrajectoryOptions()
    by_id = {camera.id: camera for camera in cameras}
    groups = _group(sorted(sightings, key=_order), options.merge_gap_s)
    stops = tuple(_stop(i, group, by_id.get(group[0].camera_id)) for i, group in enumerate(groups))
    return Trajectory(stops, _transitions(stops, options), _notes(stops, by_id), options)


def _order(sighting: Sighting) -> tuple[float, float, int]:
    return (sighting.first_seen, sighting.last_seen, sighting.id if sighting.id is not None else -1)


def _leaves(sighting: Sighting) -> float:
    return max(sighting.first_seen, sighting.last_seen)


def _group(ordered: Sequence[Sighting], merge_gap_s: float) -> list[list[Sighting]]:
    groups: list[list[Sighting]] = []
    departure = 0.0
    for sighting in ordered:
        last = groups[-1][0] if groups else None
        if (
            last is not None
            and (last.camera_id, last.position) == (sighting.camera_id, sighting.position)
            and sighting.first_seen - departure < merge_gap_s
        ):
            groups[-1].append(sighting)
            departure = max(departure, _leaves(sighting))
        else:
            groups.append([sighting])
            departure = _leaves(sighting)
    return groups


def _stop(index: int, group: Sequence[Sighting], camera: Camera | None) -> Stop:
    # Best view: one with a thumbnail first, then the highest quality, then the earliest.
    best = max(group, key=lambda s: (s.thumbnail_path is not None, s.quality, -s.best_time))
    arrival = min(s.first_seen for s in group)
    departure = max(_leaves(s) for s in group)
    latitude = longitude = None
    position = position_of(group[0], camera)
    if position is not None and valid_position(*position):
        latitude, longitude = position
    return Stop(
        index=index,
        camera_id=group[0].camera_id,
        camera_name=camera.name if camera else None,
        latitude=latitude,
        longitude=longitude,
        arrival=arrival,
        departure=departure,
        dwell_s=departure - arrival,
        sighting_count=len(group),
        sighting_ids=tuple(s.id for s in group if s.id is not None),
        best_sighting_id=best.id,
        best_quality=best.quality,
        thumbnail_path=best.thumbnail_path,
        sources=tuple(sorted({s.source.value for s in group})),
    )


def position_of(sighting: Sighting, camera: Camera | None) -> tuple[float | None, float | None] | None:
    """Where the sighting's camera was when it was seen; its position now for a sighting that has none."""
    if sighting.position is not None:
        return sighting.position
    return (camera.latitude, camera.longitude) if camera is not None else None


def _transitions(stops: Sequence[Stop], options: TrajectoryOptions) -> tuple[Transition, ...]:
    placed = [(stop, position) for stop in stops if (position := stop.position) is not None]
    reach_mps = options.max_speed_kmh / 3.6
    result = []
    for (a, position_a), (b, position_b) in itertools.pairwise(placed):
        distance = haversine_m(*position_a, *position_b)
        seconds = b.arrival - a.departure
        result.append(
            Transition(
                from_stop=a.index,
                to_stop=b.index,
                from_camera_id=a.camera_id,
                to_camera_id=b.camera_id,
                departure=a.departure,
                arrival=b.arrival,
                seconds=seconds,
                distance_m=distance,
                speed_kmh=distance / seconds * 3.6 if seconds > 0 else None,
                implausible=distance - options.position_tolerance_m > reach_mps * max(seconds, 0.0),
                skipped_stops=b.index - a.index - 1,
            )
        )
    return tuple(result)


def _notes(stops: Sequence[Stop], cameras: dict[str, Camera]) -> tuple[str, ...]:
    unplaced: dict[str, int] = {}
    for stop in stops:
        if stop.position is None:
            unplaced[stop.camera_id] = unplaced.get(stop.camera_id, 0) + 1
    notes = []
    for camera_id, count in unplaced.items():
        camera = cameras.get(camera_id)
        if camera is None:
            why = "is not a known camera"
        elif camera.latitude is None or camera.longitude is None:
            why = "has no position"
        else:
            why = f"has an invalid position ({camera.latitude}, {camera.longitude})"
        notes.append(f"camera {camera_id!r} {why}: {count} stop(s) there are left off the map path")
    return tuple(notes)
