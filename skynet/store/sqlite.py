"""The embedded database: one SQLite file in WAL mode.

Writes are serialised by ``BEGIN IMMEDIATE`` on one connection; reads run on a connection per
thread, so with WAL they run in parallel and never see a write before its commit.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skynet.store.database import Database, Dialect
from skynet.store.errors import StorageFullError, StoreError
from skynet.store.schema import MIGRATIONS, SCHEMA_VERSION
from skynet.store.space_reserve import SpaceReserve

DB_NAME = "skynet.db"

log = logging.getLogger(__name__)


def connect(path: Path, *, read_only: bool = False, cache_mib: int = 256) -> sqlite3.Connection:
    """A connection with WAL, foreign keys, a busy timeout and ``cache_mib`` of page cache;
    autocommit (explicit transactions)."""
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")  # B-trees of millions of rows
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as error:
        raise StoreError(
            f"cannot open the sighting store {path}: {error}",
            "check the file is a Skynet store and the directory is writable",
        ) from error
    return conn


def migrate(conn: sqlite3.Connection, to: int = SCHEMA_VERSION) -> int:
    """Bring the schema (``PRAGMA user_version``) up to version ``to``, one transaction per migration;
    returns the version reached.

    Each migration reads the version again once it holds the write lock, so processes opening a new
    store at the same time migrate it once. Foreign keys are off during a migration (a table rebuild
    must not cascade) and are checked before its commit."""
    for migration in MIGRATIONS[_version(conn) : to]:
        conn.execute("PRAGMA foreign_keys = OFF")  # only outside a transaction
        try:
            conn.execute("BEGIN IMMEDIATE")
            if _version(conn) < migration.version:
                for statement in _statements(migration.script(Dialect.SQLITE)):
                    conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise sqlite3.IntegrityError(f"{len(broken)} rows break foreign keys, such as {broken[0]}")
                conn.execute(f"PRAGMA user_version = {migration.version}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"schema migration to version {migration.version} failed: {error}") from error
        finally:
            conn.execute("PRAGMA foreign_keys = ON")
    return _version(conn)


def _version(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this Skynet ({SCHEMA_VERSION})",
            "upgrade Skynet, or open a store written by this version",
        )
    return version


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script``, one at a time (``executescript`` would commit the open transaction);
    a statement ends at the end of a line."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        yield statement  # the last one without its semicolon, or only comments (which run as nothing)


class SqliteDatabase(Database):
    """The database in the SQLite file ``path`` (created and migrated as needed)."""

    dialect = Dialect.SQLITE

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # Opening (the switch to WAL) and migrating run one process at a time: SQLite answers some lock
        # conflicts of a new database's first moments with "database is locked" at once, whatever the
        # busy timeout (seen with four processes opening one new store on a loaded machine).
        with open(self.path.with_name(self.path.name + ".open-lock"), "a+b") as opening:
            fcntl.flock(opening, fcntl.LOCK_EX)
            self._conn = connect(self.path)
            try:
                migrate(self._conn)
            except BaseException:
                self._conn.close()
                raise
        self._reserve = SpaceReserve(self.path.with_name(self.path.name + ".reserve"))
        if not self._reserve.keep():
            log.warning("no room for the %d-byte reserve that lets retention run on a full disk", self._reserve.size)
        self._lock = threading.Lock()
        self._writing_thread: int | None = None
        self._local = threading.local()
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        """The write connection inside this thread's write transaction, else this thread's reader."""
        if self.writing():
            return self._conn
        reader = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._local.reader = connect(self.path, cache_mib=64)
            with self._readers_lock:  # close the readers of threads that ended
                for thread, conn in self._readers:
                    if not thread.is_alive():
                        conn.close()
                self._readers = [(t, c) for t, c in self._readers if t.is_alive()]
                self._readers.append((threading.current_thread(), reader))
        return reader

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection().execute(sql, args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection().executemany(sql, rows)

    @contextmanager
    def write(self, doing: str) -> Iterator[None]:
        if self.writing():  # inside this thread's transaction: part of it
            yield
            return
        with self._lock:
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
                self._writing_thread = None

    def writing(self) -> bool:
        return self._writing_thread == threading.get_ident()

    def ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps([int(i) for i in ids])

    def encoded_rows(self, rows: Sequence[Sequence[Any]]) -> list[str] | None:
        """Each row's JSON text (:meth:`append_rows`); None where one has a value JSON cannot carry."""
        try:
            return [_json(row) for row in rows]
        except (TypeError, ValueError):
            return None

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], encoded: Sequence[str] | None = None
    ) -> list[int]:
        """One statement (:meth:`append_rows`): inside the write transaction nothing else inserts, so the new
        rows take consecutive ids, ending at ``last_insert_rowid()``."""
        if not rows:
            return []
        with self.write(f"storing {table}"):
            if encoded is None:
                self.append_rows(table, columns, rows)
            else:
                self._insert_json(table, columns, f"[{','.join(encoded)}]")
            last = self._conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

    def append_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One ``INSERT ... SELECT`` from the rows as a JSON array, which SQLite runs to the end without Python's
        lock: ``executemany`` takes the lock back after every row, and while another thread runs Python (a
        bulk import checks its next batch meanwhile) each row waits for it, so the two threads would not
        overlap at all. One statement also lets the plate trigram index (FTS5) flush once, not per row. Rows
        that JSON cannot carry (bytes, NaN) go one at a time."""
        if not rows:
            return
        try:
            text = _json(rows)
        except (TypeError, ValueError):
            super().append_rows(table, columns, rows)
            return
        self._insert_json(table, columns, text)

    def _insert_json(self, table: str, columns: Sequence[str], text: str) -> None:
        """One ``INSERT ... SELECT`` of the rows of the JSON array ``text``."""
        # each row's JSON text kept once (MATERIALIZED): read straight from json_each, ``value`` is the row
        # written out again for every column taken from it (2.5 times the time of a 21-column insert)
        values = ", ".join(f"row ->> {i}" for i in range(len(columns)))
        self.execute(
            f"WITH rows(row) AS MATERIALIZED (SELECT value FROM json_each(?)) "
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM rows",
            (text,),
        )

    def release_reserve(self) -> bool:
        return self._reserve.release()

    def keep_reserve(self) -> bool:
        return self._reserve.keep()

    def problems(self) -> list[str]:
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

    def close(self) -> None:
        with self._lock:
            with self._readers_lock:
                for _, reader in self._readers:
                    reader.close()
                self._readers = []
            self._conn.close()


def _json(value: Any) -> str:
    """``value`` as JSON text for SQLite's JSON functions (floats written exactly; NaN and bytes refused)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
