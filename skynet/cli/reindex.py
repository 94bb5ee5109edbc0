"""``skynet reindex PATH... --camera ID``: analyse archived video files into the store."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.errors import ConfigError
from skynet.redaction import redact_url

if TYPE_CHECKING:
    from skynet.ingest.reindex import FileOutcome
    from skynet.store.sightings import DeletedSightings


def parse_time(value: str) -> float:
    """Unix seconds from ISO 8601 (``2024-05-01 08:00:00``, optionally with a UTC offset; local time
    otherwise) or from a plain number of Unix seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ConfigError(f"cannot read {value!r} as a time", hint="use e.g. 2024-05-01T08:00:00+08:00") from None


@app.command()
def reindex(
    paths: Annotated[list[Path], typer.Argument(help="Video files or directories of them.")],
    camera: Annotated[
        str, typer.Option("--camera", help="Id of the (known) camera the footage comes from: see skynet cameras add.")
    ],
    start: Annotated[
        str | None,
        typer.Option("--start", help="Start time of the (single) file; default: file metadata, else its name."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Redo files already done (e.g. with another pack), deleting their sightings but held evidence.",
        ),
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (audited, with what a redo deletes).")
    ] = "re-index of archive files from the command line",
    jobs: Annotated[int, typer.Option("--jobs", help="Files processed in parallel (default: one per core).")] = 0,
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Process archives in parallel with a progress bar; a killed run resumes, a repeated run adds nothing."""
    from skynet.app import analyser_pool, reindexer
    from skynet.index.catalog import Catalog
    from skynet.index.writer import CatalogWriter
    from skynet.ingest.reindex import archive_files, frame_count
    from skynet.services.audit import Auditor
    from skynet.services.reasons import ReasonRule

    settings = load_settings(data_dir, model_dir)
    files = archive_files(paths)
    if not files:
        raise ConfigError("no video files found in the given paths.")
    if start is not None and len(files) > 1:
        raise ConfigError("--start applies to a single file; several files take their start from metadata or name.")
    start_time = parse_time(start) if start is not None else None
    jobs = jobs or os.cpu_count() or 1
    with Catalog.from_settings(settings) as catalog:
        if camera not in {c.id for c in catalog.store.cameras.all()}:  # as the API's re-index job: never made here
            raise ConfigError(
                f"unknown camera {camera!r}",
                hint="add it first: skynet cameras add ID --name NAME [--latitude .. --longitude ..] "
                "(no stream: archive footage only), or under Manage → Cameras",
            )
        auditor = Auditor(catalog.store.audit, reasons=ReasonRule.from_settings(settings))
        reason = auditor.reason(reason)
        pool = analyser_pool(settings, jobs)
        writer = CatalogWriter(catalog)
        archive = reindexer(settings, catalog, writer, pool, jobs)
        frames = {f: frame_count(f) for f in files}
        with tqdm(total=sum(frames.values()) or None, unit="frame", desc="re-indexing", dynamic_ncols=True) as bar:

            def report(outcome: FileOutcome) -> None:
                if outcome.status == "skipped":
                    bar.update(frames[outcome.path])
                note = f" ({outcome.detail})" if outcome.detail else ""
                bar.write(
                    f"{outcome.status:8s} {outcome.path}{note}"
                    + (f": {outcome.sightings} sighting(s)" if outcome.status == "done" else "")
                )

            def deleted(path: Path, gone: DeletedSightings) -> None:
                detail = {"file": redact_url(str(path)), "force": force, **gone.audited()}
                auditor.record("cli", "reindex.delete", reason, detail)

            outcomes = archive.run(files, camera, start_time, force, bar.update, report, deleted)
        writer.close()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    typer.echo(
        f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"{writer.stored} sighting(s) stored"
    )
    if counts["failed"]:
        raise typer.Exit(code=1)
