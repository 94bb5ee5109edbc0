"""Alerts: sightings that matched a watch-list entry, and who acknowledged them."""

from __future__ import annotations

from skynet.records import Alert
from skynet.store.database import Database

_COLUMNS = "entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, acknowledged_at"


class AlertRepository:
    """The ``alerts`` table (an alert goes with its sighting or its watch-list entry)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, alert: Alert) -> int:
        with self.db.write("adding an alert"):
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
