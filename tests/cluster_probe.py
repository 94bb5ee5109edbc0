"""A stand-in camera for failover experiments on a real Ray cluster (tests/cluster_support.py), and what it tells.

:class:`Beating` is a named, restartable actor that writes a heartbeat row to PostgreSQL every ``period_s`` from
the moment it starts until its process ends: actor name, an id of its own for each start (instance), the Ray
node it runs on, and the time. The rows show when and where each instance ran, how long a failover took, and
whether two instances of one actor ever ran at once (the question "can a camera run twice?").

With ``lease_s`` an instance writes only while it holds a lease on its name in PostgreSQL (:data:`LEASES`): taken
when free or expired, with a fencing token that grows with each new holder, renewed in the same transaction as each
row it writes, so an instance that lost its lease writes nothing more. That is the guard that Ray alone does not
give (docs/cluster.md).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import psycopg
import ray

SCHEMA = "CREATE TABLE IF NOT EXISTS beats (actor text, instance text, node text, pid int, at double precision)"
LEASES = (
    "CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text NOT NULL, token bigint NOT NULL,"
    " expires double precision NOT NULL)"
)
NOW = "extract(epoch FROM clock_timestamp())"
ACQUIRE = f"""
    INSERT INTO leases AS lease VALUES (%(name)s, %(holder)s, 1, {NOW} + %(ttl)s)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = lease.token + 1, expires = excluded.expires
    WHERE lease.expires < {NOW}
    RETURNING token"""
RENEW = f"""
    UPDATE leases SET expires = {NOW} + %(ttl)s
    WHERE name = %(name)s AND holder = %(holder)s AND token = %(token)s AND expires > {NOW}
    RETURNING token"""


def create_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(SCHEMA)
        connection.execute(LEASES)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class Beating:
    """Heartbeats from a thread of its own, so they go on while Ray cannot reach the actor."""

    def __init__(self, name: str, database_url: str, period_s: float = 0.1, lease_s: float | None = None) -> None:
        self.name, self.instance = name, uuid.uuid4().hex
        self.node = ray.get_runtime_context().get_node_id()
        self.database_url, self.period_s, self.lease_s = database_url, period_s, lease_s
        self.token: int | None = None
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        connection = None
        while True:
            try:
                connection = connection or psycopg.connect(self.database_url, autocommit=True, connect_timeout=2)
                with connection.transaction():
                    if self.lease_s is None or self._hold(connection):
                        connection.execute(
                            "INSERT INTO beats VALUES (%s, %s, %s, %s, %s)",
                            (self.name, self.instance, self.node, os.getpid(), time.time()),
                        )
            except psycopg.Error:
                connection = None
            time.sleep(self.period_s)

    def _hold(self, connection: psycopg.Connection) -> bool:
        """Renew the lease this instance holds, or take it if it is free or expired; False while another holds it."""
        lease = {"name": self.name, "holder": self.instance, "ttl": self.lease_s, "token": self.token}
        row = connection.execute(RENEW if self.token else ACQUIRE, lease).fetchone()
        self.token = row[0] if row else None
        return row is not None

    def where(self) -> tuple[str, str]:
        """(node id, instance id) of the instance that answers."""
        return self.node, self.instance


@dataclass(frozen=True)
class Instance:
    """One start of an actor, from its heartbeats."""

    instance: str
    node: str
    first: float
    last: float
    beats: int


def instances(database_url: str, actor: str) -> list[Instance]:
    """The instances of ``actor`` that have written a heartbeat, in the order they started."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT instance, min(node), min(at), max(at), count(*) FROM beats WHERE actor = %s"
            " GROUP BY instance ORDER BY min(at)",
            (actor,),
        ).fetchall()
    return [Instance(*row) for row in rows]


def overlap(database_url: str, actor: str) -> tuple[float, int]:
    """How long, and with how many heartbeats, an older instance of ``actor`` went on after a newer one had started:
    (0.0, 0) when no two instances ever ran at once."""
    runs = instances(database_url, actor)
    seconds, beats = 0.0, 0
    with psycopg.connect(database_url) as connection:
        for older, newer in ((a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]):
            late = connection.execute(
                "SELECT count(*), max(at) FROM beats WHERE instance = %s AND at > %s", (older.instance, newer.first)
            ).fetchone()
            if late[0]:
                beats += late[0]
                seconds = max(seconds, late[1] - newer.first)
    return seconds, beats


def first_beat_after(database_url: str, actor: str, moment: float, not_node: str) -> Instance | None:
    """The first instance of ``actor`` that started after ``moment`` on a node other than ``not_node``."""
    found = [run for run in instances(database_url, actor) if run.first > moment and run.node != not_node]
    return found[0] if found else None
