"""Cluster settings and bad input, without a cluster: what each camera reserves, which nodes could ever run it, a
cluster address that does not answer, an API node without the shared store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from cluster_support import ray_unavailable
from servers import require_server

from skynet.cli.serve import _serving_role
from skynet.config import Settings
from skynet.errors import ConfigError, UnavailableError


@pytest.fixture(autouse=True)
def _ray():
    if reason := ray_unavailable():
        require_server("Ray", reason)


def test_each_camera_reserves_the_defaults_or_its_own_resources():
    from skynet.cluster.placement import CameraResources

    settings = Settings(
        cluster_camera_cpus=0.5,
        cluster_camera_memory_mb=800,
        cluster_camera_resources={"gate-1": {"gpus": 1, "memory_mb": 2048, "zone_north": 1}},
    )
    plain, gate = CameraResources.of(settings, "lobby"), CameraResources.of(settings, "gate-1")
    assert plain.demand() == {"CPU": 0.5, "memory": 800 * 2**20}
    assert gate.demand() == {"CPU": 0.5, "GPU": 1.0, "memory": 2048 * 2**20, "zone_north": 1.0}
    cpu_node = {"CPU": 16.0, "memory": 64e9}
    assert plain.fits(cpu_node) and not gate.fits(cpu_node), "no GPU, no zone: gate-1 can never run there"
    assert gate.fits({"CPU": 8.0, "GPU": 2.0, "memory": 32e9, "zone_north": 1.0})
    assert gate.describe() == "0.5 CPU, 1 GPU, 2048 MB, 1 zone_north"
    with pytest.raises(ConfigError, match="gate-1"):
        CameraResources.of(Settings(cluster_camera_resources={"gate-1": {"cpus": -1}}), "gate-1")


def test_a_cluster_address_that_does_not_answer_is_one_clear_error():
    from skynet.cluster.placement import connect

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(cluster_address=f"127.0.0.1:{port}", database_url="postgresql://skynet@127.0.0.1/skynet")
    started = time.monotonic()
    with pytest.raises(UnavailableError, match=f"127.0.0.1:{port} does not answer"):
        connect(settings)
    assert time.monotonic() - started < 10
    with pytest.raises(ConfigError, match="PostgreSQL"):
        connect(Settings(cluster_address=f"127.0.0.1:{port}"))


def test_an_api_node_needs_the_shared_store():
    with pytest.raises(ConfigError, match="database_url"):
        _serving_role("api-node", Settings())
    with pytest.raises(ConfigError, match="--role"):
        _serving_role("camera-node", Settings())
    assert _serving_role("api-node", Settings(database_url="postgresql://x@db/skynet")).value == "api-node"


def test_a_camera_actor_imports_neither_the_composition_root_nor_the_http_api():
    """The actor is handed its parts (app.camera_node); its process starts without the API app and routes."""
    api = "('skynet.api.app', 'skynet.api.admin', 'skynet.api.live')"
    code = (
        "import sys, skynet.cluster.camera_actor, skynet.cluster.placement, skynet.cluster.reindex; "
        f"print(sorted(m for m in ('skynet.app', *{api}) if m in sys.modules)); "
        f"import skynet.app; print(sorted(m for m in {api} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "[]"], done.stdout
