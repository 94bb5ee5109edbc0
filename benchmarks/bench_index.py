"""Benchmark of the face index and plate search at city scale, on synthetic clustered embeddings and random plates.

    python benchmarks/bench_index.py --n 1000000 --json bench-index.json          # the quick form
    python benchmarks/bench_index.py --n 10000000 --plates 0 --data-dir /big/disk  # faces at 10M (long)
    python benchmarks/bench_index.py --n 0 --plates 10000000 --database-url postgresql://...  # plates only
    python benchmarks/bench_index.py --n 10000000 --plates 0 --bulk --data-dir /big/disk  # the 10M table whole

Stores N face sightings through the catalog (or, ``--index-only``, straight into a face index: clustered 128-d embeddings, N/200 identities, spread over
30 days and 3 cameras; generated in chunks, so the benchmark never holds them all), settles the index and
measures face search p50/p95 without a filter and with a one-week time filter, recall@10 of each against
exact search (brute force over the same vectors, computed here chunk by chunk), the insert rate while two
threads search, build time and peak RSS. Then stores ``--plates`` plate sightings and measures wildcard and
fuzzy plate search. Peak RSS is the whole process's (store caches included); the vectors the benchmark
itself holds are only the queries'.

``--bulk`` (SQLite): the N face sightings and their vectors are written into the store in bulk (SQL, the
tables' indexes built after the fill), then the catalog is opened, which builds the face index from the store
as it does after any restore (catch-up): the whole 10M table -- store and index -- without the hours of the
per-batch insert path. ``--data-dir`` keeps it for ``bench_api.py --data-dir`` (16 HTTP clients at 10M).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

from skynet.index.catalog import Catalog
from skynet.index.face_index import FaceIndex
from skynet.index.synthetic import clustered_chunks, random_plates
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind
from skynet.store import open_store
from skynet.store.faces import DEFAULT_FACE_MODEL, FaceBatch
from skynet.store.plates import PlateMode
from skynet.store.sqlite import DB_NAME

CAMERAS = ("north", "south", "east")
SPAN_S = 30 * 86400.0
WEEK_S = 7 * 86400.0
WEEK = (SPAN_S * 0.4, SPAN_S * 0.4 + WEEK_S)  # the one-week filter: not aligned with partitions
BATCH = 5_000
CONFUSE = str.maketrans({"0": "D", "8": "B", "1": "I", "5": "S", "2": "Z", "B": "8", "D": "0", "S": "5", "Z": "2"})
BOX = Box(0, 0, 80, 100)


def _ms(samples: list[float]) -> dict[str, float]:
    array = np.array(samples) * 1000
    return {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95))}


def _timed(fn, items, cpu: list[float] | None = None) -> tuple[list[float], list]:
    """Wall time of ``fn`` on each item (and, into ``cpu``, the process's CPU time, the search threads' included:
    on a shared, busy machine the wall time mostly measures waiting for a core)."""
    times, results = [], []
    for item in items:
        start, start_cpu = time.perf_counter(), time.process_time()
        results.append(fn(item))
        times.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
    return times, results


def _rss_mb() -> float:
    """The process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _faces(times: np.ndarray, vectors: np.ndarray, first: int) -> list[Sighting]:
    return [
        Sighting(CAMERAS[(first + i) % 3], SightingKind.FACE, t, t + 2, t, BOX, 0.8, embedding=v)
        for i, (t, v) in enumerate(zip(times, vectors, strict=True))
    ]


class Faces:
    """The synthetic face set: its chunks (regenerated on demand), times, and the stored ids."""

    def __init__(self, n: int) -> None:
        self.n, self.identities = n, max(10, n // 200)
        self.times = np.arange(n) * (SPAN_S / n)
        self.ids = np.zeros(n, np.int64)

    def chunks(self):
        return clustered_chunks(self.n, identities=self.identities, seed=1, chunk=BATCH * 20)

    def store(self, add, query_rows: np.ndarray) -> tuple[float, np.ndarray]:
        """Store every face through ``add``; returns (faces/s, the vectors of ``query_rows``)."""
        kept = np.zeros((len(query_rows), 128), np.float32)
        start = time.perf_counter()
        for first, vectors, _ in self.chunks():
            for lo in range(0, len(vectors), BATCH):
                rows = slice(first + lo, first + min(len(vectors), lo + BATCH))
                self.ids[rows] = add(self.times[rows], vectors[lo : lo + BATCH], first + lo)
            inside = (query_rows >= first) & (query_rows < first + len(vectors))
            kept[inside] = vectors[query_rows[inside] - first]
        return self.n / (time.perf_counter() - start), kept

    def bulk(self, data_dir: Path, query_rows: np.ndarray) -> tuple[float, np.ndarray]:
        """Write every face sighting and its vector into the SQLite store in ``data_dir`` in bulk (the two
        tables' indexes and triggers dropped for the fill and made again after it, as the schema defines
        them); returns (faces/s, the vectors of ``query_rows``)."""
        store = open_store(data_dir)
        for camera in CAMERAS:
            store.cameras.save(Camera(camera, camera, f"rtsp://10.0.0.1/{camera}"))
        with store.db.write("benchmark fill"):
            store.faces.record_model(DEFAULT_FACE_MODEL, 128)
        store.close()
        kept = np.zeros((len(query_rows), 128), np.float32)
        start = time.perf_counter()
        conn = sqlite3.connect(data_dir / DB_NAME)
        conn.execute("PRAGMA cache_size = -1000000")
        conn.execute("PRAGMA synchronous = OFF")  # a benchmark fill; the store's own writes keep NORMAL
        schema = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND tbl_name IN ('sightings', 'face_embeddings') AND sql IS NOT NULL"
        ).fetchall()
        for kind, name, _ in schema:
            conn.execute(f"DROP {kind} {name}")
        for first, chunk, _ in self.chunks():
            vectors = np.ascontiguousarray(chunk, dtype=np.float32)
            ids = np.arange(first + 1, first + 1 + len(vectors))  # the store's ids: 1, 2, ... in an empty table
            times = self.times[first : first + len(vectors)]
            with conn:
                conn.executemany(
                    "INSERT INTO sightings (id, camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, "
                    "quality, origin_kind) VALUES (?, ?, 'face', ?, ?, ?, 0, 0, 80, 100, 0.8, 'live')",
                    [(int(i), CAMERAS[(i - 1) % 3], t, t + 2, t) for i, t in zip(ids.tolist(), times.tolist())],
                )
                conn.executemany(
                    "INSERT INTO face_embeddings (model, sighting_id, embedding) VALUES (?, ?, ?)",
                    [(DEFAULT_FACE_MODEL, int(i), v.tobytes()) for i, v in zip(ids.tolist(), vectors)],
                )
            self.ids[first : first + len(vectors)] = ids
            inside = (query_rows >= first) & (query_rows < first + len(vectors))
            kept[inside] = vectors[query_rows[inside] - first]
        with conn:
            for _, _, sql in schema:
                conn.execute(sql)
        conn.execute("ANALYZE")
        conn.close()
        return self.n / (time.perf_counter() - start), kept

    def exact(self, probes: np.ndarray, k: int, window: tuple[float, float] | None) -> list[set[int]]:
        """Exact top-``k`` sighting ids of each probe (brute force, in slices of 20 000 vectors)."""
        best_scores = np.full((len(probes), k), -np.inf, np.float32)
        best_ids = np.zeros((len(probes), k), np.int64)
        for first, chunk, _ in self.chunks():
            for lo in range(0, len(chunk), 20_000):
                vectors, start = chunk[lo : lo + 20_000], first + lo
                scores = probes @ vectors.T
                if window is not None:
                    times = self.times[start : start + len(vectors)]
                    scores[:, (times < window[0]) | (times > window[1])] = -np.inf
                top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
                ids = np.concatenate([best_ids, self.ids[start + top]], axis=1)
                keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                best_scores, best_ids = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(ids, keep, axis=1)
        return [set(row[np.isfinite(s)].tolist()) for row, s in zip(best_ids, best_scores)]


@contextmanager
def timing_lock(path: Path | None) -> Iterator[None]:
    """Hold the shared benchmark lock ``path`` (``flock``, as ``flock PATH command`` takes it) meanwhile, so
    that the timed phases of a long run do not overlap other benchmarks; nothing when None."""
    if path is None:
        yield
        return
    with path.open("a") as held:
        print(f"  waiting for {path} ...", flush=True)
        fcntl.flock(held, fcntl.LOCK_EX)
        print(f"  holding {path}; load average {os.getloadavg()[0]:.1f}", flush=True)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def face_search(index: FaceIndex, faces: Faces, probes: np.ndarray, lock: Path | None = None) -> dict:
    """p50/p95 and recall@10 without a filter and with the one-week filter (the exact answers are computed
    first, the timed searches then run holding ``lock``)."""
    figures: dict = {}
    windows = (("unfiltered", None), ("one_week", WEEK))
    truths = {name: faces.exact(probes, 10, window) for name, window in windows}
    for name, window in windows:
        filters = {} if window is None else {"since": window[0], "until": window[1]}
        with timing_lock(lock):
            index.search(probes[0], 10, **filters)  # warm
            cpu: list[float] = []
            took, found = _timed(lambda q, f=filters: index.search(q, 10, **f), probes, cpu)
            figures[f"face_{name}_load_avg"] = os.getloadavg()[0]
        truth = truths[name]
        recall = np.mean([len({h.sighting_id for h in hits} & t) / len(t) for hits, t in zip(found, truth)])
        figures |= {
            f"face_{name}_p50_ms": _ms(took)["p50"],
            f"face_{name}_p95_ms": _ms(took)["p95"],
            f"face_{name}_cpu_p50_ms": _ms(cpu)["p50"],
            f"face_{name}_recall_at_10": float(recall),
        }
    return figures


def insert_while_searching(index: FaceIndex, add, faces: Faces, probes: np.ndarray, extra: int) -> dict:
    """Store ``extra`` more faces (new vectors at times across the span) while two threads search with
    the one-week filter; the insert rate and those searches' p50."""
    stop, latencies = threading.Event(), []

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            start = time.perf_counter()
            index.search(probes[rng.integers(len(probes))], 10, since=WEEK[0], until=WEEK[1])
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=searcher, args=(seed,)) for seed in range(2)]
    for thread in threads:
        thread.start()
    rng = np.random.default_rng(3)
    start = time.perf_counter()
    for _, vectors, _ in clustered_chunks(extra, identities=faces.identities, seed=4, chunk=BATCH):
        add(np.sort(rng.uniform(0, SPAN_S, len(vectors))), vectors, 0)
    rate = extra / (time.perf_counter() - start)
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "insert_while_searching_per_s": rate,
        "search_while_inserting_p50_ms": _ms(latencies)["p50"],
        "search_while_inserting_count": len(latencies),
    }


def _add_to_index(
    index: FaceIndex, next_id: list[int], times: np.ndarray, vectors: np.ndarray, first: int
) -> np.ndarray:
    """Faces straight into ``index`` (ids counted from 1, as the store would give them)."""
    ids = np.arange(next_id[0], next_id[0] + len(vectors), dtype=np.int64)
    next_id[0] += len(vectors)
    index.add(FaceBatch(ids, vectors, times, [CAMERAS[(first + i) % 3] for i in range(len(vectors))]))
    return ids


def store_plates(catalog: Catalog, plates: list[str]) -> float:
    """Store the plate sightings; plates/s."""
    n = len(plates)
    times = np.arange(n) * (SPAN_S / n)
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        catalog.store.sightings.add(
            [
                Sighting(
                    CAMERAS[i % 3],
                    SightingKind.PLATE,
                    times[i],
                    times[i] + 1,
                    times[i],
                    BOX,
                    0.8,
                    plate=PlateText(plates[i], (0.9,) * len(plates[i])),
                )
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
    return n / (time.perf_counter() - start)


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
    store.plates.search(wildcards[0], PlateMode.WILDCARD, limit=50)  # warm
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


class Figures(dict):
    """The figures, each printed as it is measured (a long run shows its progress)."""

    def __ior__(self, other: dict) -> Figures:
        for key, value in other.items():
            self[key] = value
        return self

    def __setitem__(self, key: str, value) -> None:
        super().__setitem__(key, value)
        print(f"  {key}: {value:,.3f}" if isinstance(value, float) else f"  {key}: {value}", flush=True)


def run(args: argparse.Namespace, data_dir: Path) -> dict:
    rng = np.random.default_rng(0)
    figures = Figures(n=args.n, plates=args.plates)
    faces = Faces(args.n)
    rows = np.sort(rng.choice(args.n, min(args.queries, args.n), replace=False)) if args.n else np.zeros(0, int)
    start = time.perf_counter()
    if args.bulk:
        figures["bulk_fill_per_s"], kept = faces.bulk(data_dir, rows)
        opening = time.perf_counter()
    catalog = Catalog.open(data_dir, args.database_url)  # --bulk: builds the face index from the store
    if args.bulk:
        figures["index_from_store_s"] = time.perf_counter() - opening
    for camera in CAMERAS:
        catalog.store.cameras.save(Camera(camera, camera, f"rtsp://10.0.0.1/{camera}"))
    if args.n:
        if args.bulk:
            index = catalog.faces
            add = lambda times, vectors, first: catalog.add_sightings(_faces(times, vectors, first))  # noqa: E731
        elif args.index_only:  # what one shard holds: the index alone, without the store
            index = FaceIndex(data_dir / "index" / "bench", 128, model="bench")
            add = partial(_add_to_index, index, [1])
        else:
            index = catalog.faces
            add = lambda times, vectors, first: catalog.add_sightings(_faces(times, vectors, first))  # noqa: E731
        if not args.bulk:
            figures["insert_per_s"], kept = faces.store(add, rows)
        settle = time.perf_counter()
        index.settle()
        figures["index_settle_s"] = time.perf_counter() - settle
        figures["build_s"] = time.perf_counter() - start
        state = index.status()
        figures |= {"partitions": state.partitions, "compressed_rows": state.approximate_rows}
        figures["rss_after_build_mb"] = _rss_mb()
        probes = kept + rng.standard_normal(kept.shape, dtype=np.float32) * 0.02
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        figures |= face_search(index, faces, probes, args.lock)
        with timing_lock(args.lock):
            figures |= insert_while_searching(index, add, faces, probes, max(BATCH, min(200_000, args.n // 20)))
        if args.index_only:
            index.close()
        figures["index_disk_mb"] = sum(f.stat().st_size for f in (data_dir / "index").rglob("*") if f.is_file()) / 2**20
    if args.plates:
        plates = random_plates(args.plates, seed=2)
        figures["plate_insert_per_s"] = store_plates(catalog, plates)
        figures |= plate_search(catalog, plates, args.queries, rng)
    start = time.perf_counter()
    catalog.close()
    figures["save_s"] = time.perf_counter() - start
    start = time.perf_counter()
    Catalog.open(data_dir, args.database_url).close()
    figures["reopen_s"] = time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="face sightings (0: plates only)")
    parser.add_argument("--plates", type=int, help="plate sightings (default: --n; 0: faces only)")
    parser.add_argument("--json", type=Path, help="write the figures here as one JSON object")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, help="keep the store here (default: a temporary directory)")
    parser.add_argument("--database-url", help="PostgreSQL URL: benchmark that backend instead of SQLite")
    parser.add_argument(
        "--index-only",
        action="store_true",
        help="faces go straight into a face index (what one shard holds), not through the store: the index's "
        "own build rate, memory and search figures, without hours of store inserts",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        help="hold this shared lock file (flock) only during the timed searches, not the long build",
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="SQLite: write the faces into the store in bulk, then build the index from the store (catch-up)",
    )
    args = parser.parse_args()
    args.plates = args.n if args.plates is None else args.plates
    if args.bulk and (args.database_url or args.index_only):
        parser.error("--bulk fills a SQLite store: not with --database-url or --index-only")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="skynet-bench-"))
    load_before = os.getloadavg()
    try:
        figures = run(args, data_dir)
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_avg_before_after"] = [load_before[0], os.getloadavg()[0]]
    figures["cpu_count"] = os.cpu_count()
    figures["backend"] = "postgresql" if args.database_url else "sqlite"
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
