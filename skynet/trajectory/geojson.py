"""A trajectory as JSON: its stops and transitions plus a GeoJSON map (RFC 7946).

Every feature has a ``role`` property: ``stop`` (a Point per positioned stop, with the stop's
fields), ``path`` (a LineString over a run of plausible transitions) or ``transition`` (a separate
LineString per implausible transition, ``implausible: true`` with its speed and distance), so a map
never draws an impossible move as an ordinary segment. Coordinates are [longitude, latitude].
"""

from __future__ import annotations

from typing import Any

from skynet.serialize import to_jsonable
from skynet.trajectory.build import Stop, Trajectory, Transition

COORDINATE_DIGITS = 6  # ~0.1 m


def trajectory_json(trajectory: Trajectory) -> dict[str, Any]:
    """The whole trajectory as a JSON-ready dict: stops, transitions, notes, options, ``geojson``."""
    result: dict[str, Any] = to_jsonable(trajectory, digits=COORDINATE_DIGITS)
    result["geojson"] = to_geojson(trajectory)
    return result


def to_geojson(trajectory: Trajectory) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the trajectory's path, implausible moves and stops."""
    stops = trajectory.stops
    features: list[dict[str, Any]] = []
    run: list[Transition] = []
    for transition in trajectory.transitions:
        if transition.implausible:
            features.extend(_path(stops, run))
            run = []
            features.append(_implausible(stops, transition))
        else:
            run.append(transition)
    features.extend(_path(stops, run))
    features.extend(_point(stop) for stop in stops if stop.position is not None)
    return {"type": "FeatureCollection", "features": features}


def _coordinates(stop: Stop) -> list[float]:
    """GeoJSON order: [longitude, latitude]. Only for stops with a position."""
    assert stop.position is not None
    latitude, longitude = stop.position
    return [round(longitude, COORDINATE_DIGITS), round(latitude, COORDINATE_DIGITS)]


def _line(coordinates: list[list[float]], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coordinates}, "properties": properties}


def _path(stops: tuple[Stop, ...], run: list[Transition]) -> list[dict[str, Any]]:
    if not run:
        return []
    coordinates = [_coordinates(stops[run[0].from_stop])] + [_coordinates(stops[t.to_stop]) for t in run]
    properties = {"role": "path", "from_stop": run[0].from_stop, "to_stop": run[-1].to_stop, "implausible": False}
    return [_line(coordinates, properties)]


def _implausible(stops: tuple[Stop, ...], transition: Transition) -> dict[str, Any]:
    coordinates = [_coordinates(stops[transition.from_stop]), _coordinates(stops[transition.to_stop])]
    properties = {"role": "transition", **to_jsonable(transition)}
    return _line(coordinates, properties)


def _point(stop: Stop) -> dict[str, Any]:
    properties = {"role": "stop", **to_jsonable(stop)}
    del properties["latitude"], properties["longitude"]
    geometry = {"type": "Point", "coordinates": _coordinates(stop)}
    return {"type": "Feature", "geometry": geometry, "properties": properties}
