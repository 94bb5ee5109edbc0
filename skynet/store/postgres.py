"""The PostgreSQL database, for deployments that outgrow one SQLite file (media files stay on disk).

One connection in autocommit mode; a write holds it in a transaction. The schema version is kept in
``meta.schema_version``; migrations run in one transaction under an advisory lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from skynet.redaction import redact_url
from skynet.store.database import Database, Dialect
from skynet.store.errors import StorageFullError, StoreError
from skynet.store.schema import MIGRATIONS, SCHEMA_VERSION

_MIGRATION_LOCK = 0x5359_4E45  # pg_advisory_xact_lock key: one migrator at a time


def migrate(conn: psycopg.Connection, to: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to version ``to`` in one transaction under an advisory lock; returns the version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this Skynet ({SCHEMA_VERSION})",
                "upgrade Skynet, or point it at a database written by this version",
            )
        for migration in MIGRATIONS[version:to]:
            conn.execute(migration.script(Dialect.POSTGRESQL))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(migration.version),),
            )
    return max(version, to)


class PostgresDatabase(Database):
    """The database at ``url`` (``postgresql://user:password@host/name``), migrated as needed."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = self._connect()
        try:
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._lock = threading.Lock()
        self._writing_thread: int | None = None

    def __repr__(self) -> str:
        return f"PostgresDatabase({redact_url(self.url)!r})"

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.Error as error:
            message = str(error).replace(self.url, redact_url(self.url)).strip().splitlines()[0]
            raise StoreError(
                f"cannot connect to PostgreSQL at {redact_url(self.url)}: {message}",
                "start the server (scripts/start-postgres.sh) or fix database_url",
            ) from None

    def _connection(self) -> psycopg.Connection:
        """The connection; a new one when the server dropped the last (it went away and came back), except in
        the middle of a write, which fails as a whole."""
        if (self._conn.closed or self._conn.broken) and not self.writing():
            self._conn = self._connect()
        return self._conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._connection().execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._connection().cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)  # pipelined: one round trip per batch

    @contextmanager
    def write(self, doing: str) -> Iterator[None]:
        if self.writing():  # inside this thread's transaction: part of it
            yield
            return
        with self._lock:
            connection = self._connection()
            self._writing_thread = threading.get_ident()
            try:
                with connection.transaction():
                    yield
            except psycopg.errors.DiskFull as error:
                raise StorageFullError(
                    f"database disk full while {doing}; nothing of this write was kept",
                    "free space on the database server",
                ) from error
            except psycopg.Error as error:
                raise StoreError(f"store error while {doing}: {error}") from error
            finally:
                self._writing_thread = None

    def writing(self) -> bool:
        return self._writing_thread == threading.get_ident()

    def ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", [int(i) for i in ids]

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], encoded: Sequence[str] | None = None
    ) -> list[int]:
        """Reserve the ids first, then send every row in one ``COPY`` (:meth:`append_rows`)."""
        ids = [r[0] for r in self.execute(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, ?)", (len(rows),))]
        self.append_rows(table, ["id", *columns], [(row_id, *row) for row_id, row in zip(ids, rows, strict=True)])
        return ids

    def append_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One ``COPY ... FROM STDIN``: the rows stream to the server as one statement (a fraction of the cost
        of an ``INSERT`` per row, pipelined or not); INSERT triggers and constraints apply as to an INSERT."""
        if not rows:
            return
        with self._connection().cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def problems(self) -> list[str]:
        sql = "SELECT count(*) FROM plate_reads r LEFT JOIN sightings s ON s.id = r.sighting_id WHERE s.id IS NULL"
        (orphans,) = self.execute(sql).fetchone() or (0,)
        return [f"{orphans} plate reads without a sighting"] if orphans else []

    def close(self) -> None:
        with self._lock:
            self._conn.close()
