"""``skynet index rebuild|status`` and ``skynet retention --older-than 30d``."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, load_settings
from skynet.index.catalog import INDEX_DIR, Catalog, open_store
from skynet.index.face_index import FaceIndex
from skynet.index.retention import apply_retention, parse_age

index_app = typer.Typer(help="The sighting store and its face index.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("rebuild")
def rebuild(data_dir: DataDir = None) -> None:
    """Recreate the face index from the store (the source of truth)."""
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        started = time.perf_counter()
        faces = FaceIndex(settings.data_dir / INDEX_DIR)
        count = faces.rebuild(store)
        typer.echo(f"face index rebuilt: {count} vectors in {time.perf_counter() - started:.1f} s "
                   f"({faces.status().approximate_rows} in the approximate graph)")


@index_app.command("status")
def status(data_dir: DataDir = None) -> None:
    """Show sighting counts, the face index state (as saved) and store health."""
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        counts = store.count_sightings()
        state = FaceIndex.read(settings.data_dir / INDEX_DIR).status()
        problems = store.integrity_problems()
        typer.echo(f"data directory: {settings.data_dir}")
        typer.echo(f"cameras: {len(store.cameras())}")
        typer.echo(f"sightings: {counts['face']} face, {counts['plate']} plate")
        typer.echo(f"face index (saved): {state.vectors} vectors (dim {state.dim}), watermark {state.watermark}, "
                   f"{state.approximate_rows} in the approximate graph, {state.deleted_rows} deleted rows pending"
                   + ("" if state.vectors == counts["face"] else " -- catches up from the store at the next open"))
        typer.echo("store health: ok" if not problems else f"store health: {len(problems)} problem(s)")
        for problem in problems[:20]:
            typer.echo(f"  {problem}")


@app.command("retention")
def retention(
    older_than: Annotated[str, typer.Option("--older-than", help="Delete sightings older than this (30d, 12h, 2w).")],
    data_dir: DataDir = None,
) -> None:
    """Delete old sightings for real: rows, face vectors, thumbnails and context frames."""
    age = parse_age(older_than)
    settings = load_settings(data_dir)
    with Catalog.from_settings(settings) as catalog:
        report = apply_retention(catalog, age, actor="cli")
    typer.echo(f"deleted {report.sightings} sightings older than "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(report.cutoff))} UTC: "
               f"{report.face_vectors} face vectors, {report.files} media files")
