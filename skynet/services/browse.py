"""Browsing sightings as they came, without a query: a camera's (or any) sightings narrowed by kind, source and
time, a page at a time, and their counts per camera per hour. Each listing is a read of personal data: it
needs a reason and is audited like a search."""

from __future__ import annotations

from dataclasses import dataclass

from skynet.accounts.model import User
from skynet.services.audit import Auditor
from skynet.services.sightings import Found, SightingService
from skynet.store import Store
from skynet.store.sighting_list import Cursor, SightingFilter


@dataclass(frozen=True, slots=True)
class BrowsedPage:
    """A page of sightings (newest first) and the cursor of the next page (None: the last page)."""

    found: list[Found]
    next_cursor: str | None


def _audited(where: SightingFilter) -> dict:
    return {
        "cameras": None if where.cameras is None else list(where.cameras),
        "kinds": None if where.kinds is None else [str(k) for k in where.kinds],
        "sources": None if where.sources is None else [str(s) for s in where.sources],
        "since": where.since,
        "until": where.until,
    }


class BrowseService:
    """Lists and counts the store's sightings for investigators."""

    def __init__(self, store: Store, sightings: SightingService, auditor: Auditor) -> None:
        self.store = store
        self.sightings = sightings
        self.auditor = auditor

    def page(self, user: User, reason: str, where: SightingFilter, limit: int, cursor: str | None) -> BrowsedPage:
        """A page of sightings of ``where``, newest first, after ``cursor`` (a page's ``next_cursor``);
        audited as ``sightings.list``."""
        reason = self.auditor.reason(reason)
        page = self.store.sighting_list.page(where, limit, Cursor.parse(cursor) if cursor else None)
        self.auditor.record(
            user, "sightings.list", reason, {**_audited(where), "cursor": cursor, "results": len(page.sightings)}
        )
        cameras = self.sightings.cameras()
        found = [Found(s, cameras.get(s.camera_id)) for s in page.sightings]
        return BrowsedPage(found, page.next_cursor.text() if page.next_cursor else None)

    def counts(self, user: User, reason: str, where: SightingFilter) -> list[tuple[str, float, int]]:
        """(camera, hour start, sightings) per camera-hour of ``where``; audited as ``sightings.counts``."""
        reason = self.auditor.reason(reason)
        counts = self.store.sighting_list.hourly_counts(where)
        self.auditor.record(user, "sightings.counts", reason, {**_audited(where), "hours": len(counts)})
        return counts
