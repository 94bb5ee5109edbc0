"""When an archive file starts: given explicitly, read from its metadata, or parsed from its name."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from skynet.errors import SkynetError
from skynet.ingest.probe import probe

DEFAULT_NAME_PATTERN = "%Y%m%d_%H%M%S"
ARCHIVE_TIME_MIN = 946684800.0
"""2000-01-01 UTC: no archive starts earlier. Containers often carry 0 (1970) or the MP4 epoch (1904) as an
unset creation time; such a time is not believed, and an explicit one is refused."""
_FIELDS = {
    "%Y": r"\d{4}",
    "%m": r"\d{2}",
    "%d": r"\d{2}",
    "%H": r"\d{2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%z": r"[+-]\d{4}|Z",
}


class ArchiveTimeError(SkynetError):
    """No start time could be found for an archive file."""


class ArchiveFileError(SkynetError):
    """An archive file that is not a readable video."""


def resolve_start_time(
    path: Path, explicit: float | None = None, name_pattern: str | None = DEFAULT_NAME_PATTERN
) -> float:
    """Unix start time of ``path``: ``explicit`` if given (2000 or later), else the container's
    ``creation_time`` (via ffprobe; one before 2000 counts as unset), else the first match of ``name_pattern``
    (a ``strptime`` format using %Y %m %d %H %M %S and optionally %z; times without %z are local time) in
    the file name. The file itself is checked first (where ffprobe is installed): one that is not a video is
    refused as such, before any question of its start time."""
    facts = probe(path)
    if facts is not None and (facts.error is not None or not facts.has_video):
        raise ArchiveFileError(
            f"{path}: not a video file ({facts.error or 'no video stream'})",
            hint="re-index video files (MP4, MKV, TS, ...) only",
        )
    if explicit is not None:
        if not explicit >= ARCHIVE_TIME_MIN:
            raise ArchiveTimeError(
                f"{path}: start time {explicit!r} is before 2000-01-01", hint="give the time the footage was recorded"
            )
        return explicit
    if facts is not None and facts.creation_time is not None and facts.creation_time >= ARCHIVE_TIME_MIN:
        return facts.creation_time
    if name_pattern:
        parsed = time_from_name(path.name, name_pattern)
        if parsed is not None:
            return parsed
    raise ArchiveTimeError(
        f"{path}: no start time: the file has no creation_time metadata and its name does not match {name_pattern!r}.",
        hint="give the start time explicitly (--start '2024-05-01 08:00:00'), or set the file-name pattern "
        "SKYNET_ARCHIVE_NAME_PATTERN (a strptime format such as %Y%m%d_%H%M%S)",
    )


def time_from_name(name: str, pattern: str) -> float | None:
    """Unix time parsed from the first part of ``name`` that matches the ``strptime`` ``pattern``."""
    regex = "".join(_FIELDS.get(token, re.escape(token)) for token in re.findall(r"%.|[^%]+", pattern))
    match = re.search(regex, name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(0), pattern).timestamp()
    except ValueError:
        return None
