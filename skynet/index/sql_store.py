"""What every SQL backend shares: validation, media files, sighting rows, the tables' queries.

A backend supplies a connection, its schema, its write transaction and its plate-matching SQL.
Queries here use ``?`` placeholders (a backend may translate them) and portable SQL
(``RETURNING``, ``ON CONFLICT``).
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from skynet.accounts.errors import UserExistsError
from skynet.accounts.model import ApiToken, Role, User
from skynet.alerts.outbox import Delivery, DeliveryState
from skynet.index import plate_search
from skynet.index.errors import CameraInUseError, InvalidSightingError, QueryError, UnknownCameraError
from skynet.index.face_models import DEFAULT_FACE_MODEL
from skynet.index.media import MediaFiles, check_jpeg, storage_error
from skynet.index.store import (
    DeletedSightings,
    FaceBatch,
    FaceSource,
    FileState,
    Job,
    PlateHit,
    PlateMode,
    SightingMedia,
)
from skynet.private_files import make_private
from skynet.records import (
    Alert,
    AuditEvent,
    Box,
    Camera,
    Origin,
    PlateText,
    Sighting,
    SightingKind,
    WatchlistEntry,
)

SIGHTING_COLUMNS = (
    "camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, thumbnail_path, "
    "context_path, embedding, plate_text, plate_confidences, track_id, origin_kind, origin_file, origin_offset"
)
INSERT_COLUMNS = f"{SIGHTING_COLUMNS}, embedding_model"  # what a new sighting row holds (_row + its model)
_INSERT_SIGHTING = f"INSERT INTO sightings ({INSERT_COLUMNS}) VALUES ({', '.join('?' * 20)})"
# (sighting id, vector, best time, camera) of every face vector of one model (argument: the model, twice):
# the embedding a sighting was stored with, or one a re-embedding job added
_MODEL_VECTORS = (
    "SELECT id, embedding, best_time, camera_id FROM sightings WHERE kind = 'face' AND embedding_model = ? "
    "UNION ALL SELECT s.id, f.embedding, s.best_time, s.camera_id FROM face_embeddings f "
    "JOIN sightings s ON s.id = f.sighting_id WHERE f.model = ?"
)
_INSERT_READ = "INSERT INTO plate_reads (sighting_id, rank, text, norm, rnorm, confidence) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE_CHUNK = 5_000
_THUMB, _CONTEXT, _EMBEDDING = 10, 11, 12  # positions in a sighting row


def embedding_blob(embedding: object, dim: int | None) -> bytes:
    """The L2-normalised float32 bytes of ``embedding``; refuses NaN, zero and wrong-size vectors."""
    try:
        vector = np.asarray(embedding, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidSightingError(f"face embedding is not a numeric vector: {error}") from error
    if vector.ndim != 1 or vector.size == 0:
        raise InvalidSightingError(f"face embedding must be a 1-D vector, got shape {vector.shape}")
    if dim is not None and vector.size != dim:
        raise InvalidSightingError(
            f"face embedding has {vector.size} dimensions; the store holds {dim}-d embeddings of this embedding model",
            "embeddings of another model need their own model id (skynet.index.face_models)",
        )
    if not np.all(np.isfinite(vector)):
        raise InvalidSightingError("face embedding contains NaN or infinite values")
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise InvalidSightingError("face embedding is all zeros")
    return (vector / norm).astype("<f4").tobytes()


def finite(name: str, *values: float) -> None:
    """Refuse values that are not finite numbers."""
    for value in values:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidSightingError(f"{name} must be a finite number, got {value!r}")


def plate_read_rows(sighting_id: int, plate: PlateText) -> list[tuple]:
    """plate_reads rows: the voted text (rank 0), then each distinct alternative read."""
    seen: set[str] = set()
    rows = []
    for text, confidence in [(plate.text, plate.confidence), *plate.alternatives]:
        cleaned = plate_search.clean(text)
        if cleaned and cleaned not in seen:
            seen.add(cleaned)
            norm = plate_search.normalise(cleaned)
            rows.append((sighting_id, len(rows), cleaned, norm, norm[::-1], float(confidence)))
    return rows


def _sighting(row: Sequence[Any], alternatives: list[tuple[str, float]]) -> Sighting:
    """A sighting from its ``SELECT id, {SIGHTING_COLUMNS}`` row and its alternative plate reads."""
    plate = None
    if row[14] is not None:
        plate = PlateText(row[14], tuple(json.loads(row[15])), alternatives=tuple(alternatives))
    embedding = np.frombuffer(row[13], dtype="<f4").copy() if row[13] is not None else None
    return Sighting(
        camera_id=row[1],
        kind=SightingKind(row[2]),
        first_seen=row[3],
        last_seen=row[4],
        best_time=row[5],
        box=Box(*row[6:10]),
        quality=row[10],
        thumbnail_path=row[11],
        context_path=row[12],
        embedding=embedding,
        plate=plate,
        track_id=row[16],
        origin=Origin(row[17], row[18], row[19]),
        id=row[0],
    )


class SqlStore(ABC):
    """:class:`skynet.index.store.SightingStore` over a SQL connection, with media files in ``data_dir``.

    Media files are written before the row that names them commits; files no row names are swept
    at open when no other process has the data directory open (an exclusive ``flock``).
    """

    def __init__(self, data_dir: Path, *, sweep_orphans: bool = True) -> None:
        self.data_dir = Path(data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.data_dir / "store.lock", "a+b")  # noqa: SIM115 (held while open)
        except OSError as error:
            raise storage_error(error, f"opening the data directory {self.data_dir}") from error
        self.media = MediaFiles(self.data_dir)
        self._lock = threading.RLock()
        self._open()
        make_private(self.data_dir)  # after the database files exist
        self._cameras: set[str] = {row[0] for row in self._execute("SELECT id FROM cameras")}
        self._dims: dict[str, int] = {}  # embedding dimension of each model (meta embedding_dim/<model>)
        self.orphans_removed = self._sweep() if sweep_orphans else 0
        fcntl.flock(self._lock_file, fcntl.LOCK_SH)

    # --- what a backend provides -----------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Connect and bring the schema up to date."""

    @abstractmethod
    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders); returns a cursor."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows``."""

    @abstractmethod
    def _write(self, doing: str) -> AbstractContextManager[None]:
        """One write transaction, rolled back on error; database errors become StoreError."""

    @abstractmethod
    def _ids_in(self, column: str, ids: Iterable[int]) -> tuple[str, Any]:
        """SQL condition "``column`` is one of ``ids``" and its one argument."""

    @abstractmethod
    def _plate_matches(self, where: str, source: str, args: list, limit: int) -> list[tuple]:
        """(sighting id, voted text, matched read, rank, camera, best time) of plate reads matching, one per
        sighting (its best-ranked read), alternative-only matches last, newest first."""

    @abstractmethod
    def _exact_plate(self, text: str) -> tuple[str, str, list]:
        """(source, where, args) for plate reads equal to ``text``."""

    @abstractmethod
    def _wildcard_plate(self, plan: plate_search.WildcardPlan) -> tuple[str, str, list]:
        """(source, where, args) for plate reads matching a wildcard plan through an index."""

    @abstractmethod
    def _fuzzy_candidates(self, plan: plate_search.FuzzyPlan) -> Iterable[tuple[int, str, int]]:
        """(sighting id, read, rank) of reads containing any piece of the plan, through an index."""

    @abstractmethod
    def _backend_problems(self) -> list[str]:
        """Integrity problems the database itself reports."""

    @abstractmethod
    def _close_connection(self) -> None: ...

    # --- plumbing ----------------------------------------------------------------------------

    def _sweep(self) -> int:
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        return self.media.sweep_orphans(self._referenced_media())

    def _referenced_media(self) -> set[str]:
        rows = self._execute(
            "SELECT thumbnail_path FROM sightings WHERE thumbnail_path IS NOT NULL "
            "UNION ALL SELECT context_path FROM sightings WHERE context_path IS NOT NULL"
        )
        return {row[0] for row in rows}

    def _meta_int(self, key: str) -> int | None:
        row = self._execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def _require_camera(self, camera_id: str) -> None:
        if camera_id in self._cameras:
            return
        if self._execute("SELECT 1 FROM cameras WHERE id = ?", (camera_id,)).fetchone():
            self._cameras.add(camera_id)
            return
        raise UnknownCameraError(f"unknown camera id {camera_id!r}", "add the camera first")

    def _insert_returning_id(self, sql: str, args: Sequence[Any]) -> int:
        return int(self._execute(f"{sql} RETURNING id", args).fetchone()[0])

    # --- cameras -----------------------------------------------------------------------------

    def add_camera(self, camera: Camera) -> None:
        """Add or update a camera."""
        if not camera.id or not isinstance(camera.id, str):
            raise InvalidSightingError("a camera needs a non-empty id")
        with self._write("adding a camera"):
            self._execute(
                "INSERT INTO cameras (id, name, source_url, latitude, longitude, tags, tls_verify, tls_ca_file) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name, source_url = excluded.source_url, "
                "latitude = excluded.latitude, longitude = excluded.longitude, tags = excluded.tags, "
                "tls_verify = excluded.tls_verify, tls_ca_file = excluded.tls_ca_file",
                (
                    camera.id,
                    camera.name,
                    camera.source_url,
                    camera.latitude,
                    camera.longitude,
                    json.dumps(list(camera.tags), ensure_ascii=False),
                    bool(camera.tls_verify),
                    camera.tls_ca_file,
                ),
            )
        self._cameras.add(camera.id)

    def delete_camera(self, camera_id: str) -> bool:
        """Remove a camera that has no sightings; ``False`` if there was none with that id."""
        with self._write("deleting a camera"):
            if self._execute("SELECT 1 FROM sightings WHERE camera_id = ? LIMIT 1", (camera_id,)).fetchone():
                raise CameraInUseError(
                    f"camera {camera_id!r} still has sightings and cannot be deleted",
                    "keep it (stopped), or delete its sightings by retention first",
                )
            deleted = self._execute("DELETE FROM cameras WHERE id = ?", (camera_id,)).rowcount > 0
        self._cameras.discard(camera_id)
        return deleted

    def cameras(self) -> list[Camera]:
        rows = self._execute(
            "SELECT id, name, source_url, latitude, longitude, tags, tls_verify, tls_ca_file FROM cameras ORDER BY id"
        )
        return [Camera(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), bool(r[6]), r[7]) for r in rows]

    # --- sightings ---------------------------------------------------------------------------

    def _row(self, sighting: Sighting, dim: int | None) -> list:
        """Validated column values of ``sighting``."""
        self._require_camera(sighting.camera_id)
        finite("sighting times", sighting.first_seen, sighting.last_seen, sighting.best_time)
        finite("sighting quality", sighting.quality)
        finite("sighting box", *sighting.box.as_list())
        if sighting.first_seen > sighting.last_seen:
            raise InvalidSightingError("sighting first_seen is after last_seen")
        if sighting.origin.kind not in ("live", "archive"):
            raise InvalidSightingError(f"sighting origin must be 'live' or 'archive', got {sighting.origin.kind!r}")
        embedding = plate_text = confidences = None
        kind = SightingKind(sighting.kind)
        if kind is SightingKind.FACE:
            if sighting.embedding is None or sighting.plate is not None:
                raise InvalidSightingError("a face sighting needs an embedding and no plate read")
            embedding = embedding_blob(sighting.embedding, dim)
        else:
            if sighting.plate is None or not plate_search.clean(sighting.plate.text):
                raise InvalidSightingError("a plate sighting needs a non-empty plate text")
            if sighting.embedding is not None:
                raise InvalidSightingError("a plate sighting cannot carry a face embedding")
            plate_text = plate_search.clean(sighting.plate.text)
            confidences = json.dumps([float(c) for c in sighting.plate.char_confidences])
        return [
            sighting.camera_id,
            kind.value,
            sighting.first_seen,
            sighting.last_seen,
            sighting.best_time,
            *sighting.box.as_list(),
            sighting.quality,
            sighting.thumbnail_path,
            sighting.context_path,
            embedding,
            plate_text,
            confidences,
            sighting.track_id,
            sighting.origin.kind,
            sighting.origin.file,
            sighting.origin.offset_s,
        ]

    def _write_media(self, rows: list[list], media: Sequence[SightingMedia | None]) -> list[str]:
        written: list[str] = []
        try:
            for row, item in zip(rows, media, strict=False):
                for column, data in ((_THUMB, item and item.thumbnail), (_CONTEXT, item and item.context)):
                    if data is not None:
                        row[column] = self.media.write("thumbnails" if column == _THUMB else "context", bytes(data))
                        written.append(row[column])
                    elif row[column] is not None and not self.media.exists(row[column]):
                        raise InvalidSightingError(f"media file {row[column]} not found in {self.data_dir}")
            self.media.sync_dirs(written)
        except BaseException:
            self.media.remove(written)
            raise
        return written

    def add_sightings(
        self,
        sightings: Sequence[Sighting],
        media: Sequence[SightingMedia | None] | None = None,
        *,
        model: str | None = None,
    ) -> list[int]:
        """Store ``sightings`` (and write their media) in one transaction; returns their new ids.

        Face embeddings are recorded as made by embedding ``model`` (default: the searched model,
        :meth:`face_model`). Everything is validated first; on any error nothing of the batch is kept.
        """
        if media is not None and len(media) != len(sightings):
            raise InvalidSightingError(f"{len(sightings)} sightings but {len(media)} media items")
        media = media or [None] * len(sightings)
        for item in media:
            for what, data in (("thumbnail", item and item.thumbnail), ("context frame", item and item.context)):
                if data is not None:
                    check_jpeg(data, what)
        with self._lock:
            model = model or self.face_model() or DEFAULT_FACE_MODEL
            dim = self.embedding_dim(model)
            rows = []
            for sighting in sightings:
                rows.append(self._row(sighting, dim))
                rows[-1].append(model if rows[-1][_EMBEDDING] is not None else None)
                if rows[-1][_EMBEDDING] is not None and dim is None:
                    dim = len(rows[-1][_EMBEDDING]) // 4
            written = self._write_media(rows, media)
            try:
                ids = self._insert(rows, sightings, model, dim)
            except BaseException:
                self.media.remove(written)
                raise
            return ids

    def _record_model(self, model: str, dim: int | None) -> None:
        """Inside a write: note ``model``'s dimension, and make it the searched model if there is none yet."""
        if dim is None or self._dims.get(model) == dim:
            return
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (f"embedding_dim/{model}", str(dim))
        )
        self._execute("INSERT INTO meta (key, value) VALUES ('face_model', ?) ON CONFLICT DO NOTHING", (model,))

    def _insert(self, rows: list[list], sightings: Sequence[Sighting], model: str, dim: int | None) -> list[int]:
        with self._write("storing sightings"):
            self._record_model(model, dim)
            ids = self._insert_sighting_rows(rows)
            reads = [
                read
                for sighting_id, sighting in zip(ids, sightings, strict=False)
                if sighting.plate is not None
                for read in plate_read_rows(sighting_id, sighting.plate)
            ]
            if reads:
                self._executemany(_INSERT_READ, reads)
        return ids

    def _insert_sighting_rows(self, rows: list[list]) -> list[int]:
        """Insert sighting rows (inside a write transaction); returns their new ids."""
        return [self._insert_returning_id(_INSERT_SIGHTING, row) for row in rows]

    def get_sighting(self, sighting_id: int) -> Sighting | None:
        found = self.get_sightings([sighting_id])
        return found[0] if found else None

    def get_sightings(self, sighting_ids: Sequence[int]) -> list[Sighting]:
        """The sightings with these ids that exist, in the order asked (two queries for any number)."""
        if not sighting_ids:
            return []
        condition, arg = self._ids_in("id", sighting_ids)
        rows = {
            r[0]: r for r in self._execute(f"SELECT id, {SIGHTING_COLUMNS} FROM sightings WHERE {condition}", (arg,))
        }
        alternatives: dict[int, list[tuple[str, float]]] = {}
        plated = [i for i, r in rows.items() if r[14] is not None]
        if plated:
            condition, arg = self._ids_in("sighting_id", plated)
            for sighting_id, text, confidence in self._execute(
                f"SELECT sighting_id, text, confidence FROM plate_reads WHERE {condition} AND rank > 0 "
                "ORDER BY sighting_id, rank",
                (arg,),
            ):
                alternatives.setdefault(sighting_id, []).append((text, confidence))
        return [_sighting(rows[i], alternatives.get(i, [])) for i in sighting_ids if i in rows]

    def count_sightings(self) -> dict[str, int]:
        counts = dict(self._execute("SELECT kind, count(*) FROM sightings GROUP BY kind").fetchall())
        return {kind.value: int(counts.get(kind.value, 0)) for kind in SightingKind}

    # --- face embeddings per model ---------------------------------------------------------------

    def face_model(self) -> str | None:
        """The embedding model searches use; None before the first face embedding is stored."""
        row = self._execute("SELECT value FROM meta WHERE key = 'face_model'").fetchone()
        return row[0] if row else None

    def set_face_model(self, model: str) -> None:
        """Make ``model`` the one searches use (the end of a re-embedding job: one atomic write)."""
        with self._write("switching the face embedding model"):
            self._execute(
                "INSERT INTO meta (key, value) VALUES ('face_model', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (model,),
            )

    def embedding_dim(self, model: str | None = None) -> int | None:
        """The dimension of ``model``'s embeddings (default: the searched model); None if it has none yet."""
        model = model or self.face_model()
        if model is None:
            return None
        if model not in self._dims:
            dim = self._meta_int(f"embedding_dim/{model}")
            if dim is None:
                return None
            self._dims[model] = dim
        return self._dims[model]

    def face_models(self) -> dict[str, int]:
        """How many face vectors each embedding model has."""
        counts: dict[str, int] = {}
        for model, count in [
            *self._execute(
                "SELECT embedding_model, count(*) FROM sightings WHERE kind = 'face' GROUP BY embedding_model"
            ),
            *self._execute("SELECT model, count(*) FROM face_embeddings GROUP BY model"),
        ]:
            counts[model] = counts.get(model, 0) + int(count)
        return counts

    def face_ids(self, model: str | None = None) -> np.ndarray:
        """Sorted ids of the face sightings that have a vector of ``model`` (default: the searched model)."""
        model = model or self.face_model()
        rows = self._execute(f"SELECT id FROM ({_MODEL_VECTORS}) v ORDER BY id", (model, model)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def face_batches(
        self, ids: np.ndarray | None = None, *, after_id: int = 0, batch_size: int = 50_000, model: str | None = None
    ) -> Iterator[FaceBatch]:
        """``model``'s face vectors (default: the searched model's) in sighting id order: those of
        ``ids`` if given, else every one after ``after_id``."""
        model = model or self.face_model()
        select = f"SELECT * FROM ({_MODEL_VECTORS}) v WHERE "
        if ids is not None:
            ids = np.unique(np.asarray(ids, dtype=np.int64))
            for start in range(0, len(ids), batch_size):
                condition, arg = self._ids_in("id", ids[start : start + batch_size].tolist())
                rows = self._execute(f"{select}{condition} ORDER BY id", (model, model, arg)).fetchall()
                if rows:
                    yield _face_batch(rows)
            return
        while True:
            rows = self._execute(select + "id > ? ORDER BY id LIMIT ?", (model, model, after_id, batch_size)).fetchall()
            if not rows:
                return
            yield _face_batch(rows)
            after_id = rows[-1][0]

    def face_vector(self, sighting_id: int, model: str | None = None) -> np.ndarray | None:
        """Face sighting ``sighting_id``'s vector of ``model`` (default: the searched model), if it has one."""
        model = model or self.face_model()
        row = self._execute(
            f"SELECT embedding FROM ({_MODEL_VECTORS}) v WHERE id = ?", (model, model, sighting_id)
        ).fetchone()
        return np.frombuffer(row[0], dtype="<f4").copy() if row else None

    def faces_to_embed(self, model: str, *, after_id: int = 0, limit: int = 256) -> list[FaceSource]:
        """Face sightings after ``after_id`` with no vector of ``model`` yet, in id order, with their images."""
        rows = self._execute(
            "SELECT id, camera_id, best_time, x1, y1, x2, y2, thumbnail_path, context_path FROM sightings s "
            "WHERE kind = 'face' AND id > ? AND embedding_model <> ? AND NOT EXISTS "
            "(SELECT 1 FROM face_embeddings f WHERE f.model = ? AND f.sighting_id = s.id) ORDER BY id LIMIT ?",
            (after_id, model, model, limit),
        ).fetchall()
        return [FaceSource(r[0], r[1], r[2], Box(*r[3:7]), r[7], r[8]) for r in rows]

    def count_faces_to_embed(self, model: str) -> int:
        """How many face sightings have no vector of ``model`` yet."""
        return int(
            self._execute(
                "SELECT count(*) FROM sightings s WHERE kind = 'face' AND embedding_model <> ? AND NOT EXISTS "
                "(SELECT 1 FROM face_embeddings f WHERE f.model = ? AND f.sighting_id = s.id)",
                (model, model),
            ).fetchone()[0]
        )

    def add_face_embeddings(self, model: str, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> np.ndarray:
        """Store ``model``'s vectors of face sightings ``ids`` (a re-embedding job); sightings deleted
        meanwhile are skipped. Returns the L2-normalised vectors as stored."""
        if len(ids) != len(vectors):
            raise InvalidSightingError(f"{len(ids)} sighting ids but {len(vectors)} vectors")
        with self._lock:
            dim = self.embedding_dim(model)
            blobs = [embedding_blob(v, dim) for v in vectors]
            if not blobs:
                return np.zeros((0, dim or 0), np.float32)
            with self._write("storing re-embedded faces"):
                self._record_model(model, len(blobs[0]) // 4)
                self._executemany(
                    "INSERT INTO face_embeddings (model, sighting_id, embedding) SELECT ?, id, ? FROM sightings "
                    "WHERE id = ? AND kind = 'face' ON CONFLICT DO NOTHING",
                    [(model, blob, int(i)) for i, blob in zip(ids, blobs, strict=False)],
                )
        return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).copy()

    # --- plates ------------------------------------------------------------------------------

    def search_plates(
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
            source, where, args = self._exact_plate(plate_search.exact_query(query))
        else:
            source, where, args = self._wildcard_plate(plate_search.wildcard_plan(query))
        where = " AND ".join([where, *(f"s.{c}" for c in conditions)])
        rows = self._plate_matches(where, source, [*args, *filter_args], limit)
        return [PlateHit(r[0], r[1], r[2], plate_search.ALTERNATIVE_PENALTY if r[3] else 0.0, r[4], r[5]) for r in rows]

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
        condition, arg = self._ids_in("id", list(best))
        where = " AND ".join([condition, *conditions])
        info = {
            r[0]: r[1:]
            for r in self._execute(
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

    # --- deletion ----------------------------------------------------------------------------

    def delete_sightings_before(self, cutoff: float) -> DeletedSightings:
        """Delete every sighting whose best view is older than ``cutoff`` (with reads, alerts, media)."""
        finite("cutoff", cutoff)
        return self._delete_where("best_time < ?", cutoff)

    def delete_sightings_from_file(self, path: str) -> DeletedSightings:
        """Delete every sighting that came from archive file ``path`` (before it is re-indexed)."""
        return self._delete_where("origin_file = ?", path)

    def _delete_where(self, condition: str, value: Any) -> DeletedSightings:
        """Delete the sightings matching ``condition`` in chunks, one transaction each; media files go
        after their rows commit (a crash in between leaves orphans, swept at the next start)."""
        all_ids, face_ids, files = [], [], 0
        while True:
            with self._write("deleting sightings"):
                rows = self._execute(
                    f"SELECT id, kind, thumbnail_path, context_path FROM sightings WHERE {condition} LIMIT ?",
                    (value, _DELETE_CHUNK),
                ).fetchall()
                if rows:
                    ids_condition, arg = self._ids_in("id", [r[0] for r in rows])
                    self._execute(f"DELETE FROM sightings WHERE {ids_condition}", (arg,))
            if not rows:
                break
            all_ids += [r[0] for r in rows]
            face_ids += [r[0] for r in rows if r[1] == "face"]
            files += self.media.remove(p for r in rows for p in r[2:] if p)
        return DeletedSightings(np.array(all_ids, dtype=np.int64), np.array(face_ids, dtype=np.int64), files)

    # --- watch-lists, alerts, audit, re-index state --------------------------------------------

    def add_watchlist_entry(
        self, entry: WatchlistEntry, *, model: str | None = None, photos: Sequence[bytes] = ()
    ) -> int:
        """Store ``entry``; a face entry's embeddings are ``model``'s (default: the searched model) and
        its ``photos`` (the image files they came from) are kept so a model switch can re-embed them."""
        if entry.kind == SightingKind.PLATE and not entry.plate_pattern:
            raise InvalidSightingError("a plate watch-list entry needs a plate pattern")
        if entry.kind == SightingKind.FACE and not entry.embeddings:
            raise InvalidSightingError("a face watch-list entry needs at least one reference embedding")
        model = model or self.face_model() or DEFAULT_FACE_MODEL
        blobs = [embedding_blob(e, self.embedding_dim(model)) for e in entry.embeddings]
        with self._lock, self._write("adding a watch-list entry"):
            entry_id = self._insert_returning_id(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, expires_at, plate_pattern, "
                "min_similarity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    SightingKind(entry.kind).value,
                    entry.label,
                    entry.reason,
                    entry.added_by,
                    entry.created_at,
                    entry.expires_at,
                    entry.plate_pattern,
                    entry.min_similarity,
                ),
            )
            if blobs:
                self._record_model(model, len(blobs[0]) // 4)
                self._put_watchlist_embeddings(entry_id, model, blobs)
            if photos:
                self._executemany(
                    "INSERT INTO watchlist_photos (entry_id, image) VALUES (?, ?)",
                    [(entry_id, bytes(photo)) for photo in photos],
                )
            return entry_id

    def _put_watchlist_embeddings(self, entry_id: int, model: str, blobs: list[bytes]) -> None:
        self._execute(
            "INSERT INTO watchlist_embeddings (entry_id, model, embeddings, embedding_count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (entry_id, model) DO UPDATE SET embeddings = excluded.embeddings, "
            "embedding_count = excluded.embedding_count",
            (entry_id, model, b"".join(blobs), len(blobs)),
        )

    def set_watchlist_embeddings(self, entry_id: int, model: str, vectors: Sequence[np.ndarray]) -> None:
        """Store (or replace) face entry ``entry_id``'s reference embeddings of ``model``."""
        with self._lock:
            blobs = [embedding_blob(v, self.embedding_dim(model)) for v in vectors]
            if not blobs:
                raise InvalidSightingError("a face watch-list entry needs at least one reference embedding")
            with self._write("storing watch-list embeddings"):
                self._record_model(model, len(blobs[0]) // 4)
                self._put_watchlist_embeddings(entry_id, model, blobs)

    def watchlist_photos(self, entry_id: int) -> list[bytes]:
        """The photos kept for face entry ``entry_id`` (none for entries made before photos were kept)."""
        rows = self._execute("SELECT image FROM watchlist_photos WHERE entry_id = ? ORDER BY id", (entry_id,))
        return [bytes(r[0]) for r in rows]

    def watchlist(self, model: str | None = None) -> list[WatchlistEntry]:
        """Every entry; face entries carry their reference embeddings of ``model`` (default: the
        searched model), none when they have none of that model."""
        model = model or self.face_model()
        rows = self._execute(
            "SELECT w.kind, w.label, w.reason, w.added_by, w.created_at, w.expires_at, w.plate_pattern, "
            "e.embeddings, e.embedding_count, w.min_similarity, w.id FROM watchlist_entries w "
            "LEFT JOIN watchlist_embeddings e ON e.entry_id = w.id AND e.model = ? ORDER BY w.id",
            (model,),
        )
        return [
            WatchlistEntry(
                SightingKind(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                tuple(np.frombuffer(r[7], dtype="<f4").reshape(r[8], -1).copy()) if r[8] else (),
                r[9],
                r[10],
            )
            for r in rows
        ]

    def delete_watchlist_entry(self, entry_id: int) -> bool:
        """Remove an entry (and its alerts); ``False`` if there was none with that id."""
        with self._write("deleting a watch-list entry"):
            return self._execute("DELETE FROM watchlist_entries WHERE id = ?", (entry_id,)).rowcount > 0

    def add_alert(self, alert: Alert) -> int:
        with self._write("adding an alert"):
            return self._insert_returning_id(
                "INSERT INTO alerts (entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, "
                "acknowledged_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.entry_id,
                    alert.sighting_id,
                    alert.camera_id,
                    alert.created_at,
                    alert.score,
                    alert.acknowledged_by,
                    alert.acknowledged_at,
                ),
            )

    def alerts(self, limit: int = 100) -> list[Alert]:
        rows = self._execute(
            "SELECT entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, acknowledged_at, id "
            "FROM alerts ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Alert(*r) for r in rows]

    def acknowledge_alert(self, alert_id: int, by: str, at: float) -> Alert | None:
        """Mark an alert acknowledged (the first acknowledgement is kept); None if there is no such alert."""
        with self._write("acknowledging an alert"):
            self._execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_by IS NULL",
                (by, at, alert_id),
            )
            row = self._execute(
                "SELECT entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, acknowledged_at, id "
                "FROM alerts WHERE id = ?",
                (alert_id,),
            ).fetchone()
        return Alert(*row) if row else None

    def append_audit(self, event: AuditEvent) -> int:
        with self._write("writing the audit log"):
            return self._insert_returning_id(
                "INSERT INTO audit_log (at, actor, action, reason, detail) VALUES (?, ?, ?, ?, ?)",
                (
                    event.at,
                    event.actor,
                    event.action,
                    event.reason,
                    json.dumps(event.detail, ensure_ascii=False, default=str),
                ),
            )

    def audit_events(
        self,
        limit: int = 100,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditEvent]:
        """The newest events first; only ``actor``'s, only ``action`` or the actions under it (``search``
        matches ``search.face``), only at times in [``since``, ``until``] when given."""
        where, args = ["1 = 1"], []
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if action is not None:
            where.append("(action = ? OR substr(action, 1, ?) = ?)")
            args += [action, len(action) + 1, action + "."]
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at <= ?")
            args.append(until)
        rows = self._execute(
            f"SELECT at, actor, action, reason, detail, id FROM audit_log WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        return [AuditEvent(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def file_state(self, path: str) -> FileState | None:
        row = self._execute(
            "SELECT path, size, mtime, model_pack, status, frames_done, sha256, updated_at FROM reindex_files "
            "WHERE path = ?",
            (path,),
        ).fetchone()
        return FileState(*row) if row else None

    def set_file_state(self, state: FileState) -> None:
        with self._write("recording file re-index state"):
            self._execute(
                "INSERT INTO reindex_files (path, size, mtime, model_pack, status, frames_done, sha256, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size = excluded.size, "
                "mtime = excluded.mtime, model_pack = excluded.model_pack, status = excluded.status, "
                "frames_done = excluded.frames_done, sha256 = excluded.sha256, updated_at = excluded.updated_at",
                (
                    state.path,
                    state.size,
                    state.mtime,
                    state.model_pack,
                    state.status,
                    state.frames_done,
                    state.sha256,
                    state.updated_at,
                ),
            )

    # --- users and API tokens (skynet.accounts.model.UserStore) ----------------------------------------

    def get_user(self, name: str) -> User | None:
        row = self._execute(
            "SELECT name, role, created_at, password_hash, disabled, id FROM users WHERE name = ?", (name,)
        ).fetchone()
        return User(row[0], Role(row[1]), row[2], row[3], bool(row[4]), row[5]) if row else None

    def users(self) -> list[User]:
        rows = self._execute("SELECT name, role, created_at, password_hash, disabled, id FROM users ORDER BY id")
        return [User(r[0], Role(r[1]), r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def add_user(self, user: User) -> User:
        if self.get_user(user.name) is not None:
            raise UserExistsError(f"user {user.name!r} already exists")
        with self._write("adding a user"):
            user_id = self._insert_returning_id(
                "INSERT INTO users (name, role, created_at, password_hash, disabled) VALUES (?, ?, ?, ?, ?)",
                (user.name, Role(user.role).value, user.created_at, user.password_hash, bool(user.disabled)),
            )
        return replace(user, id=user_id)

    def update_user(self, user: User) -> bool:
        """Store the role, password hash and disabled flag of user ``user.name``; ``False`` if there is none."""
        with self._write("updating a user"):
            return (
                self._execute(
                    "UPDATE users SET role = ?, password_hash = ?, disabled = ? WHERE name = ?",
                    (Role(user.role).value, user.password_hash, bool(user.disabled), user.name),
                ).rowcount
                > 0
            )

    def delete_user(self, name: str) -> bool:
        """Delete user ``name`` and their API tokens; ``False`` if there is no such user."""
        with self._write("deleting a user"):
            self._execute("DELETE FROM api_tokens WHERE user_name = ?", (name,))
            return self._execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    def find_token(self, token_hash: str) -> ApiToken | None:
        row = self._execute(
            "SELECT token_hash, user_name, created_at, expires_at, label, id FROM api_tokens WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        return ApiToken(*row) if row else None

    def tokens(self, user_name: str) -> list[ApiToken]:
        """The tokens of ``user_name``, oldest first."""
        rows = self._execute(
            "SELECT token_hash, user_name, created_at, expires_at, label, id FROM api_tokens "
            "WHERE user_name = ? ORDER BY id",
            (user_name,),
        )
        return [ApiToken(*r) for r in rows]

    def add_token(self, token: ApiToken) -> ApiToken:
        with self._write("adding an API token"):
            token_id = self._insert_returning_id(
                "INSERT INTO api_tokens (token_hash, user_name, created_at, expires_at, label) VALUES (?, ?, ?, ?, ?)",
                (token.token_hash, token.user_name, token.created_at, token.expires_at, token.label),
            )
        return replace(token, id=token_id)

    def revoke_token(self, token_hash: str) -> bool:
        """Delete a token; ``False`` if no token has that hash."""
        with self._write("revoking an API token"):
            return self._execute("DELETE FROM api_tokens WHERE token_hash = ?", (token_hash,)).rowcount > 0

    # --- jobs --------------------------------------------------------------------------------

    def add_job(self, job: Job) -> int:
        with self._write("adding a job"):
            return self._insert_returning_id(
                "INSERT INTO jobs (kind, created_by, created_at, updated_at, state, params, progress, errors) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.kind, job.created_by, job.created_at, job.updated_at, job.state, *_job_json(job)),
            )

    def update_job(self, job: Job) -> None:
        """Store a job's new state, progress and errors."""
        with self._write("updating a job"):
            self._execute(
                "UPDATE jobs SET updated_at = ?, state = ?, params = ?, progress = ?, errors = ? WHERE id = ?",
                (job.updated_at, job.state, *_job_json(job), job.id),
            )

    def fail_unfinished_jobs(self, now: float) -> int:
        """Mark queued and running jobs failed (their process ended: called at server start); returns how many."""
        with self._write("closing interrupted jobs"):
            return self._execute(
                "UPDATE jobs SET state = 'failed', updated_at = ?, errors = ? WHERE state IN ('queued', 'running')",
                (now, json.dumps(["interrupted: the server stopped before the job finished"])),
            ).rowcount

    def get_job(self, job_id: int) -> Job | None:
        row = self._execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self, limit: int = 50, state: str | None = None) -> list[Job]:
        """The newest ``limit`` jobs (of ``state`` when given), newest first."""
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        return [
            _job(row)
            for row in self._execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY id DESC LIMIT ?", (*args, limit)
            )
        ]

    # --- webhook outbox (skynet.alerts.outbox.DeliveryOutbox, through StoreOutbox) ---------------

    _CLAIM_LOCK = ""  # PostgreSQL: lock the claimed rows so concurrent claimers skip them

    def enqueue_delivery(self, target: str, body: bytes, now: float) -> int:
        with self._write("queueing a webhook delivery"):
            return self._insert_returning_id(
                "INSERT INTO webhook_deliveries (target, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?)",
                (target, bytes(body), now, now),
            )

    def claim_deliveries(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        with self._write("claiming webhook deliveries"):
            rows = self._execute(
                "SELECT id, target, body, created_at, next_attempt_at, attempts, state, last_error "
                "FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? "
                f"ORDER BY next_attempt_at, id LIMIT ?{self._CLAIM_LOCK}",
                (now, limit),
            ).fetchall()
            if rows:
                condition, arg = self._ids_in("id", [r[0] for r in rows])
                self._execute(
                    f"UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE {condition}",
                    (now + lease_s, arg),
                )
        return [
            Delivery(r[0], r[1], bytes(r[2]), r[3], now + lease_s, r[5] + 1, DeliveryState(r[6]), r[7]) for r in rows
        ]

    def finish_delivery(self, delivery_id: int, error: str | None, next_attempt_at: float | None) -> None:
        """Done (no ``error``), retry at ``next_attempt_at``, or failed for good."""
        if error is None:
            sql, args = "UPDATE webhook_deliveries SET state = 'done' WHERE id = ?", (delivery_id,)
        elif next_attempt_at is None:
            sql, args = (
                "UPDATE webhook_deliveries SET state = 'failed', last_error = ? WHERE id = ?",
                (error, delivery_id),
            )
        else:
            sql, args = (
                "UPDATE webhook_deliveries SET next_attempt_at = ?, last_error = ? WHERE id = ?",
                (next_attempt_at, error, delivery_id),
            )
        with self._write("recording a webhook delivery"):
            self._execute(sql, args)

    def next_delivery_due(self) -> float | None:
        row = self._execute("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'").fetchone()
        return row[0]

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = self._execute(
            "SELECT id, target, body, created_at, next_attempt_at, attempts, state, last_error "
            "FROM webhook_deliveries WHERE id = ?",
            (delivery_id,),
        ).fetchone()
        return Delivery(row[0], row[1], bytes(row[2]), *row[3:6], DeliveryState(row[6]), row[7]) if row else None

    # --- health ------------------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """Problems found: the database's own checks, then rows whose media file is missing."""
        problems = self._backend_problems()
        rows = self._execute(
            "SELECT id, thumbnail_path, context_path FROM sightings "
            "WHERE thumbnail_path IS NOT NULL OR context_path IS NOT NULL"
        )
        problems += [f"sighting {r[0]}: missing {p}" for r in rows for p in r[1:] if p and not self.media.exists(p)]
        return problems

    def close(self) -> None:
        with self._lock:
            self._close_connection()
            self._lock_file.close()


class StoreOutbox:
    """:class:`skynet.alerts.outbox.DeliveryOutbox` in the store's ``webhook_deliveries`` table."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        return self.store.enqueue_delivery(target, body, now)

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        return self.store.claim_deliveries(now, limit, lease_s)

    def mark_done(self, delivery_id: int) -> None:
        self.store.finish_delivery(delivery_id, None, None)

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        self.store.finish_delivery(delivery_id, error, next_attempt_at)

    def next_due(self) -> float | None:
        return self.store.next_delivery_due()

    def get(self, delivery_id: int) -> Delivery | None:
        """The delivery as it stands (for inspection)."""
        return self.store.get_delivery(delivery_id)


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


_JOB_COLUMNS = "kind, created_by, created_at, updated_at, state, params, progress, errors, id"


def _job(row: Sequence) -> Job:
    return Job(*row[:5], json.loads(row[5]), json.loads(row[6]), tuple(json.loads(row[7])), row[8])


def _job_json(job: Job) -> tuple[str, str, str]:
    return (
        json.dumps(job.params, ensure_ascii=False, default=str),
        json.dumps(job.progress),
        json.dumps(list(job.errors), ensure_ascii=False),
    )


def _face_batch(rows: list[tuple]) -> FaceBatch:
    n = len(rows)
    vectors = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f4").reshape(n, -1).astype(np.float32)
    return FaceBatch(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        vectors=vectors,
        times=np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
        camera_ids=[r[3] for r in rows],
    )
