"""``skynet run``: the cameras file, and live RTSP cameras analysed into the store end to end."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ingest_support import RtspServer, make_clip
from tls_support import self_signed
from waiting import WaitTimeout, wait_for

from skynet.errors import ConfigError
from skynet.index.catalog import Catalog
from skynet.ingest.camera_config import load_cameras
from skynet.store.plates import PlateMode
from skynet.synthetic import paste_plate, render_plate, street_scene


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cameras_file_gives_cameras_and_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("GATE_URL", "rtsp://admin:hunter2@10.0.0.5/main")
    cameras = load_cameras(
        _write(
            tmp_path,
            """
        [[cameras]]
        id = "gate-1"
        name = "North gate"
        url_env = "GATE_URL"
        transport = "udp"
        latitude = 22.54
        longitude = 114.05
        tags = ["gate"]
        analysis_fps = 2

        [[cameras]]
        id = "lobby"
        url = "/srv/archive/lobby.mp4"
    """,
        )
    )
    gate, lobby = cameras
    assert gate.camera().source_url == "rtsp://admin:hunter2@10.0.0.5/main"
    assert gate.source().transport == "udp" and gate.analysis_fps == 2
    assert "hunter2" not in repr(gate.camera()) and "hunter2" not in repr(gate.source())
    assert lobby.camera().name == "lobby"


def test_cameras_file_tls_settings_reach_camera_and_source(tmp_path):
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "gate.pem").write_text(self_signed(tmp_path / "made").cert.read_text())
    gate, door = load_cameras(
        _write(
            tmp_path,
            """
        [[cameras]]
        id = "gate"
        url = "https://10.0.0.5/video.mjpg"
        tls_ca_file = "ca/gate.pem"

        [[cameras]]
        id = "door"
        url = "rtsps://10.0.0.6/live"
        tls_verify = false
    """,
        )
    )
    ca_file = str(tmp_path / "ca" / "gate.pem")  # relative to the cameras file
    assert (gate.camera().tls_verify, gate.camera().tls_ca_file) == (True, ca_file)
    assert (gate.source().tls_verify, gate.source().tls_ca_file) == (True, ca_file)
    assert (door.camera().tls_verify, door.camera().tls_ca_file) == (False, None)
    assert door.source().tls_verify is False and door.source().tls


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[cameras]]\nid = "a"\nurl = "https://h/v"\ntls_ca_file = "no/such.pem"\n', "no/such.pem does not exist"),
        ('[[cameras]]\nid = "a"\nurl = "https://h/v"\ntls_verify = "no"\n', "tls_verify"),
        ('[[cameras]]\nid = "a"\n', "exactly one of 'url' and 'url_env'"),
        ('[[cameras]]\nid = "a"\nurl = "rtsp://u:secret@h/s"\nlatitude = 200\n', "latitude"),
        ('[[cameras]]\nid = "a"\nurl = "x"\n[[cameras]]\nid = "a"\nurl = "y"\n', "repeated: a"),
        ('[[cameras]]\nid = "a b"\nurl = "x"\n', "cameras.0.id"),
        ("cameras = [", "not valid TOML"),
        ('[[cameras]]\nid = "a"\nurl_env = "SKYNET_TEST_UNSET_VARIABLE"\n', None),
    ],
)
def test_bad_cameras_files_give_one_clear_error_without_secrets(tmp_path, text, message):
    path = _write(tmp_path, text)
    if message is None:
        with pytest.raises(ConfigError, match="SKYNET_TEST_UNSET_VARIABLE is not set"):
            load_cameras(path)[0].camera()
        return
    with pytest.raises(ConfigError, match=message) as error:
        load_cameras(path)
    assert "secret" not in str(error.value)


@pytest.mark.models
@pytest.mark.slow
@pytest.mark.requires("rtsp")
def test_run_analyses_a_live_rtsp_camera_into_the_store(model_settings, tmp_path):
    plate = render_plate("桂B12345")

    def paint(index: int, image: np.ndarray) -> None:
        x = 100 + 6 * (index % 100)
        corners = np.float32([[x, 400], [x + 220, 405], [x + 219, 475], [x - 1, 470]])
        image[:] = paste_plate(street_scene(1280, 720), plate, corners)

    clip = make_clip(tmp_path / "street.mp4", 4.0, 1280, 720, 25, paint, preset="veryfast")
    server = RtspServer({"street": clip}).start()
    data_dir = tmp_path / "data"
    cameras = _write(
        tmp_path,
        f'[[cameras]]\nid = "street"\nurl = "{server.url("street", "viewer:pa55word@")}"\n'
        "latitude = 22.5\nlongitude = 114.0\n",
    )
    env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODEL_DIR": str(model_settings.models_path),
        "SKYNET_CAMERA_NETWORKS": '["127.0.0.1/32"]',  # the test's RTSP server
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "skynet", "run", "--cameras", str(cameras), "--status-every", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )

    def stored() -> list:
        if not any(data_dir.glob("*.db")):
            return []
        with Catalog.open(data_dir) as catalog:
            return catalog.store.plates.search("桂B12345", PlateMode.EXACT)

    try:
        hits = []
        with contextlib.suppress(WaitTimeout):  # asserted below, with what skynet run printed
            hits = wait_for(stored, 90, "a sighting of 桂B12345 in the store", interval_s=2)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
        server.kill()
    assert hits, output
    assert run.returncode == 0, output
    assert re.search(r"^street +(connecting|online|stalled|reconnecting) ", output, re.MULTILINE), output
    assert re.search(r"^stored [1-9]\d* sighting", output, re.MULTILINE), output
    assert "pa55word" not in output
