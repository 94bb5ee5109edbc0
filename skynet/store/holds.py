"""Evidence holds: sightings that no deletion may remove, because an export carried them or an alert on
them was acknowledged. The ``evidence_holds`` rows name the sighting without a cascade, so the database
itself refuses to delete a held sighting; the deleting repositories leave them out first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from skynet.store.database import Database

HELD = "SELECT sighting_id FROM evidence_holds"
"""The held sighting ids, as a sub-query (``id NOT IN (...)``)."""


class HoldCause(StrEnum):
    EXPORT = "export"
    ALERT = "alert"


class HoldRepository:
    """The ``evidence_holds`` table: a row per sighting and cause (``ref``: the export id or the alert id)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hold(self, sighting_ids: Iterable[int], cause: HoldCause, ref: str, by: str, at: float) -> None:
        """Hold ``sighting_ids`` for ``cause`` (once per sighting, cause and ``ref``)."""
        rows = [(int(i), HoldCause(cause).value, ref, by, at) for i in dict.fromkeys(sighting_ids)]
        if not rows:
            return
        with self.db.write("holding evidence"):
            self.db.executemany(
                "INSERT INTO evidence_holds (sighting_id, cause, ref, held_by, held_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sighting_id, cause, ref) DO NOTHING",
                rows,
            )

    def held(self, sighting_ids: Sequence[int]) -> set[int]:
        """Which of ``sighting_ids`` are held."""
        if not sighting_ids:
            return set()
        condition, arg = self.db.ids_in("sighting_id", sighting_ids)
        return {
            r[0] for r in self.db.execute(f"SELECT DISTINCT sighting_id FROM evidence_holds WHERE {condition}", (arg,))
        }
