"""Webhook deliveries not yet done: :class:`skynet.alerts.outbox.DeliveryOutbox` in SQL, kept across restarts."""

from __future__ import annotations

from skynet.records import Delivery, DeliveryState
from skynet.store.database import Database, Dialect

_COLUMNS = "id, target, body, created_at, next_attempt_at, attempts, state, last_error"


class OutboxRepository:
    """The ``webhook_deliveries`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # PostgreSQL: lock the claimed rows so that concurrent claimers skip them
        self._claim_lock = " FOR UPDATE SKIP LOCKED" if db.dialect is Dialect.POSTGRESQL else ""

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        with self.db.write("queueing a webhook delivery"):
            return self.db.insert_returning_id(
                "INSERT INTO webhook_deliveries (target, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
                (target, bytes(body), now, now),
            )

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        with self.db.write("claiming webhook deliveries"):
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? "
                f"ORDER BY next_attempt_at, id LIMIT ?{self._claim_lock}",
                (now, limit),
            ).fetchall()
            if rows:
                condition, arg = self.db.ids_in("id", [r[0] for r in rows])
                self.db.execute(
                    f"UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE {condition}",
                    (now + lease_s, arg),
                )
        return [
            Delivery(r[0], r[1], bytes(r[2]), r[3], now + lease_s, r[5] + 1, DeliveryState(r[6]), r[7]) for r in rows
        ]

    def mark_done(self, delivery_id: int) -> None:
        with self.db.write("recording a webhook delivery"):
            self.db.execute("UPDATE webhook_deliveries SET state = 'done' WHERE id = ?", (delivery_id,))

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        """Record ``error``; retry at ``next_attempt_at``, or give up (state *failed*) when None."""
        if next_attempt_at is None:
            sql = "UPDATE webhook_deliveries SET state = 'failed', last_error = ? WHERE id = ?"
            args: tuple = (error, delivery_id)
        else:
            sql = "UPDATE webhook_deliveries SET next_attempt_at = ?, last_error = ? WHERE id = ?"
            args = (next_attempt_at, error, delivery_id)
        with self.db.write("recording a webhook delivery"):
            self.db.execute(sql, args)

    def next_due(self) -> float | None:
        return self.db.execute(
            "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'"
        ).fetchone()[0]

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery as it stands (for inspection)."""
        row = self.db.execute(f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            return None
        return Delivery(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], DeliveryState(row[6]), row[7])
