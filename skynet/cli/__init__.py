"""The ``skynet`` command line (Typer). One module per command group.

A command module imports the composition root (:mod:`skynet.app`) and the other heavy parts inside the commands
that run them, so that ``skynet --help`` and the light commands (users, models, cluster status) start without
importing the whole service (on a 2-core machine: ``skynet users list`` 1.4 s, 4.0 s with every import eager)."""

from __future__ import annotations

import sys

import typer

from skynet.errors import SkynetError
from skynet.private_files import use_private_umask

app = typer.Typer(
    name="skynet",
    help="Video analytics for a city camera network: faces, plates, sightings and search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    from skynet.cli import (  # noqa: F401  (attach commands)
        cameras,
        cluster,
        demo,
        detect,
        feeds,
        index,
        models,
        reindex,
        run,
        serve,
        users,
    )


def main() -> None:
    """Entry point: runs the CLI and turns expected errors into one clear message and exit code 2. What any
    command writes (store, thumbnails, indexes, models) is private to the user running it."""
    use_private_umask()
    _register_commands()
    try:
        app()
    except SkynetError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)
