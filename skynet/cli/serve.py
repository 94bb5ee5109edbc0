"""``skynet serve``: the API and the camera workers in one process."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from skynet.accounts.throttle import LoginThrottle, TokenThrottle
from skynet.api.app import create_app
from skynet.api.auth import Auth
from skynet.api.logs import log_config
from skynet.api.services import Services
from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.detectors.batching import camera_pool
from skynet.index.catalog import Catalog
from skynet.ingest.camera_config import load_cameras
from skynet.ingest.source_policy import SourcePolicy
from skynet.service.demo import set_up_demo
from skynet.service.runtime import ServiceRuntime
from skynet.synthetic import DEMO_PLATES


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
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Serve the HTTP API (search, trajectories, watch-lists, live alerts) and run the cameras."""
    settings = load_settings(data_dir, model_dir)
    size = analysers or os.cpu_count() or 1
    pool = camera_pool(
        settings.model_copy(update={"intra_op_threads": 1}), size=size, lazy_embedding=True, lazy_reading=True
    )
    with Catalog.from_settings(settings) as catalog:
        store = catalog.store
        for config in load_cameras(cameras, SourcePolicy.from_settings(settings)) if cameras else []:
            store.cameras.save(config.camera())
        if demo and not store.cameras.all():
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
        runtime = ServiceRuntime(settings, catalog, pool, store.outbox)
        services = Services(
            settings,
            catalog,
            Auth(
                store.users,
                login_throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
                token_throttle=TokenThrottle(settings.token_max_failures, settings.token_window_s),
                audit=store.audit.append,
            ),
            hub=runtime.hub,
            analyze=pool.analyze,
            cameras=runtime.cameras,
            make_reindexer=lambda: runtime.reindexer(size),
            on_watchlist_change=runtime.matcher.invalidate,
            start_reembedding=runtime.start_reembedding,
            analyze_search=runtime.analyze_search,
        )
        api = create_app(services)
        serve_services = api.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(application):
            async with runtime.lifespan(application), serve_services(application):
                runtime.start_reembedding()  # after the services marked the jobs of a previous run failed
                yield

        api.router.lifespan_context = lifespan
        typer.echo(f"Skynet API on http://{host}:{port}/docs ; data in {settings.data_dir}")
        uvicorn.run(
            api,
            host=host,
            port=port,
            ws="websockets-sansio",
            log_level="info",
            log_config=log_config(),  # no secret reaches a log line
            # X-Forwarded-For/-Proto only from the configured proxies (uvicorn's default trusts 127.0.0.1)
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
