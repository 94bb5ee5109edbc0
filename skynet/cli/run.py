"""``skynet run --cameras FILE``: analyse live cameras into the store until stopped."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.detectors.batching import camera_pool
from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.ingest.camera_config import load_cameras
from skynet.ingest.cameras import CameraSet
from skynet.ingest.source_policy import SourcePolicy
from skynet.ingest.status import CameraStatus
from skynet.ingest.worker import WorkerOptions


def status_line(status: CameraStatus) -> str:
    """One line per camera for the console (whoever runs ``skynet run`` sees the full diagnosis, redacted)."""
    line = (
        f"{status.camera_id:16s} {status.state.value:12s} in {status.input_fps:5.1f} fps  "
        f"analysed {status.analysed_fps:4.1f} fps  dropped {status.frames_dropped}  "
        f"sightings {status.sightings}  reconnects {status.reconnects}"
    )
    return line + (f"  last error: {status.last_error}" if status.last_error else "")


@app.command()
def run(
    cameras: Annotated[Path, typer.Option("--cameras", help="TOML file listing the cameras (see README).")],
    status_every: Annotated[float, typer.Option(help="Seconds between status lines; 0 = quiet.")] = 30.0,
    analysers: Annotated[int, typer.Option(help="Frames analysed in parallel (default: one per core).")] = 0,
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Run one worker per camera, writing sightings to the store; stop with Ctrl-C or SIGTERM."""
    settings = load_settings(data_dir, model_dir)
    policy = SourcePolicy.from_settings(settings)
    configs = load_cameras(cameras, policy)
    size = analysers or min(len(configs), os.cpu_count() or 1)
    pool = camera_pool(
        settings.model_copy(update={"intra_op_threads": 1}), size=size, lazy_embedding=True, lazy_reading=True
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Catalog.from_settings(settings) as catalog:
        for config in configs:
            catalog.store.cameras.save(config.camera())
        writer = CatalogWriter(catalog)
        running = CameraSet(pool, writer, embed=pool.embed, read=pool.read)
        for config in configs:
            running.start(config.source(policy), WorkerOptions.from_settings(settings, config.analysis_fps))
        typer.echo(f"running {len(configs)} camera(s), {size} analyser(s); data in {settings.data_dir}")
        while not stop.wait(status_every or None):
            for status in running.statuses():
                typer.echo(status_line(status))
        typer.echo("stopping: finishing open tracks ...")
        running.stop_all()
        writer.close()
        typer.echo(f"stored {writer.stored} sighting(s)" + (f", {writer.failed} failed" if writer.failed else ""))
