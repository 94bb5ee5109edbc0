"""The audit log's hash chain: every row's hash covers its fields and the hash of the row before it.

``hash = HMAC-SHA256(key, canonical JSON of the row's fields and prev_hash)`` (sorted keys, no spaces,
ASCII); the first row chains from :data:`GENESIS`. Changing a row breaks its hash; deleting or inserting
one breaks the link of the row after it. The key lives outside the database
(:mod:`~skynet.store.audit_witness`), so whoever can only write the database cannot compute a valid chain
after an edit.

Rows written before the chain existed have no hash of their own: the first open after the upgrade
appends a *seal* row (action :data:`CHAIN_START`) that chains from the hash those rows would have had
and names how many they are, so they are covered too (a change among them is found, not pinpointed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64
CHAIN_START = "audit.chain_start"
COLUMNS = "id, at, actor, action, reason, detail, token_id, token_minted_by, prev_hash, hash"
# Canonical JSON: sorted keys, no spaces, ASCII. default=repr: a value of a type Skynet never writes (a
# BLOB put there by hand) still serialises, so verifying reports the row instead of failing.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr)


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One ``audit_log`` row as stored (``detail`` is its JSON text); ``COLUMNS`` in order."""

    id: int
    at: float
    actor: str
    action: str
    reason: str | None
    detail: str
    token_id: int | None
    token_minted_by: str | None
    prev_hash: str | None = None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class Anchor:
    """A row known to have been written with this hash, recorded outside the database (``ID:HASH``)."""

    id: int
    hash: str
    source: str = "--audit-anchor"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        row_id, _, row_hash = text.strip().partition(":")
        if not row_id.isdigit() or len(row_hash) != 64 or any(c not in "0123456789abcdef" for c in row_hash):
            raise ValueError(f"an audit anchor is ROW:HASH (a row id and 64 hex digits), got {text!r}")
        return cls(int(row_id), row_hash)

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


class ChainKey:
    """The secret of the chain's HMAC."""

    def __init__(self, secret: bytes) -> None:
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self.id = self._digest(b"skynet audit key id")[:16]  # names the key (in meta, in messages)

    def _digest(self, message: bytes) -> str:
        mac = self._mac.copy()
        mac.update(message)
        return mac.hexdigest()

    def link(self, prev_hash: str, row: ChainRow) -> str:
        """The hash of ``row`` following a row whose hash is ``prev_hash``."""
        fields = {
            "id": row.id,
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "reason": row.reason,
            "detail": row.detail,
            "token_id": row.token_id,
            "token_minted_by": row.token_minted_by,
            "prev_hash": prev_hash,
        }
        return self._digest(_CANONICAL.encode(fields).encode())


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What verifying the chain found: the rows, the last one (the head), the first break if any."""

    rows: int
    head: Anchor | None
    sealed_rows: int = 0  # rows written before the chain, covered by a seal row
    problem: str | None = None
    broken_row: int | None = None


@dataclass(slots=True)
class _Unhashed:
    """A run of rows without a hash of their own: the first and last id, how many."""

    first: int
    last: int
    count: int = 1

    def __str__(self) -> str:
        return f"row {self.first}" if self.count == 1 else f"rows {self.first}-{self.last} ({self.count} rows)"


def verify(key: ChainKey, rows: Iterable[ChainRow], anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Walk ``rows`` (in id order, streamed) and report the first row that breaks the chain, or an
    anchor the chain does not pass through."""
    expected: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        expected.setdefault(anchor.id, []).append(anchor)
    count = sealed = 0
    prev_hash, prev_id = GENESIS, None
    unhashed: _Unhashed | None = None
    problem: tuple[int, str] | None = None
    for row in rows:
        count += 1
        if problem is not None:
            continue  # counted only
        if row.hash is None:
            prev_hash, prev_id = key.link(prev_hash, row), row.id  # the hash it would have had
            if unhashed is None:
                unhashed = _Unhashed(row.id, row.id)
            else:
                unhashed.last, unhashed.count = row.id, unhashed.count + 1
            continue
        problem = _check(key, row, prev_hash, prev_id, unhashed, expected.pop(row.id, []))
        if unhashed is not None and problem is None:
            sealed, unhashed = sealed + unhashed.count, None
        prev_hash, prev_id = row.hash, row.id
    if problem is None and unhashed is not None:
        problem = unhashed.first, f"{unhashed} have no hash: written outside Skynet, or never sealed (see the README)"
    if problem is None and expected:
        anchor = expected[min(expected)][0]
        problem = anchor.id, f"row {anchor.id}, recorded by {anchor.source}, is missing: rows were deleted"
    if problem is not None:
        return ChainReport(count, None, sealed, problem[1], problem[0])
    return ChainReport(count, None if prev_id is None else Anchor(prev_id, prev_hash), sealed)


def _check(
    key: ChainKey,
    row: ChainRow,
    prev_hash: str,
    prev_id: int | None,
    unhashed: _Unhashed | None,
    anchors: list[Anchor],
) -> tuple[int, str] | None:
    """The problem (the first broken row and why) with hashed ``row``, which follows row ``prev_id`` whose
    stored (or, if it has none, computed) hash is ``prev_hash``, and follows the ``unhashed`` rows if any;
    ``anchors`` record its hash."""
    if unhashed is not None:
        if row.action != CHAIN_START or _sealed_count(row) != unhashed.count:
            return unhashed.first, f"{unhashed} have no hash: written outside Skynet, or never sealed (see the README)"
        if row.prev_hash != prev_hash:
            return unhashed.first, f"{unhashed}, sealed by row {row.id}, were changed, deleted or inserted since"
    elif row.prev_hash != prev_hash:
        after = "the start of the log" if prev_id is None else f"row {prev_id}"
        return row.id, f"row {row.id} does not follow {after}: rows between them were deleted, or it was inserted"
    if key.link(prev_hash, row) != row.hash:
        return row.id, f"row {row.id} was changed after it was written (its hash does not match its contents)"
    for anchor in anchors:
        if anchor.hash != row.hash:
            return row.id, f"row {row.id} is not the row recorded by {anchor.source}: the log was rewritten"
    return None


def _sealed_count(row: ChainRow) -> int | None:
    """How many rows a seal row says it seals."""
    try:
        return int(json.loads(row.detail)["rows"])
    except (ValueError, KeyError, TypeError):
        return None
