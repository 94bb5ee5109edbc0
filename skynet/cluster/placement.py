"""Placing the stored cameras on a Ray cluster: one detached actor per camera, spread over the nodes by the
resources it declares (CPU, GPU, memory, custom resources), restarted by Ray wherever it fits when its node dies.

Placing is idempotent: an actor is named after its camera (``camera:<id>`` in the ``cluster_namespace``), so placing
again, from any process, finds the running actor instead of starting a second (Ray's ``get_if_exists``); whether a
camera runs at most once at a time is the lease's job (:mod:`skynet.cluster.camera_actor`).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import ray

from skynet.cluster.camera_actor import CameraActor
from skynet.config import Settings
from skynet.errors import ConfigError, UnavailableError

ACTOR_PREFIX = "camera:"
MB = 1024 * 1024


@dataclass(frozen=True)
class CameraResources:
    """What one camera's actor reserves on its node."""

    cpus: float
    gpus: float
    memory_mb: int
    custom: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings, camera_id: str) -> CameraResources:
        """The defaults of ``settings``, overridden by its ``cluster_camera_resources[camera_id]``."""
        own = dict(settings.cluster_camera_resources.get(camera_id, {}))
        for key, value in own.items():
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"cluster_camera_resources[{camera_id!r}][{key!r}] must be a number >= 0")
        return cls(
            cpus=float(own.pop("cpus", settings.cluster_camera_cpus)),
            gpus=float(own.pop("gpus", settings.cluster_camera_gpus)),
            memory_mb=int(own.pop("memory_mb", settings.cluster_camera_memory_mb)),
            custom=own,
        )

    def demand(self) -> dict[str, float]:
        """As Ray names the resources (memory in bytes)."""
        wanted = {"CPU": self.cpus, "GPU": self.gpus, "memory": float(self.memory_mb * MB), **self.custom}
        return {name: amount for name, amount in wanted.items() if amount > 0}

    def fits(self, node_resources: dict[str, float]) -> bool:
        """Whether a node offering ``node_resources`` (in total) could ever run this camera."""
        return all(node_resources.get(name, 0.0) >= amount for name, amount in self.demand().items())

    def describe(self) -> str:
        parts = [f"{self.cpus:g} CPU", f"{self.gpus:g} GPU", f"{self.memory_mb} MB"]
        return ", ".join(parts + [f"{amount:g} {name}" for name, amount in self.custom.items()])


def connect(settings: Settings) -> None:
    """Connect this process to the cluster of ``settings`` (once); a clear error when it does not answer."""
    if not settings.cluster_address:
        raise ConfigError("no cluster configured", "set SKYNET_CLUSTER_ADDRESS=host:port (the Ray head)")
    if not settings.database_url:
        raise ConfigError("a cluster needs the shared PostgreSQL store", "set SKYNET_DATABASE_URL=postgresql://...")
    if ray.is_initialized():
        return
    _check_answers(settings.cluster_address)
    try:
        ray.init(
            address=settings.cluster_address,
            namespace=settings.cluster_namespace,
            logging_level="ERROR",
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, TimeoutError) as error:
        raise UnavailableError(
            f"the Ray cluster at {settings.cluster_address} does not answer: {str(error).splitlines()[0]}",
            "start its head (ray start --head) or fix cluster_address",
        ) from None


def _check_answers(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once a ``host:port`` where nothing listens (``ray.init`` would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # another form Ray understands ("auto"): Ray checks it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise UnavailableError(
            f"the Ray cluster at {address} does not answer ({error.strerror or error})",
            "start its head (ray start --head) or fix cluster_address",
        ) from None


@cache
def actor_class():
    """:class:`CameraActor` as a Ray actor class (made once, on first use)."""
    return ray.remote(CameraActor)


def actor_name(camera_id: str) -> str:
    return f"{ACTOR_PREFIX}{camera_id}"


def place(settings: Settings, camera_ids: Sequence[str]) -> list[str]:
    """Start an actor for each camera of ``camera_ids`` that has none (restarted by Ray forever, spread over
    the nodes); returns the ids of the cameras whose actor was started now."""
    running = set(placed_cameras(settings))
    started = []
    payload = settings.model_dump(mode="json")
    for camera_id in camera_ids:
        if camera_id in running:
            continue
        needs = CameraResources.of(settings, camera_id)
        actor_class().options(
            name=actor_name(camera_id),
            namespace=settings.cluster_namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            num_cpus=needs.cpus,
            num_gpus=needs.gpus,
            memory=needs.memory_mb * MB,
            resources=needs.custom or None,
            scheduling_strategy="SPREAD",
        ).remote(camera_id, payload)
        started.append(camera_id)
    return started


def placed_cameras(settings: Settings) -> list[str]:
    """Ids of the cameras that have an actor in the cluster (running, restarting or waiting for room)."""
    names = ray.util.list_named_actors(all_namespaces=True)
    return sorted(
        entry["name"].removeprefix(ACTOR_PREFIX)
        for entry in names
        if entry["namespace"] == settings.cluster_namespace and entry["name"].startswith(ACTOR_PREFIX)
    )


def remove(settings: Settings, camera_ids: Sequence[str], timeout_s: float = 60.0) -> list[str]:
    """Stop the actors of ``camera_ids`` (each stores its open tracks and gives its lease up, then ends);
    returns the ids stopped."""
    stopped = []
    for camera_id in camera_ids:
        try:
            actor = ray.get_actor(actor_name(camera_id), namespace=settings.cluster_namespace)
        except ValueError:
            continue
        try:
            ray.get(actor.stop.remote(), timeout=timeout_s)
        except (ray.exceptions.RayError, TimeoutError):
            pass  # gone or stuck: killed below; its lease expires
        ray.kill(actor, no_restart=True)
        stopped.append(camera_id)
    return stopped


def reconcile(settings: Settings, stored_camera_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Make the cluster run exactly the stored cameras: (started, stopped)."""
    stale = sorted(set(placed_cameras(settings)) - set(stored_camera_ids))
    return place(settings, stored_camera_ids), remove(settings, stale)
