"""Face-index shards across nodes (docs/scale.md): search latency with 1 and 2 shard actors at the same total size.

Runs tests/cluster/shard_driver.py --bench N in a private network namespace: a real Ray cluster of two worker nodes
(one CPU and one ``index`` resource each) and PostgreSQL on this machine; N synthetic clustered 128-d faces over
``--weeks`` weeks stored through the catalog (which also indexes them: the unsharded reference, searched in this
process); then an API node's sharded index (``build(settings, API_NODE)`` with ``cluster_index_shards``) over 1
shard, then over 2 shards on the 2 nodes, each timed once its shards have built every week from the store. Reports
p50/p99 wall ms per search, the searching process's CPU ms per search, each shard set's build time from
PostgreSQL, and how many of 50 top-10 answers equal the unsharded index's. All nodes share this machine's cores.

    flock /work/wt/bench.lock python benchmarks/bench_shards.py --n 200000 [--weeks 4] [--queries 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    from cluster_support import require_cluster, run_in_namespace  # noqa: F401  (tests/ on the path)

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000, help="face sightings in the store")
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    driver = ROOT / "tests" / "cluster" / "shard_driver.py"
    argv = [sys.executable, str(driver), "--bench", str(args.n), "--weeks", str(args.weeks)]
    argv += ["--queries", str(args.queries)]
    started, cpu = time.monotonic(), os.times()
    run = run_in_namespace(argv, timeout_s=3600)
    if run.returncode != 0:
        sys.exit(f"the driver failed ({run.returncode}):\n{run.output[-4000:]}")
    report = run.report()
    done = os.times()
    report["wall_s"] = round(time.monotonic() - started, 1)
    report["cpu_s_all_processes"] = round(
        done.children_user + done.children_system - cpu.children_user - cpu.children_system, 1
    )
    report["load_average"] = os.getloadavg()
    print(f"{report['faces']} faces over {report['weeks']} weeks, {report['queries']} queries, k=10")
    print(f"{'index':<28}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/search':>15}{'built s':>9}{'same top-10':>13}")
    local = report["local"]
    print(f"{'unsharded (in process)':<28}{local['p50_ms']:>9}{local['p99_ms']:>9}{local['cpu_ms_per_search']:>15}")
    for shards in (1, 2):
        row = report[f"shards_{shards}"]
        print(
            f"{f'{shards} shard(s) over Ray':<28}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['cpu_ms_per_search']:>15}"
            f"{row['built_s']:>9}{row['same_top_k_of_50']:>10}/{min(50, report['queries'])}"
        )
    print(f"wall {report['wall_s']} s, CPU {report['cpu_s_all_processes']} s, load {report['load_average']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
