"""``skynet feeds import FILE --kind checkpoint|registration``: checkpoint reads or registrations from a CSV or
JSON Lines file into the store, matched against the watch-lists (alerts go out through the outbox)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, api_node_system, load_settings
from skynet.services.feed_files import FileFormat
from skynet.services.feed_rows import FeedKind

if TYPE_CHECKING:
    from skynet.services.feeds import ImportResult

feeds_app = typer.Typer(help="External feeds: road-checkpoint plate reads and registrations.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")


@feeds_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="A CSV (header line) or JSON Lines file.", exists=True, dir_okay=False)],
    kind: Annotated[FeedKind, typer.Option("--kind", help="checkpoint reads or registrations.")],
    fmt: Annotated[FileFormat | None, typer.Option("--format", help="csv or jsonl (default: from the name).")] = None,
    again: Annotated[
        bool, typer.Option("--again", help="Import a file imported before once more (stored rows stay single).")
    ] = False,
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Import a file; an interrupted import resumes, a repeated one adds nothing. Rejected rows (line, reason)
    go to a report in the data directory."""
    settings = load_settings(data_dir, model_dir)
    system = api_node_system(settings)
    try:

        def progress(result: ImportResult) -> None:
            typer.echo(
                f"  {result.rows} rows: {result.added} added, {result.duplicates} known, {result.rejected} rejected"
            )

        result = system.feeds.import_file("cli", path, kind, fmt, on_progress=progress, again=again)
    finally:
        system.close()
    if result.already_done:
        typer.echo(f"{path} was imported before (unchanged): nothing added; --again imports it once more")
        return
    resumed = f" (resumed at line {result.resumed_at_line})" if result.resumed_at_line else ""
    typer.echo(
        f"{result.added} added, {result.duplicates} already stored, {result.rejected} rejected{resumed}"
        + (f"; rejected rows in {result.report}" if result.report else "")
    )
