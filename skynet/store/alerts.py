"""Alerts: sightings that matched a watch-list entry, and who acknowledged them."""

from __future__ import annotations

from skynet.records import Alert
from skynet.store.database import Database

_COLUMNS = "entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, acknowledged_at"


class AlertRepository:
    """The ``alerts`` table (an alert goes with its sighting or its watch-list entry)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, alert: Alert) -> int | None:
        """Store ``alert``; returns its id, or None when its entry has an alert for its sighting already (a
        sighting matched again: each (entry, sighting) alerts once)."""
        with self.db.write("adding an alert"):
            if self.db.execute(
                "SELECT 1 FROM alerts WHERE entry_id = ? AND sighting_id = ?", (alert.entry_id, alert.sighting_id)
            ).fetchone():
                return None
            return self.db.insert_returning_id(
                f"INSERT INTO alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.entry_id,
                    alert.sighting_id,
                    alert.camera_id,
                    alert.created_at,
                    alert.score,
                    alert.acknowledged_by,
                    alert.acknowledged_at,
                ),
            )

    def after(self, alert_id: int, limit: int = 1000) -> list[Alert]:
        """The alerts with ids above ``alert_id``, oldest first (an API node following new alerts)."""
        rows = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts WHERE id > ? ORDER BY id LIMIT ?", (alert_id, limit))
        return [Alert(*r) for r in rows]

    def last_id(self) -> int:
        """The highest alert id (0: none)."""
        row = self.db.execute("SELECT max(id) FROM alerts").fetchone()
        return int(row[0] or 0)

    def latest(self, limit: int = 100) -> list[Alert]:
        """The newest ``limit`` alerts, newest first."""
        rows = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts ORDER BY id DESC LIMIT ?", (limit,))
        return [Alert(*r) for r in rows]

    def acknowledge(self, alert_id: int, by: str, at: float) -> Alert | None:
        """Mark an alert acknowledged (the first acknowledgement is kept); None if there is no such alert."""
        with self.db.write("acknowledging an alert"):
            self.db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_by IS NULL",
                (by, at, alert_id),
            )
            row = self.db.execute(f"SELECT {_COLUMNS}, id FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return Alert(*row) if row else None
