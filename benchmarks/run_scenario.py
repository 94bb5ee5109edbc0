"""Run a scenario (``benchmarks/scenario.py``) through the real Skynet service and score it.

    .venv/bin/python benchmarks/run_scenario.py /tmp/scenario [--json results.json] [--out DIR]

What ``skynet serve`` runs — the all-in-one system of the composition root (camera workers, batching
store writer, watch-list matcher, alert fan-out, jobs, the FastAPI app) under uvicorn on 127.0.0.1 —
on a fresh data directory, driven only through its HTTP API:

1. every watch-list pick goes on the watch-list (``POST /api/watchlist``: people by their held-back
   photos, vehicles by exact plate), and a client listens on ``WS /api/live`` for alerts;
2. live part: the ``live`` cameras' clips are served by a real RTSP server (GStreamer) and added as
   cameras (``POST /api/cameras``); they run for the clip's length, then stop;
3. archive part: the other cameras' clips are decoded once without analysis (the decode-only
   baseline), then re-indexed (``POST /api/jobs/reindex``, all at once) with the live part's start
   as their start time, so every camera shares one clock;
4. every person is searched by a held-back photo (``POST /api/search/face``, ``POST
   /api/trajectory``) and every vehicle by plate (``GET /api/search/plate``, ``GET
   /api/trajectory/plate``).

Scores follow the matching rules in ``scenario_score.py``. Prints a table, writes the JSON
(``--json``) and PNG plots (``--out``: face search precision-recall, alert latency histogram, one
person's trajectory over the camera map).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import uvicorn
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scenario_analyses
import scenario_plots as plots
import scenario_score as score
from bench_ingest import decode_only
from ingest_support import RtspServer, rtsp_server_available

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.app import build
from skynet.config import Settings
from skynet.records import Camera
from skynet.system import System, SystemRole

REASON = "scenario benchmark"
TARGETS = {  # (result path, minimum or maximum, target) from issue 6
    "face stop recall": (("trajectory", "face", "recall"), ">=", 0.90),
    "face stop precision": (("trajectory", "face", "precision"), ">=", 0.95),
    "plate stop recall": (("trajectory", "plate", "recall"), ">=", 0.95),
    "plate stop precision": (("trajectory", "plate", "precision"), ">=", 0.98),
    "live alert recall": (("alerts", "live", "recall"), ">=", 0.95),
    "live alert p99 latency s": (("alerts", "live", "latency_from_appearance_p99_s"), "<=", 1.0),
    "live duplicate alerts (one per pass)": (("alerts", "live", "duplicate_alerts"), "<=", 0),  # issue 16
}


@dataclass
class Service:
    """The in-process service: its system, the HTTP base URL, an admin token, every stored sighting."""

    system: System
    server: uvicorn.Server
    thread: threading.Thread
    base: str
    token: str
    sightings: list = field(default_factory=list)

    def close(self) -> None:
        """Stop the server (the system stops its cameras and flushes the writer), close the store."""
        self.server.should_exit = True
        self.thread.join(60)
        self.system.close()


def start_service(settings: Settings, analysers: int) -> Service:
    """The system ``skynet serve`` runs, built by the composition root and served on a free local port."""
    system = build(settings, SystemRole.ALL_IN_ONE, analysers=analysers)
    store = system.catalog.store
    user = store.users.add_user(User("scenario", Role.ADMIN, time.time()))
    token, _ = issue_token(store.users, user, time.time(), ttl_s=24 * 3600)
    config = uvicorn.Config(system.api, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start within 60 s")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]  # the port the server bound (port 0: the OS chose)
    service = Service(system, server, thread, f"http://127.0.0.1:{port}", token)
    system.writer.add_listener(service.sightings.extend)
    return service


class AlertListener:
    """A ``/api/live`` client in its own thread, keeping (receipt time, alert data) of every alert."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.alerts: list[tuple[float, dict]] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="live-client", daemon=True)

    def start(self) -> AlertListener:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("could not connect to /api/live")
        return self

    async def _run(self) -> None:
        async with websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
            self._ready.set()
            while not self._stop.is_set():
                try:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:  # the server is shutting down
                    return
                if event["type"] == "alert":
                    self.alerts.append((time.time(), event["data"]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def register_watchlist(client: httpx.Client, manifest: dict) -> int:
    """Watch-list entries for the picks: faces from their held-back photos, plates by exact text."""
    photos = {p["identity"]: p["query_photos"] for p in manifest["people"]}
    count = 0
    for identity in manifest["watchlist"]["face"]:
        files = [("photos", (Path(p).name, Path(p).read_bytes(), "image/jpeg")) for p in photos[identity]]
        client.post(
            "/api/watchlist", data={"kind": "face", "label": identity, "reason": REASON}, files=files
        ).raise_for_status()
        count += 1
    for plate in manifest["watchlist"]["plate"]:
        client.post(
            "/api/watchlist", data={"kind": "plate", "label": plate, "pattern": plate, "reason": REASON}
        ).raise_for_status()
        count += 1
    return count


def run_live(service: Service, client: httpx.Client, scenario: Path, manifest: dict) -> tuple[float, dict]:
    """Serve the live cameras' clips over RTSP for one clip length; returns (start time, statistics)."""
    seconds = manifest["params"]["seconds"]
    live = [c for c in manifest["cameras"] if c["mode"] == "live"]
    if not live:
        return time.time(), {"cameras": 0, "drop_fraction": 0.0}
    server = RtspServer({c["id"]: scenario / c["file"] for c in live}).start()
    t0 = time.time()  # the server's feeders start playing every clip when it reports READY
    try:
        for c in live:
            client.post(
                "/api/cameras",
                json={
                    "id": c["id"],
                    "name": c["name"],
                    "source_url": server.url(c["id"]),
                    "latitude": c["latitude"],
                    "longitude": c["longitude"],
                    "tags": ["scenario", "live"],
                    "reason": REASON,
                },
            ).raise_for_status()
        time.sleep(max(0.0, t0 + seconds - time.time()))
        cameras = service.system.camera_workers
        assert cameras is not None
        statuses = [cameras.status(c["id"]) for c in live]
        for c in live:
            cameras.stop_camera(c["id"])
    finally:
        server.kill()
    service.system.writer.flush()
    read = sum(s.frames_read for s in statuses if s)
    analysed = sum(s.frames_analysed for s in statuses if s)
    dropped = sum(s.frames_dropped for s in statuses if s)
    fps = manifest["params"]["fps"]
    return t0, {
        "cameras": len(live),
        "seconds": seconds,
        "frames_read": read,
        "frames_expected": round(len(live) * seconds * fps),
        "frames_analysed": analysed,
        "frames_dropped": dropped,
        "drop_fraction": round(dropped / (analysed + dropped), 4) if analysed + dropped else 0.0,
    }


def run_archive(service: Service, client: httpx.Client, scenario: Path, manifest: dict, t0: float) -> dict:
    """Decode-only baseline, then every archive camera re-indexed at once through the jobs API."""
    archive = [c for c in manifest["cameras"] if c["mode"] == "archive"]
    if not archive:
        return {"cameras": 0}
    for c in archive:  # archive-only cameras: positioned, no live source, so no worker runs for them
        service.system.catalog.store.cameras.save(
            Camera(c["id"], c["name"], "", c["latitude"], c["longitude"], ("scenario", "archive"))
        )
    files = [scenario / c["file"] for c in archive]
    decode_fps, _ = decode_only(files)  # the same decode-only baseline as bench_ingest.py
    started = time.perf_counter()
    jobs = [
        client.post(
            "/api/jobs/reindex",
            json={"paths": [str(f.resolve())], "camera": c["id"], "start": t0, "force": True, "reason": REASON},
        ).json()["id"]
        for f, c in zip(files, archive)
    ]
    done: dict[int, dict] = {}
    while len(done) < len(jobs):
        time.sleep(1.0)
        for job in jobs:
            record = client.get(f"/api/jobs/{job}").json()
            if record["state"] in ("done", "failed"):
                done.setdefault(job, record)
    wall = time.perf_counter() - started
    service.system.writer.flush()
    frames = sum(r["frames"] for r in done.values())
    video_s = len(archive) * manifest["params"]["seconds"]
    return {
        "cameras": len(archive),
        "frames": frames,
        "wall_s": round(wall, 1),
        "decode_only_fps": round(decode_fps, 1),
        "reindex_fps": round(frames / wall, 1),
        "reindex_vs_decode_ratio": round(frames / wall / decode_fps, 4),
        "reindex_x_realtime": round(video_s / wall, 3),
        "errors": [e for r in done.values() for e in r["errors"]],
    }


def _span(sighting: dict, t0: float, similarity: float = 0.0) -> score.Span:
    """A sighting of an API answer (``plate`` a string) or a live event (``plate`` an object)."""
    plate = sighting.get("plate")
    text = plate.get("text") if isinstance(plate, dict) else plate
    return score.Span(sighting["camera_id"], sighting["first_seen"] - t0, sighting["last_seen"] - t0, text, similarity)


def _stops(trajectory: dict, t0: float) -> list[score.Span]:
    return [score.Span(s["camera_id"], s["arrival"] - t0, s["departure"] - t0) for s in trajectory["stops"]]


def query_all(client: httpx.Client, manifest: dict, t0: float, face_threshold: float | None) -> dict:
    """Every person by a held-back photo, every vehicle by plate; spans in scenario seconds."""
    out: dict = {"face_hits": {}, "face_stops": {}, "plate_hits": {}, "plate_stops": {}, "face_query_s": []}
    for person in manifest["people"]:
        photo = Path(person["query_photos"][0])
        image = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
        started = time.perf_counter()
        found = client.post(
            "/api/search/face", files=image, data={"reason": REASON, "top_k": 100, "min_similarity": 0.0}
        )
        out["face_query_s"].append(time.perf_counter() - started)
        hits = found.json()["results"] if found.status_code == 200 else []
        out["face_hits"][person["identity"]] = [_span(h["sighting"], t0, h["similarity"]) for h in hits]
        data = {"reason": REASON} | ({} if face_threshold is None else {"min_similarity": face_threshold})
        trajectory = client.post("/api/trajectory", files=image, data=data)
        out["face_stops"][person["identity"]] = _stops(trajectory.json(), t0) if trajectory.status_code == 200 else []
    for vehicle in manifest["vehicles"]:
        params = {"q": vehicle["plate"], "mode": "exact", "reason": REASON}
        hits = client.get("/api/search/plate", params=params | {"limit": 100}).json()["results"]
        out["plate_hits"][vehicle["plate"]] = [_span(h["sighting"], t0) for h in hits]
        out["plate_stops"][vehicle["plate"]] = _stops(client.get("/api/trajectory/plate", params=params).json(), t0)
    return out


def evaluate(
    truth: list[score.Visit],
    sightings: list,
    queries: dict,
    alerts: list[tuple[float, dict]],
    manifest: dict,
    t0: float,
) -> dict:
    """Every score of the run (see the matching rules in ``scenario_score``)."""
    by_kind: dict[str, list[score.Span]] = {"face": [], "plate": []}
    for s in sightings:
        text = s.plate.text if s.plate is not None else None
        by_kind[s.kind.value].append(score.Span(s.camera_id, s.first_seen - t0, s.last_seen - t0, text))
    alert_records = [
        score.Alert(
            a["entry"]["kind"], a["entry"]["label"], _span(a["sighting"], t0), at - t0, a["alert_id"], a.get("updated")
        )
        for at, a in alerts
    ]
    modes = {mode: {c["id"] for c in manifest["cameras"] if c["mode"] == mode} for mode in ("live", "archive")}
    curve = score.face_pr_curve(queries["face_hits"], truth)
    offsets = {
        mode: [
            o
            for kind, spans in by_kind.items()
            for o in score.start_offsets(spans, [v for v in truth if v.camera in cams and v.kind == kind])
        ]
        for mode, cams in modes.items()
    }
    return {
        "sightings": score.sighting_scores(by_kind, truth),
        "trajectory": {
            "face": score.per_entity_scores(queries["face_stops"], truth, "face"),
            "plate": score.per_entity_scores(queries["plate_stops"], truth, "plate"),
        },
        "plate_search": score.plate_search_scores(queries["plate_hits"], truth),
        "face_search_pr": [[round(t, 4), round(p, 4), round(r, 4)] for t, p, r in curve],
        "alerts": {
            mode: score.alert_scores(alert_records, truth, manifest["watchlist"], cams) for mode, cams in modes.items()
        },
        "mismatches": {
            "face_sightings": score.mismatches({"": by_kind["face"]}, truth, "face"),
            "plate_sightings": score.mismatches({"": by_kind["plate"]}, truth, "plate"),
            "face_stops": score.mismatches(queries["face_stops"], truth, "face"),
            "plate_stops": score.mismatches(queries["plate_stops"], truth, "plate"),
        },
        "sighting_start_offset_p50_s": {
            mode: round(float(np.median(o)), 3) if o else None for mode, o in offsets.items()
        },
    }


def _get(results: dict, path: tuple[str, ...]):
    for key in path:
        results = results.get(key) if isinstance(results, dict) else None
    return results


def table(results: dict) -> str:
    """The figures, with the issue's targets where it sets one."""

    def fmt(value) -> str:
        return "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))

    rows = [
        (
            "face sightings recall / precision",
            results["sightings"]["face"]["recall"],
            results["sightings"]["face"]["precision"],
        ),
        (
            "plate sightings recall / precision",
            results["sightings"]["plate"]["recall"],
            results["sightings"]["plate"]["precision"],
        ),
        ("plate sightings read right", results["sightings"]["plate"]["read_right"], None),
        (
            "face stops recall / precision",
            results["trajectory"]["face"]["recall"],
            results["trajectory"]["face"]["precision"],
        ),
        (
            "plate stops recall / precision",
            results["trajectory"]["plate"]["recall"],
            results["trajectory"]["plate"]["precision"],
        ),
        ("plate search accuracy", results["plate_search"]["accuracy"], None),
        ("live alerts recall / false", results["alerts"]["live"]["recall"], results["alerts"]["live"]["false_alerts"]),
        ("live / archive duplicate alerts", *(results["alerts"][m]["duplicate_alerts"] for m in ("live", "archive"))),
        (
            "live alert latency p50 / p99 s (from appearance)",
            results["alerts"]["live"]["latency_from_appearance_p50_s"],
            results["alerts"]["live"]["latency_from_appearance_p99_s"],
        ),
        (
            "live alert latency p50 / p99 s (from leaving view)",
            results["alerts"]["live"]["latency_from_leaving_p50_s"],
            results["alerts"]["live"]["latency_from_leaving_p99_s"],
        ),
        (
            "archive alerts recall / false",
            results["alerts"]["archive"]["recall"],
            results["alerts"]["archive"]["false_alerts"],
        ),
        (
            "re-index vs decode-only / x real time",
            results["archive"].get("reindex_vs_decode_ratio"),
            results["archive"].get("reindex_x_realtime"),
        ),
        ("live frames dropped (share of those due)", results["live"]["drop_fraction"], None),
    ]
    lines = [f"{'measure':52s} {'value':>9s} {'second':>9s}"]
    lines += [f"{name:52s} {fmt(a):>9s} {fmt(b) if b is not None else '':>9s}" for name, a, b in rows]
    lines.append("")
    lines.append(f"{'target (issue 6)':52s} {'value':>9s} {'met':>9s}")
    for name, (path, op, target) in TARGETS.items():
        value = _get(results, path)
        met = value is not None and (value >= target if op == ">=" else value <= target)
        lines.append(f"{name + ' ' + op + ' ' + str(target):52s} {fmt(value):>9s} {'yes' if met else 'NO':>9s}")
    capacity = results["archive"].get("reindex_x_realtime")
    cameras = len(results["cameras"])
    if capacity is not None:
        lines.append(
            f"{'whole scenario in real time (x real time >= cameras)':52s} {fmt(capacity):>9s} "
            f"{'yes' if capacity >= cameras else 'NO':>9s}"
        )
    return "\n".join(lines)


def draw(results: dict, truth: list[score.Visit], queries: dict, manifest: dict, out: Path) -> list[str]:
    """The three PNGs; the map shows the person with the most visits."""
    out.mkdir(parents=True, exist_ok=True)
    curve = [tuple(c) for c in results["face_search_pr"]]
    made = [plots.pr_curve(curve, out / "face_search_pr.png", results["face_threshold"])]
    made.append(
        plots.latency_histogram(
            results["alerts"]["live"]["latencies_from_appearance_s"],
            out / "alert_latency.png",
            "Watch-list alerts, live cameras",
        )
    )
    people = [p["identity"] for p in manifest["people"]]
    if people:
        person = max(people, key=lambda k: sum(v.identity == k for v in truth))
        route = [(v.camera, v.t_in) for v in truth if v.identity == person]
        stops = [(s.camera, s.start) for s in queries["face_stops"][person]]
        made.append(plots.trajectory_map(manifest["cameras"], route, stops, person, out / "trajectory_map.png"))
    return [str(p) for p in made]


@contextlib.contextmanager
def _data_directory(out: Path, keep: Path | None) -> Iterator[str]:
    """A fresh data directory: ``keep`` (created, left in place) or a temporary one under ``out``."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="data_", dir=out) as data_dir:
            yield data_dir
    else:
        keep.mkdir(parents=True)
        yield str(keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, help="a directory written by benchmarks/scenario.py")
    parser.add_argument("--out", type=Path, help="plots and the data directory (default: SCENARIO/results)")
    parser.add_argument("--json", type=Path, help="write every figure as JSON here")
    parser.add_argument(
        "--analysers",
        type=int,
        default=os.cpu_count() or 1,
        help="frames analysed in parallel (default: one per core, as skynet serve)",
    )
    parser.add_argument(
        "--keep-data",
        type=Path,
        help="keep the service's data directory (store, face index, media) here for later analysis; must not exist",
    )
    parser.add_argument(
        "--face-threshold",
        type=float,
        help="similarity for face trajectories (default: the service's watch-list threshold)",
    )
    args = parser.parse_args()
    manifest_path = args.scenario / "manifest.json"
    if not manifest_path.is_file():
        print(f"error: {manifest_path} not found; build a scenario with benchmarks/scenario.py", file=sys.stderr)
        return 1
    missing = rtsp_server_available()
    if missing is not None:
        print(f"error: the live part needs an RTSP server: install {missing}", file=sys.stderr)
        return 1
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    truth = score.read_ground_truth(args.scenario / manifest["ground_truth"])
    out = args.out or args.scenario / "results"
    out.mkdir(parents=True, exist_ok=True)
    if args.keep_data is not None and args.keep_data.exists():
        print(f"error: {args.keep_data} exists; --keep-data wants a new directory", file=sys.stderr)
        return 1
    with _data_directory(out, args.keep_data) as data_dir:
        settings = Settings(  # the live cameras come from the RTSP server this script starts on 127.0.0.1
            data_dir=Path(data_dir),
            model_dir=Settings().models_path,
            camera_networks=["127.0.0.1/32"],
            archive_roots=[args.scenario.resolve()],
        )
        service = start_service(settings, args.analysers)
        try:
            client = httpx.Client(
                base_url=service.base, headers={"Authorization": f"Bearer {service.token}"}, timeout=300
            )
            phases = {"start": time.perf_counter()}
            entries = register_watchlist(client, manifest)
            listener = AlertListener(
                service.base.replace("http", "ws") + "/api/live?types=alert", service.token
            ).start()
            print(f"{entries} watch-list entries; live part: {manifest['params']['seconds']:g} s ...", flush=True)
            phases["watchlist"] = time.perf_counter()
            t0, live = run_live(service, client, args.scenario, manifest)
            phases["live"] = time.perf_counter()
            print(f"live: {json.dumps(live)}\narchive part ...", flush=True)
            archive = run_archive(service, client, args.scenario, manifest, t0)
            phases["archive"] = time.perf_counter()
            print(f"archive: {json.dumps(archive)}\nqueries ...", flush=True)
            time.sleep(2.0)  # the last alerts reach the listener
            queries = query_all(client, manifest, t0, args.face_threshold)
            span = (0.0, float(manifest["params"]["seconds"]))
            analyses = scenario_analyses.score(client, manifest.get("analyses", {}), truth, t0, span, REASON)
            faces = [
                (s.id, s.camera_id, s.first_seen - t0, s.last_seen - t0)
                for s in service.sightings
                if s.kind.value == "face"
            ]
            identities = service.system.catalog.store.identities.of(f[0] for f in faces)
            analyses["identities"] = scenario_analyses.identity_scores(identities, faces, truth)
            phases["queries"] = time.perf_counter()
            listener.stop()
            results = evaluate(truth, list(service.sightings), queries, listener.alerts, manifest, t0)
            results["analyses"] = analyses
        finally:
            service.close()
    results.update(
        {
            "scenario": str(args.scenario),
            "params": manifest["params"],
            "cameras": manifest["cameras"],
            "live": live,
            "archive": archive,
            "watchlist_entries": entries,
            "face_threshold": settings.watchlist_min_similarity if args.face_threshold is None else args.face_threshold,
            "face_query_p50_s": round(sorted(queries["face_query_s"])[len(queries["face_query_s"]) // 2], 3)
            if queries["face_query_s"]
            else None,
            "cores": os.cpu_count(),
            "tolerance_s": score.TOLERANCE_S,
            "phases_wall_s": {
                name: round(at - before, 1)
                for (name, at), before in zip(list(phases.items())[1:], list(phases.values())[:-1])
            },
        }
    )
    results["plots"] = draw(results, truth, queries, manifest, out)
    print(table(results))
    for visit in sorted(results["alerts"]["live"]["alerted_visits"], key=lambda v: -v["latency_from_appearance_s"])[:3]:
        print(f"slow live alert: {json.dumps(visit, ensure_ascii=False)}")
    print(f"analyses: {json.dumps(results['analyses'], ensure_ascii=False)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
