"""Re-index jobs over a Ray cluster: each archive file of a job is a Ray task, spread over the nodes.

The job itself stays where it was asked for (an API node's job runner, the jobs API and UI: progress per file, the
job's state); :class:`RayArchiveReader` is its reader. A task runs :class:`~skynet.ingest.reindex.Reindexer` on one
file with the parts of the composition root's camera-node role (analysers of the pack, the store writer with
watch-list matching; no face index: the API nodes index what it stores), built once per Ray worker process by the
``compose`` the reader is handed (:func:`skynet.app.archive_node`) and kept for the next file. Each file's state
lives in the store as before, so a file is resumable and never indexed twice: one left ``running`` by a task whose
node died is redone (its partial sightings deleted first) by Ray's retry on another node, and a job asked for again
skips the files already done. A job told to stop (cancelled) cancels its tasks (``ray.cancel``): those not
started never run, and a running one is interrupted, stops its file's readers and leaves the file as a crash would
(redone by the next job).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from skynet.cluster.placement import MB, CameraResources, connect
from skynet.config import Settings
from skynet.ingest.reindex import FileOutcome, Reindexer
from skynet.store.sightings import DeletedSightings

TASK_RETRIES = 3  # a node that dies while a task runs: the file is redone on another node


@dataclass(frozen=True)
class FileResult:
    """What one task did with one file, and where."""

    outcome: FileOutcome
    frames: int
    node_id: str
    deleted: list[tuple[Path, DeletedSightings]]  # earlier sightings of the file that a redo deleted


ComposeArchive = Callable[[Settings], Reindexer]
"""Builds a re-index task's parts; returns their re-indexer of one file at a time (:func:`skynet.app.archive_node`)."""


@functools.cache
def _reindexer(compose: ComposeArchive, settings_json: str) -> Reindexer:
    """The re-indexer of this worker process (built at its first file, kept for the next ones)."""
    return compose(Settings.model_validate_json(settings_json))


def reindex_file(
    compose: ComposeArchive, settings_json: str, path: str, camera_id: str, start_time: float | None, force: bool
) -> FileResult:
    """Re-index one archive file on this node (a Ray task's body)."""
    reader = _reindexer(compose, settings_json)
    frames = 0

    def count(new_frames: int) -> None:
        nonlocal frames
        frames += new_frames

    deleted: list[tuple[Path, DeletedSightings]] = []
    (outcome,) = reader.run(
        [Path(path)],
        camera_id,
        start_time,
        force,
        on_progress=count,
        on_deleted=lambda file, gone: deleted.append((file, gone)),
    )
    return FileResult(outcome, frames, ray.get_runtime_context().get_node_id(), deleted)


class RayArchiveReader:
    """A re-index job's reader (:class:`skynet.services.reindex.ArchiveReader`) that fans its files out as Ray tasks,
    each reserving what a camera does (``cluster_camera_*``) and building its parts with ``compose``; ``results``
    holds each file's node and frames."""

    def __init__(self, settings: Settings, compose: ComposeArchive) -> None:
        self.settings, self.compose = settings, compose
        self.results: list[FileResult] = []

    def run(
        self,
        files: list[Path],
        camera_id: str,
        start_time: float | None,
        force: bool,
        on_progress: Callable[[int], None],
        on_outcome: Callable[[FileOutcome], None],
        on_deleted: Callable[[Path, DeletedSightings], None],
        stop: threading.Event,
    ) -> list[FileOutcome]:
        connect(self.settings)
        needs = CameraResources.of(self.settings, camera_id)
        task = ray.remote(reindex_file).options(
            num_cpus=needs.cpus,
            num_gpus=needs.gpus,
            memory=needs.memory_mb * MB,
            resources=needs.custom or None,
            max_retries=TASK_RETRIES,
            scheduling_strategy="SPREAD",
        )
        payload = self.settings.model_dump_json()
        pending: dict[Any, Path] = {
            task.remote(self.compose, payload, str(path), camera_id, start_time, force): path for path in files
        }
        outcomes = []
        cancelled = False
        while pending:
            if stop.is_set() and not cancelled:
                cancelled = True
                for ref in pending:
                    ray.cancel(ref)  # not started: never runs; running: interrupted (Reindexer.run stops its readers)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                path = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as error:
                    # a task that ends in an error once the job is cancelled was stopped by the cancel (interrupted
                    # while its node was still loading the models, say): a later job reads the file again
                    if cancelled or isinstance(error, ray.exceptions.TaskCancelledError):
                        outcome = FileOutcome(path, "stopped", "the job was stopped")
                    else:
                        outcome = FileOutcome(path, "failed", f"its task failed: {str(error).splitlines()[0]}")
                else:
                    self.results.append(result)
                    for file, gone in result.deleted:  # audited by the job, where it was asked for
                        on_deleted(file, gone)
                    on_progress(result.frames)
                    outcome = result.outcome
                outcomes.append(outcome)
                on_outcome(outcome)
        return outcomes
