"""The embedded store: one SQLite file (WAL) plus JPEG media files in one data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from skynet.index import plate_search
from skynet.index.errors import StorageFullError, StoreError
from skynet.index.schema import connect, migrate
from skynet.index.sql_store import SqlStore

DB_NAME = "skynet.db"
_GROUPED_MATCHES = (
    "SELECT s.id, s.plate_text, r.text, min(r.rank), s.camera_id, s.best_time FROM {source} "
    "JOIN sightings s ON s.id = r.sighting_id WHERE {where} "
    "GROUP BY s.id ORDER BY min(r.rank) > 0, s.best_time DESC LIMIT ?"
)


class SqliteStore(SqlStore):
    """The SQLite backend: writes serialised by ``BEGIN IMMEDIATE`` on one connection; reads on a
    connection per thread, so with WAL they run in parallel and never see a write before its
    commit. Plates are indexed by B-trees on the normalised text and its reverse (prefix/suffix)
    and an FTS5 trigram table."""

    def _open(self) -> None:
        self._conn = connect(self.data_dir / DB_NAME)
        migrate(self._conn)
        self._writing_thread: int | None = None
        self._local = threading.local()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        """The write connection inside this thread's write transaction, else this thread's reader."""
        if self._writing_thread == threading.get_ident():
            return self._conn
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = connect(self.data_dir / DB_NAME, cache_mib=64)
            with self._readers_lock:  # close the readers of threads that ended
                for thread, conn in self._readers:
                    if not thread.is_alive():
                        conn.close()
                self._readers = [(t, c) for t, c in self._readers if t.is_alive()]
                self._readers.append((threading.current_thread(), reader))
        return reader

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection().execute(sql, args)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection().executemany(sql, rows)

    @contextmanager
    def _write(self, doing: str) -> Iterator[None]:
        with self._lock:
            outer = self._writing_thread
            self._writing_thread = threading.get_ident()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield
                self._conn.execute("COMMIT")
            except BaseException as error:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(error, sqlite3.OperationalError) and "full" in str(error):
                    raise StorageFullError(
                        f"disk full while {doing}; nothing of this write was kept", "free space in the data directory"
                    ) from error
                if isinstance(error, sqlite3.DatabaseError):
                    raise StoreError(f"store error while {doing}: {error}") from error
                raise
            finally:
                self._writing_thread = outer

    def _ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps([int(i) for i in ids])

    def _plate_matches(self, where: str, source: str, args: list, limit: int) -> list[tuple]:
        return self._execute(_GROUPED_MATCHES.format(source=source, where=where), (*args, limit)).fetchall()

    def _exact_plate(self, text: str) -> tuple[str, str, list]:
        # the norm index narrows, the text check is exact
        return "plate_reads r", "r.norm = ? AND r.text = ?", [plate_search.normalise(text), text]

    def _wildcard_plate(self, plan: plate_search.WildcardPlan) -> tuple[str, str, list]:
        if plan.norm_runs:
            source = "(SELECT rowid AS rid FROM plate_fts WHERE plate_fts MATCH ?) f JOIN plate_reads r ON r.id = f.rid"
            args = [plate_search.fts_all(plan.norm_runs)]
        else:
            if len(plan.norm_prefix) >= len(plan.norm_suffix_reversed):
                column, value = "norm", plan.norm_prefix
            else:
                column, value = "rnorm", plan.norm_suffix_reversed
            source = (
                f"(SELECT id AS rid FROM plate_reads WHERE {column} >= ? AND {column} < ?) f "
                "JOIN plate_reads r ON r.id = f.rid"
            )
            args = [value, value + "\U0010ffff"]
        return source, "r.text GLOB ?", [*args, plan.glob]

    def _fuzzy_candidates(self, plan: plate_search.FuzzyPlan) -> Iterable[tuple[int, str, int]]:
        return self._execute(
            "SELECT r.sighting_id, r.text, r.rank FROM plate_fts f JOIN plate_reads r ON r.id = f.rowid "
            "WHERE plate_fts MATCH ?",
            (plate_search.fts_any(plan.pieces),),
        )

    def _backend_problems(self) -> list[str]:
        problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [
            f"foreign key: {r[0]} row {r[1]} -> {r[2]}" for r in self._conn.execute("PRAGMA foreign_key_check")
        ]
        try:
            with self._lock:
                self._conn.execute("INSERT INTO plate_fts(plate_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as error:
            problems.append(f"plate trigram index: {error}")
        return problems

    def _close_connection(self) -> None:
        with self._readers_lock:
            for _, reader in self._readers:
                reader.close()
            self._readers = []
        self._conn.close()
