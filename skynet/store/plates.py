"""Plate reads and plate search: exact, wildcard and fuzzy, each answered from an index.

Every read of a plate sighting is a ``plate_reads`` row (rank 0: the voted text, then the
alternatives), with its normalised text and that text reversed. :mod:`~skynet.store.plate_search`
turns a query into a plan; the plan's SQL is per dialect: SQLite narrows by B-tree ranges or its
FTS5 trigram table, PostgreSQL by ``LIKE`` on ``text_pattern_ops`` B-trees or its ``pg_trgm`` index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from skynet.records import PlateText
from skynet.store import plate_search
from skynet.store.checks import finite
from skynet.store.database import Database, Dialect
from skynet.store.errors import QueryError

# (sighting id, voted text, matched read, rank, camera, best time) of the reads matching, one per
# sighting (its best-ranked read), alternative-only matches last, newest first
_GROUPED_MATCHES = {
    Dialect.SQLITE: (
        "SELECT s.id, s.plate_text, r.text, min(r.rank), s.camera_id, s.best_time FROM {source} "
        "JOIN sightings s ON s.id = r.sighting_id WHERE {where} "
        "GROUP BY s.id ORDER BY min(r.rank) > 0, s.best_time DESC LIMIT ?"
    ),
    Dialect.POSTGRESQL: (
        "SELECT id, plate_text, text, rank, camera_id, best_time FROM ("
        "SELECT DISTINCT ON (s.id) s.id, s.plate_text, r.text, r.rank, s.camera_id, s.best_time FROM {source} "
        "JOIN sightings s ON s.id = r.sighting_id WHERE {where} ORDER BY s.id, r.rank) m "
        "ORDER BY rank > 0, best_time DESC LIMIT ?"
    ),
}


class PlateMode(StrEnum):
    EXACT = "exact"
    WILDCARD = "wildcard"
    FUZZY = "fuzzy"


@dataclass(frozen=True, slots=True)
class PlateHit:
    """A plate sighting matching a query; ``distance`` 0 is an exact match, lower ranks first."""

    sighting_id: int
    text: str
    matched_read: str
    distance: float
    camera_id: str
    best_time: float


class PlateRepository:
    """The ``plate_reads`` table and plate searches."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def search(
        self,
        query: str,
        mode: PlateMode = PlateMode.FUZZY,
        *,
        limit: int = 50,
        max_edits: int = 1,
        since: float | None = None,
        until: float | None = None,
        cameras: Sequence[str] | None = None,
    ) -> list[PlateHit]:
        """Plate sightings matching ``query`` exactly, by wildcard pattern, or fuzzily; closest first.

        ``since``/``until`` bound the best-view time (inclusive); ``cameras`` limits the cameras."""
        if not isinstance(limit, int) or limit < 1:
            raise QueryError("limit must be a positive integer")
        mode = PlateMode(mode)
        conditions, filter_args = _sighting_filter(since, until, cameras)
        if mode is PlateMode.FUZZY:
            return self._fuzzy(plate_search.fuzzy_plan(query, max_edits), limit, conditions, filter_args)
        if mode is PlateMode.EXACT:
            source, where, args = self._exact(plate_search.exact_query(query))
        else:
            source, where, args = self._wildcard(plate_search.wildcard_plan(query))
        where = " AND ".join([where, *(f"s.{c}" for c in conditions)])
        rows = self.db.execute(
            _GROUPED_MATCHES[self.db.dialect].format(source=source, where=where), (*args, *filter_args, limit)
        ).fetchall()
        return [PlateHit(r[0], r[1], r[2], plate_search.ALTERNATIVE_PENALTY if r[3] else 0.0, r[4], r[5]) for r in rows]

    def _exact(self, text: str) -> tuple[str, str, list]:
        # the norm index narrows, the text check is exact
        return "plate_reads r", "r.norm = ? AND r.text = ?", [plate_search.normalise(text), text]

    def _wildcard(self, plan: plate_search.WildcardPlan) -> tuple[str, str, list]:
        """(source, where, args) for plate reads ``r`` matching a wildcard plan through an index. A literal
        start and end narrow together (``桂B*45``: the reads starting 桂B that also end 45, read from the one
        index on (normalised text, its reverse); at 10M reads the start's range alone holds ~13k)."""
        ends = bool(plan.norm_prefix and plan.norm_suffix_reversed)
        if self.db.dialect is Dialect.POSTGRESQL:
            if ends:
                # an index-only scan of the start's range checks the end in the index (it holds the reverse and
                # the id); the fence (OFFSET 0) keeps the planner, which cannot estimate these ranges, from
                # reading the range's rows from the table instead
                suffix = plan.norm_suffix_reversed
                source = (
                    "(SELECT id FROM plate_reads WHERE norm LIKE ? AND left(rnorm, ?) = ? OFFSET 0) f "
                    "JOIN plate_reads r ON r.id = f.id"
                )
                return source, "r.text LIKE ?", [plan.norm_prefix + "%", len(suffix), suffix, _like(plan.glob)]
            norm = plate_search.normalise(plan.glob)
            return "plate_reads r", "r.norm LIKE ? AND r.text LIKE ?", [_like(norm), _like(plan.glob)]
        if plan.norm_runs and not ends:
            source = "(SELECT rowid AS rid FROM plate_fts WHERE plate_fts MATCH ?) f JOIN plate_reads r ON r.id = f.rid"
            return source, "r.text GLOB ?", [plate_search.fts_all(plan.norm_runs), plan.glob]
        ranges = [(c, v) for c, v in (("norm", plan.norm_prefix), ("rnorm", plan.norm_suffix_reversed)) if v]
        where = " AND ".join(f"{column} >= ? AND {column} < ?" for column, _ in ranges)
        indexed = "INDEXED BY plate_reads_norm " if ends else ""  # both ranges from the one index
        source = f"(SELECT id FROM plate_reads {indexed}WHERE {where}) f JOIN plate_reads r ON r.id = f.id"
        return source, "r.text GLOB ?", [*(b for _, v in ranges for b in (v, v + "\U0010ffff")), plan.glob]

    def _fuzzy_candidates(self, plan: plate_search.FuzzyPlan) -> Iterable[tuple[int, str, int]]:
        """(sighting id, read, rank) of reads that may lie within the plan's edits."""
        return self.db.execute(*self._fuzzy_candidates_query(plan)).fetchall()

    def _fuzzy_candidates_query(self, plan: plate_search.FuzzyPlan) -> tuple[str, list]:
        """(sql, args) selecting (sighting id, read, rank) of the reads that may lie within the plan's edits,
        through an index: within one edit, the reads whose body (the normalised read without its province; or
        the whole read, for a plate without one) starts with the query body's first half or whose normalised
        read ends with its second half (three B-tree ranges); with more edits, the reads holding any piece
        (the trigram index)."""
        postgresql = self.db.dialect is Dialect.POSTGRESQL
        halves = plate_search.halves(plan)
        if halves is not None:
            first, second = halves
            ranges = [("substr(r.norm, 2)", first), ("r.norm", first), ("r.rnorm", second[::-1])]
            if postgresql:
                where = " OR ".join(f"{column} LIKE ?" for column, _ in ranges)
                args = [f"{value}%" for _, value in ranges]
            else:
                where = " OR ".join(f"({column} >= ? AND {column} < ?)" for column, _ in ranges)
                args = [bound for _, value in ranges for bound in (value, value + "\U0010ffff")]
            sql = f"SELECT r.sighting_id, r.text, r.rank FROM plate_reads r WHERE {where}"
        elif postgresql:
            where = " OR ".join("r.norm LIKE ?" for _ in plan.pieces)
            sql = f"SELECT r.sighting_id, r.text, r.rank FROM plate_reads r WHERE {where}"
            args = [f"%{piece}%" for piece in plan.pieces]
        else:
            sql = (
                "SELECT r.sighting_id, r.text, r.rank FROM plate_fts f JOIN plate_reads r ON r.id = f.rowid "
                "WHERE plate_fts MATCH ?"
            )
            args = [plate_search.fts_any(plan.pieces)]
        return sql, args

    def _fuzzy(
        self, plan: plate_search.FuzzyPlan, limit: int, conditions: list[str], filter_args: list
    ) -> list[PlateHit]:
        best: dict[int, tuple[float, str]] = {}
        for sighting_id, text, rank in self._fuzzy_candidates(plan):
            distance = plate_search.fuzzy_distance(plan, text)
            if distance is None:
                continue
            distance += plate_search.ALTERNATIVE_PENALTY if rank else 0.0
            if sighting_id not in best or distance < best[sighting_id][0]:
                best[sighting_id] = (distance, text)
        if not best:
            return []
        condition, arg = self.db.ids_in("id", list(best))
        where = " AND ".join([condition, *conditions])
        info = {
            r[0]: r[1:]
            for r in self.db.execute(
                f"SELECT id, plate_text, camera_id, best_time FROM sightings WHERE {where}", (arg, *filter_args)
            )
        }
        hits = [
            PlateHit(sid, info[sid][0], text, distance, info[sid][1], info[sid][2])
            for sid, (distance, text) in best.items()
            if sid in info
        ]
        hits.sort(key=lambda h: (h.distance, -h.best_time))
        return hits[:limit]

    # --- the reads of plate sightings --------------------------------------------------------

    def add_reads(self, ids: Sequence[int], reads: Sequence[Sequence[tuple]]) -> None:
        """Inside a write: the reads of new sightings stored as ``ids``, each one's rows as :func:`read_rows`
        made them (none for a sighting without a plate)."""
        rows = [(sighting_id, *read) for sighting_id, own in zip(ids, reads, strict=True) for read in own]
        if not rows:
            return
        # one statement, not one per read: SQLite's trigram table (FTS5) flushes what it holds at the end of
        # every statement, so one per read would cost a segment each (four times the write's time)
        self.db.append_rows("plate_reads", ["sighting_id", "rank", "text", "norm", "rnorm", "confidence"], rows)

    def alternatives(self, ids: Sequence[int]) -> dict[int, list[tuple[str, float]]]:
        """The alternative reads (text, confidence) of plate sightings ``ids``, best first."""
        found: dict[int, list[tuple[str, float]]] = {}
        if ids:
            condition, arg = self.db.ids_in("sighting_id", ids)
            for sighting_id, text, confidence in self.db.execute(
                f"SELECT sighting_id, text, confidence FROM plate_reads WHERE {condition} AND rank > 0 "
                "ORDER BY sighting_id, rank",
                (arg,),
            ):
                found.setdefault(sighting_id, []).append((text, confidence))
        return found


def _like(glob: str) -> str:
    """A ``*``/``?`` pattern as LIKE (plate patterns hold no ``%``, ``_`` or backslash)."""
    return glob.replace("*", "%").replace("?", "_")


def read_rows(plate: PlateText | None) -> list[tuple]:
    """The ``plate_reads`` rows of a sighting's plate, without the sighting's id: (rank, text, normalised,
    reversed, confidence) of the voted text (rank 0), then of each distinct alternative read."""
    if plate is None:
        return []
    seen: set[str] = set()
    rows: list[tuple] = []
    for text, confidence in [(plate.text, plate.confidence), *plate.alternatives]:
        cleaned = plate_search.clean(text)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            norm = plate_search.fold(cleaned)
            rows.append((len(rows), cleaned, norm, norm[::-1], float(confidence)))
    return rows


def _sighting_filter(since: float | None, until: float | None, cameras: Sequence[str] | None) -> tuple[list[str], list]:
    """SQL conditions on a sighting's ``best_time``/``camera_id`` columns, and their arguments."""
    conditions: list[str] = []
    args: list = []
    for value, condition in ((since, "best_time >= ?"), (until, "best_time <= ?")):
        if value is not None:
            finite("time bound", value)
            conditions.append(condition)
            args.append(value)
    if cameras is not None:
        # no cameras at all: nothing matches (camera_id is never NULL)
        conditions.append(f"camera_id IN ({', '.join('?' * len(cameras))})" if cameras else "camera_id IS NULL")
        args += list(cameras)
    return conditions, args
