"""Benchmark of face search through HTTP: a real uvicorn on 127.0.0.1, concurrent clients.

    python benchmarks/bench_api.py --n 1000000 --clients 16 --json bench-api.json
    python benchmarks/bench_api.py --n 100000 --upload ../shared/data/faces_identities/images/face_0001.jpg

Stores N face sightings (clustered 128-d embeddings, N/200 identities, 30 days, 3 cameras), starts
the API, and has ``--clients`` concurrent clients (one keep-alive connection each) search by sighting
id (top 20, with a time window, audited like any search) for ``--seconds``; reports p50/p99 latency,
throughput, and the CPU time the server and the Python clients spent per request. The clients are
``wrk`` (Debian package ``wrk``: a C load generator, so on a small machine the clients take little
CPU from the server) when it is installed, else Python threads;
``--client`` chooses. ``--upload PHOTO`` also measures searches by photo upload with the real models
(detection and embedding on the server: the analyser pool has ``--analyzers`` analysers).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.app import build
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.index.synthetic import clustered_embeddings
from skynet.records import Box, Camera, Sighting, SightingKind
from skynet.system import SystemRole

CAMERAS = ("north", "south", "east")
SPAN_S = 30 * 86400.0
BATCH = 5_000


def fill(catalog: Catalog, n: int) -> None:
    """N face sightings spread over the span and the cameras."""
    vectors, _ = clustered_embeddings(n, identities=max(10, n // 200), seed=1)
    times = np.arange(n) * (SPAN_S / n)
    box = Box(0, 0, 80, 100)
    for camera in CAMERAS:
        catalog.store.cameras.save(Camera(camera, camera.title(), f"rtsp://10.0.0.1/{camera}"))
    for lo in range(0, n, BATCH):
        catalog.add_sightings(
            [
                Sighting(
                    CAMERAS[i % 3], SightingKind.FACE, times[i], times[i] + 2, times[i], box, 0.8, embedding=vectors[i]
                )
                for i in range(lo, min(n, lo + BATCH))
            ]
        )
    catalog.faces.settle()


def _serve(data_dir: Path, upload_analyzers: int, report: Connection) -> None:
    """The server process: an API node over the store in ``data_dir`` on 127.0.0.1, built as ``skynet serve``
    builds its system (``upload_analyzers`` analysers of the installed model packs, or none); the port, which
    the OS chooses, is sent through ``report``."""
    settings = Settings(data_dir=data_dir, model_dir=Settings().models_path)  # the installed model packs
    system = build(settings, SystemRole.API_NODE, analysers=upload_analyzers)
    try:
        listening = socket.create_server(("127.0.0.1", 0))
        report.send(listening.getsockname()[1])
        uvicorn.Server(uvicorn.Config(system.api, log_level="warning")).run(sockets=[listening])
    finally:
        system.close()


def serve(data_dir: Path, upload_analyzers: int) -> tuple[multiprocessing.Process, str]:
    """Start the server in its own process (clients and server must not share one GIL); returns
    (process, base URL) once it answers."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_serve, args=(data_dir, upload_analyzers, sender), daemon=True)
    process.start()
    sender.close()  # the server process has its own copy
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.is_alive():
        if receiver.poll(0.2):
            base = f"http://127.0.0.1:{receiver.recv()}"
            break
    else:
        process.kill()
        raise RuntimeError("the API server did not start")
    while time.monotonic() < deadline and process.is_alive():
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API server did not start")


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used so far, from ``/proc`` (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(server_pid: int, run) -> dict:
    """``run()``'s figures plus the CPU the server and this process (the Python clients) spent per request,
    and the load average after it."""
    server_before, clients_before = process_cpu_s(server_pid), time.process_time()
    figures = run()
    server_after, clients_cpu = process_cpu_s(server_pid), time.process_time() - clients_before
    requests = max(1, figures["requests"])
    if server_before is not None and server_after is not None:
        figures["server_cpu_ms_per_request"] = 1000 * (server_after - server_before) / requests
    figures["client_cpu_ms_per_request"] = 1000 * clients_cpu / requests
    figures["load_average_1min"] = os.getloadavg()[0]
    return figures


def load(base: str, token: str, clients: int, seconds: float, request) -> dict:
    """Run ``request(client, rng)`` from ``clients`` threads for ``seconds``; latency figures in ms."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        mine, failed = [], []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                response = request(client, rng)
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    failed.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "requests_per_s": len(latencies) / elapsed,
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
math.randomseed(1)
request = function()
  return wrk.format(nil, "/api/search/face", nil, "{form}&sighting_id=" .. math.random(1, {n}))
end
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def load_wrk(base: str, token: str, clients: int, seconds: float, form: dict, n: int) -> dict:
    """The same search by sighting id from ``wrk``; latency figures in ms."""
    body = "&".join(f"{k}={v}" for k, v in form.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT.format(token=token, form=body, n=n - 1))
        script.flush()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if found is None:
            raise SystemExit(f"no {percent}% latency in wrk's output:\n{out}")
        value, unit = found.groups()
        return float(value) * _WRK_UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "client": "wrk",
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="face sightings in the store")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each load run")
    parser.add_argument("--upload", type=Path, help="also search by uploading this photo (real models)")
    parser.add_argument("--analyzers", type=int, default=2, help="analyser pool size for uploads")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator for the search by sighting id (auto: wrk when installed)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here as one JSON object")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the store here and reuse it on later runs with the same --n (filling 1M takes "
        "minutes); default: a temporary directory, removed at the end",
    )
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="skynet-bench-api-"))
    process = None
    try:
        with Catalog.open(data_dir) as catalog:
            start = time.perf_counter()
            held = catalog.faces.status().vectors
            reused = held >= args.n  # a store bench_index.py filled (--data-dir) holds a few more
            if not reused:
                if held:
                    raise SystemExit(f"{data_dir} holds {held} faces, fewer than --n {args.n}: use another --data-dir")
                fill(catalog, args.n)
            figures: dict = {
                "n": args.n,
                "clients": args.clients,
                "fill_s": time.perf_counter() - start,
                "store_reused": reused,
            }
            users = catalog.store.users
            admin = users.get_user("bench") or users.add_user(User("bench", Role.ADMIN, time.time()))
            token, _ = issue_token(users, admin, time.time())
        start = time.perf_counter()
        process, base = serve(data_dir, args.analyzers if args.upload else 0)
        figures["server_start_s"] = time.perf_counter() - start
        form = {"reason": "benchmark", "top_k": "20", "since": str(SPAN_S * 0.25), "until": str(SPAN_S * 0.75)}

        def by_id(client: httpx.Client, rng: np.random.Generator) -> httpx.Response:
            return client.post("/api/search/face", data={**form, "sighting_id": str(int(rng.integers(1, args.n)))})

        figures["by_sighting_id"] = measured(
            process.pid,
            lambda: (
                load_wrk(base, token, args.clients, args.seconds, form, args.n)
                if use_wrk
                else {"client": "python", **load(base, token, args.clients, args.seconds, by_id)}
            ),
        )
        if args.upload:
            photo = args.upload.read_bytes()

            def by_photo(client: httpx.Client, rng: np.random.Generator) -> httpx.Response:
                return client.post("/api/search/face", data=form, files={"image": (args.upload.name, photo)})

            figures["by_upload"] = measured(
                process.pid, lambda: load(base, token, args.clients, args.seconds, by_photo)
            )
    finally:
        if process is not None:
            process.terminate()
            process.join(30)
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
