"""Re-embedding jobs: every stored face and watch-list entry embedded with the configured model pack's
face model, then face search switched to it (:class:`skynet.index.reembed.Reembedder` does the work; the
job runner keeps its progress). A server started after a pack switch starts one by itself."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from skynet.errors import ConflictError
from skynet.index.catalog import Catalog
from skynet.index.reembed import FaceAnalyzer, Reembedder, ReembedProgress, pending_switch
from skynet.records import JobState
from skynet.services.jobs import REEMBED, JobRun

log = logging.getLogger(__name__)


class ReembedJobs:
    """The ``reembed`` job kind (one at a time, no params): due while the catalog stores faces with another
    model than searches use; ``make_analyzer`` loads the configured pack's analyser for a job."""

    name = REEMBED
    exclusive = True

    def __init__(
        self,
        catalog: Catalog,
        make_analyzer: Callable[[], FaceAnalyzer],
        on_watchlist_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.catalog = catalog
        self.make_analyzer = make_analyzer
        self.on_watchlist_change = on_watchlist_change

    def due(self) -> bool:
        """Whether faces wait to be re-embedded."""
        return pending_switch(self.catalog)

    def prepare(self, params: Mapping[str, Any]) -> ReembedWork:
        if not self.due():
            raise ConflictError(
                f"face search already uses the configured model {self.catalog.face_model}: nothing to re-embed"
            )
        reembedder = Reembedder(
            self.catalog, self.make_analyzer(), self.catalog.live_model, on_watchlist_change=self.on_watchlist_change
        )
        return ReembedWork(reembedder)


class ReembedWork:
    """One re-embedding job; ``on_progress`` sees the counters after every step (a progress bar)."""

    def __init__(
        self, reembedder: Reembedder, on_progress: Callable[[ReembedProgress], None] = lambda progress: None
    ) -> None:
        self.reembedder = reembedder
        self.on_progress = on_progress
        self.counters = ReembedProgress()
        self.params = {"from_model": reembedder.catalog.face_model, "to_model": reembedder.model}

    @property
    def progress(self) -> dict[str, Any]:
        return self.counters.as_dict()

    @property
    def errors(self) -> list[str]:
        return self.counters.errors

    def run(self, job: JobRun) -> JobState:
        log.info(
            "re-embedding faces for model %s (job %s); searches use %s until it completes",
            self.reembedder.model,
            job.job.id,
            self.reembedder.catalog.face_model,
        )

        def step() -> None:
            job.report()
            self.on_progress(self.counters)

        if not self.reembedder.run(self.counters, step, job.stop):
            self.counters.errors.append("interrupted: stopped before the end; the next job resumes")
            return JobState.FAILED
        return JobState.DONE
