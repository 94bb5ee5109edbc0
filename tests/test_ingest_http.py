"""An HTTP MJPEG camera (multipart/x-mixed-replace, as IP cameras serve it) from a local server."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from ingest_support import ListSink, SquareAnalyzer
from servers import require
from waiting import wait_for

from skynet.ingest.sources import SourceSpec
from skynet.ingest.status import CameraState
from skynet.ingest.worker import CameraWorker, WorkerOptions

FPS = 10


class MjpegHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/video.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        index = 0
        try:
            while not self.server.stopping:  # type: ignore[attr-defined]
                image = np.zeros((240, 320, 3), np.uint8)
                x = (index * 5) % 240
                image[80:140, x : x + 60] = 255
                jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode()
                    + b"\r\n\r\n"
                    + jpeg
                    + b"\r\n"
                )
                index += 1
                time.sleep(1 / FPS)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(tls: ssl.SSLContext | None = None):
    """The MJPEG server on a free port of 127.0.0.1, over TLS when ``tls`` is given."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), MjpegHandler)
    server.stopping = False  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping = True  # type: ignore[attr-defined]
        server.shutdown()


@pytest.fixture
def mjpeg_server():
    with serving() as server:
        yield server


@pytest.fixture
def self_signed_tls(tmp_path) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for 127.0.0.1 (made by the openssl CLI)."""
    require("openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_mjpeg_over_http_is_read_and_analysed(mjpeg_server):
    port = mjpeg_server.server_address[1]
    sink = ListSink()
    spec = SourceSpec("ipcam", f"http://viewer:pw123@127.0.0.1:{port}/video.mjpg", open_timeout_s=5, read_timeout_s=2)
    worker = CameraWorker(spec, SquareAnalyzer(), sink, WorkerOptions()).start()
    try:
        wait_for(lambda: worker.status().frames_analysed >= 8, 20, "8 analysed MJPEG frames")
        time.sleep(2.5)  # longer than the stall timeout: frames without times must not look stalled
        status = worker.status()
        assert status.state is CameraState.ONLINE and status.reconnects == 0, status
        assert 6 <= status.input_fps <= 14
        assert "pw123" not in status.source
    finally:
        worker.stop()
        assert worker.join(timeout=10)
    assert {s.kind.value for s, _, _ in sink.items} == {"face", "plate"}


def test_mjpeg_over_https_with_a_self_signed_certificate_is_read(self_signed_tls):
    # IP cameras serve HTTPS with self-signed certificates; FFmpeg does not verify them by default.
    with serving(self_signed_tls) as server:
        sink = ListSink()
        spec = SourceSpec(
            "tlscam",
            f"https://viewer:pw123@127.0.0.1:{server.server_address[1]}/video.mjpg",
            open_timeout_s=5,
            read_timeout_s=2,
        )
        worker = CameraWorker(spec, SquareAnalyzer(), sink, WorkerOptions()).start()
        try:
            wait_for(lambda: worker.status().frames_analysed >= 5, 20, "5 analysed HTTPS MJPEG frames")
            status = worker.status()
            assert status.state is CameraState.ONLINE and "pw123" not in status.source
        finally:
            worker.stop()
            assert worker.join(timeout=10)
    assert {s.kind.value for s, _, _ in sink.items} == {"face", "plate"}


def test_https_camera_on_a_plain_http_server_gives_a_clear_error_and_retries(mjpeg_server):
    spec = SourceSpec(
        "tlscam", f"https://127.0.0.1:{mjpeg_server.server_address[1]}/video.mjpg", open_timeout_s=2, read_timeout_s=2
    )
    worker = CameraWorker(spec, SquareAnalyzer(), ListSink(), WorkerOptions(backoff_initial_s=0.2)).start()
    try:
        wait_for(lambda: worker.status().last_error is not None, 20, "an open error")
        status = worker.status()
        assert status.state in (CameraState.OFFLINE, CameraState.RECONNECTING) and status.frames_read == 0
        assert "could not be opened" in status.last_error
    finally:
        worker.stop()
        assert worker.join(timeout=10)
