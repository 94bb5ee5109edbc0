"""Turning the paths a user gives (files and directories) into the files to process."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".m4v", ".webm", ".flv", ".h264", ".h265", ".mpg"})


def expand_paths(paths: Iterable[Path], suffixes: frozenset[str]) -> list[Path]:
    """Files given directly (whatever their suffix), plus the files with one of ``suffixes`` found
    (recursively, sorted) in the directories given; each file once, in the order found."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        else:
            found.append(path)
    return list(dict.fromkeys(found))
