"""``skynet index rebuild|status|reembed`` and ``skynet retention --older-than 30d``."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Annotated

import typer
from tqdm import tqdm

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.errors import ConflictError
from skynet.index.catalog import Catalog, remove_legacy_index
from skynet.index.face_index import FaceIndex
from skynet.index.face_models import face_model_id, index_dir
from skynet.index.partition_files import saved_status
from skynet.index.reembed import Reembedder, ReembedProgress, pending_switch
from skynet.index.retention import apply_retention, parse_age
from skynet.services.jobs import REEMBED, JobRunner
from skynet.services.reasons import ReasonRule
from skynet.services.reembed import ReembedWork
from skynet.store import open_media, open_store
from skynet.store.audit_chain import Anchor, ChainReport

index_app = typer.Typer(help="The sighting store and its face index.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("rebuild")
def rebuild(data_dir: DataDir = None) -> None:
    """Recreate the face index of every embedding model from the store (the source of truth)."""
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        remove_legacy_index(settings.data_dir)
        for model in store.faces.counts() or [store.faces.searched_model()]:
            if model is None:
                continue
            started = time.perf_counter()
            faces = FaceIndex(index_dir(settings.data_dir, model, settings.index_dir), model=model)
            count = faces.rebuild(store.faces)
            typer.echo(
                f"face index of {model} rebuilt: {count} vectors in {time.perf_counter() - started:.1f} s "
                f"({faces.status().approximate_rows} searched through 8-bit codes)"
            )


@index_app.command("status")
def status(
    data_dir: DataDir = None,
    audit_anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--audit-anchor",
            metavar="ROW:HASH",
            help="An audit row and hash recorded from an earlier status (its 'audit log head'): the log must "
            "still hold it. Repeatable.",
        ),
    ] = None,
) -> None:
    """Show sighting counts, the face indexes (as saved), the embedding models and store health, which
    includes the audit log's hash chain, verified from its first row to its last. Exits with 1 when the
    store is not healthy (a broken audit chain included)."""
    try:
        anchors = [Anchor.parse(text) for text in audit_anchor or ()]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--audit-anchor") from None
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url, media=open_media(settings))) as store:
        counts = store.sightings.counts()
        searched, configured = store.faces.searched_model(), face_model_id(settings.model_pack)
        problems = store.integrity_problems()
        typer.echo(f"data directory: {settings.data_dir}")
        typer.echo(f"cameras: {len(store.cameras.all())}")
        typer.echo(f"sightings: {counts['face']} face, {counts['plate']} plate")
        typer.echo(
            f"face model searched: {searched or 'none yet'}; configured pack {settings.model_pack!r} "
            f"embeds with {configured}"
        )
        if searched is not None and searched != configured:
            left = store.faces.count_to_embed(configured)
            typer.echo(
                f"  re-embedding pending: {left} faces without a {configured} vector "
                "(skynet index reembed, or it starts with skynet serve)"
            )
        for model, vectors in sorted(store.faces.counts().items()):
            state = saved_status(index_dir(settings.data_dir, model, settings.index_dir))
            typer.echo(
                f"face index {model} (saved): {state.vectors} of {vectors} vectors (dim {state.dim}) in "
                f"{state.partitions} time partitions, watermark {state.watermark}, {state.approximate_rows} "
                "searched through 8-bit codes (IVF-SQ8), "
                f"{state.deleted_rows} deleted rows pending"
                + ("" if state.vectors == vectors else " -- catches up from the store at the next open")
            )
        started = time.perf_counter()
        chain, audit_problems = store.audit.verify(anchors)
        _echo_audit(chain, time.perf_counter() - started)
        if chain.problem is not None:
            audit_problems.insert(0, f"audit log tampered with: {chain.problem}")
        problems = audit_problems + problems
        typer.echo("store health: ok" if not problems else f"store health: {len(problems)} problem(s)")
        for problem in problems[:20]:
            typer.echo(f"  {problem}")
    if problems:
        raise typer.Exit(1)


def _echo_audit(chain: ChainReport, seconds: float) -> None:
    """The audit log's size and chain state; its head, for the admin to record elsewhere."""
    sealed = f" ({chain.sealed_rows} written before the chain, sealed)" if chain.sealed_rows else ""
    state = "hash chain intact" if chain.problem is None else "hash chain BROKEN"
    if chain.broken_row is not None:
        state += f" at row {chain.broken_row}"
    typer.echo(f"audit log: {chain.rows} rows{sealed}, {state} (verified in {seconds:.1f} s)")
    if chain.head is not None:
        typer.echo(f"audit log head: {chain.head} (keep it elsewhere; --audit-anchor {chain.head.id}:... checks it)")


@index_app.command("reembed")
def reembed(data_dir: DataDir = None, model_dir: ModelDir = None) -> None:
    """Re-embed every stored face (and watch-list entry) with the configured model pack, then switch
    face search to it. Run it with the server stopped (or let `skynet serve` do it); it resumes
    where it stopped when interrupted."""
    from skynet.detectors.analyzer import ImageAnalyzer

    settings = load_settings(data_dir, model_dir)
    with Catalog.from_settings(settings) as catalog:
        if not pending_switch(catalog):
            typer.echo(f"nothing to do: face search already uses {catalog.face_model}")
            return
        typer.echo(f"re-embedding faces with {catalog.live_model}; search uses {catalog.face_model} until the end")
        reembedder = Reembedder(catalog, ImageAnalyzer.from_settings(settings), catalog.live_model)
        with tqdm(desc="faces", unit="face", disable=None) as bar:

            def report(progress: ReembedProgress) -> None:
                bar.total = progress.faces_total
                bar.update(progress.faces_done + progress.faces_failed - bar.n)

            runner = JobRunner(catalog.store.jobs, time.time)
            result = runner.run(REEMBED, "cli", ReembedWork(reembedder, report))
    progress = result.progress
    typer.echo(
        f"job {result.id} {result.state}: {progress['faces_done']} faces re-embedded, "
        f"{progress['faces_failed']} without a face found, {progress['watchlist_done']} watch-list entries"
    )
    for error in result.errors:
        typer.secho(f"  {error}", fg=typer.colors.YELLOW)
    if result.state != "done":
        raise typer.Exit(1)


@app.command("retention")
def retention(
    older_than: Annotated[str, typer.Option("--older-than", help="Delete sightings older than this (30d, 12h, 2w).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (or the case or order number): audited.")],
    data_dir: DataDir = None,
) -> None:
    """Delete old sightings for real: rows, face vectors, thumbnails and context frames. Held evidence
    (exported, or with an acknowledged alert) is kept. Refused while a server (or any other command) has the
    data directory open: a running server would go on finding the deleted faces in its index; set
    SKYNET_RETENTION_DAYS to have the server apply retention itself."""
    age = parse_age(older_than)
    settings = load_settings(data_dir)
    reason = ReasonRule.from_settings(settings).check(reason)
    with Catalog.from_settings(settings) as catalog:
        if not catalog.store.alone():
            raise ConflictError(
                f"another process (a running skynet serve or skynet run?) has {settings.data_dir} open: "
                "retention not run",
                "stop it first, or let the server apply retention itself (SKYNET_RETENTION_DAYS)",
            )
        report = apply_retention(catalog, age, actor="cli", reason=reason)
    typer.echo(
        f"deleted {report.sightings} sightings older than "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(report.cutoff))} UTC: "
        f"{report.face_vectors} face vectors, {report.files} media files; {report.held_kept} held sightings kept"
    )
