"""One schema version written once for both dialects, and the type fragments each dialect fills in."""

from __future__ import annotations

import re
from dataclasses import dataclass

from skynet.store.database import Dialect

FRAGMENTS: dict[Dialect, dict[str, str]] = {
    Dialect.SQLITE: {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",  # an id never handed out twice
        "row_id": "INTEGER PRIMARY KEY",  # an id that may be reused (SQLite: the rowid FTS5 points at)
        "bigint": "INTEGER",
        "float": "REAL",
        "blob": "BLOB",
        "bool": "INTEGER",
        "true": "1",
        "false": "0",
        "prefix_ops": "",  # an index that serves prefix searches (LIKE 'abc%', >= and <)
    },
    Dialect.POSTGRESQL: {
        "id": "BIGSERIAL PRIMARY KEY",
        "row_id": "BIGSERIAL PRIMARY KEY",
        "bigint": "BIGINT",
        "float": "DOUBLE PRECISION",
        "blob": "BYTEA",
        "bool": "BOOLEAN",
        "true": "TRUE",
        "false": "FALSE",
        "prefix_ops": " text_pattern_ops",
    },
}
_FRAGMENT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: statements for both dialects, then the statements of one dialect only."""

    version: int
    common: str
    sqlite: str = ""
    postgresql: str = ""

    def script(self, dialect: Dialect) -> str:
        """The migration's SQL for ``dialect``, fragments filled in."""
        own = self.sqlite if dialect is Dialect.SQLITE else self.postgresql
        return _FRAGMENT.sub(lambda match: FRAGMENTS[dialect][match[1]], f"{self.common}\n{own}")
