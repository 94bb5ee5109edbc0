"""Benchmark of feed imports: checkpoint plate reads (and registrations) from a file into the store, with
watch-list matching on, rows per second.

    python benchmarks/bench_feeds.py --rows 1000000 --json bench-feeds.json [--database-url postgresql://...]

Writes a CSV of ``--rows`` checkpoint reads over ``--checkpoints`` checkpoints (plates drawn from a pool, so
some repeat; ``--watched`` plate patterns on the watch-list, one of them matching a few reads), then times
``FeedService.import_file`` as ``skynet feeds import`` runs it (the whole system built for an API node), and
a second import of the same file forced with ``again`` (every row read, checked and found stored: nothing
added). ``--registrations`` times an import of that many registrations. Besides rows per second (wall clock),
rows per CPU-second of the process: on a shared machine the wall clock mostly measures the other processes.
``reads_checked_only`` times what the import's checking thread does (read, check, make the rows) alone, so that
the CPU of each of its two threads is known: with a core each, the import could go no faster than the busier one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from skynet.app import build
from skynet.config import Settings
from skynet.records import Camera, SightingKind, WatchlistEntry
from skynet.services.feed_files import file_format, read_rows
from skynet.services.feed_rows import FeedKind
from skynet.system import SystemRole

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤川青藏琼宁"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
START = 1_764_547_200.0  # 2025-12-01
PLACES = ("110101", "310101", "110105")  # county codes valid for every birth date drawn


def _plate(rng: random.Random) -> str:
    return rng.choice(PROVINCES) + rng.choice(LETTERS) + "".join(rng.choice("0123456789" + LETTERS) for _ in range(5))


def _id_number(rng: random.Random) -> str:
    body = f"{rng.choice(PLACES)}19{rng.randint(50, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return body + "10X98765432"[total % 11]


def write_reads(path: Path, rows: int, checkpoints: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    pool = [_plate(rng) for _ in range(max(1000, rows // 20))]
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["plate", "checkpoint", "time", "direction"])
        for i in range(rows):
            writer.writerow(
                [rng.choice(pool), f"cp-{i % checkpoints}", f"{START + i * 0.05:.3f}", rng.choice(("N", "S", "E", "W"))]
            )


def write_registrations(path: Path, rows: int, seed: int = 8) -> None:
    rng = random.Random(seed)
    people = [_id_number(rng) for _ in range(max(1000, rows // 10))]
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["identity", "name", "place", "latitude", "longitude", "time", "source"])
        for i in range(rows):
            hotel = i % 200
            writer.writerow(
                [
                    rng.choice(people),
                    "张三",
                    f"Hotel {hotel}",
                    f"{22.8 + hotel * 0.001:.4f}",
                    "108.3",
                    f"{START + i * 0.5:.1f}",
                    "hotel",
                ]
            )


def timed_import(system, path: Path, kind: FeedKind, again: bool = False) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    result = system.feeds.import_file("bench", path, kind, again=again)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "rows": result.rows,
        "added": result.added,
        "rejected": result.rejected,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
    }


def timed_check(system, path: Path, kind: FeedKind) -> dict:
    """What the import's checking thread does (read, check, make the rows), alone: no write."""
    parse, check = system.feeds.parser.parse, system.catalog.store.sightings.check
    start, cpu, rows = time.perf_counter(), time.process_time(), 0
    with read_rows(path, file_format(path), kind) as lines:
        batch = []
        for line in lines:
            rows += 1
            if line.fields is not None:
                batch.append(parse(kind, line.fields))
            if len(batch) == system.feeds.batch_rows:
                check([r.sighting for r in batch], [r.media for r in batch])
                batch = []
        check([r.sighting for r in batch], [r.media for r in batch])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"rows": rows, "added": 0, "rejected": 0, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--registrations", type=int, default=0)
    parser.add_argument("--checkpoints", type=int, default=50)
    parser.add_argument("--watched", type=int, default=100, help="Plate patterns on the watch-list.")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    try:
        reads = work / "reads.csv"
        write_reads(reads, args.rows, args.checkpoints)
        settings = Settings(data_dir=work / "data", database_url=args.database_url)
        system = build(settings, SystemRole.API_NODE, analysers=0)
        store = system.catalog.store
        for i in range(args.checkpoints):
            store.cameras.save(Camera(f"cp-{i}", f"Checkpoint {i}", "", 22.8 + i * 0.01, 108.3))
        rng = random.Random(9)
        for i in range(args.watched):
            pattern = _plate(rng) if i else "京A*"
            store.watchlists.add(
                WatchlistEntry(SightingKind.PLATE, f"w{i}", "bench", "bench", time.time(), None, pattern)
            )
        system.matcher.invalidate()
        results = {"reads_checked_only": timed_check(system, reads, FeedKind.CHECKPOINT)}
        results["reads_first"] = timed_import(system, reads, FeedKind.CHECKPOINT)
        results["reads_again"] = timed_import(system, reads, FeedKind.CHECKPOINT, again=True)  # all duplicates
        results["alerts"] = len(store.alerts.latest(1_000_000))
        if args.registrations:
            people = work / "people.csv"
            write_registrations(people, args.registrations)
            results["registrations_first"] = timed_import(system, people, FeedKind.REGISTRATION)
        system.close()
        results["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        results["backend"] = "postgresql" if args.database_url else "sqlite"
        print(f"{'what':24s} {'rows':>9s} {'added':>9s} {'seconds':>8s} {'rows/s':>9s} {'rows/cpu-s':>10s}")
        for name, value in results.items():
            if isinstance(value, dict):
                rate = value["rows"] / value["seconds"] if value["seconds"] else 0.0
                cpu_rate = value["rows"] / value["cpu_seconds"] if value["cpu_seconds"] else 0.0
                value["rows_per_s"], value["rows_per_cpu_s"] = round(rate), round(cpu_rate)
                print(
                    f"{name:24s} {value['rows']:9d} {value['added']:9d} {value['seconds']:8.2f} {rate:9.0f} "
                    f"{cpu_rate:10.0f}"
                )
        # the import checks a batch in one thread while the other writes the one before: with a core each, it
        # could go no faster than the busier of the two (an upper bound: both need Python's lock at times)
        check_cpu = results["reads_checked_only"]["cpu_seconds"]
        write_cpu = max(results["reads_first"]["cpu_seconds"] - check_cpu, 1e-9)
        results["two_core_bound_rows_per_s"] = round(args.rows / max(check_cpu, write_cpu))
        print(
            f"checking thread {check_cpu / args.rows * 1e6:.1f} us/row, writing thread "
            f"{write_cpu / args.rows * 1e6:.1f} us/row: with a core each at most "
            f"{results['two_core_bound_rows_per_s']} rows/s"
        )
        load = os.getloadavg()[0]
        results["load_average"] = round(load, 1)
        print(
            f"alerts {results['alerts']}, max RSS {results['max_rss_mib']} MiB, {results['backend']}, load {load:.1f}"
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
