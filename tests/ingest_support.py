"""Helpers for the ingest tests and benchmark: synthetic H.264 clips (Debian ffmpeg), a real
RTSP server (tests/rtsp_server.py under the system python3, which has GStreamer's gi), a
stand-in analyser and a collecting sink."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from skynet.records import Box, Detections, FaceDetection, FaceQuality, PlateDetection, PlateText

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")

# One moving white square on black: the fake analyser in the tests finds it exactly.
Painter = Callable[[int, np.ndarray], None]


def square_painter(size: int = 80, speed_px: float = 4.0, y: int = 120) -> Painter:
    """A painter drawing one white square moving right by ``speed_px`` per frame (wrapping)."""

    def paint(index: int, image: np.ndarray) -> None:
        width = image.shape[1]
        x = int(40 + index * speed_px) % max(1, width - size)
        image[y : y + size, x : x + size] = 255

    return paint


def noise_painter(seed: int = 0) -> Painter:
    """A painter filling every frame with fresh noise (a busy scene for decode benchmarks)."""
    rng = np.random.default_rng(seed)

    def paint(index: int, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        image[:] = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:h, :w]

    return paint


def make_clip(
    path: Path,
    seconds: float,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    painter: Painter | None = None,
    creation_time: str | None = None,
    preset: str = "ultrafast",
    faststart: bool = False,
) -> Path:
    """Write an H.264 MP4 (no B-frames, GOP 50) of ``seconds`` with Debian's ffmpeg; ``faststart``
    puts the index first (so a truncated copy still opens)."""
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-bf",
        "0",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
    ]
    if creation_time:
        command += ["-metadata", f"creation_time={creation_time}"]
    if faststart:
        command += ["-movflags", "+faststart"]
    process = subprocess.Popen([*command, str(path)], stdin=subprocess.PIPE)
    assert process.stdin is not None
    frame = np.zeros((height, width, 3), np.uint8)
    for index in range(round(seconds * fps)):
        frame[:] = 0
        if painter is not None:
            painter(index, frame)
        process.stdin.write(frame.tobytes())
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {path}")
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    return path


def rtsp_server_available() -> str | None:
    """``None`` when the RTSP server can run here, else what is missing."""
    if shutil.which("ffmpeg") is None:
        return "Debian package ffmpeg"
    if not Path(SYSTEM_PYTHON).exists():
        return SYSTEM_PYTHON
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0');from gi.repository import GstRtspServer",
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        return (
            "Debian packages python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
        )
    return None


class RtspServer:
    """The looping test RTSP server as a child process: start, kill, freeze (SIGSTOP), thaw; as a context
    manager, started on entry and killed on exit."""

    def __init__(self, mounts: dict[str, Path], port: int = 0, tls: tuple[Path, Path] | None = None) -> None:
        """``tls`` (certificate and key PEM files) serves ``rtsps://``."""
        self.mounts = mounts
        self.port = port
        self.tls = tls
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 20.0) -> RtspServer:
        """Start it on the port it binds itself (``port=0``, the first time) or on its port again after
        :meth:`kill`; a start that finds that port still held is retried until ``timeout_s``."""
        args = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        for name, path in self.mounts.items():
            args += ["--mount", f"{name}={path}"]
        if self.tls is not None:
            args += ["--tls", *map(str, self.tls)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        deadline = time.monotonic() + timeout_s
        while True:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            assert self.process.stdout is not None and self.process.stderr is not None
            line = self.process.stdout.readline()
            if line.startswith("READY"):
                self.port = int(line.split()[1])
                return self
            self.process.wait()
            error = self.process.stderr.read()
            if self.port == 0 or "cannot listen" not in error or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start: {error}")
            time.sleep(0.2)  # the port is still held: try again

    def url(self, mount: str, credentials: str = "") -> str:
        return f"{'rtsps' if self.tls else 'rtsp'}://{credentials}127.0.0.1:{self.port}/{mount}"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *_) -> None:
        self.kill()


class SquareAnalyzer:
    """A stand-in for ImageAnalyzer: every white square is a face and a plate (thread-safe)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.region_calls = 0
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray, regions=None) -> Detections:
        """Squares of ``image``; with ``regions``, only those whose centre lies in one of them."""
        with self._lock:
            self.calls += 1
            self.region_calls += regions is not None
        time.sleep(self.delay_s)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        count, _, stats, _ = cv2.connectedComponentsWithStats((grey > 128).astype(np.uint8))
        result = Detections(image.shape[1], image.shape[0])
        for x, y, w, h, area in stats[1:count]:
            if area < 100:
                continue
            box = Box(float(x), float(y), float(x + w), float(y + h))
            cx, cy = box.center
            if regions is not None and not any(r.x1 <= cx < r.x2 and r.y1 <= cy < r.y2 for r in regions):
                continue
            embedding = np.array([1.0, 0.0], np.float32)
            result.faces.append(
                FaceDetection(box, 0.9, np.zeros((5, 2), np.float32), FaceQuality(0.5, float(w), 1.0, 1.0), embedding)
            )
            result.plates.append(
                PlateDetection(box, 0.9, np.zeros((4, 2), np.float32), PlateText("京A12345", (0.9,) * 7))
            )
        return result


class ListSink:
    """A :class:`~skynet.tracking.SightingSink` that keeps what it is given, for assertions."""

    def __init__(self) -> None:
        self.items: list = []
        self._lock = threading.Lock()

    def publish(self, sighting, thumbnail, context) -> None:
        with self._lock:
            self.items.append((sighting, thumbnail, context))
