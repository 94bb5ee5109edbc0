"""Why a source could not be opened: specific, credential-free reasons instead of OpenCV's silence."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skynet.ingest.probe import probe

if TYPE_CHECKING:
    from skynet.ingest.sources import SourceSpec

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def file_problem(spec: SourceSpec) -> str | None:
    """What is wrong with an archive file before decoding (missing, empty, no video), or ``None``."""
    path = Path(spec.url)
    if not path.is_file():
        return f"archive file {path} does not exist."
    if path.stat().st_size == 0:
        return f"archive file {path} is empty (0 bytes)."
    facts = probe(path)
    if facts is None:
        return None
    if facts.error is not None:
        return f"archive file {path} is corrupt or not a video ({facts.error})."
    if not facts.has_video:
        found = ", ".join(facts.stream_kinds) or "no streams"
        return f"archive file {path} has no video stream ({found})."
    return None


def open_failure(spec: SourceSpec) -> str:
    """The most specific reason OpenCV could not open ``spec`` (already redacted)."""
    shown = spec.redacted
    kind = spec.kind.value
    if kind == "device":
        return device_problem(shown)
    if kind == "file":
        return f"archive file {shown} could not be decoded (unsupported codec or damaged file)."
    reason = unreachable(spec.url, spec.open_timeout_s)
    if reason is not None:
        return spec.redact(f"cannot reach {shown}: {reason}.")
    return (
        f"the server at {shown} answered, but the stream could not be opened within "
        f"{spec.open_timeout_s:g} s (wrong path or mount, wrong credentials, or an unsupported codec)."
    )


def device_problem(url: str) -> str:
    """Why a local capture device (``/dev/videoN`` or the index ``N``) could not be opened."""
    path = Path(url if url.startswith("/") else f"/dev/video{url}")
    if not path.exists():
        return f"local device {path} does not exist (no camera connected, or its driver is not loaded)."
    if not os.access(path, os.R_OK | os.W_OK):
        return f"no permission to open local device {path} (add the user to its group, usually 'video')."
    return f"local device {path} could not be opened as a video capture device (busy, or not a camera)."


def unreachable(url: str, timeout_s: float) -> str | None:
    """``None`` when a TCP connection to the URL's host and port succeeds, else the reason."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError as exc:
        return f"malformed URL ({exc})"
    if not host or not port:
        return "no host or port in the URL"
    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 5.0)):
            return None
    except socket.gaierror:
        return f"unknown host {host}"
    except TimeoutError:
        return f"no answer from {host}:{port} (timed out)"
    except OSError as exc:
        return f"{exc.strerror or exc} ({host}:{port})"
