"""The settings of the scale-out roles (skynet.cluster, docs/cluster.md): cameras as Ray actors, index shards, API
nodes over one PostgreSQL store. Part of :class:`skynet.config.Settings` (``SKYNET_CLUSTER_*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ClusterSettings(BaseModel):
    """The ``cluster_*`` fields of the settings; unset ``cluster_address`` = no cluster."""

    cluster_address: str | None = Field(
        default=None,
        description="Ray cluster to run the cameras on (host:port of its head, as `ray start --address` takes); "
        "needs database_url. Unset = no cluster.",
    )
    cluster_namespace: str = Field(default="skynet", description="Ray namespace of the camera actors.")
    cluster_camera_cpus: float = Field(default=1.0, ge=0, description="CPUs each camera actor reserves.")
    cluster_camera_gpus: float = Field(default=0.0, ge=0, description="GPUs each camera actor reserves.")
    cluster_camera_memory_mb: int = Field(default=1024, ge=0, description="Memory (MB) each camera actor reserves.")
    cluster_camera_resources: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Per camera id, what it reserves instead of the defaults: {"gate-1": {"cpus": 2, "gpus": 1, '
        '"memory_mb": 2048}}; any other key is a custom Ray resource a node must offer.',
    )
    cluster_standby: bool = Field(
        default=False,
        description="Keep a standby instance of each camera (its model pack loaded, on another node where one has "
        "room) that takes over as soon as the camera's lease expires: failover in about cluster_lease_s instead of "
        "a node's death being noticed, a process started and the pack loaded. Costs each camera's resources twice.",
    )
    cluster_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="A camera's lease in PostgreSQL lasts this long unless renewed (every third of it): after a "
        "node dies, its cameras start elsewhere once Ray has declared the node dead and their leases expired.",
    )
    cluster_write_retry_s: float = Field(
        default=60.0,
        ge=0,
        description="A camera actor retries a failed write of sightings this long (the database went away); "
        "a retry never stores a sighting twice.",
    )
    cluster_index_shards: int = Field(
        default=0,
        ge=0,
        description="Face-index shards across the cluster's nodes (docs/scale.md): this many shard actors hold the "
        "face index's week partitions (leases in PostgreSQL) and an API node searches them all at once and merges "
        "their top-k. 0: each API node keeps the whole face index itself.",
    )
    cluster_index_shard_cpus: float = Field(default=1.0, ge=0, description="CPUs each index shard actor reserves.")
    cluster_index_shard_memory_mb: int = Field(
        default=2048, ge=0, description="Memory (MB) each index shard actor reserves."
    )
    cluster_index_shard_resources: dict[str, float] = Field(
        default_factory=dict,
        description='Custom Ray resources each index shard actor reserves, e.g. {"index": 1}: shards go only to '
        "the nodes started with that resource (ray start --resources '{\"index\": 1}'), one per unit.",
    )
    cluster_index_search_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="A sharded face search waits this long for every shard; the partitions of a shard that has not "
        "answered by then are named in the answer as incomplete time ranges (results partial, never silently fewer).",
    )
