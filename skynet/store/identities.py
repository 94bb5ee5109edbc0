"""Unknown-face identities: which pseudo-identity ("person #12") each face sighting belongs to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from skynet.records import Observation
from skynet.store.database import Database
from skynet.store.errors import QueryError

PERSON = "person #"
"""How an identity is named where plates are named by their text (analyses, audit)."""


def person(identity_id: int) -> str:
    return f"{PERSON}{identity_id}"


def identity_of(key: str) -> int | None:
    """The identity id a key names (``person #12`` -> 12), or None for a plate."""
    return int(key[len(PERSON) :]) if key.startswith(PERSON) and key[len(PERSON) :].isdigit() else None


class IdentityRepository:
    """The ``identities`` and ``face_identities`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def new(self, created_at: float) -> int:
        """A new, empty identity's id."""
        with self.db.write("creating an identity"):
            return self.db.insert_returning_id("INSERT INTO identities (created_at) VALUES (?)", (created_at,))

    def exists(self, identity_id: int) -> bool:
        row = self.db.execute("SELECT merged_into FROM identities WHERE id = ?", (identity_id,)).fetchone()
        return row is not None and row[0] is None

    def assign(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Put each sighting of (sighting id, identity id) in that identity (replacing its former one)."""
        with self.db.write("grouping faces"):
            for sighting_id, identity_id in pairs:
                self.db.execute("DELETE FROM face_identities WHERE sighting_id = ?", (sighting_id,))
                self.db.execute(
                    "INSERT INTO face_identities (sighting_id, identity_id) VALUES (?, ?)", (sighting_id, identity_id)
                )

    def of(self, sighting_ids: Iterable[int]) -> dict[int, int]:
        """The identity of each of ``sighting_ids`` that has one."""
        ids = list(sighting_ids)
        if not ids:
            return {}
        condition, arg = self.db.ids_in("sighting_id", ids)
        rows = self.db.execute(f"SELECT sighting_id, identity_id FROM face_identities WHERE {condition}", (arg,))
        return {int(s): int(i) for s, i in rows}

    def sightings(self, identity_id: int) -> list[int]:
        """The face sightings of an identity, oldest first."""
        rows = self.db.execute(
            "SELECT f.sighting_id FROM face_identities f JOIN sightings s ON s.id = f.sighting_id "
            "WHERE f.identity_id = ? ORDER BY s.best_time, s.id",
            (identity_id,),
        )
        return [int(r[0]) for r in rows]

    def merge(self, into: int, source: int) -> int:
        """Move every sighting of ``source`` into ``into``; returns how many moved."""
        if into == source or not (self.exists(into) and self.exists(source)):
            raise QueryError("merge two different identities that exist (and were not merged away)")
        with self.db.write("merging identities"):
            moved = self.db.execute(
                "UPDATE face_identities SET identity_id = ? WHERE identity_id = ?", (into, source)
            ).rowcount
            self.db.execute("UPDATE identities SET merged_into = ? WHERE id = ?", (into, source))
        return int(moved)

    def split(self, identity_id: int, sighting_ids: Sequence[int], created_at: float) -> int:
        """Move ``sighting_ids`` (all of ``identity_id``'s) into a new identity; returns its id."""
        mine = set(self.sightings(identity_id))
        if not sighting_ids or not set(sighting_ids) <= mine or set(sighting_ids) == mine:
            raise QueryError("split off some, not all, of the identity's own sightings")
        with self.db.write("splitting an identity"):
            new = self.new(created_at)
            self.assign([(s, new) for s in sighting_ids])
        return new

    def ungrouped(self, after_id: int, limit: int) -> list[int]:
        """Face sightings without an identity, by id, after ``after_id``."""
        rows = self.db.execute(
            "SELECT s.id FROM sightings s LEFT JOIN face_identities f ON f.sighting_id = s.id "
            "WHERE s.kind = 'face' AND f.sighting_id IS NULL AND s.id > ? ORDER BY s.id LIMIT ?",
            (after_id, limit),
        )
        return [int(r[0]) for r in rows]

    def faces_at(self, camera_id: str, since: float, until: float, margin_s: float) -> list[Observation]:
        """The grouped face sightings of one camera whose pass overlaps [``since``, ``until``], keyed
        ``person #id`` (``margin_s``: the longest pass, to bound the best-view range searched)."""
        rows = self.db.execute(
            "SELECT s.id, f.identity_id, s.camera_id, s.first_seen, s.last_seen, s.best_time FROM sightings s "
            "JOIN face_identities f ON f.sighting_id = s.id WHERE s.camera_id = ? AND s.best_time >= ? "
            "AND s.best_time <= ? AND s.last_seen >= ? AND s.first_seen <= ?",
            (camera_id, since - margin_s, until + margin_s, since, until),
        )
        return [Observation(int(r[0]), person(int(r[1])), r[2], float(r[3]), float(r[4]), float(r[5])) for r in rows]

    def counts(
        self, identity_ids: Iterable[int], cameras: Sequence[str], since: float, until: float
    ) -> dict[tuple[str, str], int]:
        """How often each identity was seen at each of ``cameras`` in [``since``, ``until``], keyed
        (``person #id``, camera)."""
        ids = sorted(set(identity_ids))
        if not ids or not cameras:
            return {}
        condition, arg = self.db.ids_in("f.identity_id", ids)
        at = ", ".join("?" * len(cameras))
        rows = self.db.execute(
            "SELECT f.identity_id, s.camera_id, count(*) FROM face_identities f "
            f"JOIN sightings s ON s.id = f.sighting_id WHERE {condition} AND s.camera_id IN ({at}) "
            "AND s.best_time >= ? AND s.best_time <= ? GROUP BY f.identity_id, s.camera_id",
            [arg, *cameras, since, until],
        )
        return {(person(int(i)), c): int(n) for i, c, n in rows}

    def present(self, cameras: Sequence[str], since: float, until: float) -> set[str]:
        """The identities seen at ``cameras`` with a best view in [``since``, ``until``]."""
        if not cameras:
            return set()
        rows = self.db.execute(
            "SELECT DISTINCT f.identity_id FROM face_identities f JOIN sightings s ON s.id = f.sighting_id "
            f"WHERE s.camera_id IN ({', '.join('?' * len(cameras))}) AND s.best_time >= ? AND s.best_time <= ?",
            [*cameras, since, until],
        )
        return {person(int(r[0])) for r in rows}
