"""Alert deliveries of every channel: :class:`skynet.alerts.outbox.DeliveryOutbox` in SQL, kept across restarts.

Rows stay once delivered or given up on: the ``deliveries`` table is also the delivery log.
"""

from __future__ import annotations

from skynet.records import Channel, Delivery, DeliveryState
from skynet.store.database import Database, Dialect

_COLUMNS = "id, target, body, created_at, next_attempt_at, attempts, state, last_error, delivered_at"


def _delivery(row) -> Delivery:
    return Delivery(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], DeliveryState(row[6]), row[7], row[8])


class OutboxRepository:
    """The ``deliveries`` rows of one channel (webhooks unless ``channel`` says otherwise)."""

    def __init__(self, db: Database, channel: Channel = Channel.WEBHOOK) -> None:
        self.db = db
        self.channel = channel
        # PostgreSQL: lock the claimed rows so that concurrent claimers skip them
        self._claim_lock = " FOR UPDATE SKIP LOCKED" if db.dialect is Dialect.POSTGRESQL else ""

    def for_channel(self, channel: Channel) -> OutboxRepository:
        return OutboxRepository(self.db, channel)

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        with self.db.write(f"queueing a delivery ({self.channel})"):
            return self.db.insert_returning_id(
                "INSERT INTO deliveries (channel, target, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                (self.channel.value, target, bytes(body), now, now),
            )

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        with self.db.write(f"claiming deliveries ({self.channel})"):
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE channel = ? AND state = 'pending' AND next_attempt_at <= ? "
                f"ORDER BY next_attempt_at, id LIMIT ?{self._claim_lock}",
                (self.channel.value, now, limit),
            ).fetchall()
            if rows:
                condition, arg = self.db.ids_in("id", [r[0] for r in rows])
                self.db.execute(
                    f"UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE {condition}",
                    (now + lease_s, arg),
                )
        return [
            Delivery(r[0], r[1], bytes(r[2]), r[3], now + lease_s, r[5] + 1, DeliveryState(r[6]), r[7], r[8])
            for r in rows
        ]

    def mark_done(self, delivery_id: int, now: float) -> None:
        with self.db.write(f"recording a delivery ({self.channel})"):
            self.db.execute("UPDATE deliveries SET state = 'done', delivered_at = ? WHERE id = ?", (now, delivery_id))

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        """Record ``error``; retry at ``next_attempt_at``, or give up (state *failed*) when None."""
        if next_attempt_at is None:
            sql = "UPDATE deliveries SET state = 'failed', last_error = ? WHERE id = ?"
            args: tuple = (error, delivery_id)
        else:
            sql = "UPDATE deliveries SET next_attempt_at = ?, last_error = ? WHERE id = ?"
            args = (next_attempt_at, error, delivery_id)
        with self.db.write(f"recording a delivery ({self.channel})"):
            self.db.execute(sql, args)

    def next_due(self) -> float | None:
        return self.db.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE channel = ? AND state = 'pending'",
            (self.channel.value,),
        ).fetchone()[0]

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery as it stands, of any channel (for inspection)."""
        row = self.db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return None if row is None else _delivery(row)

    def deliveries(self) -> list[Delivery]:
        """This channel's deliveries, oldest first: the delivery log."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE channel = ? ORDER BY id", (self.channel.value,)
        )
        return [_delivery(row) for row in rows]
