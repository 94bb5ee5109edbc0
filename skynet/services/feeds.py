"""External feeds: checkpoint plate reads and registrations, pushed over the API or imported from files,
stored as sightings of their source and matched against the watch-lists as they arrive.

A record is acknowledged only once it is committed; its natural key makes a second push or import of the
same record add nothing. A file import goes in batches and records how far it got after each, so an import
that stopped (a crash, a stop) resumes where it was; the rows it refused go to a report (line, reason,
the row's text) in the data directory.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from skynet.accounts.model import Permission, User
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Camera, RegistrationPlace, Sighting
from skynet.services.audit import Auditor
from skynet.services.feed_files import FileFormat, RawRow, file_format, read_rows
from skynet.services.feed_rows import FeedKind, FeedRecord, RecordParser, RejectedRecord
from skynet.store import Store
from skynet.store.feeds import FeedImport
from skynet.store.sighting_writes import CheckedSightings

log = logging.getLogger(__name__)

BATCH = 50_000
"""Rows stored in one transaction by a file import (SQLite writes a batch this big at about half the cost per
row of one of 5,000: index pages rewritten once, not ten times)."""
MAX_PUSH = 1000
"""Records in one push."""
REPORT_DIR = "feed-imports"

Listener = Callable[[list[Sighting]], object]
Candidates = Callable[[Sequence[Sighting]], list[int]]
Outcome = Literal["added", "duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What became of one pushed record: added (with its sighting id), a duplicate, or rejected (why)."""

    index: int
    outcome: Outcome
    sighting_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _ParsedBatch:
    """One batch of a file's rows, checked: the records (and their sightings checked by the store, rows made;
    the positions of those the matcher may want),
    the rejected rows (line, reason, text), how many rows it had, and the line and byte offset it ends at."""

    records: list[FeedRecord]
    checked: CheckedSightings
    candidates: list[int]
    rejected: list[tuple[int, str, str]]
    rows: int
    line: int
    end: int


@dataclass(frozen=True, slots=True)
class RejectedRows:
    """An import and rows of its report of rejected rows: (line, reason, the row's text or None where hidden)."""

    state: FeedImport
    rows: list[tuple[int, str, str | None]]


@dataclass(slots=True)
class ImportResult:
    """The counts of a file import (so far), where it stands, and the report of rejected rows."""

    path: str
    kind: FeedKind
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    resumed_at_line: int = 0
    already_done: bool = False
    report: str | None = None
    errors: list[str] = field(default_factory=list)


class FeedService:
    """Stores feed records in ``store``; ``match`` (the watch-list matcher) sees the new records of every stored
    batch that ``candidates`` (the matcher's) says may match, ``announce`` (the live feed) every new pushed one.
    Places of registrations become cameras without a stream. A file import checks its next batch of rows
    (in a second thread) while the database writes the one before: SQLite and PostgreSQL do their part
    without Python's lock."""

    def __init__(
        self,
        store: Store,
        auditor: Auditor,
        clock: Callable[[], float],
        data_dir: Path,
        match: Listener = lambda sightings: None,
        announce: Listener = lambda sightings: None,
        candidates: Candidates = lambda sightings: list(range(len(sightings))),
        batch_rows: int = BATCH,
    ) -> None:
        self.store = store
        self.auditor = auditor
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.match = match
        self.announce = announce
        self.candidates = candidates
        self.batch_rows = batch_rows
        self._cameras: set[str] = {c.id for c in store.cameras.all()}
        self.parser = RecordParser(store.identity_keys, self._is_camera, self._place, clock)

    # --- cameras: checkpoints are known ones, places of registrations are made on first use ----------

    def _is_camera(self, camera_id: str) -> bool:
        if camera_id not in self._cameras and self.store.cameras.name(camera_id) is not None:
            self._cameras.add(camera_id)  # added since
        return camera_id in self._cameras

    def _place(self, name: str, kind: RegistrationPlace, latitude: float, longitude: float) -> str:
        """The id of the camera standing for a registration's place (made now if new): one per kind of place,
        name and position."""
        digest = hashlib.sha256(f"{kind.value}\x1f{name}\x1f{latitude:.6f}\x1f{longitude:.6f}".encode()).hexdigest()
        camera_id = f"place-{digest[:16]}"
        if not self._is_camera(camera_id):
            self.store.cameras.save(Camera(camera_id, name, "", latitude, longitude, ("registration", kind.value)))
            self._cameras.add(camera_id)
        return camera_id

    # --- pushed records ------------------------------------------------------------------------------

    def push(self, user: User | str, kind: FeedKind, records: Sequence[Mapping[str, Any]]) -> list[RecordOutcome]:
        """Store the valid ``records`` (at most :data:`MAX_PUSH`), match them, and say what became of each;
        the answer comes after the commit, so an acknowledged record is kept."""
        if len(records) > MAX_PUSH:
            raise InvalidInputError(f"at most {MAX_PUSH} records per push")
        kind = FeedKind(kind)
        parsed: list[tuple[int, FeedRecord]] = []
        outcomes: dict[int, RecordOutcome] = {}
        for index, raw in enumerate(records):
            try:
                parsed.append((index, self.parser.parse(kind, raw)))
            except RejectedRecord as error:
                outcomes[index] = RecordOutcome(index, "rejected", reason=str(error))
        ids = self._store([record for _, record in parsed])
        for (index, _), sighting_id in zip(parsed, ids, strict=True):
            outcomes[index] = (
                RecordOutcome(index, "duplicate") if sighting_id is None else RecordOutcome(index, "added", sighting_id)
            )
        new = [replace(r.sighting, id=i) for (_, r), i in zip(parsed, ids, strict=True) if i is not None]
        self._tell(self.announce, new)
        self.auditor.record(
            user,
            f"feed.push.{kind.value}",
            None,
            {
                "records": len(records),
                "added": len(new),
                "rejected": sum(o.outcome == "rejected" for o in outcomes.values()),
            },
        )
        return [outcomes[i] for i in range(len(records))]

    def _store(self, records: list[FeedRecord], batch: _ParsedBatch | None = None) -> list[int | None]:
        """Store ``records`` (those not stored before; ``batch``: the checked batch of a file they came in), then
        match the new ones; each one's new id, or None."""
        if not records:
            return []
        sightings = [r.sighting for r in records]
        checked = batch or self._checked(records, [], 0, 0, 0)
        ids = self.store.sightings.add_new(checked.checked)
        wanted = [i for i in checked.candidates if ids[i] is not None]
        self._tell(self.match, [replace(sightings[i], id=ids[i]) for i in wanted])
        return ids

    @staticmethod
    def _tell(listener: Listener, sightings: list[Sighting]) -> None:
        if sightings:
            try:
                listener(sightings)
            except Exception:  # matching or announcing must not lose the stored records' acknowledgement
                log.exception("feed listener failed")

    # --- files ---------------------------------------------------------------------------------------

    def import_file(
        self,
        user: User | str,
        path: Path,
        kind: FeedKind,
        fmt: FileFormat | None = None,
        *,
        stop: threading.Event | None = None,
        on_progress: Callable[[ImportResult], None] = lambda result: None,
        again: bool = False,
    ) -> ImportResult:
        """Import ``path`` (CSV or JSON Lines of ``kind``), resuming an import of the same file that did not
        finish; an import that finished is not run again while the file is unchanged, unless ``again`` (rows
        rejected for an unknown checkpoint, say, once it is added: stored rows are not stored twice). Audited
        as ``feed.import``."""
        path = Path(path).resolve()
        fmt = file_format(path, fmt)
        try:
            info = path.stat()
        except OSError as error:
            raise InvalidInputError(f"cannot read {path}: {error.strerror}") from None
        state = self.store.feed_imports.get(str(path), kind.value)
        if state is not None and (again or (state.size, state.mtime) != (info.st_size, info.st_mtime)):
            state = None  # the file changed: from its start (what was stored is not stored twice)
        result = ImportResult(str(path), kind)
        if state is not None and state.state == "done":
            return replace(_result(result, state), already_done=True, rows=0, added=0, duplicates=0, rejected=0)
        report = self._report_path(path, kind) if state is None or not state.report else Path(state.report)
        if state is None:
            state = FeedImport(str(path), kind.value, info.st_size, info.st_mtime, "running", report=str(report))
            report.unlink(missing_ok=True)
        else:
            result = _result(result, state)
            result.resumed_at_line = state.rows_done
        rows = read_rows(path, fmt, kind, state.bytes_done, state.rows_done)  # refuses a file that is not one
        self.store.feed_imports.save(replace(state, state="running", updated_at=self.clock()))
        self.auditor.record(
            user, "feed.import", None, {"path": str(path), "kind": kind.value, "resume": state.rows_done}
        )
        with rows, ThreadPoolExecutor(1, thread_name_prefix="feed-rows") as checking:
            try:
                batches = iter(_batches(rows, self.batch_rows))
                ahead = checking.submit(self._check_next, kind, batches)
                while (parsed := ahead.result()) is not None:
                    ahead = checking.submit(self._check_next, kind, batches)  # while this one is written
                    self._store_batch(parsed, result, report)
                    state = replace(
                        _counted(state, result), rows_done=parsed.line, bytes_done=parsed.end, updated_at=self.clock()
                    )
                    self.store.feed_imports.save(state)
                    on_progress(result)
                    if stop is not None and stop.is_set():
                        result.errors.append("stopped: the import resumes where it was")
                        return result
            except BaseException:
                self.store.feed_imports.save(replace(_counted(state, result), state="failed", updated_at=self.clock()))
                raise
            self.store.feed_imports.save(replace(_counted(state, result), state="done", updated_at=self.clock()))
        result.report = str(report) if result.rejected else None
        return result

    def _check_next(self, kind: FeedKind, batches: Iterator[list[RawRow]]) -> _ParsedBatch | None:
        """The next batch of rows, read and checked; None at the end of the file."""
        batch = next(batches, None)
        if batch is None:
            return None
        records: list[FeedRecord] = []
        rejected: list[tuple[int, str, str]] = []
        parse = self.parser.parse
        for row in batch:
            if row.fields is None:
                rejected.append((row.line, row.error or "unreadable", row.text))
                continue
            try:
                records.append(parse(kind, row.fields))
            except RejectedRecord as error:
                rejected.append((row.line, str(error), row.text))
        return self._checked(records, rejected, len(batch), batch[-1].line, batch[-1].end)

    def _checked(
        self, records: list[FeedRecord], rejected: list[tuple[int, str, str]], rows: int, line: int, end: int
    ) -> _ParsedBatch:
        """``records`` checked by the store, and the positions of those the matcher may want."""
        sightings = [r.sighting for r in records]
        checked = self.store.sightings.check(sightings, [r.media for r in records])
        return _ParsedBatch(records, checked, self.candidates(sightings), rejected, rows, line, end)

    def _store_batch(self, parsed: _ParsedBatch, result: ImportResult, report: Path) -> None:
        ids = self._store(parsed.records, parsed)
        added = sum(i is not None for i in ids)
        result.rows += parsed.rows
        result.added += added
        result.duplicates += len(ids) - added
        result.rejected += len(parsed.rejected)
        if parsed.rejected:
            _append_report(report, parsed.rejected)
            result.report = str(report)

    # --- what the imports did ----------------------------------------------------------------------

    def imports(self, limit: int = 50) -> list[FeedImport]:
        """The file imports, most recently active first: their state, counts and report."""
        return self.store.feed_imports.latest(limit)

    def rejected_rows(self, user: User, reason: str, path: str, kind: FeedKind, limit: int = 1000) -> RejectedRows:
        """The first ``limit`` rejected rows of an import's report (line, reason, and the row's text: of a
        registration only for a user who may see identity keys, as the text holds one). Audited as
        ``feed.rejected`` with the reason."""
        reason = self.auditor.reason(reason)
        state = self.store.feed_imports.get(path, FeedKind(kind).value)
        if state is None:
            raise NotFoundError(f"no import of {path} as {FeedKind(kind).value} records")
        with_text = kind is FeedKind.CHECKPOINT or user.may(Permission.REVEAL_IDENTITIES)
        rows: list[tuple[int, str, str | None]] = []
        if state.report and Path(state.report).is_file():
            with open(state.report, encoding="utf-8", newline="") as file:
                for line, why, text in itertools.islice(csv.reader(itertools.islice(file, 1, None)), limit):
                    rows.append((int(line), why, text if with_text else None))
        self.auditor.record(user, "feed.rejected", reason, {"path": path, "kind": kind.value, "rows": len(rows)})
        return RejectedRows(state, rows)

    def _report_path(self, path: Path, kind: FeedKind) -> Path:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        return self.data_dir / REPORT_DIR / f"{path.name}.{kind.value}.{digest}.rejected.csv"


def _batches(rows: Iterable[RawRow], size: int) -> Iterable[list[RawRow]]:
    batch: list[RawRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _append_report(report: Path, rejected: list[tuple[int, str, str]]) -> None:
    """Add rejected rows to the report (a CSV: line, reason, row)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    new = not report.exists()
    with open(report, "a", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(["line", "reason", "row"])
        writer.writerows(rejected)


def _result(result: ImportResult, state: FeedImport) -> ImportResult:
    """``result`` with the counts ``state`` recorded."""
    result.rows, result.added, result.duplicates, result.rejected = (
        state.rows_done,
        state.added,
        state.duplicates,
        state.rejected,
    )
    result.report = state.report if state.rejected else None
    return result


def _counted(state: FeedImport, result: ImportResult) -> FeedImport:
    return replace(state, added=result.added, duplicates=result.duplicates, rejected=result.rejected)
