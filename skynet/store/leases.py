"""Leases: which one instance may run a camera (``camera_leases``) or hold a face-index partition
(``index_leases``, :mod:`skynet.cluster.face_shard`), with a fencing token (scale-out, docs/cluster.md).

An instance takes a camera's lease when it is free or has expired; each new holder gets a token one above the
last. The holder renews the lease well before it expires, and its writes of sightings renew it in their own
transaction (:meth:`LeaseRepository.renew` inside the write): a write of an instance whose lease has expired or
passed on fails and rolls back, so an instance that was cut off and comes back writes nothing. Expiry is judged
by the database's clock, the one clock every node shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from skynet.store.database import Database, Dialect

_NOW = {
    Dialect.POSTGRESQL: "extract(epoch FROM clock_timestamp())",
    Dialect.SQLITE: "((julianday('now') - 2440587.5) * 86400.0)",
}
_COLUMNS = "holder, node, token, acquired_at, expires_at"


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease on ``key`` (a camera id, a partition key): its holder (an instance id), the node it runs on, its
    fencing token, and when it was taken and expires (seconds since the epoch, by the database's clock)."""

    key: str
    holder: str
    node: str
    token: int
    acquired_at: float
    expires_at: float


class LeaseRepository:
    """A lease table: ``camera_leases`` (keyed by ``camera_id``) or ``index_leases`` (by ``partition_key``)."""

    def __init__(self, db: Database, table: str = "camera_leases", key: str = "camera_id") -> None:
        self.db, self.table, self.key = db, table, key
        self._now = _NOW[db.dialect]
        self._columns = f"{key}, {_COLUMNS}"

    def acquire(self, key: str, holder: str, node: str, ttl_s: float) -> Lease | None:
        """Take ``key``'s lease for ``holder`` if it is free or expired (or ``holder``'s already); None
        while another instance holds it."""
        now, table = self._now, self.table
        with self.db.write("taking a lease"):
            self.db.execute(
                f"INSERT INTO {table} ({self._columns}) VALUES (?, ?, ?, 1, {now}, {now} + ?) "
                f"ON CONFLICT ({self.key}) DO UPDATE SET holder = excluded.holder, node = excluded.node, "
                f"token = {table}.token + 1, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
                f"WHERE {table}.expires_at < {now} OR {table}.holder = excluded.holder",
                (key, holder, node, ttl_s),
            )
            lease = self.get(key)
        return lease if lease is not None and lease.holder == holder else None

    def renew(self, lease: Lease, ttl_s: float) -> bool:
        """Extend ``lease`` by ``ttl_s`` from now if it is still held (same holder and token, not expired); False:
        it has expired or passed to another instance. Inside a write it is part of that write's transaction."""
        with self.db.write("renewing a lease"):
            renewed = self.db.execute(
                f"UPDATE {self.table} SET expires_at = {self._now} + ? "
                f"WHERE {self.key} = ? AND holder = ? AND token = ? AND expires_at > {self._now}",
                (ttl_s, lease.key, lease.holder, lease.token),
            ).rowcount
        return renewed == 1

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up (a camera stopped on purpose), so that another instance may take it at once."""
        with self.db.write("releasing a lease"):
            self.db.execute(
                f"DELETE FROM {self.table} WHERE {self.key} = ? AND holder = ? AND token = ?",
                (lease.key, lease.holder, lease.token),
            )

    def get(self, key: str) -> Lease | None:
        row = self.db.execute(f"SELECT {self._columns} FROM {self.table} WHERE {self.key} = ?", (key,)).fetchone()
        return Lease(*row) if row else None

    def all(self) -> list[Lease]:
        """Every lease (expired ones included), by key."""
        rows = self.db.execute(f"SELECT {self._columns} FROM {self.table} ORDER BY {self.key}")
        return [Lease(*row) for row in rows]

    def live(self) -> list[Lease]:
        """The leases that have not expired (by the database's clock), by key."""
        rows = self.db.execute(
            f"SELECT {self._columns} FROM {self.table} WHERE expires_at > {self._now} ORDER BY {self.key}"
        )
        return [Lease(*row) for row in rows]

    def now(self) -> float:
        """The database's clock (seconds since the epoch): what lease expiry is judged by."""
        return float(self.db.execute(f"SELECT {self._now}").fetchone()[0])
