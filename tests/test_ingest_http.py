"""An HTTP MJPEG camera (multipart/x-mixed-replace, as IP cameras serve it) from a local server."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from ingest_support import ListSink, SquareAnalyzer, wait_for

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
                image[80:140, x:x + 60] = 255
                jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                index += 1
                time.sleep(1 / FPS)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mjpeg_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), MjpegHandler)
    server.stopping = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopping = True  # type: ignore[attr-defined]
    server.shutdown()


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
