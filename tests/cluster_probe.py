"""A stand-in camera for failover experiments on a real Ray cluster (tests/cluster_support.py), and what it tells.

:class:`Beating` is a named, restartable actor that writes a heartbeat row to PostgreSQL every ``period_s`` from
the moment it starts until its process ends: actor name, an id of its own for each start (instance), the Ray
node it runs on, and the time. The rows show when and where each instance ran, how long a failover took, and
whether two instances of one actor ever ran at once (the question "can a camera run twice?").
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


def create_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(SCHEMA)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class Beating:
    """Heartbeats from a thread of its own, so they go on while Ray cannot reach the actor."""

    def __init__(self, name: str, database_url: str, period_s: float = 0.1) -> None:
        self.name, self.instance = name, uuid.uuid4().hex
        self.node = ray.get_runtime_context().get_node_id()
        self.database_url, self.period_s = database_url, period_s
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        connection = None
        while True:
            try:
                connection = connection or psycopg.connect(self.database_url, autocommit=True, connect_timeout=2)
                connection.execute(
                    "INSERT INTO beats VALUES (%s, %s, %s, %s, %s)",
                    (self.name, self.instance, self.node, os.getpid(), time.time()),
                )
            except psycopg.Error:
                connection = None
            time.sleep(self.period_s)

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
