"""``skynet cluster up|status|down``: the stored cameras as Ray actors on a cluster (docs/cluster.md).

Needs the ``cluster`` extra (``pip install 'skynet[cluster]'``), ``cluster_address`` (the Ray head) and
``database_url`` (the PostgreSQL store every node shares). API nodes are ``skynet serve --role api-node``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, load_settings
from skynet.config import Settings
from skynet.errors import ConfigError, SkynetError
from skynet.store import Store, open_store

cluster_app = typer.Typer(help="Cameras on a Ray cluster over one PostgreSQL store.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")


def _cluster(data_dir) -> Settings:
    """The settings, this process connected to their cluster."""
    settings = load_settings(data_dir)
    try:
        from skynet.cluster import placement
    except ImportError as error:
        raise ConfigError(
            f"the cluster commands need Ray ({error})", "pip install 'skynet[cluster]' on every node"
        ) from None
    placement.connect(settings)
    return settings


@contextmanager
def _connected(data_dir) -> Iterator[tuple[Settings, Store]]:
    settings = _cluster(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url, sweep_orphans=False)) as store:
        yield settings, store


@cluster_app.command()
def up(
    watch: Annotated[
        float, typer.Option(help="Keep the cluster in step with the stored cameras, every this many seconds; 0 = once.")
    ] = 0.0,
    data_dir: DataDir = None,
) -> None:
    """Run every stored camera as an actor on the cluster (and stop the actors of cameras no longer stored), and the
    face-index shards (``cluster_index_shards``) that are not running."""
    from skynet.app import camera_node
    from skynet.cluster.placement import reconcile
    from skynet.cluster.sharded_index import place_shards

    stop = threading.Event()
    with _connected(data_dir) as (settings, store):
        if settings.cluster_index_shards:
            typer.echo(f"face-index shards: {place_shards(settings)}")
        while True:
            started, stopped = reconcile(settings, [camera.id for camera in store.cameras.all()], camera_node)
            if started or stopped or not watch:
                typer.echo(f"started {len(started)} camera(s) {started}, stopped {len(stopped)} {stopped}")
            if not watch or stop.wait(watch):
                return


@cluster_app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The nodes, the cameras on each, their load and state; cameras that run nowhere, and why. While the store does
    not answer: what Ray and the camera actors say, the store's error, and exit status 1."""
    from skynet.cluster.status import cluster_view, render

    settings = _cluster(data_dir)
    try:
        store = open_store(settings.data_dir, settings.database_url, sweep_orphans=False)
    except SkynetError as error:
        view = cluster_view(settings, None, store_error=error.message)
    else:
        with closing(store):
            view = cluster_view(settings, store)
    typer.echo(json.dumps(view.as_dict(), default=str) if as_json else render(view))
    if view.store_error:
        raise typer.Exit(1)


@cluster_app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop every camera actor (open tracks are stored, leases given up) and every face-index shard."""
    from skynet.cluster.placement import placed_cameras, remove
    from skynet.cluster.sharded_index import remove_shards

    with _connected(data_dir) as (settings, _):
        stopped = remove(settings, placed_cameras(settings))
        shards = remove_shards(settings)
    typer.echo(f"stopped {len(stopped)} camera(s), {shards} face-index shard(s)")
