"""Camera leases: which one instance may run a camera, with a fencing token (scale-out, docs/cluster.md).

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
_COLUMNS = "camera_id, holder, node, token, acquired_at, expires_at"


@dataclass(frozen=True, slots=True)
class Lease:
    """A camera's lease: its holder (an instance id), the node it runs on, its fencing token, and when it was
    taken and expires (seconds since the epoch, by the database's clock)."""

    camera_id: str
    holder: str
    node: str
    token: int
    acquired_at: float
    expires_at: float


class LeaseRepository:
    """The ``camera_leases`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._now = _NOW[db.dialect]

    def acquire(self, camera_id: str, holder: str, node: str, ttl_s: float) -> Lease | None:
        """Take ``camera_id``'s lease for ``holder`` if it is free or expired (or ``holder``'s already); None
        while another instance holds it."""
        now = self._now
        with self.db.write("taking a camera lease"):
            self.db.execute(
                f"INSERT INTO camera_leases ({_COLUMNS}) VALUES (?, ?, ?, 1, {now}, {now} + ?) "
                "ON CONFLICT (camera_id) DO UPDATE SET holder = excluded.holder, node = excluded.node, "
                "token = camera_leases.token + 1, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
                f"WHERE camera_leases.expires_at < {now} OR camera_leases.holder = excluded.holder",
                (camera_id, holder, node, ttl_s),
            )
            lease = self.get(camera_id)
        return lease if lease is not None and lease.holder == holder else None

    def renew(self, lease: Lease, ttl_s: float) -> bool:
        """Extend ``lease`` by ``ttl_s`` from now if it is still held (same holder and token, not expired); False:
        it has expired or passed to another instance. Inside a write it is part of that write's transaction."""
        with self.db.write("renewing a camera lease"):
            renewed = self.db.execute(
                f"UPDATE camera_leases SET expires_at = {self._now} + ? "
                f"WHERE camera_id = ? AND holder = ? AND token = ? AND expires_at > {self._now}",
                (ttl_s, lease.camera_id, lease.holder, lease.token),
            ).rowcount
        return renewed == 1

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up (a camera stopped on purpose), so that another instance may take it at once."""
        with self.db.write("releasing a camera lease"):
            self.db.execute(
                "DELETE FROM camera_leases WHERE camera_id = ? AND holder = ? AND token = ?",
                (lease.camera_id, lease.holder, lease.token),
            )

    def get(self, camera_id: str) -> Lease | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM camera_leases WHERE camera_id = ?", (camera_id,)).fetchone()
        return Lease(*row) if row else None

    def all(self) -> list[Lease]:
        """Every camera's lease (expired ones included), by camera."""
        return [Lease(*row) for row in self.db.execute(f"SELECT {_COLUMNS} FROM camera_leases ORDER BY camera_id")]

    def now(self) -> float:
        """The database's clock (seconds since the epoch): what lease expiry is judged by."""
        return float(self.db.execute(f"SELECT {self._now}").fetchone()[0])
