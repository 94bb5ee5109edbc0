"""Benchmark of wildcard and fuzzy plate search over millions of plate sightings, SQLite or PostgreSQL.

    python benchmarks/bench_plates.py --n 10000000 --data-dir /big/disk --json bench-plates.json
    python benchmarks/bench_plates.py --n 10000000 --database-url postgresql://... --data-dir DIR --json bench-plates-pg.json

(With PostgreSQL, ``--data-dir`` keeps the data directory whose key the database's audit chain names: a later
run over the same database needs it.)

Filling 10M plate sightings through the store's Python path takes hours on a small machine, so the rows
are generated inside the database in batches (random Chinese plates: a province, a letter, five letters
or digits, over 30 days and 3 cameras) into the same tables and indexes the schema creates (SQLite: the
FTS5 trigram table kept by its triggers; PostgreSQL: the ``pg_trgm`` GIN index, built after the fill as
the migration defines it). The normalised columns come from the store's own rules: SQLite calls
:func:`skynet.store.plate_search.normalise`; PostgreSQL folds with ``translate`` and the benchmark checks
a sample of rows against ``normalise``. Queries are plates read back from the store, searched through
``store.plates.search`` exactly as the API does: ``桂B*45`` and ``*123?`` wildcards, and fuzzy queries
with OCR confusions, one real substitution and a wrong province.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

from skynet.index.synthetic import PLATE_LETTERS, PLATE_SYMBOLS, PROVINCES
from skynet.records import Camera
from skynet.store import open_store
from skynet.store.plate_search import normalise
from skynet.store.plates import PlateMode
from skynet.store.sqlite import DB_NAME

CAMERAS = ("north", "south", "east")
SPAN_S = 30 * 86400.0
BATCH = 500_000
CONFUSE = str.maketrans({"0": "D", "8": "B", "1": "I", "5": "S", "2": "Z", "B": "8", "D": "0", "S": "5", "Z": "2"})
CONFIDENCES = json.dumps([0.9] * 7)


def _symbol(alphabet: str, dialect: str) -> str:
    """SQL for one random character of ``alphabet``."""
    if dialect == "sqlite":
        return f"substr('{alphabet}', 1 + abs(random() % {len(alphabet)}), 1)"
    return f"substr('{alphabet}', 1 + floor(random() * {len(alphabet)})::int, 1)"


def _plate_sql(dialect: str) -> str:
    return " || ".join(
        [_symbol(PROVINCES, dialect), _symbol(PLATE_LETTERS, dialect)] + [_symbol(PLATE_SYMBOLS, dialect)] * 5
    )


def _sighting_columns(i: str, n: int) -> str:
    """Column values of plate sighting number ``i`` (an SQL expression) of ``n``."""
    t = f"({i}) * {SPAN_S / n!r}"
    camera = f"CASE ({i}) % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'south' ELSE 'east' END"
    return f"{camera}, 'plate', {t}, {t} + 1, {t}, 0, 0, 80, 100, 0.8, '{CONFIDENCES}', 'live'"


_INSERT = (
    "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
    "plate_confidences, origin_kind, plate_text) "
)


def fill_sqlite(path: Path, n: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the sorts that build the indexes after the fill
    conn.execute("PRAGMA synchronous = OFF")  # a benchmark fill; the store's own writes keep NORMAL
    conn.create_function("plate_norm", 1, normalise, deterministic=True)
    conn.create_function("reversed_text", 1, lambda text: text[::-1], deterministic=True)
    # the indexes and triggers of the two tables are dropped for the fill and made again after it, as the
    # schema defines them (random-order inserts into six B-trees and the FTS5 table ran at ~1 200 rows/s)
    kept = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND tbl_name IN ('sightings', 'plate_reads') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in kept:
        conn.execute(f"DROP {kind} {name}")
    for lo in range(0, n, BATCH):
        hi = min(n, lo + BATCH)
        with conn:
            first = conn.execute("SELECT coalesce(max(id), 0) FROM sightings").fetchone()[0]
            conn.execute(
                f"WITH RECURSIVE seq(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM seq WHERE i < {hi - 1}) "
                f"{_INSERT} SELECT {_sighting_columns('i', n)}, {_plate_sql('sqlite')} FROM seq"
            )
            conn.execute(
                "INSERT INTO plate_reads (sighting_id, rank, text, norm, rnorm, confidence) "
                "SELECT id, 0, plate_text, plate_norm(plate_text), reversed_text(plate_norm(plate_text)), 0.9 "
                "FROM sightings WHERE id > ?",
                (first,),
            )
    with conn:
        conn.execute("INSERT INTO plate_fts(plate_fts) VALUES ('rebuild')")
        for _, _, sql in kept:
            conn.execute(sql)
    conn.execute("ANALYZE")
    conn.close()


def fill_postgresql(url: str, n: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        # the two tables' indexes (but their keys) are dropped for the fill and made again after it, as the
        # schema defines them; the fill's rows are consistent by construction, so triggers (foreign-key checks,
        # notifications) are off for this session
        kept = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid IN ('sightings'::regclass, 'plate_reads'::regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        ).fetchall()
        for name, _ in kept:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("SET session_replication_role = replica")
        for lo in range(0, n, BATCH):
            hi = min(n, lo + BATCH)
            with conn.transaction():
                first = conn.execute("SELECT coalesce(max(id), 0) FROM sightings").fetchone()[0]
                conn.execute(
                    f"{_INSERT} SELECT {_sighting_columns('i', n)}, {_plate_sql('postgresql')} "
                    f"FROM generate_series({lo}, {hi - 1}) i"
                )
                conn.execute(
                    "INSERT INTO plate_reads (sighting_id, rank, text, norm, rnorm, confidence) "
                    "SELECT id, 0, plate_text, f.norm, reverse(f.norm), 0.9 FROM sightings, "
                    "LATERAL (SELECT translate(plate_text, 'ODQBISZ', '0008152') AS norm) f WHERE id > %s",
                    (first,),
                )
        conn.execute("SET session_replication_role = DEFAULT")
        for _, sql in kept:
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps: visibility map, hint bits, statistics


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


def search(store, queries: int, rng: np.random.Generator) -> dict:
    """Wildcard and fuzzy searches for plates read back from the store; p50/p95 and found rates."""
    (top,) = store.db.execute("SELECT max(id) FROM sightings").fetchone()
    ids = sorted({int(i) for i in rng.integers(1, top + 1, queries * 2)})
    condition, arg = store.db.ids_in("s.id", ids)
    rows = store.db.execute(
        f"SELECT s.plate_text, r.norm, r.rnorm FROM sightings s JOIN plate_reads r ON r.sighting_id = s.id "
        f"WHERE {condition}",
        (arg,),
    ).fetchall()
    mismatched = [text for text, norm, rnorm in rows if norm != normalise(text) or rnorm != norm[::-1]]
    if mismatched:
        raise SystemExit(f"generated rows break the store's normalisation rules: {mismatched[:5]}")
    picks = [r[0] for r in rows][:queries]
    wildcards = [p[:2] + "*" + p[-2:] if i % 2 else "*" + p[3:6] + "?" for i, p in enumerate(picks)]
    fuzzy = []
    for p in picks:
        body = list(p[1:].translate(CONFUSE))
        body[int(rng.integers(2, len(body)))] = "7"  # one real substitution on top of the confusions
        fuzzy.append(("湘" if p[0] != "湘" else "粤") + "".join(body))  # and a wrong province
    store.plates.search(wildcards[0], PlateMode.WILDCARD, limit=50)  # warm
    wild_t, wild = _timed(lambda q: store.plates.search(q, PlateMode.WILDCARD, limit=50), wildcards)
    fuzzy_t, found = _timed(lambda q: store.plates.search(q, PlateMode.FUZZY, limit=10), fuzzy)
    wild_found = np.mean([p in {h.text for h in hits} for p, hits in zip(picks, wild, strict=True)])
    return {
        "plate_wildcard_p50_ms": _ms(wild_t)["p50"],
        "plate_wildcard_p95_ms": _ms(wild_t)["p95"],
        "plate_wildcard_ends_p50_ms": _ms(wild_t[1::2])["p50"],  # 桂B*45: a literal start and end
        "plate_wildcard_run_p50_ms": _ms(wild_t[::2])["p50"],  # *123?: a run of 3 (the trigram index)
        "plate_wildcard_mean_hits": float(np.mean([len(w) for w in wild])),
        "plate_wildcard_found_rate": float(wild_found),
        "plate_fuzzy_p50_ms": _ms(fuzzy_t)["p50"],
        "plate_fuzzy_p95_ms": _ms(fuzzy_t)["p95"],
        "plate_fuzzy_found_rate": float(np.mean([p in {h.text for h in hits} for p, hits in zip(picks, found)])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="plate sightings")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write the figures here as one JSON object")
    parser.add_argument("--data-dir", type=Path, help="keep the store here (default: a temporary directory)")
    parser.add_argument("--database-url", help="PostgreSQL URL: benchmark that backend instead of SQLite")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="skynet-bench-plates-"))
    figures: dict = {"n": args.n, "backend": "postgresql" if args.database_url else "sqlite"}
    try:
        store = open_store(data_dir, args.database_url)
        for camera in CAMERAS:
            store.cameras.save(Camera(camera, camera, f"rtsp://10.0.0.1/{camera}"))
        (held,) = store.db.execute("SELECT count(*) FROM plate_reads").fetchone()
        start = time.perf_counter()
        if held == 0:
            if args.database_url:
                fill_postgresql(args.database_url, args.n)
            else:
                fill_sqlite(data_dir / DB_NAME, args.n)
        elif held != args.n:
            raise SystemExit(f"{data_dir} holds {held} plate reads, not --n {args.n}: use another --data-dir")
        figures["fill_s"] = time.perf_counter() - start
        figures |= search(store, args.queries, np.random.default_rng(0))
        store.close()
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_avg"] = os.getloadavg()[0]
    for key, value in figures.items():
        print(f"{key:<28}  {value:,.3f}" if isinstance(value, float) else f"{key:<28}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
