"""Feed import jobs: a CSV or JSON Lines file of checkpoint reads or registrations on the server, imported in
the background (:meth:`skynet.services.feeds.FeedService.import_file` does the work, resumably)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skynet.errors import InvalidInputError
from skynet.ingest.archive_roots import ArchiveRoots
from skynet.records import JobState
from skynet.services.feed_files import FileFormat, file_format, read_rows
from skynet.services.feed_rows import FeedKind
from skynet.services.feeds import FeedService, ImportResult
from skynet.services.jobs import FEED_IMPORT, JobRun


class FeedImportJobs:
    """The ``feed-import`` job kind: params ``path`` (a file on the server, inside the archive roots as a
    re-index job's), ``kind`` (checkpoint or registration) and ``format`` (csv or jsonl; None: from the name)."""

    name = FEED_IMPORT
    exclusive = False

    def __init__(self, feeds: FeedService, roots: ArchiveRoots) -> None:
        self.feeds = feeds
        self.roots = roots

    def due(self) -> bool:
        return False

    def prepare(self, params: Mapping[str, Any]) -> FeedImportWork:
        path = self.roots.resolve(str(params["path"]))  # the same answer outside, whether or not it exists
        if not path.is_file():
            raise InvalidInputError(f"not a file on the server: {path}")
        kind = FeedKind(params["kind"])
        fmt = file_format(path, FileFormat(params["format"]) if params.get("format") else None)
        read_rows(path, fmt, kind).close()  # a file that is not one is refused now, not in the job
        return FeedImportWork(self.feeds, path, kind, fmt)


class FeedImportWork:
    """One feed import: progress in rows read, added, duplicates and rejected, and the report's path."""

    def __init__(self, feeds: FeedService, path: Path, kind: FeedKind, fmt: FileFormat) -> None:
        self.feeds = feeds
        self.path, self.kind, self.fmt = path, kind, fmt
        self.params = {"path": str(path), "kind": kind.value, "format": fmt.value}
        self.progress: dict[str, Any] = {"rows": 0, "added": 0, "duplicates": 0, "rejected": 0, "report": None}
        self.errors: list[str] = []

    def run(self, job: JobRun) -> JobState:
        def on_progress(result: ImportResult) -> None:
            self._count(result)
            job.report()

        result = self.feeds.import_file(
            job.job.created_by, self.path, self.kind, self.fmt, stop=job.stop, on_progress=on_progress
        )
        self._count(result)
        self.errors += result.errors
        return JobState.FAILED if result.errors else JobState.DONE

    def _count(self, result: ImportResult) -> None:
        self.progress.update(
            rows=result.rows,
            added=result.added,
            duplicates=result.duplicates,
            rejected=result.rejected,
            report=result.report,
            already_done=result.already_done,
        )
