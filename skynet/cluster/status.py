"""``skynet cluster status``: the nodes, the cameras on each, their load and state, and the face-index shards
(:mod:`skynet.cluster.shard_status`), from Ray and the store.

Each camera's and shard's actor is asked for its status (all at once, ``status_timeout_s`` in all); a camera whose
actor does not answer is restarting or waiting for a node with room, and the status says which, with what the
camera needs when no live node could ever run it (a GPU no node has, more memory than any node offers). While the
store does not answer, the view is what Ray and the actors say (the cameras that have actors; no leases), with the
store's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray

from skynet.cluster.placement import CameraResources, camera_actors, placed_cameras
from skynet.cluster.shard_status import ShardsView, ask_shards, render_shards, shards_view
from skynet.config import Settings
from skynet.store import Store


@dataclass
class NodeView:
    node_id: str
    name: str
    address: str
    alive: bool
    total: dict[str, float]
    reserved: dict[str, float] = field(default_factory=dict)  # by the cameras on it
    cameras: list[dict[str, Any]] = field(default_factory=list)

    def load(self) -> str:
        """What the node's cameras reserve of its CPUs, GPUs and memory, and their CPU use."""
        shares = []
        for resource, unit in (("CPU", 1), ("GPU", 1), ("memory", 2**20)):
            total = self.total.get(resource, 0.0)
            if total:
                used = self.reserved.get(resource, 0.0)
                shares.append(f"{resource} {used / unit:g}/{total / unit:g}" + (" MB" if unit > 1 else ""))
        busy = sum(camera.get("cpu_percent", 0.0) for camera in self.cameras)
        return ", ".join(shares) + f"; cameras use {busy:.0f}% CPU"


@dataclass
class ClusterView:
    nodes: list[NodeView]
    unplaced: list[dict[str, Any]]  # cameras with no answering actor: why
    store_error: str | None = None  # the store did not answer: why
    index: ShardsView | None = None  # the face-index shards; None: the cluster has none

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": [{**node.__dict__, "load": node.load()} for node in self.nodes],
            "unplaced": self.unplaced,
            "store_error": self.store_error,
            **(self.index.as_dict() if self.index else {"shards": [], "weeks_not_held": None}),
        }


def cluster_view(
    settings: Settings, store: Store | None, status_timeout_s: float = 3.0, store_error: str | None = None
) -> ClusterView:
    """What runs where, now (this process must be connected: :func:`skynet.cluster.placement.connect`); ``store``
    None: it did not answer (``store_error``), and the cameras are those with actors."""
    nodes = {
        node["NodeID"]: NodeView(
            node["NodeID"],
            node.get("NodeName") or node["NodeManagerAddress"],
            node["NodeManagerAddress"],
            bool(node["Alive"]),
            dict(node.get("Resources", {})),
        )
        for node in ray.nodes()
    }
    placed = set(placed_cameras(settings))
    leases = {lease.key: lease for lease in store.leases.all()} if store is not None else {}
    now = store.leases.now() if store is not None else 0.0
    stored = [camera.id for camera in store.cameras.all()] if store is not None else sorted(placed)
    pending: dict[str, dict[str, Any]] = {}
    for camera_id in stored:
        if camera_id not in placed:
            pending[camera_id] = {"camera_id": camera_id, "state": "not placed (skynet cluster up)"}
            continue
        pending[camera_id] = {"camera_id": camera_id, "refs": _ask(settings, camera_id)}
    shard_calls = ask_shards(settings)
    refs = [ref for entry in pending.values() for ref in entry.get("refs", ())] + list(shard_calls.values())
    answered = _answers(refs, status_timeout_s)
    for camera_id, entry in pending.items():
        if "refs" not in entry:
            continue
        answers = [answered[ref] for ref in entry.pop("refs") if ref in answered]
        lease = leases.get(camera_id)
        if lease is not None:
            entry["lease"] = {
                "token": lease.token,
                "node_id": lease.node,
                "expires_in_s": round(lease.expires_at - now, 1),
            }
        needs = CameraResources.of(settings, camera_id)
        for answer in answers:
            if answer["node_id"] in nodes:
                node = nodes[answer["node_id"]]
                node.cameras.append({**answer, "lease": entry.get("lease")})
                for resource, amount in needs.demand().items():
                    node.reserved[resource] = node.reserved.get(resource, 0.0) + amount
                entry["placed"] = True
        if entry.get("placed"):
            continue
        fits = [node for node in nodes.values() if node.alive and needs.fits(node.total)]
        entry["state"] = (
            f"not answering (restarting, or waiting for room: needs {needs.describe()})"
            if fits
            else f"no live node can run it: needs {needs.describe()}"
        )
    unplaced = [entry for entry in pending.values() if not entry.get("placed")]
    index = shards_view(settings, store, shard_calls, answered, {node.node_id: node.name for node in nodes.values()})
    return ClusterView(sorted(nodes.values(), key=lambda n: (not n.alive, n.name)), unplaced, store_error, index)


def _ask(settings: Settings, camera_id: str) -> list:
    return [actor.status.remote() for actor in camera_actors(settings, camera_id)]


def _answers(refs: list, timeout_s: float) -> dict[Any, dict[str, Any]]:
    """The answers that came within ``timeout_s`` (in all, not per actor), by reference."""
    if not refs:
        return {}
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    answers = {}
    for ref in ready:
        try:
            answers[ref] = ray.get(ref, timeout=0)
        except (ray.exceptions.RayError, TimeoutError):
            continue  # its actor died while answering
    return answers


def render(view: ClusterView) -> str:
    """The status as text: the store's error if it did not answer, a block per node, a line per camera, the cameras
    that run nowhere, then the face-index shards."""
    lines = [f"store: NOT ANSWERING: {view.store_error}"] if view.store_error else []
    for node in view.nodes:
        state = "alive" if node.alive else "DEAD"
        lines.append(f"node {node.name} ({node.address}, {node.node_id[:12]}) {state}  {node.load()}")
        for camera in sorted(node.cameras, key=lambda c: c["camera_id"]):
            worker = camera.get("camera") or {}
            lines.append(
                f"  camera {camera['camera_id']:<16} {camera['state']:<18} {worker.get('state', '-'):<12} "
                f"in {worker.get('input_fps', 0):.1f} fps, analysed {worker.get('analysed_fps', 0):.1f} fps, "
                f"stored {camera['stored']}, cpu {camera['cpu_percent']:.0f}%, rss {camera['rss_mb']:.0f} MB, "
                f"lease token {camera['lease_token']}"
                + (f"  problem: {worker['problem']}" if worker.get("problem") else "")
                + (f"  error: {camera['error']}" if camera.get("error") else "")
            )
    for entry in view.unplaced:
        lines.append(f"camera {entry['camera_id']:<16} {entry['state']}")
    return "\n".join(lines + (render_shards(view.index) if view.index else []))
