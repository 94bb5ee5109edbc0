"""Benchmark of the investigative analyses over a large synthetic store of plate sightings.

    python benchmarks/bench_analytics.py --n 1000000 --json bench-analytics.json
    python benchmarks/bench_analytics.py --n 10000000 --keep /var/tmp/analytics-10m   # long: builds once

N plate sightings from 300 cameras on a 20 km grid over 30 days (N/40 distinct plates, so a plate is
seen about 40 times a month), inserted through the store, then each analysis timed on the real
service (SQLite; ``--database-url`` for PostgreSQL) over the windows an investigator would ask for:
cloned plates over one day, companions of a plate over a week, a three-place intersection (five
cameras and one hour each), plates first seen in a 20-camera area over a day (a week's look-back),
night activity there over a week. Target (issue 20): each p50 <= 2 s on 2 cores at N = 10M.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from skynet.accounts.model import Role, User
from skynet.config import Settings
from skynet.index.synthetic import random_plates
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind
from skynet.services.analytics import AnalyticsService, Area, Place, Target
from skynet.services.audit import Auditor
from skynet.store import open_store
from skynet.store.sighting_rows import COLUMNS

DAY = 86400.0
SPAN_S = 30 * DAY
GRID = 20  # cameras per row of the grid
CAMERAS = 300
BATCH = 10_000
T0 = 1_760_000_000.0
TARGET_P50_S = 2.0


def cameras() -> list[Camera]:
    """Cameras on a grid 1 km apart (about 0.009 degrees)."""
    return [
        Camera(
            f"c{i:03d}",
            f"Camera {i}",
            f"rtsp://10.1.{i // 250}.{i % 250}/s",
            22.8 + (i // GRID) * 0.009,
            108.3 + (i % GRID) * 0.0097,
        )
        for i in range(CAMERAS)
    ]


def fill(store, n: int, rng: np.random.Generator, bulk: bool = False) -> float:
    """Insert ``n`` plate sightings, physically plausible: each plate keeps to the four cameras of its
    home block (1-1.4 km apart) and never changes camera within two minutes; returns sightings per second.
    ``bulk``: rows straight into the sightings table with the store's ``insert_many`` (no plate reads,
    so plate search is not measured on such a store), ten times faster for a 10M build."""
    plates = random_plates(max(1, n // 40), int(rng.integers(1 << 31)))
    which = rng.integers(len(plates), size=n)
    times = T0 + rng.uniform(0, SPAN_S, n)
    order = np.lexsort((times, which))
    which, times = which[order], times[order]
    home = (which * 7919) % CAMERAS
    row = np.minimum(home // GRID, CAMERAS // GRID - 2)
    column = np.minimum(home % GRID, GRID - 2)
    where = (row + rng.integers(0, 2, n)) * GRID + column + rng.integers(0, 2, n)
    too_soon = np.flatnonzero((which[1:] == which[:-1]) & (np.diff(times) < 120)) + 1
    for i in too_soon:  # in time order: a chain of quick sightings stays at its first camera
        where[i] = where[i - 1]
    box = Box(0, 0, 90, 30)
    arrival = np.argsort(times, kind="stable")  # stored as they happen, every camera at once
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        picked = arrival[lo : lo + BATCH]
        if bulk:
            store.db.insert_many("sightings", COLUMNS, [_row(plates[which[i]], where[i], times[i]) for i in picked])
            continue
        store.sightings.add(
            [
                Sighting(
                    f"c{where[i]:03d}",
                    SightingKind.PLATE,
                    times[i] - 2,
                    times[i] + 2,
                    times[i],
                    box,
                    0.9,
                    plate=PlateText(plates[which[i]], (0.95,) * len(plates[which[i]])),
                )
                for i in picked
            ]
        )
    return n / (time.perf_counter() - start)


def _row(text: str, camera: int, at: float) -> list:
    """A plate sighting's row of the ``sightings`` table (:data:`COLUMNS`)."""
    return [
        f"c{camera:03d}",
        "plate",
        at - 2,
        at + 2,
        at,
        0,
        0,
        90,
        30,
        0.9,
        None,
        None,
        text,
        "[]",
        None,
        "live",
        None,
        None,
    ]


def plant(store) -> None:
    """A cloned plate (two cameras 10 km apart, a minute between), a car and its companion at four
    cameras over a day, and a car at three incidents."""
    t = T0 + 20 * DAY
    rows = [("桂Z00001", "c000", t), ("桂Z00001", "c299", t + 60)]
    for k, camera in enumerate(("c010", "c030", "c050", "c070")):
        rows += [("桂Y00001", camera, t + k * 3600), ("桂Y00002", camera, t + k * 3600 + 20)]
    for k, camera in enumerate(("c100", "c140", "c180")):
        rows.append(("桂X00001", camera, t + k * DAY / 3))
    box = Box(0, 0, 90, 30)
    store.sightings.add(
        [
            Sighting(c, SightingKind.PLATE, at - 2, at + 2, at, box, 0.9, plate=PlateText(p, (0.95,) * len(p)))
            for p, c, at in rows
        ]
    )


def timed(fn, repeat: int) -> tuple[dict[str, float], object]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    array = np.array(samples)
    return {
        "p50_s": round(float(np.percentile(array, 50)), 3),
        "p95_s": round(float(np.percentile(array, 95)), 3),
    }, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite (an empty database)")
    parser.add_argument("--keep", type=Path, help="build the store here once and reuse it on later runs")
    parser.add_argument("--bulk", action="store_true", help="write rows directly (no plate reads): a fast 10M build")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench_analytics_"))
    ready = data_dir / "bench-ready.json"
    store = open_store(data_dir, args.database_url)
    try:
        if ready.is_file() and json.loads(ready.read_text())["n"] == args.n:
            rate = json.loads(ready.read_text())["insert_per_s"]
        else:
            for camera in cameras():
                store.cameras.save(camera)
            rate = fill(store, args.n, np.random.default_rng(0), args.bulk)
            plant(store)
            ready.write_text(json.dumps({"n": args.n, "insert_per_s": rate, "bulk": args.bulk}))
        settings = Settings(data_dir=data_dir)
        service = AnalyticsService(store, None, Auditor(store.audit), settings)  # type: ignore[arg-type]
        user = User("bench", Role.ADMIN, 0.0)
        t = T0 + 20 * DAY
        area = Area(tuple(f"c{i:03d}" for i in range(0, CAMERAS, CAMERAS // 20)))  # 20 cameras spread over the city
        incidents = [
            Place(Area(tuple(f"c{j:03d}" for j in range(c - 2, c + 3))), t + k * DAY / 3 - 1800, t + k * DAY / 3 + 1800)
            for k, c in enumerate((100, 140, 180))
        ]
        cases = {
            "cloned plates, 1 day": lambda: service.cloned_plates(user, "bench", t - DAY / 2, t + DAY / 2, limit=20),
            "companions, 1 week": lambda: service.companions(
                user, "bench", Target(plate="桂Y00001"), t - 3 * DAY, t + 4 * DAY, 60, 3
            )[1],
            "intersection, 3 places": lambda: service.intersections(user, "bench", incidents),
            "first seen, 20 cameras, 1 day": lambda: service.first_seen(user, "bench", area, t, t + DAY, 7 * DAY),
            "night activity, 20 cameras, 1 week": lambda: service.night_activity(user, "bench", area, t, t + 7 * DAY),
        }
        results: dict[str, object] = {"n": args.n, "insert_per_s": round(rate), "backend": store.db.dialect.value}
        results["load_average_1m"] = round(os.getloadavg()[0], 1)  # a shared machine: say how busy it was
        print(
            f"{args.n:,} plate sightings ({results['backend']}), inserted at {rate:,.0f}/s; "
            f"load average {results['load_average_1m']} on {os.cpu_count()} cores"
        )
        print(f"{'analysis':40s} {'p50 s':>8s} {'p95 s':>8s} {'found':>6s}  planted found")
        planted = {
            "cloned plates, 1 day": lambda r: r[0].plate == "桂Z00001",
            "companions, 1 week": lambda r: r[0].key == "桂Y00002",
            "intersection, 3 places": lambda r: r[0].key == "桂X00001",
        }
        for name, fn in cases.items():
            times, found = timed(fn, args.repeat)
            ok = planted[name](found) if name in planted and found else None
            results[name] = {**times, "found": len(found), "planted_first": ok}  # type: ignore[arg-type]
            verdict = "" if ok is None else ("yes" if ok else "NO")
            print(f"{name:40s} {times['p50_s']:8.3f} {times['p95_s']:8.3f} {len(found):6d}  {verdict}")
        worst = max(v["p50_s"] for v in results.values() if isinstance(v, dict))
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        results["target_p50_s"] = TARGET_P50_S
        print(
            f"slowest p50 {worst:.3f} s: {'meets' if worst <= TARGET_P50_S else 'MISSES'} the {TARGET_P50_S:g} s target"
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    finally:
        store.close()
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
