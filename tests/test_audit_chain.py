"""Issue 14, item 18: the audit log is a hash chain that ``skynet index status`` verifies, so emptying or
editing it behind Skynet's back (the probe dropped the append-only trigger) is found; item 11's storage half:
each row keeps the API token (and who minted it).

The tamperer here writes the database directly, as the probe did, and covers their tracks (the triggers
they dropped are put back), so what finds the change is the chain, not the missing trigger.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from store_support import database, database_url, schema_at  # noqa: F401 (fixture)
from typer.testing import CliRunner

from skynet.cli import _register_commands, app
from skynet.records import AuditEvent
from skynet.store import open_store
from skynet.store.audit_chain import CHAIN_START
from skynet.store.audit_witness import HEAD_FILE, KEY_FILE
from skynet.store.errors import StoreError
from skynet.store.sqlite import DB_NAME

BACKENDS = ["sqlite", "postgresql"]
OLD_SCHEMA = 5  # the last schema without the chain


def _event(i: int, **more) -> AuditEvent:
    return AuditEvent(1000.0 + i, f"user{i % 3}", "search.face", f"case {i}", {"k": i, "名": "桂B"}, **more)


def _fill(data_dir, url, n: int = 6) -> None:
    with open_store(data_dir, url) as store:
        for i in range(1, n + 1):
            store.audit.append(_event(i))


def _status(data_dir, url, *more: str):
    """``skynet index status --data-dir DATA_DIR [more]`` (PostgreSQL named in the environment)."""
    _register_commands()
    env = {"SKYNET_DATABASE_URL": url} if url else {}
    return CliRunner().invoke(app, ["index", "status", "--data-dir", str(data_dir), *more], env=env)


def _head(output: str) -> str:
    return re.search(r"^audit log head: (\d+:[0-9a-f]{64})", output, re.M)[1]


class _Execute:
    """``execute(sql, args)`` on one backend (``?`` placeholders); ``postgresql`` says which."""

    def __init__(self, execute: Callable[..., Any], *, postgresql: bool) -> None:
        self.execute, self.postgresql = execute, postgresql

    def __call__(self, sql: str, args=()) -> Any:
        return self.execute(sql, args)


@contextmanager
def _tampering(data_dir, url) -> Iterator[_Execute]:
    """``execute(sql, args)`` straight on the database with the audit log's triggers dropped, as the probe
    did; they are put back at the end, as they were."""
    if url is None:
        conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
        triggers = [
            r[0]
            for r in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_log' AND type = 'trigger'")
        ]
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        try:
            yield _Execute(conn.execute, postgresql=False)
        finally:
            for sql in triggers:
                conn.execute(sql)
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        try:
            yield _Execute(lambda sql, args=(): pg.execute(sql.replace("?", "%s"), args), postgresql=True)
        finally:
            pg.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


def test_a_fresh_log_verifies_and_keeps_the_token_of_each_row(database_url, tmp_path):
    with open_store(tmp_path, database_url) as store:
        store.audit.append(_event(1, token_id=41))
        store.audit.append(_event(2, token_id=42, token_minted_by="root"))
        store.audit.append(_event(3))
        newest = store.audit.events(3)
    assert [(e.token_id, e.token_minted_by) for e in newest] == [(None, None), (42, "root"), (41, None)]
    assert newest[1].detail == {"k": 2, "名": "桂B"} and newest[1].reason == "case 2"
    with open_store(tmp_path, database_url) as store:  # reopened: the same key, the chain goes on
        store.audit.append(_event(4))
    result = _status(tmp_path, database_url)
    assert result.exit_code == 0, result.output
    assert "audit log: 4 rows, hash chain intact" in result.output and "store health: ok" in result.output
    assert _head(result.output) == (tmp_path / HEAD_FILE).read_text().strip().replace(" ", ":")
    assert _head(result.output).startswith("4:")


def _edit_a_row(execute) -> None:
    execute("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 3")


def _edit_a_token(execute) -> None:
    execute("UPDATE audit_log SET token_id = 7 WHERE id = 2")


def _delete_a_middle_row(execute) -> None:
    execute("DELETE FROM audit_log WHERE id = 3")


def _delete_every_row(execute) -> None:
    execute("DELETE FROM audit_log")


def _delete_the_last_rows(execute) -> None:
    execute("DELETE FROM audit_log WHERE id > 4")


def _empty_and_insert_again(execute) -> None:
    """Copy the rows (hashes included), empty the table (PostgreSQL: TRUNCATE), put them back without row 2
    and with the ids closed up."""
    rows = execute(
        "SELECT id, at, actor, action, reason, detail, prev_hash, hash FROM audit_log ORDER BY id"
    ).fetchall()
    execute("TRUNCATE audit_log" if execute.postgresql else "DELETE FROM audit_log")
    for new_id, row in enumerate([r for r in rows if r[0] != 2], start=1):
        columns = "id, at, actor, action, reason, detail, prev_hash, hash"
        execute(f"INSERT INTO audit_log ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (new_id, *row[1:]))


def _insert_a_row(execute) -> None:
    execute(
        "INSERT INTO audit_log (at, actor, action, detail, prev_hash, hash) VALUES (1.0, 'x', 'login', '{}', ?, ?)",
        ("0" * 64, "1" * 64),
    )


TAMPERING = {
    # how: (the first broken row, what status says)
    _edit_a_row: (3, "row 3 was changed after it was written"),
    _edit_a_token: (2, "row 2 was changed after it was written"),
    _delete_a_middle_row: (4, "row 4 does not follow row 2: rows between them were deleted"),
    _delete_every_row: (6, "row 6, recorded by the head file", f"{HEAD_FILE}, is missing: rows were deleted"),
    _delete_the_last_rows: (6, "row 6, recorded by the head file", "is missing: rows were deleted"),
    _empty_and_insert_again: (2, "row 2 does not follow row 1"),
    _insert_a_row: (7, "row 7 does not follow row 6"),
}


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__.strip("_"))
def test_status_finds_the_log_tampered_with(database_url, tmp_path, tamper):
    _fill(tmp_path, database_url)
    assert _status(tmp_path, database_url).exit_code == 0
    with _tampering(tmp_path, database_url) as execute:
        tamper(execute)
    result = _status(tmp_path, database_url)
    broken_row, *said = TAMPERING[tamper]
    assert result.exit_code == 1, result.output
    assert f"hash chain BROKEN at row {broken_row}" in result.output
    assert "store health: 1 problem(s)" in result.output  # the triggers are back: only the chain saw it
    assert "audit log tampered with: " in result.output and all(s in result.output for s in said), result.output


def test_rows_lost_from_the_end_are_found_after_more_rows_are_written(database_url, tmp_path):
    _fill(tmp_path, database_url)
    with _tampering(tmp_path, database_url) as execute:
        _delete_the_last_rows(execute)
    _fill(tmp_path, database_url, 2)  # the chain goes on from row 4, valid: the head file still names row 6
    result = _status(tmp_path, database_url)
    assert result.exit_code == 1 and "row 6, recorded by the head file" in result.output


def test_an_anchor_kept_elsewhere_finds_a_log_cut_short_with_its_head_file(database_url, tmp_path):
    """Who can also write the data directory can delete the head file; the head printed earlier still counts."""
    _fill(tmp_path, database_url)
    anchor = _head(_status(tmp_path, database_url).output)
    with _tampering(tmp_path, database_url) as execute:
        _delete_the_last_rows(execute)
    (tmp_path / HEAD_FILE).unlink()
    assert _status(tmp_path, database_url).exit_code == 0  # nothing inside the data directory remembers row 6
    result = _status(tmp_path, database_url, "--audit-anchor", anchor)
    assert result.exit_code == 1 and "row 6, recorded by --audit-anchor, is missing" in result.output
    wrong = _status(tmp_path, database_url, "--audit-anchor", "4:" + "ab" * 32)
    assert wrong.exit_code == 1 and "row 4 is not the row recorded by --audit-anchor" in wrong.output
    assert _status(tmp_path, database_url, "--audit-anchor", "4:xyz").exit_code == 2  # a usage error


def test_status_finds_the_append_only_triggers_gone(database_url, tmp_path):
    _fill(tmp_path, database_url)
    with _tampering(tmp_path, database_url):
        result = _status(tmp_path, database_url)
    assert result.exit_code == 1 and "hash chain intact" in result.output
    assert "audit rows can be changed: the append-only trigger is missing or disabled" in result.output
    assert "audit rows can be deleted" in result.output
    if database_url:
        assert "audit rows can be truncated" in result.output
    assert _status(tmp_path, database_url).exit_code == 0  # put back: nothing changed meanwhile
    with open_store(tmp_path, database_url) as store:
        assert [e.id for e in store.audit.events()] == [6, 5, 4, 3, 2, 1]


def test_a_trigger_replaced_by_one_that_lets_changes_through_is_found(database_url, tmp_path):
    _fill(tmp_path, database_url)
    if database_url is None:
        conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT 1; END")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute(
                "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'the audit log is append-only'; END IF; "
                "RETURN OLD; END $$"
            )
    result = _status(tmp_path, database_url)
    assert result.exit_code == 1 and "audit rows can be deleted" in result.output
    assert "audit rows can be changed" not in result.output


def test_concurrent_appenders_never_fork_the_chain(database_url, tmp_path):
    """Threads sharing one store, and two stores (two connections: as two processes would) at once."""
    stores = [open_store(tmp_path, database_url), open_store(tmp_path, database_url)]
    try:
        errors: list[BaseException] = []

        def append(store, first: int) -> None:
            try:
                for i in range(first, first + 40):
                    store.audit.append(_event(i, token_id=i))
            except BaseException as error:  # noqa: BLE001 -- reported by the test
                errors.append(error)

        threads = [threading.Thread(target=append, args=(stores[t % 2], t * 1000)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    finally:
        for store in stores:
            store.close()
    result = _status(tmp_path, database_url)
    assert result.exit_code == 0, result.output
    assert "audit log: 240 rows, hash chain intact" in result.output and _head(result.output).startswith("240:")


def _fill_old_schema(execute) -> None:
    for i in range(1, 4):
        execute(
            "INSERT INTO audit_log (at, actor, action, reason, detail) VALUES (?, 'ann', 'search.plate', ?, ?)",
            (float(i), f"case {i}", '{"plate": "桂B12345"}'),
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_open_after_the_upgrade_seals_the_rows_written_before(tmp_path, backend, request):
    with database(backend, request) as url:
        with schema_at(OLD_SCHEMA, tmp_path, url) as execute:
            _fill_old_schema(execute)
        with open_store(tmp_path, url) as store:
            store.audit.append(_event(9, token_id=3))
            events = store.audit.events()
        assert [(e.id, e.action) for e in events] == [
            (5, "search.face"),
            (4, CHAIN_START),
            (3, "search.plate"),
            (2, "search.plate"),
            (1, "search.plate"),
        ]
        assert events[1].detail == {"rows": 3, "first": 1, "last": 3} and events[2].token_id is None
        result = _status(tmp_path, url)
        assert result.exit_code == 0, result.output
        assert "audit log: 5 rows (3 written before the chain, sealed), hash chain intact" in result.output
        with _tampering(tmp_path, url) as execute:
            execute("UPDATE audit_log SET reason = 'case 99' WHERE id = 2")
        result = _status(tmp_path, url)
        assert result.exit_code == 1
        assert "rows 1-3 (3 rows), sealed by row 4, were changed, deleted or inserted since" in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_old_rows_are_sealed_only_with_a_key_made_for_them(tmp_path, backend, request):
    """A database made to look older (hashes emptied, the schema version put back) is not sealed anew with
    the key that already exists: that would bless whatever was changed. Rows found without a hash are
    reported; an upgrade that was interrupted after its key was written is redone by moving the key away."""
    with database(backend, request) as url:
        with schema_at(OLD_SCHEMA, tmp_path, url) as execute:
            _fill_old_schema(execute)
        (tmp_path / KEY_FILE).write_text("ab" * 32 + "\n")
        open_store(tmp_path, url).close()
        result = _status(tmp_path, url)
        assert (
            result.exit_code == 1
            and "rows 1-3 (3 rows) have no hash: written outside Skynet, or never" in result.output
        )
        (tmp_path / KEY_FILE).unlink()
        result = _status(tmp_path, url)
        assert result.exit_code == 0 and "(3 written before the chain, sealed), hash chain intact" in result.output


def test_the_key_of_a_chained_log_must_be_its_own(database_url, tmp_path):
    _fill(tmp_path, database_url)
    key = (tmp_path / KEY_FILE).read_text()
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(StoreError, match="audit.key, but that file is missing"):
        open_store(tmp_path, database_url)
    assert not (tmp_path / KEY_FILE).exists()  # no key of its own was made meanwhile
    (tmp_path / KEY_FILE).write_text("cd" * 32 + "\n")
    with pytest.raises(StoreError, match="but the audit log of this database is chained with the key"):
        open_store(tmp_path, database_url)
    (tmp_path / KEY_FILE).write_text(key)
    assert _status(tmp_path, database_url).exit_code == 0


def test_a_dropped_log_is_reported(database_url, tmp_path):
    _fill(tmp_path, database_url)
    if database_url is None:
        conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
        conn.execute("DROP TABLE audit_log")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute("DROP TABLE audit_log")
    result = _status(tmp_path, database_url)
    assert result.exit_code == 1 and "hash chain BROKEN" in result.output
    assert "audit log tampered with: the audit log cannot be read" in result.output
