"""Trajectories: matching sightings grouped into stops, moves between cameras, a GeoJSON map."""

from skynet.trajectory.build import (
    VEHICLE_MAX_SPEED_KMH,
    Stop,
    Trajectory,
    TrajectoryOptions,
    Transition,
    build_trajectory,
)
from skynet.trajectory.geojson import to_geojson, trajectory_json

__all__ = [
    "VEHICLE_MAX_SPEED_KMH",
    "Stop",
    "Trajectory",
    "TrajectoryOptions",
    "Transition",
    "build_trajectory",
    "to_geojson",
    "trajectory_json",
]
