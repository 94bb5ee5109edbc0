"""Evidence holds: sightings that no deletion may remove, because an export carried them or an alert on
them was acknowledged. The ``evidence_holds`` rows name the sighting without a cascade, so the database
itself refuses to delete a held sighting; the deleting repositories leave them out first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from skynet.store.database import Database

HELD = "SELECT sighting_id FROM evidence_holds"
"""The held sighting ids, as a sub-query (``id NOT IN (...)``)."""


class HoldCause(StrEnum):
    EXPORT = "export"
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Hold:
    """One hold: the sighting, why (``cause``, and ``ref``: the export id or the alert id), who made it, when."""

    sighting_id: int
    cause: HoldCause
    ref: str
    held_by: str
    held_at: float


_COLUMNS = "sighting_id, cause, ref, held_by, held_at"


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

    def find(
        self,
        sighting_ids: Sequence[int] | None = None,
        cause: HoldCause | None = None,
        ref: str | None = None,
        limit: int = 1000,
    ) -> list[Hold]:
        """The holds on ``sighting_ids`` (None: any), of ``cause`` and ``ref`` (None: any), newest first."""
        where, args = self._where(sighting_ids, cause, ref)
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM evidence_holds WHERE {where} ORDER BY held_at DESC, id DESC LIMIT ?",
            (*args, limit),
        )
        return [Hold(int(r[0]), HoldCause(r[1]), r[2], r[3], r[4]) for r in rows]

    def release(
        self, sighting_ids: Sequence[int] | None = None, cause: HoldCause | None = None, ref: str | None = None
    ) -> list[Hold]:
        """Remove the holds :meth:`find` would list (all of them); returns what was removed."""
        where, args = self._where(sighting_ids, cause, ref)
        with self.db.write("releasing evidence holds"):
            released = self.find(sighting_ids, cause, ref, limit=2**62)
            self.db.execute(f"DELETE FROM evidence_holds WHERE {where}", args)
        return released

    def _where(self, sighting_ids: Sequence[int] | None, cause: HoldCause | None, ref: str | None) -> tuple[str, list]:
        conditions, args = ["1 = 1"], []
        if sighting_ids is not None:
            condition, arg = self.db.ids_in("sighting_id", sighting_ids)
            conditions.append(condition)
            args.append(arg)
        if cause is not None:
            conditions.append("cause = ?")
            args.append(HoldCause(cause).value)
        if ref is not None:
            conditions.append("ref = ?")
            args.append(ref)
        return " AND ".join(conditions), args
