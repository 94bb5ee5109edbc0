"""Placing the stored cameras on a Ray cluster: one detached actor per camera, spread over the nodes by the
resources it declares (CPU, GPU, memory, custom resources), restarted by Ray wherever it fits when its node dies.

Placing is idempotent: an actor is named after its camera (``camera:<id>`` in the ``cluster_namespace``), so placing
again, from any process, finds the running actor instead of starting a second (Ray's ``get_if_exists``); whether a
camera runs at most once at a time is the lease's job (:mod:`skynet.cluster.camera_actor`). With
``cluster_standby`` each camera has a second actor (``standby:<id>``, never on the node of the camera's other actor:
STRICT_SPREAD) with the model pack loaded, waiting for the lease: when the running one's node dies it takes over as
soon as the lease expires, without waiting for Ray to declare the node dead, start a process and load the pack.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from skynet.cluster.camera_actor import CameraActor, ComposeCamera
from skynet.config import Settings
from skynet.errors import ConfigError, UnavailableError

PREFIXES = ("camera:", "standby:")  # a camera's actor, and its standby's (cluster_standby)
GROUP_PREFIX = "camera-group:"  # a camera's placement group, with a standby
MB = 1024 * 1024

log = logging.getLogger(__name__)


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
            logging_level=logging.ERROR,
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


def kept_running(settings: Settings, name: str) -> dict[str, Any]:
    """Ray actor options shared by the cluster's long-lived actors (cameras, index shards): named in the cluster's
    namespace, detached, reused if it exists, restarted by Ray forever, a call never retried on another instance."""
    return {
        "name": name,
        "namespace": settings.cluster_namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": -1,
        "max_task_retries": 0,
    }


def actor_names(settings: Settings, camera_id: str) -> list[str]:
    """The names of ``camera_id``'s actors: the camera's, and its standby's with ``cluster_standby``."""
    return [f"{prefix}{camera_id}" for prefix in PREFIXES[: 2 if settings.cluster_standby else 1]]


def _named(settings: Settings) -> dict[str, str]:
    """Actor name -> camera id of the camera actors (and standbys) in the cluster's namespace."""
    found = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] != settings.cluster_namespace:
            continue
        for prefix in PREFIXES:
            if entry["name"].startswith(prefix):
                found[entry["name"]] = entry["name"].removeprefix(prefix)
    return found


def place(settings: Settings, camera_ids: Sequence[str], compose: ComposeCamera) -> list[str]:
    """Start the actors of each camera of ``camera_ids`` that lacks them (restarted by Ray forever, spread over
    the nodes), each building its parts with ``compose``; returns the ids of the cameras with an actor started now."""
    existing = _named(settings)
    started = []
    payload = settings.model_dump(mode="json")
    for camera_id in camera_ids:
        needs = CameraResources.of(settings, camera_id)
        names = actor_names(settings, camera_id)
        missing = [name for name in names if name not in existing]
        strategies = _strategies(settings, camera_id, needs, missing) if missing else {}
        starting = [name for name in missing if name in strategies]
        for name in starting:
            actor_class().options(
                **kept_running(settings, name),
                num_cpus=needs.cpus,
                num_gpus=needs.gpus,
                memory=needs.memory_mb * MB,
                resources=needs.custom or None,
                scheduling_strategy=strategies[name],
            ).remote(camera_id, payload, compose)
        if starting:
            started.append(camera_id)
    return started


def _strategies(settings: Settings, camera_id: str, needs: CameraResources, missing: list[str]) -> dict[str, Any]:
    """How each of ``camera_id``'s ``missing`` actors is placed: spread over the nodes; with a standby, the camera and
    its standby in the two bundles of the camera's placement group (detached, STRICT_SPREAD: never on one node; a
    bundle lost with its node is placed again, and its actor restarted in it, on a node that does not hold the other
    bundle, once one has room). Where fewer than two live nodes could run the camera, or its actor already runs
    outside a group, the camera is placed without a standby (a later ``cluster up`` adds none to it: down, then up)."""
    names = actor_names(settings, camera_id)
    if len(names) == 1:
        return {names[0]: "SPREAD"}
    group_name = f"{GROUP_PREFIX}{camera_id}"
    try:
        group = ray.util.get_placement_group(group_name)
    except ValueError:
        able = sum(1 for node in ray.nodes() if node["Alive"] and needs.fits(node.get("Resources", {})))
        if able < 2 or len(missing) < len(names):
            log.warning("camera %s: no standby (%d live node(s) could run it, a standby needs two)", camera_id, able)
            return {names[0]: "SPREAD"} if names[0] in missing else {}
        group = placement_group([needs.demand()] * 2, strategy="STRICT_SPREAD", name=group_name, lifetime="detached")
    return {
        name: PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
        for index, name in enumerate(names)
    }


def placed_cameras(settings: Settings) -> list[str]:
    """Ids of the cameras that have an actor in the cluster (running, restarting or waiting for room)."""
    return sorted(set(_named(settings).values()))


def camera_actors(settings: Settings, camera_id: str) -> list:
    """Handles of ``camera_id``'s actors that exist (the camera's, its standby's)."""
    handles = []
    for prefix in PREFIXES:
        try:
            handles.append(ray.get_actor(f"{prefix}{camera_id}", namespace=settings.cluster_namespace))
        except ValueError:
            continue
    return handles


def remove(settings: Settings, camera_ids: Sequence[str], timeout_s: float = 60.0, answer_s: float = 3.0) -> list[str]:
    """Stop the actors of ``camera_ids`` (each that answers within ``answer_s`` stores its open tracks and gives its
    lease up, within ``timeout_s``; then each ends, as do those that never ran: restarting, or waiting for room);
    returns the ids stopped."""
    handles = [(camera_id, actor) for camera_id in camera_ids for actor in camera_actors(settings, camera_id)]
    pings = {actor.status.remote(): actor for _, actor in handles}
    answering, _ = ray.wait(list(pings), num_returns=len(pings), timeout=answer_s) if pings else ([], [])
    stops = [pings[ref].stop.remote() for ref in answering]
    if stops:  # one that does not finish in time is killed all the same: its lease expires
        ray.wait(stops, num_returns=len(stops), timeout=timeout_s)
    for _, actor in handles:
        ray.kill(actor, no_restart=True)
    for camera_id in camera_ids:
        try:
            remove_placement_group(ray.util.get_placement_group(f"{GROUP_PREFIX}{camera_id}"))
        except ValueError:
            pass  # the camera has none (no standby)
    return sorted({camera_id for camera_id, _ in handles})


def reconcile(
    settings: Settings, stored_camera_ids: Sequence[str], compose: ComposeCamera
) -> tuple[list[str], list[str]]:
    """Make the cluster run exactly the stored cameras (new actors built with ``compose``): (started, stopped)."""
    stale = sorted(set(placed_cameras(settings)) - set(stored_camera_ids))
    return place(settings, stored_camera_ids, compose), remove(settings, stale)
