"""Schema versions: new stores get the latest, older ones migrate forward with nothing lost, newer ones are refused.

An older store is made as the Skynet of its version left it: the first migrations of today's schema
(:func:`store_support.schema_at`), which are never edited once shipped.
"""

from __future__ import annotations

import sqlite3

import pytest
from store_support import database, schema_at

from skynet.records import Camera
from skynet.store import open_store
from skynet.store.errors import StoreError
from skynet.store.schema import SCHEMA_VERSION
from skynet.store.sqlite import DB_NAME

BACKENDS = ["sqlite", "postgresql"]


def test_schema_version_and_newer_store_refused(tmp_path):
    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    open_store(tmp_path).close()  # re-opening migrates nothing and keeps the version
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cameras_of_a_schema_3_store_are_verified_after_migration(tmp_path, backend, request):
    with database(backend, request) as url:
        with schema_at(3, tmp_path, url) as execute:
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('old', 'Old', 'https://10.0.0.7/video.mjpg')")
        with open_store(tmp_path, url) as store:
            assert store.cameras.all() == [Camera("old", "Old", "https://10.0.0.7/video.mjpg")]
            assert store.cameras.all()[0].tls_verify is True
