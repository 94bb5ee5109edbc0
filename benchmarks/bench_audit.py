"""Benchmark of the audit log's hash chain: appends per second, and how fast ``skynet index status``
verifies a long log.

    python benchmarks/bench_audit.py --n 1000000 --json bench-audit.json [--database-url postgresql://...]

Appends ``--appends`` events one by one (each its own transaction, as the API writes them, by ``--threads``
threads), then fills the log up to ``--n`` rows in bulk (chained with the data directory's key, as Skynet
would have written them) and times reading every row, and verifying the whole chain, as ``status`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from skynet.records import AuditEvent
from skynet.store import Store, open_store
from skynet.store.audit_chain import COLUMNS, ChainRow
from skynet.store.audit_witness import AuditWitness

BATCH = 20_000


def appends(store: Store, count: int, threads: int) -> float:
    """Events appended per second by ``threads`` threads."""

    def work(first: int) -> None:
        for i in range(first, count, threads):
            store.audit.append(
                AuditEvent(time.time(), "alice", "search.face", "case 2024-117", {"results": i, "k": 10}, token_id=i)
            )

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - start)


def fill(store: Store, data_dir: Path, total: int) -> float:
    """Chain rows onto the log until it holds ``total``, in bulk; seconds taken."""
    key = AuditWitness(data_dir).key()
    assert key is not None
    last = store.db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    next_id, prev_hash = last[0] + 1, last[1]
    start = time.perf_counter()
    while next_id <= total:
        rows = []
        for row_id in range(next_id, min(total, next_id + BATCH - 1) + 1):
            detail = json.dumps({"results": row_id % 50, "k": 10, "camera_ids": ["north", "east"]})
            row = ChainRow(
                row_id, 1.7e9 + row_id, f"user{row_id % 40}", "search.plate", "case 2024-117", detail, 7, None
            )
            prev_hash, previous = key.link(prev_hash, row), prev_hash
            rows.append((row_id, row.at, row.actor, row.action, row.reason, detail, 7, None, previous, prev_hash))
        with store.db.write("filling the audit log"):
            store.db.executemany(f"INSERT INTO audit_log ({COLUMNS}) VALUES ({', '.join('?' * 10)})", rows)
        next_id = rows[-1][0] + 1
    if store.db.dialect == "postgresql":
        store.db.execute("SELECT setval('audit_log_id_seq', ?)", (total,))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows in the log verified")
    parser.add_argument("--appends", type=int, default=2_000, help="events appended one by one")
    parser.add_argument("--threads", type=int, default=4, help="threads appending at once")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite in a temporary directory)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    load_before = os.getloadavg()
    try:
        with open_store(data_dir, args.database_url) as store:
            figures: dict[str, object] = {"n": args.n, "backend": store.db.dialect.value}
            figures["append_per_s"] = appends(store, args.appends, args.threads)
            figures["bulk_fill_s"] = fill(store, data_dir, args.n)
            start, cpu = time.perf_counter(), time.process_time()
            count = sum(1 for _ in store.audit.rows())
            figures["read_rows_per_s"] = count / (time.perf_counter() - start)
            figures["read_cpu_s"] = time.process_time() - cpu
            start, cpu = time.perf_counter(), time.process_time()
            report, problems = store.audit.verify()
            seconds = time.perf_counter() - start
            figures["verify_cpu_s"] = time.process_time() - cpu  # this process's share (the machine may be busy)
            assert report.problem is None and not problems and report.rows == args.n, (report, problems)
            figures["verify_s"] = seconds
            figures["verify_rows_per_s"] = report.rows / seconds
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_avg_before_after"] = [load_before[0], os.getloadavg()[0]]
    figures["cpu_count"] = os.cpu_count()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
