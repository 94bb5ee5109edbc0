"""An HTTP(S) MJPEG camera (multipart/x-mixed-replace, as IP cameras serve it) from a local server, and the
camera's TLS settings: certificates verified by default, a CA file, verification off; each failure named."""

from __future__ import annotations

import os
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from ingest_support import ListSink, SquareAnalyzer
from tls_support import Certificate, issued_by, private_ca, self_signed
from waiting import wait_for

from skynet.ingest.cameras import CameraSet
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.status import CameraState
from skynet.ingest.worker import CameraWorker, WorkerOptions
from skynet.records import Camera

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
def camera_cert(tmp_path) -> Certificate:
    """The self-signed certificate of an IP camera at 127.0.0.1."""
    return self_signed(tmp_path / "camera")


def run_camera(spec: SourceSpec, sink: ListSink | None = None) -> CameraWorker:
    return CameraWorker(spec, SquareAnalyzer(), sink or ListSink(), WorkerOptions(backoff_initial_s=0.2)).start()


def https_spec(server, **tls) -> SourceSpec:
    url = f"https://viewer:pw123@127.0.0.1:{server.server_address[1]}/video.mjpg"
    return SourceSpec("tlscam", url, open_timeout_s=5, read_timeout_s=2, **tls)


def open_error(worker: CameraWorker) -> str:
    """The camera's first open error (it keeps retrying), with no frame read and no secret shown."""
    try:
        wait_for(lambda: worker.status().last_error is not None, 20, "an open error")
        status = worker.status()
        assert status.state in (CameraState.OFFLINE, CameraState.RECONNECTING) and status.frames_read == 0
        assert "pw123" not in status.last_error
        return status.last_error
    finally:
        worker.stop()
        assert worker.join(timeout=10)


def assert_read_and_analysed(worker: CameraWorker, sink: ListSink) -> None:
    try:
        wait_for(lambda: worker.status().frames_analysed >= 5, 20, "5 analysed HTTPS MJPEG frames")
        status = worker.status()
        assert status.state is CameraState.ONLINE and "pw123" not in status.source
    finally:
        worker.stop()
        assert worker.join(timeout=10)
    assert {s.kind.value for s, _, _ in sink.items} == {"face", "plate"}


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


def test_https_camera_with_its_certificate_as_ca_file_is_read(camera_cert):
    with serving(camera_cert.server_context()) as server:
        sink = ListSink()
        assert_read_and_analysed(run_camera(https_spec(server, tls_ca_file=str(camera_cert.cert)), sink), sink)


def test_a_camera_records_tls_settings_reach_its_capture(camera_cert):
    manager = CameraSet(SquareAnalyzer(), ListSink())
    with serving(camera_cert.server_context()) as server:
        url = f"https://127.0.0.1:{server.server_address[1]}/video.mjpg"
        manager.start_camera(Camera("trusted", "T", url, tls_ca_file=str(camera_cert.cert)))
        manager.start_camera(Camera("unverified", "U", url, tls_verify=False))
        manager.start_camera(Camera("default", "D", url))
        try:
            wait_for(
                lambda: all(manager.status(c).frames_analysed >= 3 for c in ("trusted", "unverified")), 20, "frames"
            )
            wait_for(lambda: manager.status("default").last_error is not None, 20, "the default camera's error")
            assert "self-signed" in manager.status("default").last_error
        finally:
            manager.stop_all()


def test_https_camera_trusted_by_the_system_ca_bundle_is_read(camera_cert, monkeypatch):
    # Without a CA file the certificate is checked against this machine's CA bundle (SSL_CERT_FILE names it).
    monkeypatch.setenv("SSL_CERT_FILE", str(camera_cert.cert))
    with serving(camera_cert.server_context()) as server:
        sink = ListSink()
        assert_read_and_analysed(run_camera(https_spec(server), sink), sink)


def test_https_camera_with_verification_off_is_read(camera_cert):
    with serving(camera_cert.server_context()) as server:
        sink = ListSink()
        assert_read_and_analysed(run_camera(https_spec(server, tls_verify=False), sink), sink)


def test_https_camera_of_a_private_ca_is_read_with_the_ca_certificate(tmp_path):
    ca = private_ca(tmp_path / "ca")
    with serving(issued_by(ca, tmp_path / "ca").server_context()) as server:
        sink = ListSink()
        assert_read_and_analysed(run_camera(https_spec(server, tls_ca_file=str(ca.cert)), sink), sink)


def test_self_signed_https_camera_is_refused_by_default_with_a_certificate_error(camera_cert):
    with serving(camera_cert.server_context()) as server:
        error = open_error(run_camera(https_spec(server)))
    assert "certificate could not be verified: it is self-signed" in error, error
    assert "tls_ca_file" in error and "tls_verify false" in error  # the fix is named
    assert "wrong path" not in error


@pytest.mark.parametrize(
    ("make", "trusted", "expected"),
    [
        (lambda d: issued_by(private_ca(d / "ca"), d), None, "certificate authority that is not in this machine's"),
        (lambda d: self_signed(d), lambda d: self_signed(d / "other").cert, "self-signed and not in the CA file"),
        (lambda d: self_signed(d, "camera.example"), lambda d: d / "camera.example.pem", "another name than"),
    ],
    ids=["unknown-ca", "other-certificate", "name-mismatch"],
)
def test_each_certificate_failure_is_named(tmp_path, make, trusted, expected):
    certificate = make(tmp_path)
    ca_file = str(trusted(tmp_path)) if trusted else None
    with serving(certificate.server_context()) as server:
        error = open_error(run_camera(https_spec(server, tls_ca_file=ca_file)))
    assert "certificate could not be verified" in error and expected in error, error


def test_a_bad_ca_file_is_a_clear_error(tmp_path, camera_cert):
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    with serving(camera_cert.server_context()) as server:
        missing = open_error(run_camera(https_spec(server, tls_ca_file=str(tmp_path / "nope.pem"))))
        garbage = open_error(run_camera(https_spec(server, tls_ca_file=str(not_pem))))
    assert f"CA file {tmp_path / 'nope.pem'} does not exist" in missing
    assert f"CA file {not_pem} holds no PEM certificate" in garbage


def test_cameras_with_different_tls_settings_open_side_by_side(camera_cert, monkeypatch):
    # A user's own FFmpeg options are kept, but never override a camera's TLS settings.
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "tls_verify;0|user_agent;skynet-test")
    with serving(camera_cert.server_context()) as server:
        sink = ListSink()
        trusted = [
            run_camera(replace(https_spec(server, tls_verify=False), camera_id=f"off-{i}"), sink) for i in range(2)
        ]
        trusted.append(run_camera(replace(https_spec(server, tls_ca_file=str(camera_cert.cert)), camera_id="ca"), sink))
        verified = run_camera(replace(https_spec(server), camera_id="default"))
        try:
            wait_for(lambda: all(w.status().frames_analysed >= 3 for w in trusted), 30, "frames of each trusted camera")
            assert "self-signed" in open_error(verified)
        finally:
            for worker in trusted:
                worker.stop()
                assert worker.join(timeout=10)
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "tls_verify;0|user_agent;skynet-test"


def test_https_camera_on_a_plain_http_server_gives_a_clear_error_and_retries(mjpeg_server):
    spec = SourceSpec(
        "tlscam", f"https://127.0.0.1:{mjpeg_server.server_address[1]}/video.mjpg", open_timeout_s=2, read_timeout_s=2
    )
    error = open_error(run_camera(spec))
    assert "answered, but not with TLS" in error and "use http://" in error, error
