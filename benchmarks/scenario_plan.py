"""The plan of a multi-camera scenario: cameras on a map, people and vehicles on routes, visits.

Pure and seeded: the same data sets, parameters and seed give the same plan. Each camera has
lanes (two rows of two for people, one row of two for vehicles); an object keeps its lane for
the whole visit and a lane holds one object at a time (with a gap), so objects never overlap.
Times are seconds from the scenario's start, which is every camera's first frame.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ORIGIN = (22.5431, 114.0579)  # a street corner in Shenzhen: the map's first camera
METRES_PER_DEGREE = 111_320.0
EDGE_S = 3.0  # nothing shows in a clip's first and last seconds (a live client connects, tracks end)
LANE_GAP_S = 3.0  # a lane stays empty this long between two objects (longer than the tracker's 2 s)
FACE_LANES = ((0, 0.22), (1, 0.22), (0, 0.53), (1, 0.53))  # (half of the width, row centre / height)
PLATE_LANES = ((0, 0.84), (1, 0.84))
PEOPLE = {"speed_mps": (1.2, 1.7), "dwell_s": (5.0, 8.0), "max_visits": 4}
VEHICLES = {"speed_mps": (6.0, 12.0), "dwell_s": (4.0, 6.5), "max_visits": 5}


@dataclass(frozen=True, slots=True)
class Params:
    """What a scenario is built from and how big it is."""

    faces: Path
    plates: Path | None  # None: synthetic plates
    cameras: int = 8
    people: int = 20
    vehicles: int = 20
    seconds: float = 120.0
    width: int = 1280
    height: int = 720
    fps: int = 25
    live: int = 2
    watch_people: int = 5
    watch_vehicles: int = 5
    spacing_m: float = 60.0
    held_back: int = 1
    seed: int = 0


@dataclass(frozen=True, slots=True)
class CameraPlan:
    id: str
    name: str
    latitude: float
    longitude: float
    mode: str  # "live" (RTSP) or "archive" (re-indexed)
    file: str  # the clip, relative to the scenario directory


@dataclass(frozen=True, slots=True)
class Entity:
    """A person (``identity``, photos to paste and photos held back) or a vehicle (``plate`` text)."""

    kind: str  # "face" or "plate"
    key: str  # identity label or plate text
    assets: tuple[str, ...]  # face photos / plate crop pasted in the video ("" = synthetic plate)
    queries: tuple[str, ...] = ()  # face photos never pasted: the query photos


@dataclass(frozen=True, slots=True)
class Visit:
    """One pass of one entity past one camera, fully visible from ``t_in`` to ``t_out``."""

    kind: str
    key: str
    camera: str
    t_in: float
    t_out: float
    lane: int
    asset: str
    x0: float  # centre at t_in and t_out, as fractions of the lane's width
    x1: float
    size0: float  # face height or plate width in pixels at t_in and t_out
    size1: float
    blur: float  # Gaussian sigma in pixels
    colour: tuple[int, int, int] = (0, 0, 0)  # vehicle body (BGR)


@dataclass
class Plan:
    params: Params
    cameras: list[CameraPlan]
    entities: list[Entity]
    visits: list[Visit]
    watch: dict[str, list[str]] = field(default_factory=dict)  # kind -> keys on the watch-list
    analyses: dict[str, Any] = field(default_factory=dict)  # what plant_analyses planted (its ground truth)


def read_labels(directory: Path, column: str) -> dict[str, list[str]]:
    """``column`` value -> the files of ``directory/labels.csv`` holding it (a clear error on a bad set)."""
    labels = directory / "labels.csv"
    if not labels.is_file() or not (directory / "images").is_dir():
        raise SystemExit(f"{directory}: expected labels.csv beside an images/ folder")
    groups: dict[str, list[str]] = defaultdict(list)
    with labels.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if column not in row or "filename" not in row:
                raise SystemExit(f"{labels}: needs the columns filename and {column}")
            groups[row[column]].append(row["filename"])
    return groups


def position(index: int, count: int, spacing_m: float, rng: np.random.Generator) -> tuple[float, float]:
    """Camera ``index`` on a grid of two rows, ``spacing_m`` apart, with a few metres of jitter."""
    columns = max(1, math.ceil(count / 2))
    east = (index % columns) * spacing_m + rng.uniform(-8, 8)
    north = (index // columns) * spacing_m + rng.uniform(-8, 8)
    latitude = ORIGIN[0] + north / METRES_PER_DEGREE
    longitude = ORIGIN[1] + east / (METRES_PER_DEGREE * math.cos(math.radians(ORIGIN[0])))
    return latitude, longitude


def distance_m(a: CameraPlan, b: CameraPlan) -> float:
    """Equirectangular distance: exact enough over a few hundred metres."""
    north = (a.latitude - b.latitude) * METRES_PER_DEGREE
    east = (a.longitude - b.longitude) * METRES_PER_DEGREE * math.cos(math.radians(a.latitude))
    return math.hypot(north, east)


def synthetic_plate(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(rng.choice(list(letters + "0123456789"), 5))
    return str(rng.choice(list("京沪粤苏浙鲁川桂皖闽"))) + str(rng.choice(list(letters))) + tail


def pick_entities(params: Params, rng: np.random.Generator) -> list[Entity]:
    """People with enough photos (``held_back`` kept as queries) and vehicles with distinct plates."""
    groups = read_labels(params.faces, "identity")
    usable = sorted(k for k, files in groups.items() if len(files) > params.held_back)
    if len(usable) < params.people:
        raise SystemExit(
            f"{params.faces}: only {len(usable)} identities have more than {params.held_back} "
            f"photos; asked for {params.people} people"
        )
    people = []
    for key in rng.choice(usable, params.people, replace=False):
        files = list(rng.permutation(sorted(groups[key])))
        people.append(Entity("face", str(key), tuple(files[params.held_back :]), tuple(files[: params.held_back])))
    if params.plates is None:
        texts: dict[str, str] = {}
        while len(texts) < params.vehicles:
            texts.setdefault(synthetic_plate(rng), "")
        vehicles = [Entity("plate", text, ("",)) for text in texts]
    else:
        plates = read_labels(params.plates, "plate_text")
        if len(plates) < params.vehicles:
            raise SystemExit(f"{params.plates}: only {len(plates)} distinct plates; asked for {params.vehicles}")
        vehicles = [
            Entity("plate", str(text), (plates[str(text)][0],))
            for text in rng.choice(sorted(plates), params.vehicles, replace=False)
        ]
    return people + vehicles


class Lanes:
    """Busy intervals of every lane of every camera."""

    def __init__(self) -> None:
        self.busy: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)

    def earliest(self, camera: str, lanes: range, t: float, dwell: float) -> tuple[int, float]:
        """The lane and the earliest start >= ``t`` at which it is free for ``dwell`` seconds."""
        best = (lanes[0], math.inf)
        for lane in lanes:
            taken = sorted(self.busy[(camera, lane)])
            for start in sorted({t, *(end + LANE_GAP_S for _, end in taken if end + LANE_GAP_S > t)}):
                if all(start + dwell + LANE_GAP_S <= a or start >= b + LANE_GAP_S for a, b in taken):
                    if start < best[1]:
                        best = (lane, start)
                    break
        return best

    def take(self, camera: str, lane: int, start: float, end: float) -> None:
        self.busy[(camera, lane)].append((start, end))


def route(
    entity: Entity, cameras: list[CameraPlan], params: Params, lanes: Lanes, rng: np.random.Generator
) -> list[Visit]:
    """Visits of one entity: from a random camera to one of the three nearest unvisited ones, at a
    walking or driving speed, while the clip lasts."""
    person = entity.kind == "face"
    motion = PEOPLE if person else VEHICLES
    lane_ids = range(len(FACE_LANES)) if person else range(len(FACE_LANES), len(FACE_LANES) + len(PLATE_LANES))
    speed = rng.uniform(*motion["speed_mps"])
    here = cameras[int(rng.integers(len(cameras)))]
    t = rng.uniform(EDGE_S, max(EDGE_S, min(params.seconds * 0.5, params.seconds - EDGE_S - motion["dwell_s"][1])))
    visits: list[Visit] = []
    seen: set[str] = set()
    while len(visits) < motion["max_visits"]:
        dwell = rng.uniform(*motion["dwell_s"])
        lane, start = lanes.earliest(here.id, lane_ids, t, dwell)
        if start + dwell > params.seconds - EDGE_S:
            break
        lanes.take(here.id, lane, start, start + dwell)
        size = rng.uniform(75, 105) if person else rng.uniform(105, 140)
        grow = rng.uniform(0.85, 1.25)
        x0, x1 = rng.uniform(0.3, 0.7, 2)
        colour = tuple(int(c) for c in rng.integers(30, 220, 3))
        visits.append(
            Visit(
                entity.kind,
                entity.key,
                here.id,
                round(start, 3),
                round(start + dwell, 3),
                lane,
                str(rng.choice(list(entity.assets))),
                float(x0),
                float(x1),
                size * params.height / 720,
                size * grow * params.height / 720,
                float(rng.uniform(0.0, 1.0)),
                colour,
            )
        )
        seen.add(here.id)
        unvisited = sorted((c for c in cameras if c.id not in seen), key=lambda c: distance_m(here, c))
        if not unvisited:
            break
        nxt = unvisited[int(rng.integers(min(3, len(unvisited))))]
        t = start + dwell + distance_m(here, nxt) / speed * rng.uniform(1.0, 1.25)
        here = nxt
    return visits


def make_plan(params: Params) -> Plan:
    """The whole scenario: cameras (the first ``live`` ones stream over RTSP), entities, visits and
    the watch-list picks (people and vehicles seen by a live camera first)."""
    if params.live > params.cameras or params.cameras < 1:
        raise SystemExit("need at least one camera and no more live cameras than cameras")
    rng = np.random.default_rng(params.seed)
    cameras = []
    for i in range(params.cameras):
        latitude, longitude = position(i, params.cameras, params.spacing_m, rng)
        mode = "live" if i < params.live else "archive"
        cameras.append(
            CameraPlan(
                f"cam{i + 1:02d}",
                f"Street camera {i + 1}",
                round(latitude, 7),
                round(longitude, 7),
                mode,
                f"videos/cam{i + 1:02d}.mp4",
            )
        )
    entities = pick_entities(params, rng)
    lanes = Lanes()
    visits = [v for e in entities for v in route(e, cameras, params, lanes, rng)]
    visits.sort(key=lambda v: (v.camera, v.t_in))
    planted = Plan(params, cameras, entities, visits)
    analyses = plant_analyses(planted, rng)
    live = {c.id for c in cameras if c.mode == "live"}
    watch = {}
    for kind, count in (("face", params.watch_people), ("plate", params.watch_vehicles)):
        keys = [e.key for e in entities if e.kind == kind]
        on_live = [k for k in keys if any(v.key == k and v.camera in live for v in visits)]
        rest = [k for k in keys if k not in on_live]
        watch[kind] = (on_live + rest)[:count]
    return Plan(params, cameras, entities, visits, watch, analyses)


FOLLOW_S = (1.5, 4.0)  # how far behind its companion a follower passes each camera
FOLLOW_SLACK_S = 6.0  # or up to this much later, when the other lane is busy then
INCIDENT_MARGIN_S = 5.0
VEHICLE_LANES = range(len(FACE_LANES), len(FACE_LANES) + len(PLATE_LANES))


def _busy(lanes: Lanes, visits: list[Visit]) -> None:
    for v in visits:
        lanes.take(v.camera, v.lane, v.t_in, v.t_out)


def _lane_at(lanes: Lanes, camera: str, t: float, dwell: float, slack: float) -> tuple[int, float] | None:
    lane, start = lanes.earliest(camera, VEHICLE_LANES, t, dwell)
    return (lane, start) if start <= t + slack else None


def _follow(lanes: Lanes, lead: list[Visit], key: str, rng: np.random.Generator) -> list[Visit]:
    """Visits of vehicle ``key`` passing each camera of route ``lead`` a few seconds behind, where a lane is free."""
    following = []
    for v in lead:
        slot = _lane_at(lanes, v.camera, v.t_in + float(rng.uniform(*FOLLOW_S)), v.t_out - v.t_in, FOLLOW_SLACK_S)
        if slot is not None:
            lane, start = slot
            end = round(start + v.t_out - v.t_in, 3)
            following.append(replace(v, key=key, lane=lane, t_in=round(start, 3), t_out=end, asset=""))
    return following


def plant_analyses(plan: Plan, rng: np.random.Generator) -> dict[str, Any]:
    """Plant what the investigative analyses should find (``benchmarks/scenario_analyses.py``): a clone of a
    vehicle's plate, a vehicle following another, incidents around a third; adds them to ``plan``'s entities
    and visits and returns their ground truth."""
    lanes = Lanes()
    _busy(lanes, plan.visits)
    vehicles = [e for e in plan.entities if e.kind == "plate"]
    routes = {e.key: sorted((v for v in plan.visits if v.key == e.key), key=lambda v: v.t_in) for e in vehicles}
    long_routes = [k for k in sorted(routes, key=lambda k: -len(routes[k])) if len(routes[k]) >= 3]
    truth: dict[str, Any] = {}
    if len(long_routes) < 2 or len(vehicles) < 3:
        return truth  # too small a scenario to plant them
    cameras = {c.id: c for c in plan.cameras}
    # a companion: the follower passes every camera of the leader's route a few seconds behind it
    follower_key = synthetic_plate(rng)
    leader = long_routes[0]
    for candidate in long_routes:  # the first route a follower fits behind at two cameras or more
        following = _follow(lanes, routes[candidate], follower_key, rng)
        if len(following) >= 2:
            leader = candidate
            _busy(lanes, following)
            plan.entities.append(Entity("plate", follower_key, ("",)))
            plan.visits.extend(following)
            truth["companions"] = {"target": leader, "companion": follower_key, "cameras": len(following)}
            break
    # a clone: another car with the plate of `cloned`, far away while `cloned` is seen
    cloned = next(k for k in sorted(routes) if k not in (leader,) and routes[k])
    first = routes[cloned][0]
    far = max(cameras.values(), key=lambda c: distance_m(cameras[first.camera], c))
    slot = _lane_at(lanes, far.id, first.t_in, first.t_out - first.t_in, 2.0)
    if slot is not None:
        lane, start = slot
        clone = replace(
            first, camera=far.id, lane=lane, t_in=round(start, 3), t_out=round(start + first.t_out - first.t_in, 3)
        )
        lanes.take(far.id, lane, clone.t_in, clone.t_out)
        plan.visits.append(clone)
        truth["cloned_plate"] = {
            "plate": cloned,
            "cameras": [first.camera, far.id],
            "distance_m": round(distance_m(cameras[first.camera], far)),
        }
    # incidents around three visits of one vehicle; present at all = every vehicle there each time
    suspect = long_routes[1] if long_routes[1] != cloned else long_routes[0]
    places = [
        {
            "camera": v.camera,
            "since": round(v.t_in - INCIDENT_MARGIN_S, 3),
            "until": round(v.t_out + INCIDENT_MARGIN_S, 3),
        }
        for v in routes[suspect][:3]
    ]
    present = [
        {
            v.key
            for v in plan.visits
            if v.kind == "plate" and v.camera == p["camera"] and v.t_in <= p["until"] and v.t_out >= p["since"]
        }
        for p in places
    ]
    truth["incidents"] = {"places": places, "present_at_all": sorted(set.intersection(*present)), "suspect": suspect}
    plan.visits.sort(key=lambda v: (v.camera, v.t_in))
    return truth


GROUND_TRUTH_FIELDS = ("kind", "identity", "camera", "t_in", "t_out")


def write_plan(plan: Plan, out: Path, backgrounds: list[str]) -> None:
    """``ground_truth.csv`` (kind, identity, camera, t_in, t_out) and ``manifest.json``; camera ``i``
    shows background clip ``i % len(backgrounds)`` (none: a generated street)."""
    with (out / "ground_truth.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GROUND_TRUTH_FIELDS)
        for v in plan.visits:
            writer.writerow((v.kind, v.key, v.camera, f"{v.t_in:.3f}", f"{v.t_out:.3f}"))
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan.params).items()}
    manifest = {
        "params": params,
        "start_offset_s": {c.id: 0.0 for c in plan.cameras},
        "cameras": [asdict(c) for c in plan.cameras],
        "people": [
            {
                "identity": e.key,
                "query_photos": [str(plan.params.faces / "images" / q) for q in e.queries],
                "pasted_photos": list(e.assets),
            }
            for e in plan.entities
            if e.kind == "face"
        ],
        "vehicles": [{"plate": e.key, "asset": e.assets[0]} for e in plan.entities if e.kind == "plate"],
        "watchlist": plan.watch,
        "backgrounds": backgrounds,
        "analyses": plan.analyses,
        "ground_truth": "ground_truth.csv",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
