"""``skynet cameras list|add``: the cameras, and adding one from the command line as the API does (a camera
with a stream inside the allow-list, or one without: archive footage only, a checkpoint)."""

from __future__ import annotations

from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, api_node_system, load_settings
from skynet.records import Camera
from skynet.redaction import redact_url

cameras_app = typer.Typer(help="Cameras: list them, add one (with a stream or without).", no_args_is_help=True)
app.add_typer(cameras_app, name="cameras")


@cameras_app.command("list")
def list_cameras(data_dir: DataDir = None) -> None:
    """Every camera: id, name, position, and its source (redacted) or that it has no stream."""
    system = api_node_system(load_settings(data_dir))
    try:
        for camera in system.cameras.list():
            where = f"{camera.latitude}, {camera.longitude}" if camera.latitude is not None else "no position"
            source = redact_url(camera.source_url) if camera.live else "no stream"
            typer.echo(f"{camera.id}\t{camera.name}\t{where}\t{source}")
    finally:
        system.close()


@cameras_app.command("add")
def add_camera(
    camera_id: Annotated[str, typer.Argument(help="The camera's id (letters, digits, _ . -).")],
    name: Annotated[str, typer.Option("--name", help="What people call it.")],
    source: Annotated[
        str | None, typer.Option("--source", help="Its stream (inside the allow-list); none: archive footage only.")
    ] = None,
    latitude: Annotated[float | None, typer.Option("--latitude", min=-90, max=90)] = None,
    longitude: Annotated[float | None, typer.Option("--longitude", min=-180, max=180)] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")] = "camera added from the command line",
    data_dir: DataDir = None,
) -> None:
    """Add a camera (audited as the API's camera.create); a running server starts its stream on restart."""
    if (latitude is None) != (longitude is None):
        raise typer.BadParameter("give both --latitude and --longitude, or neither")
    system = api_node_system(load_settings(data_dir))
    try:
        system.cameras.create("cli", Camera(camera_id, name, source or "", latitude, longitude), reason)
    finally:
        system.close()
    typer.echo(f"camera {camera_id!r} added" + ("" if source else " (no stream: for archive footage and feeds)"))
