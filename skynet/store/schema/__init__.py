"""The schema of both backends, written once: versioned migrations in portable SQL.

Where the dialects name a type differently, a migration names the *fragment* in braces
(``{float}``, ``{id}``, ...; see :data:`FRAGMENTS`). A statement written for one dialect only
stands in that migration's ``sqlite`` or ``postgresql`` part: the plate trigram index (an FTS5
table kept by triggers in SQLite, a ``pg_trgm`` GIN index in PostgreSQL), the triggers that keep
the audit log append-only, and the table rebuild SQLite needs to drop a column that a CHECK names.

Each migration moves a database from version ``n - 1`` to ``n``; a new database runs them all.
Append new migrations; never edit one that has shipped. The backends record the version where
they always have: SQLite in ``PRAGMA user_version``, PostgreSQL in ``meta.schema_version``.
"""

from skynet.store.schema.city_scale import CITY_SCALE
from skynet.store.schema.founding import FOUNDING
from skynet.store.schema.migration import FRAGMENTS, Migration
from skynet.store.schema.scale_out import SCALE_OUT

MIGRATIONS: tuple[Migration, ...] = FOUNDING + CITY_SCALE + SCALE_OUT
SCHEMA_VERSION = MIGRATIONS[-1].version
if [m.version for m in MIGRATIONS] != list(range(1, SCHEMA_VERSION + 1)):
    raise RuntimeError("schema migrations must be numbered 1, 2, 3, ... without gaps")

__all__ = ["FRAGMENTS", "MIGRATIONS", "SCHEMA_VERSION", "Migration"]
