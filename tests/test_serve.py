"""``skynet serve`` end to end: the demo camera's plates become sightings, searchable over HTTP, and the
demo watch-list entry raises an alert on the live WebSocket; a face photo finds its sightings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import websockets
from servers import SkynetServe
from waiting import wait_for

from skynet.services.demo import DEMO_CAMERA_ID

pytestmark = [
    pytest.mark.models,
    pytest.mark.slow,
    pytest.mark.requires("ffmpeg"),
]


ARCHIVE_START = 1_700_000_000.0


async def _first_alert(url: str, token: str, timeout_s: float) -> dict:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as live:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = json.loads(await asyncio.wait_for(live.recv(), deadline - time.monotonic()))
            if event["type"] == "alert":
                return event
    raise AssertionError("no alert within the time limit")


def test_serve_with_the_demo_camera(model_settings, tmp_path):
    env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(tmp_path),
        "SKYNET_MODEL_DIR": str(model_settings.models_path),
        "SKYNET_LOGIN_MAX_FAILURES": "2",
        "SKYNET_ARCHIVE_ROOTS": str(tmp_path / "demo"),
    }
    made = subprocess.run(
        [sys.executable, "-m", "skynet", "users", "create-admin", "chief"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    server = SkynetServe(env, tmp_path / "serve.log").start()
    base = server.url
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert httpx.get(f"{base}/api/health", timeout=5).status_code == 200
        assert httpx.get(f"{base}/api/cameras", timeout=5).status_code == 401
        alert = asyncio.run(_first_alert(f"ws{base.removeprefix('http')}/api/live", token, 90))
        assert alert["data"]["entry"]["label"] == "demo: 桂B12345"
        found = httpx.get(
            f"{base}/api/search/plate",
            headers=headers,
            timeout=10,
            params={"q": "桂B*45", "mode": "wildcard", "reason": "test case 1"},
        ).json()
        assert found["results"] and found["results"][0]["sighting"]["plate"] == "桂B12345"
        thumbnail = httpx.get(base + found["results"][0]["sighting"]["thumbnail_url"], headers=headers, timeout=10)
        assert thumbnail.status_code == 200 and thumbnail.content[:3] == b"\xff\xd8\xff"
        audit = httpx.get(f"{base}/api/audit", headers=headers, timeout=10).text
        assert "test case 1" in audit

        # a re-index job started over HTTP reads the plates of an archive file (the demo clip, dated 2023)
        started = httpx.post(
            f"{base}/api/jobs/reindex",
            headers=headers,
            timeout=10,
            json={
                "paths": [str(tmp_path / "demo" / "street.avi")],
                "camera": DEMO_CAMERA_ID,
                "start": ARCHIVE_START,
                "reason": "case 2023-1 archive",
            },
        )
        assert started.status_code == 202, started.text
        job_url = f"{base}/api/jobs/{started.json()['id']}"

        def finished() -> dict | None:
            job = httpx.get(job_url, headers=headers, timeout=10).json()
            return None if job["state"] in ("queued", "running") else job

        job = wait_for(finished, 180, "the re-index job to finish", interval_s=0.5)
        assert job["state"] == "done" and job["sightings"] >= 3, job
        archived = httpx.get(
            f"{base}/api/search/plate",
            headers=headers,
            timeout=10,
            params={"q": "桂B12345", "until": ARCHIVE_START + 3600, "reason": "test case 2"},
        ).json()["results"]
        assert archived and archived[0]["sighting"]["best_time"] >= ARCHIVE_START

        # SKYNET_LOGIN_MAX_FAILURES is applied: the third wrong password in a row is refused with 429
        codes = [
            httpx.post(f"{base}/api/login", json={"user": "chief", "password": "wrong"}, timeout=10).status_code
            for _ in range(3)
        ]
        assert codes == [401, 401, 429]
    finally:
        output = server.stop()
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught (its documented behaviour)
    assert server.process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output and "Traceback" not in output
    assert token not in output
