"""Benchmark of the sighting store and indexes on synthetic clustered embeddings and random plates.

    python benchmarks/bench_index.py --n 1000000 --json bench-index.json

Inserts N face sightings (clustered 128-d embeddings, N/200 identities, spread over 30 days and
3 cameras) and N plate sightings, then measures face search with a time filter (approximate vs
exact in the same run, recall@10 against exact), wildcard and fuzzy plate search, and peak memory.
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

from skynet.index.catalog import Catalog
from skynet.store.plates import PlateMode
from skynet.index.synthetic import clustered_embeddings, random_plates
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind

CAMERAS = ("north", "south", "east")
SPAN_S = 30 * 86400.0
BATCH = 5_000
CONFUSE = str.maketrans({"0": "D", "8": "B", "1": "I", "5": "S", "2": "Z", "B": "8", "D": "0", "S": "5", "Z": "2"})


def _ms(samples: list[float]) -> dict[str, float]:
    array = np.array(samples) * 1000
    return {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95))}


def _timed(fn, items) -> tuple[list[float], list]:
    times, results = [], []
    for item in items:
        start = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - start)
    return times, results


def insert(catalog: Catalog, vectors: np.ndarray, plates: list[str]) -> tuple[float, float]:
    """Insert faces then plates in batches; returns (faces/s, plates/s)."""
    n = len(vectors)
    times = np.arange(n) * (SPAN_S / n)
    box = Box(0, 0, 80, 100)
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        catalog.add_sightings(
            [
                Sighting(
                    CAMERAS[i % 3], SightingKind.FACE, times[i], times[i] + 2, times[i], box, 0.8, embedding=vectors[i]
                )
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
    face_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        catalog.add_sightings(
            [
                Sighting(
                    CAMERAS[i % 3],
                    SightingKind.PLATE,
                    times[i],
                    times[i] + 1,
                    times[i],
                    box,
                    0.8,
                    plate=PlateText(plates[i], (0.9,) * len(plates[i])),
                )
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
    return face_rate, n / (time.perf_counter() - start)


def face_search(catalog: Catalog, vectors: np.ndarray, queries: int, rng: np.random.Generator) -> dict:
    """p50 with a time filter (middle half of the span), approximate vs exact, and recall@10."""
    rows = rng.choice(len(vectors), queries, replace=False)
    probes = vectors[rows] + rng.standard_normal((queries, vectors.shape[1]), dtype=np.float32) * 0.02
    window = {"since": SPAN_S * 0.25, "until": SPAN_S * 0.75}
    faces = catalog.faces
    approx_t, approx = _timed(lambda q: faces.search(q, 10, **window), probes)
    exact_subset, faces.exact_subset = faces.exact_subset, len(vectors) + 1  # force exact search
    exact_t, exact = _timed(lambda q: faces.search(q, 10, **window), probes)
    faces.exact_subset = exact_subset
    narrow_t, _ = _timed(
        lambda q: faces.search(q, 10, since=SPAN_S * 0.5, until=SPAN_S * 0.51, cameras=["north"]), probes
    )
    plain_t, _ = _timed(lambda q: faces.search(q, 10), probes)
    recall = np.mean(
        [len({h.sighting_id for h in a} & {h.sighting_id for h in e}) / max(1, len(e)) for a, e in zip(approx, exact)]
    )
    return {
        "face_search_p50_ms": _ms(approx_t)["p50"],
        "face_search_p95_ms": _ms(approx_t)["p95"],
        "face_search_exact_p50_ms": _ms(exact_t)["p50"],
        "face_search_narrow_filter_p50_ms": _ms(narrow_t)["p50"],
        "face_search_unfiltered_p50_ms": _ms(plain_t)["p50"],
        "recall_at_10": float(recall),
    }


def plate_search(catalog: Catalog, plates: list[str], queries: int, rng: np.random.Generator) -> dict:
    """p50 of wildcard (``桂B*45`` and ``*123?`` forms) and fuzzy (confusion + one edit) searches."""
    picks = [plates[i] for i in rng.choice(len(plates), queries, replace=False)]
    wildcards = [p[:2] + "*" + p[-2:] if i % 2 else "*" + p[3:6] + "?" for i, p in enumerate(picks)]
    fuzzy = []
    for p in picks:
        body = list(p[1:].translate(CONFUSE))
        body[int(rng.integers(2, len(body)))] = "7"  # one real substitution on top of the confusions
        fuzzy.append(("湘" if p[0] != "湘" else "粤") + "".join(body))  # and a wrong province
    store = catalog.store
    wild_t, wild = _timed(lambda q: store.plates.search(q, PlateMode.WILDCARD, limit=50), wildcards)
    fuzzy_t, found = _timed(lambda q: store.plates.search(q, PlateMode.FUZZY, limit=10), fuzzy)
    hit_rate = np.mean([p in {h.text for h in hits} for p, hits in zip(picks, found)])
    return {
        "plate_wildcard_p50_ms": _ms(wild_t)["p50"],
        "plate_wildcard_p95_ms": _ms(wild_t)["p95"],
        "plate_wildcard_mean_hits": float(np.mean([len(w) for w in wild])),
        "plate_fuzzy_p50_ms": _ms(fuzzy_t)["p50"],
        "plate_fuzzy_p95_ms": _ms(fuzzy_t)["p95"],
        "plate_fuzzy_found_rate": float(hit_rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="face sightings, and as many plate sightings")
    parser.add_argument("--json", type=Path, help="write the figures here as one JSON object")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, help="keep the store here (default: a temporary directory)")
    parser.add_argument("--database-url", help="PostgreSQL URL: benchmark that backend instead of SQLite")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="skynet-bench-"))
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    vectors, _ = clustered_embeddings(args.n, identities=max(10, args.n // 200), seed=1)
    plates = random_plates(args.n, seed=2)
    try:
        catalog = Catalog.open(data_dir, args.database_url)
        for camera in CAMERAS:
            catalog.store.cameras.save(Camera(camera, camera, f"rtsp://10.0.0.1/{camera}"))
        face_rate, plate_rate = insert(catalog, vectors, plates)
        start = time.perf_counter()
        catalog.faces.settle()
        settle_s = time.perf_counter() - start
        figures = {
            "n": args.n,
            "insert_per_s": face_rate,
            "plate_insert_per_s": plate_rate,
            "index_settle_s": settle_s,
            "approximate_rows": catalog.faces.status().approximate_rows,
        }
        figures |= face_search(catalog, vectors, args.queries, rng)
        figures |= plate_search(catalog, plates, args.queries, rng)
        start = time.perf_counter()
        catalog.close()
        figures["save_s"] = time.perf_counter() - start
        start = time.perf_counter()
        Catalog.open(data_dir, args.database_url).close()
        figures["reopen_s"] = time.perf_counter() - start
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_avg_before_after"] = [load_before[0], os.getloadavg()[0]]
    figures["cpu_count"] = os.cpu_count()
    figures["backend"] = "postgresql" if args.database_url else "sqlite"
    figures["approx_vs_exact_speedup"] = figures["face_search_exact_p50_ms"] / figures["face_search_p50_ms"]
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
