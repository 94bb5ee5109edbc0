"""``skynet serve``: the API and the camera workers in one process (the all-in-one role), or the API alone over a
shared PostgreSQL store (``--role api-node``: one of a cluster's API nodes, docs/cluster.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.config import Settings
from skynet.errors import ConfigError

if TYPE_CHECKING:
    from skynet.system import SystemRole


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="HTTP port.")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (default: this machine only).")
    ] = "127.0.0.1",
    cameras: Annotated[
        Path | None,
        typer.Option("--cameras", help="TOML cameras file (see `skynet run`); its cameras are added to the store."),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="On a store without cameras, set up the generated demo camera.")
    ] = True,
    analysers: Annotated[int, typer.Option(help="Frames analysed in parallel (default: one per core).")] = 0,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="all-in-one: the API and the cameras; api-node: the API alone, over the PostgreSQL store "
            "(database_url) that camera nodes write (skynet cluster up).",
        ),
    ] = "all-in-one",
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Serve the HTTP API (search, trajectories, watch-lists, live alerts) and run the cameras."""
    import uvicorn

    from skynet.api.logs import log_config
    from skynet.app import build
    from skynet.ingest.camera_config import load_cameras
    from skynet.ingest.source_policy import SourcePolicy
    from skynet.services.demo import set_up_demo
    from skynet.synthetic import DEMO_PLATES
    from skynet.system import SystemRole

    settings = load_settings(data_dir, model_dir)
    system_role = _serving_role(role, settings)
    configs = load_cameras(cameras, SourcePolicy.from_settings(settings)) if cameras else []
    system = build(settings, system_role, analysers=analysers or None)
    try:
        store = system.catalog.store
        for config in configs:
            store.cameras.save(config.camera())
        if demo and system_role is SystemRole.ALL_IN_ONE and not store.cameras.all():
            camera = set_up_demo(settings, store)
            typer.echo(
                f"demo camera {camera.id!r} plays a generated street clip; plate {DEMO_PLATES[0]} is on the watch-list"
            )
        if not store.users.users():
            typer.secho(
                "no users yet: create the first admin with `skynet users create-admin NAME` "
                "(it prints the admin's API token)",
                fg=typer.colors.YELLOW,
            )
        assert system.api is not None  # both roles serve HTTP
        typer.echo(f"Skynet API ({system_role}) on http://{host}:{port}/docs ; data in {settings.data_dir}")
        uvicorn.run(
            system.api,
            host=host,
            port=port,
            ws="websockets-sansio",
            log_level="info",
            log_config=log_config(),  # no secret reaches a log line
            # X-Forwarded-For/-Proto only from the configured proxies (uvicorn's default trusts 127.0.0.1)
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
    finally:
        system.close()


def _serving_role(role: str, settings: Settings) -> SystemRole:
    """The role ``--role`` names; an API node needs the shared PostgreSQL store."""
    from skynet.system import SystemRole

    served = {SystemRole.ALL_IN_ONE.value: SystemRole.ALL_IN_ONE, SystemRole.API_NODE.value: SystemRole.API_NODE}
    if role not in served:
        raise ConfigError(f"--role must be one of {', '.join(served)}, not {role!r}")
    if served[role] is SystemRole.API_NODE and not settings.database_url:
        raise ConfigError(
            "an API node serves the store that camera nodes write: it needs database_url",
            "set SKYNET_DATABASE_URL=postgresql://... (the cluster's PostgreSQL)",
        )
    return served[role]
