"""Alerts: sightings that matched a watch-list entry, later sightings folded into them, and who
acknowledged them."""

from __future__ import annotations

from collections.abc import Sequence

from skynet.records import Alert
from skynet.store.database import Database

_COLUMNS = (
    "entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, acknowledged_at, "
    "track_id, last_seen, updated_at, sightings"
)


class AlertRepository:
    """The ``alerts`` table (an alert goes with its sighting or its watch-list entry)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, alert: Alert) -> int:
        with self.db.write("adding an alert"):
            return self.db.insert_returning_id(
                f"INSERT INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.entry_id,
                    alert.sighting_id,
                    alert.camera_id,
                    alert.created_at,
                    alert.score,
                    alert.acknowledged_by,
                    alert.acknowledged_at,
                    alert.track_id,
                    alert.last_seen,
                    alert.updated_at,
                    alert.sightings,
                ),
            )

    def exists(self, entry_id: int, sighting_id: int) -> bool:
        """Whether entry ``entry_id`` has an alert on sighting ``sighting_id`` (a sighting matched before)."""
        row = self.db.execute("SELECT 1 FROM alerts WHERE entry_id = ? AND sighting_id = ?", (entry_id, sighting_id))
        return row.fetchone() is not None

    def after(self, alert_id: int, also: Sequence[int] = (), limit: int = 1000) -> list[Alert]:
        """The alerts with ids above ``alert_id``, plus those of ``also`` that exist (ids below that a follower found
        missing: alerts still committing), oldest first (an API node following new alerts)."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS}, id FROM alerts WHERE id > ? ORDER BY id LIMIT ?", (alert_id, limit)
        ).fetchall()
        return sorted([Alert(*r) for r in rows] + self.get_many(also), key=lambda alert: alert.id or 0)

    def get_many(self, alert_ids: Sequence[int]) -> list[Alert]:
        """The alerts of ``alert_ids`` that exist, by id."""
        if not alert_ids:
            return []
        condition, arg = self.db.ids_in("id", list(alert_ids))
        rows = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts WHERE {condition} ORDER BY id", (arg,))
        return [Alert(*r) for r in rows]

    def last_id(self) -> int:
        """The highest alert id (0: none)."""
        row = self.db.execute("SELECT max(id) FROM alerts").fetchone()
        return int(row[0] or 0)

    def get(self, alert_id: int) -> Alert | None:
        row = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert(*row) if row else None

    def latest(self, limit: int = 100) -> list[Alert]:
        """The newest ``limit`` alerts, newest first."""
        rows = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts ORDER BY id DESC LIMIT ?", (limit,))
        return [Alert(*r) for r in rows]

    def last_of(self, entry_id: int, camera_id: str) -> Alert | None:
        """The newest alert of entry ``entry_id`` at camera ``camera_id``, if any."""
        row = self.db.execute(
            f"SELECT {_COLUMNS}, id FROM alerts WHERE entry_id = ? AND camera_id = ? ORDER BY id DESC LIMIT 1",
            (entry_id, camera_id),
        ).fetchone()
        return Alert(*row) if row else None

    def fold(self, alert_id: int, sighting_id: int, score: float, last_seen: float, at: float) -> Alert | None:
        """Fold a later matching sighting into alert ``alert_id``: one more sighting, seen until
        ``last_seen``, updated ``at``; the sighting and its score become the alert's when it scores
        higher. None if the alert is gone."""
        with self.db.write("updating an alert"):
            self.db.execute(
                "UPDATE alerts SET sighting_id = CASE WHEN ? > score THEN ? ELSE sighting_id END, "
                "score = CASE WHEN ? > score THEN ? ELSE score END, sightings = sightings + 1, "
                "last_seen = CASE WHEN last_seen IS NULL OR ? > last_seen THEN ? ELSE last_seen END, "
                "updated_at = ? WHERE id = ?",
                (score, sighting_id, score, score, last_seen, last_seen, at, alert_id),
            )
            return self.get(alert_id)

    def acknowledge(self, alert_id: int, by: str, at: float) -> Alert | None:
        """Mark an alert acknowledged (the first acknowledgement is kept); None if there is no such alert."""
        with self.db.write("acknowledging an alert"):
            self.db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_by IS NULL",
                (by, at, alert_id),
            )
            return self.get(alert_id)

    def acknowledge_all(self, by: str, at: float, entry_id: int | None = None) -> list[int]:
        """Acknowledge every unacknowledged alert (of entry ``entry_id`` only, when given); returns their ids."""
        where = "acknowledged_by IS NULL"
        params: tuple[int, ...] = ()
        if entry_id is not None:
            where, params = f"{where} AND entry_id = ?", (entry_id,)
        with self.db.write("acknowledging alerts"):
            rows = self.db.execute(
                f"UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE {where} RETURNING id",
                (by, at, *params),
            ).fetchall()
        return sorted(int(r[0]) for r in rows)
