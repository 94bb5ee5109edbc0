"""The PostgreSQL backend, for deployments that outgrow one SQLite file (media files stay on disk).

Plates are indexed by ``text_pattern_ops`` B-trees on the normalised text and its reverse
(prefix/suffix patterns) and a ``pg_trgm`` GIN index (inner runs and fuzzy pieces).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from skynet.index import plate_search
from skynet.index.errors import StorageFullError, StoreError
from skynet.index.pg_schema import migrate
from skynet.index.sql_store import INSERT_COLUMNS, SqlStore
from skynet.redaction import redact_url

_GROUPED_MATCHES = (
    "SELECT id, plate_text, text, rank, camera_id, best_time FROM ("
    "SELECT DISTINCT ON (s.id) s.id, s.plate_text, r.text, r.rank, s.camera_id, s.best_time FROM {source} "
    "JOIN sightings s ON s.id = r.sighting_id WHERE {where} ORDER BY s.id, r.rank) m "
    "ORDER BY rank > 0, best_time DESC LIMIT ?"
)


_INSERT_WITH_ID = f"INSERT INTO sightings (id, {INSERT_COLUMNS}) VALUES ({', '.join('?' * 21)})"


def _like(glob: str) -> str:
    """A ``*``/``?`` pattern as LIKE (plate patterns hold no ``%``, ``_`` or backslash)."""
    return glob.replace("*", "%").replace("?", "_")


class PostgresStore(SqlStore):
    """:class:`skynet.index.store.SightingStore` in a PostgreSQL database named by ``url``."""

    _CLAIM_LOCK = " FOR UPDATE SKIP LOCKED"

    def __init__(self, data_dir: Path, url: str, **options) -> None:
        self.url = url
        super().__init__(data_dir, **options)

    def __repr__(self) -> str:
        return f"PostgresStore({redact_url(self.url)!r})"

    def _open(self) -> None:
        try:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.Error as error:
            message = str(error).replace(self.url, redact_url(self.url)).strip().splitlines()[0]
            raise StoreError(
                f"cannot connect to PostgreSQL at {redact_url(self.url)}: {message}",
                "start the server (scripts/start-postgres.sh) or fix database_url",
            ) from None
        migrate(self._conn)

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.execute(sql.replace("?", "%s"), args)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)  # pipelined: one round trip per batch

    def _insert_sighting_rows(self, rows: list[list]) -> list[int]:
        """Reserve the ids first, then send all rows in one pipelined batch (no round trip per row)."""
        ids = [
            r[0] for r in self._execute("SELECT nextval('sightings_id_seq') FROM generate_series(1, ?)", (len(rows),))
        ]
        self._executemany(_INSERT_WITH_ID, [(sighting_id, *row) for sighting_id, row in zip(ids, rows, strict=False)])
        return ids

    @contextmanager
    def _write(self, doing: str) -> Iterator[None]:
        with self._lock:
            try:
                with self._conn.transaction():
                    yield
            except psycopg.errors.DiskFull as error:
                raise StorageFullError(
                    f"database disk full while {doing}; nothing of this write was kept",
                    "free space on the database server",
                ) from error
            except psycopg.Error as error:
                raise StoreError(f"store error while {doing}: {error}") from error

    def _ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        return f"{column} = ANY(?)", [int(i) for i in ids]

    def _plate_matches(self, where: str, source: str, args: list, limit: int) -> list[tuple]:
        return self._execute(_GROUPED_MATCHES.format(source=source, where=where), (*args, limit)).fetchall()

    def _exact_plate(self, text: str) -> tuple[str, str, list]:
        return "plate_reads r", "r.norm = ? AND r.text = ?", [plate_search.normalise(text), text]

    def _wildcard_plate(self, plan: plate_search.WildcardPlan) -> tuple[str, str, list]:
        return (
            "plate_reads r",
            "r.norm LIKE ? AND r.text LIKE ?",
            [_like(plate_search.normalise(plan.glob)), _like(plan.glob)],
        )

    def _fuzzy_candidates(self, plan: plate_search.FuzzyPlan) -> Iterable[tuple[int, str, int]]:
        where = " OR ".join("r.norm LIKE ?" for _ in plan.pieces)
        return self._execute(
            f"SELECT r.sighting_id, r.text, r.rank FROM plate_reads r WHERE {where}",
            [f"%{piece}%" for piece in plan.pieces],
        ).fetchall()

    def _backend_problems(self) -> list[str]:
        orphans = self._execute(
            "SELECT count(*) FROM plate_reads r LEFT JOIN sightings s ON s.id = r.sighting_id WHERE s.id IS NULL"
        ).fetchone()[0]
        return [f"{orphans} plate reads without a sighting"] if orphans else []

    def _close_connection(self) -> None:
        self._conn.close()
