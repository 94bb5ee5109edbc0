"""One sighting as the API shows it: the sighting with its camera, its media files, and the one place
that builds the URL where the API serves a sighting's thumbnail or context frame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skynet.errors import NotFoundError
from skynet.records import Camera, Sighting
from skynet.store import Store

Media = Literal["thumbnail", "context"]
MEDIA_NAMES: dict[Media, str] = {"thumbnail": "thumbnail", "context": "context frame"}


def media_url(sighting_id: int, media: Media) -> str:
    """Where the API serves sighting ``sighting_id``'s thumbnail (best-view crop) or context frame."""
    return f"/api/sightings/{sighting_id}/{media}"


def thumbnail_url(sighting: Sighting) -> str | None:
    """The thumbnail URL of a stored sighting (None before it has an id), as alerts and live events carry it."""
    return media_url(sighting.id, "thumbnail") if sighting.id is not None else None


def media_file(data_dir: Path, relative: str | None) -> Path | None:
    """``relative`` under ``data_dir`` if it names an existing file inside it (never outside: no ``..``,
    no absolute paths, no symlinks leading out)."""
    if not relative:
        return None
    root = data_dir.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None


@dataclass(frozen=True, slots=True)
class Found:
    """A sighting with the camera that saw it (None: unknown camera) and, when a query found it, how
    well it matched: a face's ``similarity``, a plate's edit ``plate_distance`` and the read that matched."""

    sighting: Sighting
    camera: Camera | None
    similarity: float | None = None
    plate_distance: float | None = None
    matched_read: str | None = None

    @property
    def media_urls(self) -> dict[Media, str | None]:
        """The URL of each media file the sighting has (None: it has none)."""
        sid = int(self.sighting.id or 0)
        paths: dict[Media, str | None] = {
            "thumbnail": self.sighting.thumbnail_path,
            "context": self.sighting.context_path,
        }
        return {media: media_url(sid, media) if path else None for media, path in paths.items()}


class SightingService:
    """Reads single sightings and their media files (thumbnail, context frame) from the store."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)

    def get(self, sighting_id: int) -> Found:
        """Sighting ``sighting_id`` with its camera; :class:`NotFoundError` if there is none."""
        sighting = self._sighting(sighting_id)
        return Found(sighting, self.cameras().get(sighting.camera_id))

    def media(self, sighting_id: int, media: Media) -> Path:
        """The JPEG file of the sighting's ``media``; :class:`NotFoundError` for an unknown sighting or a
        missing file."""
        sighting = self._sighting(sighting_id)
        relative = sighting.thumbnail_path if media == "thumbnail" else sighting.context_path
        path = self.media_path(relative)
        if path is None:
            raise NotFoundError(f"sighting {sighting_id} has no {MEDIA_NAMES[media]}")
        return path

    def media_path(self, relative: str | None) -> Path | None:
        """The existing media file ``relative`` names in the data directory (see :func:`media_file`)."""
        return media_file(self.data_dir, relative)

    def cameras(self) -> dict[str, Camera]:
        """Every camera by id."""
        return {c.id: c for c in self.store.cameras.all()}

    def found(
        self,
        ids: Sequence[int],
        *,
        similarity: Mapping[int, float] | None = None,
        plate_distance: Mapping[int, float] | None = None,
        matched_read: Mapping[int, str] | None = None,
    ) -> list[Found]:
        """The sightings ``ids`` that exist, in that order, each with its camera and how it matched."""
        by_id = {s.id: s for s in self.store.sightings.get_many(list(ids))}
        cameras = self.cameras()
        return [
            Found(
                by_id[i],
                cameras.get(by_id[i].camera_id),
                None if similarity is None else similarity[i],
                None if plate_distance is None else plate_distance[i],
                None if matched_read is None else matched_read[i],
            )
            for i in ids
            if i in by_id
        ]

    def _sighting(self, sighting_id: int) -> Sighting:
        found = self.store.sightings.get(sighting_id)
        if found is None:
            raise NotFoundError(f"no sighting with id {sighting_id}")
        return found
