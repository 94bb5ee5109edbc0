"""Alert latency: from a sighting committed in the store to the alert arriving on ``/api/live``, and from
a plate read to its SMS at the SMS centre.

    python benchmarks/bench_alerts.py [--n 300] [--rate 20] [--no-sms] [--source checkpoint] [--json PATH]

The real path of ``skynet serve`` (an API node built by the composition root): plate sightings go
through the batching store writer (SQLite in a temporary directory), the watch-list matcher (one
wildcard entry they all match), the alert fan-out and the live hub, to a WebSocket client of a real
uvicorn on 127.0.0.1. The latency of each alert is its receipt time minus the moment its sighting's batch was committed;
``--rate`` sightings per second are published from a camera-like thread.

The SMS path (unless ``--no-sms``) is the same fan-out's SMS channel: each alert is rendered with the
default SMS template (Chinese label and plate: UCS-2, two concatenated parts), queued in the store's
outbox and sent by the SMS worker to a real Kannel (bearerbox + smsbox, Debian ``kannel``) on 127.0.0.1,
whose fake SMSC (``fakesmsc``, Debian ``kannel-extras``) stands for the operator network. The latency of
each SMS runs from the moment its plate read was handed to the store writer (before it was stored or
matched) to the moment fakesmsc printed its last part. The target: 2 s at the 99th percentile. It is split
into the time to queue it (store, match, render: the outbox row's creation), to Kannel's 202 answer (the row's
``delivered_at``) and from that answer to fakesmsc (below zero when the SMSC had it before the answer was recorded).

``--source checkpoint``: the plate reads come from a road checkpoint instead, pushed one by one over HTTP
(``POST /api/feeds/checkpoint-reads`` as a ``feed`` account); both latencies then run from the moment the read
was sent (the live alert's too: a pushed read is stored, matched and answered in one request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from message_servers import Kannel, kannel_unavailable  # noqa: E402  (the test gateway)

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.app import build
from skynet.config import Settings
from skynet.records import Box, Camera, Channel, PlateText, Sighting, SightingKind, WatchlistEntry
from skynet.system import SystemRole


async def _receive(url: str, token: str, n: int, received: dict[int, float], ready: threading.Event) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as live:
        ready.set()
        while len(received) < n:
            event = json.loads(await asyncio.wait_for(live.recv(), 30))
            if event["type"] == "alert":
                received[event["data"]["sighting"]["id"]] = time.time()


SMS_TARGET_P99_MS = 2000.0
RECIPIENT = "+8613800000001"
_PLATE = re.compile(r"桂B\d{5}")


def _percentiles(name: str, latencies_ms: np.ndarray, n: int) -> dict[str, float]:
    return {
        f"{name}": len(latencies_ms),
        f"{name}_recall": len(latencies_ms) / n,
        f"{name}_latency_p50_ms": round(float(np.percentile(latencies_ms, 50)), 2),
        f"{name}_latency_p99_ms": round(float(np.percentile(latencies_ms, 99)), 2),
        f"{name}_latency_max_ms": round(float(latencies_ms.max()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="sightings (each raises one alert)")
    parser.add_argument("--rate", type=float, default=20.0, help="sightings published per second")
    parser.add_argument("--no-sms", dest="sms", action="store_false", help="leave out the SMS path (no Kannel)")
    parser.add_argument("--source", choices=["video", "checkpoint"], default="video", help="where the reads come from")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.sms and (missing := kannel_unavailable()):
        parser.error(f"the SMS path needs {missing} (or pass --no-sms)")
    with tempfile.TemporaryDirectory(prefix="bench_alerts_") as tmp, contextlib.ExitStack() as stack:
        data_dir = Path(tmp) / "data"
        settings = Settings(data_dir=data_dir)
        if args.sms:
            (Path(tmp) / "kannel").mkdir()
            kannel = Kannel(Path(tmp) / "kannel").start()
            stack.callback(kannel.stop)  # after the system stops
            settings = Settings(
                data_dir=data_dir,
                kannel_url=kannel.url,
                kannel_username=kannel.username,
                kannel_password=kannel.password,
                alert_recipients={"duty": [RECIPIENT]},
                public_url="https://skynet.example.org",
            )
        system = build(settings, SystemRole.API_NODE, analysers=0)
        stack.callback(system.close)
        store = system.catalog.store
        store.cameras.save(Camera("gate", "北门 Gate", "rtsp://10.0.0.1/gate"))
        store.watchlists.add(
            WatchlistEntry(
                SightingKind.PLATE, "被盗车辆 bench", "benchmark", "bench", time.time(), plate_pattern="桂B*"
            )
        )
        user = store.users.add_user(User("bench", Role.ADMIN, time.time()))
        token, _ = issue_token(store.users, user, time.time(), ttl_s=3600)
        gate_user = store.users.add_user(User("checkpoint", Role.FEED, time.time()))
        feed_token, _ = issue_token(store.users, gate_user, time.time(), ttl_s=3600)
        writer, catalog = system.writer, system.catalog
        committed: dict[int, float] = {}
        store_batch = catalog.add_sightings

        def stored_at(sightings, media):  # the writer's commit, timed before its listeners (the matcher) run
            ids = store_batch(sightings, media)
            committed.update(dict.fromkeys(ids, time.time()))
            return ids

        catalog.add_sightings = stored_at  # type: ignore[method-assign]
        server = uvicorn.Server(
            uvicorn.Config(system.api, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
        )
        serving = threading.Thread(target=server.run, daemon=True)  # its lifespan runs the SMS worker
        serving.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]  # the port the server bound (port 0: the OS chose)
        received: dict[int, float] = {}
        ready = threading.Event()
        client = threading.Thread(
            target=lambda: asyncio.run(_receive(f"ws://127.0.0.1:{port}/api/live", token, args.n, received, ready))
        )
        client.start()
        ready.wait(10)
        image = np.zeros((32, 32, 3), np.uint8)
        read_at: dict[str, float] = {}
        feed = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {feed_token}"})
        for i in range(args.n):
            now = time.time()
            plate = PlateText(f"桂B{i:05d}", (0.95,) * 7)
            read_at[plate.text] = now
            if args.source == "checkpoint":
                record = {"plate": plate.text, "checkpoint": "gate", "time": now, "direction": "north"}
                answer = feed.post("/api/feeds/checkpoint-reads", json={"records": [record]}).json()
                committed[answer["records"][0]["sighting_id"]] = now  # from the read's sending
            else:
                writer.publish(
                    Sighting("gate", SightingKind.PLATE, now - 2, now, now - 1, Box(0, 0, 90, 30), 0.9, plate=plate),
                    image,
                    image,
                )
            time.sleep(1.0 / args.rate)
        feed.close()
        client.join(60)
        deadline = time.time() + 60
        while args.sms and len(kannel.messages(RECIPIENT)) < args.n and time.time() < deadline:
            time.sleep(0.1)
        server.should_exit = True  # the system's lifespan stores what is queued and stops the writer
        serving.join(30)
        sms = {_PLATE.search(m.text)[0]: m.received_at for m in kannel.messages(RECIPIENT)} if args.sms else {}
        sample = kannel.messages(RECIPIENT)[0].text if sms else None
        log = store.outbox.for_channel(Channel.SMS).deliveries()  # when each SMS was queued and taken by Kannel
        stages = {_PLATE.search(d.body.decode())[0]: (d.created_at, d.delivered_at) for d in log if d.delivered_at}
    latencies = np.array([received[i] - committed[i] for i in received if i in committed]) * 1000.0
    result = {
        "sightings": args.n,
        "source": args.source,
        "rate": args.rate,
        **_percentiles("alerts", latencies, args.n),
    }
    result["load_average"] = round(os.getloadavg()[0], 1)  # a shared machine: what else ran
    rows = [("live alert (from read)" if args.source == "checkpoint" else "live alert (from commit)", "alerts")]
    if args.sms:
        sms_ms = np.array([sms[text] - read_at[text] for text in sms]) * 1000.0
        result |= _percentiles("sms", sms_ms, args.n) | {"sms_target_p99_ms": SMS_TARGET_P99_MS, "sms_sample": sample}
        rows.append(("SMS at fakesmsc (from read)", "sms"))
        # where the time goes: read -> queued in the outbox (store, match, render), -> taken by Kannel, -> at the SMSC
        for key, label, start, end in (
            ("sms_queued", "  read -> queued", lambda t: read_at[t], lambda t: stages[t][0]),
            ("sms_sent", "  queued -> Kannel answer", lambda t: stages[t][0], lambda t: stages[t][1]),
            ("sms_smsc", "  Kannel answer -> fakesmsc", lambda t: stages[t][1], lambda t: sms[t]),
        ):
            spans = np.array([end(t) - start(t) for t in sms if t in stages]) * 1000.0
            result |= _percentiles(key, spans, args.n)
            rows.append((label, key))
    print(f"{'path':28s} {'count':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for label, key in rows:
        print(
            f"{label:28s} {result[key]:6d} {result[f'{key}_latency_p50_ms']:8.2f} "
            f"{result[f'{key}_latency_p99_ms']:8.2f} {result[f'{key}_latency_max_ms']:8.2f}"
        )
    if args.sms:
        verdict = "meets" if result["sms_latency_p99_ms"] <= SMS_TARGET_P99_MS else "MISSES"
        print(f"SMS p99 {verdict} the {SMS_TARGET_P99_MS / 1000:g} s target; {result['sms']}/{args.n} SMS arrived")
    print(f"load average {result['load_average']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
