"""``skynet run --cameras FILE``: analyse live cameras into the store until stopped (the camera-node role:
sightings stored, matched against the watch-list, alerts sent to the configured webhooks and MQTT)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings

if TYPE_CHECKING:
    from skynet.ingest.status import CameraStatus
    from skynet.system import System


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
    from skynet.app import build
    from skynet.ingest.camera_config import load_cameras
    from skynet.ingest.source_policy import SourcePolicy
    from skynet.system import SystemRole

    settings = load_settings(data_dir, model_dir)
    configs = load_cameras(cameras, SourcePolicy.from_settings(settings))
    size = analysers or min(len(configs), os.cpu_count() or 1)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    system = build(settings, SystemRole.CAMERA_NODE, analysers=size, cameras=configs)
    try:
        asyncio.run(_run(system, stop, status_every, size))
    finally:
        system.close()
    writer = system.writer
    typer.echo(f"stored {writer.stored} sighting(s)" + (f", {writer.failed} failed" if writer.failed else ""))


async def _run(system: System, stop: threading.Event, status_every: float, size: int) -> None:
    cameras, data_dir = len(system.camera_configs or ()), system.settings.data_dir
    async with system.running():
        typer.echo(f"running {cameras} camera(s), {size} analyser(s); data in {data_dir}")
        assert system.camera_workers is not None
        while not await asyncio.to_thread(stop.wait, status_every or None):
            for status in system.camera_workers.statuses():
                typer.echo(status_line(status))
        typer.echo("stopping: finishing open tracks ...")
