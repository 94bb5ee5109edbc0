"""Files outside the database that vouch for its audit chain, in the data directory (``0600``).

- ``audit.key``: the chain's HMAC key (32 random bytes, hex), written once and never changed. Whoever can
  write the database but not read this file cannot recompute the chain after changing a row.
- ``audit.head``: the last audit row written (``ID HASH``), overwritten after each append. A chain that no
  longer passes through it lost rows from its end (a truncated tail leaves a valid chain behind).

With SQLite both sit beside the database file, so they protect against whoever holds the database alone
(a copy, a backup, SQL access); with PostgreSQL the database server never sees them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from skynet.store.audit_chain import Anchor, ChainKey
from skynet.store.errors import StoreError
from skynet.store.secret_files import create_secret_file

log = logging.getLogger(__name__)

KEY_FILE = "audit.key"
HEAD_FILE = "audit.head"
_HEAD_SIZE = 96  # "ID HASH", padded: a row id of up to 30 digits, 64 hex digits, a newline


class AuditWitness:
    """The key and head files of the audit chain in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.key_path = Path(data_dir) / KEY_FILE
        self.head_path = Path(data_dir) / HEAD_FILE
        self._warned = False

    def key(self) -> ChainKey | None:
        """The key, or None when there is no key file."""
        try:
            text = self.key_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise StoreError(f"cannot read the audit key {self.key_path}: {error}") from error
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise StoreError(f"the audit key {self.key_path} is damaged", "restore it from the data directory's backup")
        return ChainKey(secret)

    def create_key(self) -> tuple[ChainKey, bool]:
        """The key, made now if there is none; and whether it was made now. Written in full to a temporary
        file, then linked into place, so a reader never sees half a key and two processes never make two."""
        existing = self.key()
        if existing is not None:
            return existing, False
        try:
            created = create_secret_file(self.key_path, secrets.token_hex(32) + "\n")
        except OSError as error:
            raise StoreError(f"cannot write the audit key {self.key_path}: {error}") from error
        key = self.key()
        assert key is not None
        return key, created

    def head(self) -> Anchor | None:
        """The last row recorded as written, or None when none was; :class:`StoreError` if unreadable."""
        try:
            fd = os.open(self.head_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._unreadable(error) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return self._read_head(fd)
        finally:
            os.close(fd)

    def record_head(self, head: Anchor, still_there: Callable[[Anchor], bool]) -> None:
        """Record ``head`` (a committed row) as the last row written, unless a later one is recorded, or the
        recorded one is gone from the database (``still_there`` says): that file is evidence, kept for
        ``skynet index status``. Written in place, in a record of fixed size (a rename per append cost a
        millisecond), under a lock on the file that orders the writers of every thread and process."""
        fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                recorded = self._read_head(fd)
            except StoreError:
                recorded = None  # damaged: written anew
            if recorded is not None and recorded.id >= head.id:
                return
            if recorded is not None and not still_there(recorded):
                if not self._warned:
                    log.error("audit row %s is gone from the database: see skynet index status", recorded.id)
                    self._warned = True
                return
            os.pwrite(fd, f"{head.id} {head.hash}".ljust(_HEAD_SIZE - 1).encode("ascii") + b"\n", 0)
        finally:
            os.close(fd)

    def _read_head(self, fd: int) -> Anchor | None:
        try:
            text = os.pread(fd, _HEAD_SIZE, 0).decode("ascii")
            if not text:
                return None  # made by a writer that has not written yet
            row_id, row_hash = text.split()
            return Anchor(int(row_id), row_hash, f"the head file {self.head_path}")
        except (OSError, ValueError) as error:
            raise self._unreadable(error) from error

    def _unreadable(self, error: Exception) -> StoreError:
        return StoreError(
            f"the audit head file {self.head_path} is unreadable ({error})",
            "if it was damaged (not tampered with), delete it: the next audit row writes it again",
        )
