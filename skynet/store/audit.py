"""The audit log: who did what, when and why, with the API token used; append-only (triggers refuse
changes) and tamper-evident (a hash chain, :mod:`~skynet.store.audit_chain`, whose key and last row are
kept outside the database, :mod:`~skynet.store.audit_witness`)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace

from skynet.records import AuditEvent
from skynet.store.audit_chain import CHAIN_START, COLUMNS, GENESIS, Anchor, ChainKey, ChainReport, ChainRow, verify
from skynet.store.audit_witness import AuditWitness
from skynet.store.database import Database, Dialect
from skynet.store.errors import StoreError

log = logging.getLogger(__name__)

_CHAIN_LOCK = 0x5359_4E41  # pg_advisory_xact_lock key: one audit append at a time, in every process
_KEY_ID = "audit_key_id"  # meta: the id of the key the chain is made with
_BATCH = 10_000  # rows per query when the whole log is read
_PROBE_ID = -1  # the id of the row the append-only check tries to change (always rolled back)


class _Probed(Exception):
    """Ends the append-only check's transaction, rolling it back."""


class AuditRepository:
    """The ``audit_log`` table, a hash chain made with the key in ``witness``. Opening it starts the chain
    on a database that has none (sealing the rows an older version wrote), or checks the key is the
    chain's."""

    def __init__(self, db: Database, witness: AuditWitness) -> None:
        self.db = db
        self.witness = witness
        self._key = self._open_chain()

    def append(self, event: AuditEvent) -> int:
        """Append ``event`` to the chain; returns its id."""
        at = float(event.at)
        if not math.isfinite(at):
            raise StoreError(f"an audit event's time must be a finite number, got {event.at!r}")
        detail = json.dumps(event.detail, ensure_ascii=False, default=str)
        committed_here = not self.db.writing()
        row = ChainRow(0, at, event.actor, event.action, event.reason, detail, event.token_id, event.token_minted_by)
        with self.db.write("writing the audit log"):
            self._lock_chain()
            head = self._insert(self._key, row)
        if committed_here:  # a row of an enclosing write is recorded by the next append after its commit
            self._record_head(head)
        return head.id

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
            f"SELECT {COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*args, limit)
        )
        return [_event(ChainRow(*r)) for r in rows]

    def rows(self) -> Iterator[ChainRow]:
        """Every row as stored, oldest first, read in batches (millions of rows in little memory)."""
        after: int | None = None
        while True:
            where, args = ("", ()) if after is None else ("WHERE id > ? ", (after,))
            batch = self.db.execute(f"SELECT {COLUMNS} FROM audit_log {where}ORDER BY id LIMIT ?", (*args, _BATCH))
            rows = [ChainRow(*r) for r in batch]
            yield from rows
            if len(rows) < _BATCH:
                return
            after = rows[-1].id

    def verify(self, anchors: Iterable[Anchor] = ()) -> tuple[ChainReport, list[str]]:
        """The chain checked from its first row to its last, through the last row recorded in the head
        file and through ``anchors``; and the problems found besides the chain: an unreadable head file,
        changes the database no longer refuses (:meth:`guard_problems`)."""
        problems = self.guard_problems()
        try:
            head = self.witness.head()  # before the rows are read: any row it names is committed
        except StoreError as error:
            problems.append(str(error))
            head = None
        try:
            report = verify(self._key, self.rows(), [*anchors, *([head] if head else [])])
        except Exception as error:  # noqa: BLE001 -- a table dropped or altered by hand is a finding, not a crash
            report = ChainReport(0, None, problem=f"the audit log cannot be read: {error}")
        return report, problems

    def guard_problems(self) -> list[str]:
        """Whether the database still refuses to change, delete (and, in PostgreSQL, truncate) audit rows:
        each is tried on a probe row in a transaction that is always rolled back, so a trigger dropped,
        disabled or replaced by one that lets the change through is found."""
        tries = {
            "changed": "UPDATE audit_log SET actor = 'probe' WHERE id = ?",
            "deleted": "DELETE FROM audit_log WHERE id = ?",
        }
        if self.db.dialect is Dialect.POSTGRESQL:
            tries["truncated"] = "TRUNCATE audit_log"
        problems: list[str] = []
        try:
            with self.db.write("checking that the audit log is append-only"):
                if self.db.dialect is Dialect.POSTGRESQL:
                    self.db.execute("SET LOCAL lock_timeout = '10s'")
                self.db.execute(
                    "INSERT INTO audit_log (id, at, actor, action) VALUES (?, 0, 'probe', 'probe')", (_PROBE_ID,)
                )
                for verb, sql in tries.items():
                    self.db.execute("SAVEPOINT audit_probe")
                    try:
                        self.db.execute(sql, (_PROBE_ID,) if "?" in sql else ())
                        problems.append(
                            f"audit rows can be {verb}: the append-only trigger is missing or disabled "
                            "(recreate it: see the README)"
                        )
                    except Exception as error:  # noqa: BLE001 -- the refusal is expected; anything else is reported
                        if "append-only" not in str(error):
                            problems.append(f"could not check that audit rows cannot be {verb}: {error}")
                    self.db.execute("ROLLBACK TO SAVEPOINT audit_probe")
                raise _Probed
        except _Probed:
            pass
        except StoreError as error:
            problems.append(f"could not check that the audit log is append-only: {error}")
        return problems

    def _open_chain(self) -> ChainKey:
        """The key of this database's chain. A key file missing (or another one) where the database has a
        chain is refused: rows chained with another key could not be verified. A chain is started where
        there is none; rows an older version wrote are sealed only with a key made now (see the README)."""
        key = self.witness.key()
        if key is not None and self._known_key_id() == key.id:
            return key  # the usual open: nothing to write
        seal: Anchor | None = None
        made = False
        try:
            with self.db.write("starting the audit chain"):
                self._lock_chain()
                known = self._known_key_id()
                key = self.witness.key()
                if key is None:
                    if (
                        known is not None
                        or self.db.execute("SELECT 1 FROM audit_log WHERE hash IS NOT NULL LIMIT 1").fetchone()
                    ):
                        raise StoreError(
                            f"the audit log of this database is chained with a key (id {known or 'unknown'}) that "
                            f"should be in {self.witness.key_path}, but that file is missing",
                            "restore it from the data directory's backup: without it the chain can be neither "
                            "verified nor continued",
                        )
                    key, made = self.witness.create_key()
                if known is not None and known != key.id:
                    raise StoreError(
                        f"{self.witness.key_path} holds the audit key {key.id}, but the audit log of this database "
                        f"is chained with the key {known}",
                        "restore the data directory's own audit.key (each database's chain has its own key)",
                    )
                if known is None:
                    unsealed = self.db.execute("SELECT count(*) FROM audit_log WHERE hash IS NULL").fetchone()[0]
                    if unsealed and made:
                        seal = self._seal(key)
                    if seal is not None or not unsealed:
                        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (_KEY_ID, key.id))
        except BaseException:
            if made:  # nothing was chained with it: the next open makes a key again (and seals)
                self.witness.key_path.unlink(missing_ok=True)
            raise
        if seal is not None:
            self._record_head(seal)
        return key

    def _seal(self, key: ChainKey) -> Anchor:
        """Append the row that seals the rows written before the chain: it follows the hash the last of
        them would have had, and says how many they are."""
        prev_hash, count, first, last = GENESIS, 0, None, None
        for row in self.rows():
            prev_hash, count, last = key.link(prev_hash, row), count + 1, row.id
            first = row.id if first is None else first
        log.warning("audit log: sealed the %d rows (%s-%s) written before it was chained", count, first, last)
        detail = json.dumps({"rows": count, "first": first, "last": last})
        return self._insert(key, ChainRow(0, time.time(), "skynet", CHAIN_START, None, detail, None, None), prev_hash)

    def _insert(self, key: ChainKey, row: ChainRow, prev_hash: str | None = None) -> Anchor:
        """Inside a write, under the chain's lock: ``row`` with the next id, chained from ``prev_hash``, by
        default the last row's hash."""
        if prev_hash is None:
            last = self.db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = last[0] if last and last[0] else GENESIS
        row = replace(row, id=self._next_id())
        row_hash = key.link(prev_hash, row)
        self.db.execute(
            f"INSERT INTO audit_log ({COLUMNS}) VALUES ({', '.join('?' * 10)})",
            (row.id, row.at, row.actor, row.action, row.reason, row.detail, row.token_id, row.token_minted_by)
            + (prev_hash, row_hash),
        )
        return Anchor(row.id, row_hash)

    def _lock_chain(self) -> None:
        """Inside a write: no other appender reads the last row until this one commits (SQLite: the write
        lock is already the database's; PostgreSQL: an advisory lock held to the transaction's end)."""
        if self.db.dialect is Dialect.POSTGRESQL:
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (_CHAIN_LOCK,))

    def _next_id(self) -> int:
        """The id the new row will have (it is part of its hash), as ``{id}`` hands them out: never twice."""
        if self.db.dialect is Dialect.POSTGRESQL:
            return int(self.db.execute("SELECT nextval('audit_log_id_seq')").fetchone()[0])
        sql = (
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0), "
            "coalesce((SELECT max(id) FROM audit_log), 0)) + 1"
        )
        return int(self.db.execute(sql).fetchone()[0])

    def _known_key_id(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (_KEY_ID,)).fetchone()
        return row[0] if row else None

    def _record_head(self, head: Anchor) -> None:
        try:
            self.witness.record_head(head, self._still_there)
        except (OSError, StoreError) as error:
            log.warning("could not record the last audit row in %s: %s", self.witness.head_path, error)

    def _still_there(self, anchor: Anchor) -> bool:
        row = self.db.execute("SELECT hash FROM audit_log WHERE id = ?", (anchor.id,)).fetchone()
        return row is not None and row[0] == anchor.hash


def _event(row: ChainRow) -> AuditEvent:
    return AuditEvent(
        row.at, row.actor, row.action, row.reason, json.loads(row.detail), row.token_id, row.token_minted_by, row.id
    )
