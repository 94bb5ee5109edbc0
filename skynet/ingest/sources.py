"""Opening video sources (RTSP, HTTP(S) MJPEG, files, local devices) with OpenCV's FFmpeg back-end.

A :class:`VideoSource` hands out frames one at a time: :meth:`VideoSource.grab` advances the
stream and returns the frame's timestamp, :meth:`VideoSource.retrieve` converts the grabbed
frame to BGR only when it is wanted (most frames are paced out before that costly step).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from skynet.errors import SkynetError
from skynet.ingest import diagnose
from skynet.ingest.pacing import LiveClock
from skynet.ingest.source_policy import DEVICE, IPAddress, SourceNotAllowedError
from skynet.ingest.source_spec import SourceKind, SourceSpec
from skynet.redaction import authority_end

# FFmpeg's own log lines can carry a camera URL with its password; keep FFmpeg quiet (read by
# OpenCV when its FFmpeg back-end first starts, which is after this import). Our errors say more.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class SourceError(SkynetError):
    """A camera or file that cannot be opened or read; the message names the camera, never a secret."""


class VideoSource:
    """An open video source; not thread-safe (one reader thread per source)."""

    def __init__(self, spec: SourceSpec, capture: cv2.VideoCapture, start_time: float) -> None:
        self.spec = spec
        self._capture = capture
        self._start_time = start_time
        self._timestamp = 0.0
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = float(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.duration_s = frames / self.fps if spec.kind is SourceKind.FILE and self.fps > 0 and frames > 0 else None
        self._loop_started = time.monotonic()
        # RTSP carries the camera's own frame times (RTP); OpenCV makes up MJPEG's from a nominal frame rate
        self._live_clock = LiveClock() if spec.kind is SourceKind.RTSP else None

    @property
    def position_s(self) -> float:
        """Presentation time of the last grabbed frame, seconds from the start of the stream."""
        return max(0.0, float(self._capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0)

    @property
    def behind_s(self) -> float:
        """How many seconds a live RTSP source's reader is behind the stream (see :class:`LiveClock`); 0 for
        other sources, whose frame times do not say."""
        return self._live_clock.behind_s if self._live_clock is not None else 0.0

    def grab(self) -> float | None:
        """Advance to the next frame and return its Unix timestamp; ``None`` at the end or on failure.
        A live RTSP frame's time is when the stream showed it (see :class:`LiveClock`), not when it was read;
        other live frames get the time they were read."""
        if not self._capture.grab():
            if not (self.spec.loop and self._rewind()):
                return None
        if self.spec.loop:
            self._pace()
        if self.spec.live:
            now = time.time()
            self._timestamp = now if self._live_clock is None else self._live_clock.stamp(now, self.position_s)
        else:
            self._timestamp = self._start_time + self.position_s
        return self._timestamp

    def _rewind(self) -> bool:
        """Back to the first frame of a looping file."""
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._loop_started = time.monotonic()
        return self._capture.grab()

    def _pace(self) -> None:
        """Wait until a looping file's frame is due, so it plays at its own frame rate."""
        delay = self.position_s - (time.monotonic() - self._loop_started)
        if delay > 0:
            time.sleep(delay)

    def retrieve(self) -> np.ndarray | None:
        """The grabbed frame as BGR uint8, or ``None`` when it cannot be decoded."""
        ok, image = self._capture.retrieve()
        if not ok or image is None or image.size == 0:
            return None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image

    def close(self) -> None:
        self._capture.release()


def open_source(spec: SourceSpec) -> VideoSource:
    """Open ``spec`` or raise :class:`SourceError` with the most specific reason that can be found."""
    url = spec.url
    if spec.policy is not None:
        try:
            url = _pinned(spec, spec.policy.check(spec.url))
        except SourceNotAllowedError as error:
            raise SourceError(f"camera {spec.camera_id}: not opened: {error.message}") from None
    start_time = 0.0
    if spec.kind is SourceKind.FILE:
        problem = diagnose.file_problem(spec)
        if problem is not None:
            raise SourceError(f"camera {spec.camera_id}: {problem}")
        if spec.start_time is None and not spec.loop:
            raise SourceError(
                f"camera {spec.camera_id}: no start time for archive file {spec.url}.",
                hint="give the start time, or use archive_time.resolve_start_time()",
            )
        start_time = spec.start_time or 0.0
    if spec.tls and spec.tls_verify and spec.tls_ca_file:
        problem = diagnose.ca_file_problem(spec.tls_ca_file)
        if problem is not None:
            raise SourceError(f"camera {spec.camera_id}: {problem}")
    capture = _capture(spec, url)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"camera {spec.camera_id}: {diagnose.open_failure(spec, url)}")
    return VideoSource(spec, capture, start_time)


def _pinned(spec: SourceSpec, addresses: list[IPAddress]) -> str:
    """``spec``'s URL, for a plain RTSP source named by host name with the first checked address in place
    of the name (FFmpeg resolves names itself; HTTP keeps the name for its Host header, TLS for the
    certificate check)."""
    if spec.kind is not SourceKind.RTSP or spec.tls or not addresses:
        return spec.url
    scheme, _, rest = spec.url.partition("://")
    end = authority_end(rest)
    userinfo, at, hostport = rest[:end].rpartition("@")
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    if host.startswith("["):
        return spec.url  # an address literal already
    literal = f"[{addresses[0]}]" if addresses[0].version == 6 else str(addresses[0])
    return f"{scheme}://{userinfo}{at}{literal}{hostport[len(host) :]}{rest[end:]}"


def _capture(spec: SourceSpec, url: str) -> cv2.VideoCapture:
    """OpenCV's capture of ``url`` (``spec``'s URL, or its pinned form)."""
    if spec.kind is SourceKind.DEVICE:
        match = DEVICE.match(spec.url)
        index = int(match.group(1) or match.group(2))  # type: ignore[union-attr]
        return cv2.VideoCapture(index, cv2.CAP_V4L2)
    params = [
        cv2.CAP_PROP_N_THREADS,
        spec.decode_threads,
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(spec.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(spec.read_timeout_s * 1000),
    ]
    options = _ffmpeg_options(spec)
    if not options:
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    unreachable = diagnose.unreachable(url, spec.open_timeout_s)
    if unreachable is not None:  # fail fast, and never hold the open lock for a dead host
        raise SourceError(f"camera {spec.camera_id}: cannot reach {spec.redacted}: {spec.redact(unreachable)}.")
    with _capture_options(options):
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


def _ffmpeg_options(spec: SourceSpec) -> dict[str, str]:
    """The FFmpeg options this source needs: the RTSP transport, the TLS verification settings."""
    options = {}
    if spec.kind is SourceKind.RTSP:
        if spec.transport not in ("tcp", "udp"):
            raise SourceError(
                f"camera {spec.camera_id}: RTSP transport must be 'tcp' or 'udp', not {spec.transport!r}."
            )
        options["rtsp_transport"] = spec.transport
    if spec.tls:
        options["tls_verify"] = "1" if spec.tls_verify else "0"
        trusted = spec.trusted_cas if spec.tls_verify else None
        if trusted:
            options["ca_file"] = trusted
    return options


# OpenCV takes FFmpeg's options (RTSP transport, TLS verification) only from a process-wide
# environment variable, read when a capture opens; opens that need options are therefore
# serialised, each with the variable naming its own, and the variable is restored afterwards.
# Other options a user put in the variable are kept.
_OPEN_LOCK = threading.Lock()
_OPTIONS_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_OWN_OPTIONS = ("rtsp_transport", "tls_verify", "ca_file", "cafile")


@contextmanager
def _capture_options(options: dict[str, str]) -> Iterator[None]:
    """Hold the open lock with ``options`` (over the user's own) in OpenCV's capture options."""
    with _OPEN_LOCK:
        saved = os.environ.get(_OPTIONS_VAR)
        kept = [kv for kv in (saved or "").split("|") if kv and kv.split(";", 1)[0] not in _OWN_OPTIONS]
        os.environ[_OPTIONS_VAR] = "|".join([*kept, *(f"{key};{_escaped(value)}" for key, value in options.items())])
        try:
            yield
        finally:
            if saved is None:
                del os.environ[_OPTIONS_VAR]
            else:
                os.environ[_OPTIONS_VAR] = saved


def _escaped(value: str) -> str:
    """``value`` with FFmpeg's separators (``;`` between key and value, ``|`` between pairs) escaped."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace("|", "\\|")
