"""The face-index shards in ``skynet cluster status``: each shard's node, weeks held (by the leases in PostgreSQL),
weeks loaded or being built, vectors; and the store's weeks that no live lease covers (searches report them
incomplete).

The shards are the ``face-shard:*`` actors of the namespace, those ``cluster_index_shards`` names and those that
hold a lease. Live actors are asked for their :meth:`~skynet.cluster.face_shard.FaceShard.status` together with the
cameras (one deadline); one that does not answer is shown unreachable, with the node its leases name. While the
store does not answer, the view is what the actors say (no leases, no weeks not held).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ray

from skynet.cluster.face_shard import PREFIX, actor_name, lease_week
from skynet.config import Settings
from skynet.index.face_index import WEEK_S
from skynet.store import Store


@dataclass
class ShardView:
    name: str
    node_id: str | None  # from its answer, else from its leases
    node: str | None  # the node's name
    reachable: bool
    held: list[int] = field(default_factory=list)  # weeks, by live lease (by its answer while the store is away)
    loaded: list[int] = field(default_factory=list)
    building: bool = False
    vectors: int | None = None
    error: str | None = None


@dataclass
class ShardsView:
    shards: list[ShardView]
    not_held: list[int] | None  # the store's weeks with no live lease; None: the store did not answer

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": [shard.__dict__ for shard in self.shards],
            "weeks_not_held": self.not_held,
        }


def ask_shards(settings: Settings) -> dict[str, Any]:
    """Shard actor name -> its status call, for every shard actor of the namespace (running or restarting)."""
    asked: dict[str, Any] = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == settings.cluster_namespace and entry["name"].startswith(PREFIX):
            try:
                asked[entry["name"]] = ray.get_actor(entry["name"], namespace=entry["namespace"]).status.remote()
            except ValueError:  # ended meanwhile
                continue
    return asked


def shards_view(
    settings: Settings,
    store: Store | None,
    asked: dict[str, Any],
    answers: dict[Any, dict[str, Any]],
    node_names: dict[str, str],
) -> ShardsView | None:
    """The shards from the calls ``asked`` (:func:`ask_shards`), those of them ``answers`` holds, and the store's
    leases; None when the cluster has no shards (none configured, running or holding a lease)."""
    model = store.faces.searched_model() if store is not None else None
    live = store.index_leases.live() if store is not None else []
    held: dict[str, list[int]] = {}
    nodes: dict[str, str] = {}
    for lease in live:
        week = lease_week(lease.key, model) if model is not None else None
        if week is not None:
            held.setdefault(actor_name(lease.holder), []).append(week)
            nodes[actor_name(lease.holder)] = lease.node
    names = set(asked) | set(held) | {f"{PREFIX}{number}" for number in range(settings.cluster_index_shards)}
    if not names:
        return None
    shards = []
    for name in sorted(names, key=lambda n: (len(n), n)):  # face-shard:2 before face-shard:10
        answer = answers.get(asked.get(name))
        node_id = answer["node_id"] if answer else nodes.get(name)
        shard = ShardView(name, node_id, node_names.get(node_id or ""), answer is not None)
        shard.held = sorted(held.get(name, [])) if store is not None else list(answer["held"] if answer else [])
        if answer:
            shard.loaded, shard.building = list(answer["loaded"]), bool(answer["building"])
            shard.vectors, shard.error = int(answer["vectors"]), answer["error"]
        shards.append(shard)
    not_held = None
    if store is not None:
        weeks = store.faces.partition_keys(WEEK_S, model) if model is not None else []
        covered = {week for weeks_held in held.values() for week in weeks_held}
        not_held = [week for week in weeks if week not in covered]
    return ShardsView(shards, not_held)


def week_text(week: int) -> str:
    """A week partition as the date it starts (UTC)."""
    return datetime.fromtimestamp(week * WEEK_S, UTC).strftime("%Y-%m-%d")


def _weeks(weeks: list[int]) -> str:
    return ", ".join(week_text(week) for week in weeks) or "none"


def render_shards(view: ShardsView) -> list[str]:
    """A line per shard (weeks by the date they start), then the weeks no shard holds."""
    lines = []
    for shard in view.shards:
        where = f"on {shard.node} ({(shard.node_id or '')[:12]})" if shard.node_id else "on no node"
        if not shard.reachable:
            lines.append(
                f"index shard {shard.name:<14} {where} UNREACHABLE (node lost, restarting or waiting for room)"
                + (f"  still leased: {_weeks(shard.held)} (searches report them incomplete)" if shard.held else "")
            )
            continue
        lines.append(
            f"index shard {shard.name:<14} {where} weeks held {_weeks(shard.held)}; loaded {len(shard.loaded)}"
            + (", building" if shard.building else "")
            + f"; {shard.vectors} vectors"
            + (f"  error: {shard.error}" if shard.error else "")
        )
    if view.not_held:
        lines.append(f"index weeks not held: searches report them incomplete: {_weeks(view.not_held)}")
    return lines
