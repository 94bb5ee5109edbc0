"""Reading a video file's container facts (streams, creation time) with ``ffprobe``, when installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What ffprobe says about a file: its stream kinds and the container's creation time."""

    stream_kinds: tuple[str, ...]
    creation_time: float | None
    error: str | None = None

    @property
    def has_video(self) -> bool:
        return "video" in self.stream_kinds


def probe(path: Path, timeout_s: float = 20.0) -> ProbeResult | None:
    """Probe ``path``; ``None`` when ffprobe is not installed or did not answer in time."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    command = [exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line]
        return ProbeResult((), None, error=lines[-1] if lines else f"ffprobe exit status {done.returncode}")
    try:
        info = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        return ProbeResult((), None, error="ffprobe gave no readable answer")
    kinds = tuple(str(s.get("codec_type", "")) for s in info.get("streams", []))
    tags = info.get("format", {}).get("tags", {}) or {}
    return ProbeResult(kinds, _parse_time(tags.get("creation_time")))


def _parse_time(value: str | None) -> float | None:
    """ISO 8601 ``creation_time`` (``2024-05-01T08:00:00.000000Z``) as Unix seconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
