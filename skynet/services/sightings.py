"""One sighting as the API shows it: the sighting with its camera and its media files; reading one
sighting, or one of its media files, is audited (the media through signed links,
:mod:`skynet.services.media_links`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from skynet.accounts.model import User
from skynet.errors import NotFoundError
from skynet.records import Camera, Sighting
from skynet.services.audit import Auditor
from skynet.services.media_links import MEDIA_NAMES, Linker, Media, MediaLink, MediaLinks
from skynet.store import Store


@dataclass(frozen=True, slots=True)
class Found:
    """A sighting with the camera that saw it (None: unknown camera) and, when a query found it, how
    well it matched: a face's ``similarity``, a plate's edit ``plate_distance`` and the read that matched."""

    sighting: Sighting
    camera: Camera | None
    similarity: float | None = None
    plate_distance: float | None = None
    matched_read: str | None = None

    def media_links(self, link: Linker) -> dict[Media, str | None]:
        """The link (made by ``link``) to each media file the sighting has (None: it has none)."""
        sid = int(self.sighting.id or 0)
        paths: dict[Media, str | None] = {
            "thumbnail": self.sighting.thumbnail_path,
            "context": self.sighting.context_path,
        }
        return {media: link(sid, media) if path else None for media, path in paths.items()}


class SightingService:
    """Reads single sightings and their media files (thumbnail, context frame) from the store; the media
    through the signed links of ``links``. Each read of one is audited."""

    def __init__(self, store: Store, auditor: Auditor, links: MediaLinks) -> None:
        self.store = store
        self.auditor = auditor
        self.links = links

    def read(self, user: User, reason: str, sighting_id: int) -> Found:
        """Sighting ``sighting_id`` with its camera, audited as ``sighting.read`` with ``reason``;
        :class:`NotFoundError` if there is none (audited too: asking is a read). The reason must pass the
        reason rule, as a search's must."""
        reason = self.auditor.reason(reason)
        found = self.store.sightings.get(sighting_id)
        self.auditor.record(user, "sighting.read", reason, {"sighting_id": sighting_id, "found": found is not None})
        if found is None:
            raise NotFoundError(f"no sighting with id {sighting_id}")
        return Found(found, self.cameras().get(found.camera_id))

    def read_media(self, sighting_id: int, media: Media, link: MediaLink) -> bytes:
        """The JPEG bytes of the sighting's ``media`` if ``link`` opens it (:class:`AuthError` if not);
        :class:`NotFoundError` for an unknown sighting or a missing file. Every read is audited as
        ``media.read`` by the user and token the link was made for, with the sighting, the media and the
        link's context."""
        user = self.links.check(sighting_id, media, link)
        detail = {"sighting_id": sighting_id, "media": media, "context": link.context}
        self.auditor.record(user, "media.read", None, detail)
        sighting = self._sighting(sighting_id)
        relative = sighting.thumbnail_path if media == "thumbnail" else sighting.context_path
        data = self.store.media.read(relative)
        if data is None:
            raise NotFoundError(f"sighting {sighting_id} has no {MEDIA_NAMES[media]}")
        return data

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
