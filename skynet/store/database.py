"""The one database handle every repository works through; :mod:`~skynet.store.sqlite` and
:mod:`~skynet.store.postgres` implement it.

Statements use ``?`` placeholders (a backend may translate them) and portable SQL (``RETURNING``,
``ON CONFLICT``); where the dialects differ, a repository asks :attr:`Database.dialect`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Database(ABC):
    """A connection (or connections) to one database whose schema is up to date."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a DB-API cursor (``fetchone``, ``fetchall``, ``rowcount``, iteration)."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows``."""

    @abstractmethod
    def write(self, doing: str) -> AbstractContextManager[None]:
        """One write transaction, committed at the end of the block and rolled back on error. Writes are
        serialised; a ``write`` inside another one on the same thread joins it. Database errors become
        :class:`~skynet.store.errors.StoreError` (:class:`~skynet.store.errors.StorageFullError` for a full
        disk) naming what was being done (``doing``)."""

    @abstractmethod
    def writing(self) -> bool:
        """Whether this thread is inside a write transaction (whose changes are not committed yet)."""

    @abstractmethod
    def ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        """The SQL condition "``column`` is one of ``ids``" and its one argument (any number of ids)."""

    def insert_returning_id(self, sql: str, args: Sequence[Any]) -> int:
        """Run ``INSERT ...`` and return the id of the new row."""
        return int(self.execute(f"{sql} RETURNING id", args).fetchone()[0])

    def append_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (whole, with their ids) into ``table``, inside a write, the fastest way the backend
        has: here one statement run per row (prepared once)."""
        if rows:
            self.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
            )

    def encoded_rows(self, rows: Sequence[Sequence[Any]]) -> list[str] | None:
        """``rows`` as :meth:`insert_many` takes them made ahead (``encoded``), outside the write; None where the
        backend gains nothing by it or cannot encode them."""
        return None

    @abstractmethod
    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], encoded: Sequence[str] | None = None
    ) -> list[int]:
        """Insert ``rows`` into ``table`` (inside a write) the fastest way the backend has; returns their new ids.
        ``encoded``: the same rows as :meth:`encoded_rows` made them."""

    def release_reserve(self) -> bool:
        """Free the room kept for deletions on a full disk (:mod:`~skynet.store.space_reserve`); whether there was
        any (never, where the database is not in the data directory)."""
        return False

    def keep_reserve(self) -> bool:
        """Set the room for deletions aside again where the disk has room for it; whether it is set aside."""
        return False

    @abstractmethod
    def problems(self) -> list[str]:
        """Integrity problems the database itself reports."""

    @abstractmethod
    def close(self) -> None: ...
