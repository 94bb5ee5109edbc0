"""The audit log: who did what, when and why; append-only (triggers refuse changes)."""

from __future__ import annotations

import json

from skynet.records import AuditEvent
from skynet.store.database import Database


class AuditRepository:
    """The ``audit_log`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, event: AuditEvent) -> int:
        with self.db.write("writing the audit log"):
            return self.db.insert_returning_id(
                "INSERT INTO audit_log (at, actor, action, reason, detail) VALUES (?, ?, ?, ?, ?)",
                (
                    event.at,
                    event.actor,
                    event.action,
                    event.reason,
                    json.dumps(event.detail, ensure_ascii=False, default=str),
                ),
            )

    def events(
        self,
        limit: int = 100,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditEvent]:
        """The newest events first; only ``actor``'s, only ``action`` or the actions under it (``search``
        matches ``search.face``), only at times in [``since``, ``until``] when given."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if action is not None:
            where.append("(action = ? OR substr(action, 1, ?) = ?)")
            args += [action, len(action) + 1, action + "."]
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at <= ?")
            args.append(until)
        rows = self.db.execute(
            f"SELECT at, actor, action, reason, detail, id FROM audit_log WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        return [AuditEvent(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]
