"""Re-embedding every stored face with another embedding model, as a resumable background job.

When the configured model pack embeds faces with another model than the one searches use
(:mod:`skynet.index.face_models`), a re-embedding job re-detects each face sighting on its stored
thumbnail with the new pack, embeds it, and stores the vector under the new model id (building
that model's own face index). Watch-list face entries are re-embedded from their kept photos.
Searches keep using the old model's index until every face has been tried, then
:meth:`Catalog.switch_face_model` moves them to the new one in one step.

The work done is the store's own state (which sightings have a vector of the new model), so a
job that was killed resumes where it stopped: the next job skips what is there already.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from skynet.index.catalog import Catalog
from skynet.records import Box, Detections, FaceDetection, SightingKind
from skynet.store.faces import FaceBatch, FaceSource
from skynet.tracking.track import ImageOptions

log = logging.getLogger(__name__)

MIN_FACE_PX = 112  # thumbnails are scaled up so the face is at least this big before detection
MIN_OVERLAP = 0.1  # a detection overlapping the sighting's face less than this (IoU) is another face
ERRORS_KEPT = 20


class FaceAnalyzer(Protocol):
    """What re-embedding needs of the new pack (:class:`skynet.detectors.analyzer.ImageAnalyzer`)."""

    def analyze(self, image: np.ndarray, faces: bool = True, plates: bool = True, embed: bool = True) -> Detections: ...

    def embed_faces(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]: ...


@dataclass
class ReembedProgress:
    """Counters of a re-embedding job, as ``GET /api/jobs/{id}`` shows them."""

    faces_total: int = 0
    faces_done: int = 0
    faces_failed: int = 0
    watchlist_done: int = 0
    switched: bool = False
    errors: list[str] = field(default_factory=list)
    watchlist_skipped: set[int] = field(default_factory=set)  # entries this job could not re-embed
    watchlist_without_photos: int = 0

    def as_dict(self) -> dict:
        return {
            "faces_total": self.faces_total,
            "faces_done": self.faces_done,
            "faces_failed": self.faces_failed,
            "watchlist_done": self.watchlist_done,
            "watchlist_without_photos": self.watchlist_without_photos,
            "switched": self.switched,
        }

    def error(self, message: str) -> None:
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(message)


def pending_switch(catalog: Catalog) -> bool:
    """Whether the catalog stores faces with another model than the one searches use."""
    return catalog.live_model != catalog.face_model


def face_in_thumbnail(box: Box, margin: float) -> Box:
    """Where a sighting's face (``box``, in the frame) lies in its thumbnail, which the tracker cut as
    the box grown by ``margin`` on every side and clipped to the frame."""
    x0 = max(0, int(box.x1 - box.width * margin))
    y0 = max(0, int(box.y1 - box.height * margin))
    return Box(box.x1 - x0, box.y1 - y0, box.x2 - x0, box.y2 - y0)


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class Reembedder:
    """Re-embeds a catalog's faces and watch-list entries with ``analyzer`` as embedding ``model``."""

    def __init__(
        self,
        catalog: Catalog,
        analyzer: FaceAnalyzer,
        model: str,
        *,
        batch_size: int = 64,
        margin: float = ImageOptions().thumbnail_margin,
        on_watchlist_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.catalog = catalog
        self.analyzer = analyzer
        self.model = model
        self.batch_size = batch_size
        self.margin = margin
        self.on_watchlist_change = on_watchlist_change

    def run(
        self,
        progress: ReembedProgress,
        on_progress: Callable[[], None] = lambda: None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Embed every face without a vector of the new model (watch-list first), then switch the
        searches to it; ``False`` when ``stop`` was set first (nothing switched; a later run resumes)."""
        store = self.catalog.store
        stop = stop or threading.Event()
        progress.faces_total = progress.faces_done + store.faces.count_to_embed(self.model)
        self.reembed_watchlist(progress)
        on_progress()
        after_id = 0
        while not stop.is_set():
            sources = store.faces.to_embed(self.model, after_id=after_id, limit=self.batch_size)
            if not sources:
                break
            self._embed_batch(sources, progress)
            after_id = sources[-1].id
            self.reembed_watchlist(progress)  # entries added meanwhile
            on_progress()
        if stop.is_set():
            return False
        self.reembed_watchlist(progress)
        self.catalog.switch_face_model(self.model)
        self.on_watchlist_change()
        progress.switched = True
        on_progress()
        log.info(
            "face search switched to model %s (%d faces re-embedded, %d failed)",
            self.model,
            progress.faces_done,
            progress.faces_failed,
        )
        return True

    # --- sightings -------------------------------------------------------------------------------

    def _embed_batch(self, sources: list[FaceSource], progress: ReembedProgress) -> None:
        done: list[tuple[FaceSource, np.ndarray]] = []
        for source in sources:
            try:
                vector = self.embed_sighting(source)
            except Exception as error:  # one bad image must not stop the job
                vector = None
                progress.error(f"sighting {source.id}: {type(error).__name__}: {error}")
            if vector is None:
                progress.faces_failed += 1
            else:
                done.append((source, vector))
        if done:
            self.catalog.add_face_embeddings(
                self.model,
                FaceBatch(
                    ids=np.array([s.id for s, _ in done], dtype=np.int64),
                    vectors=np.stack([v for _, v in done]),
                    times=np.array([s.best_time for s, _ in done], dtype=np.float64),
                    camera_ids=[s.camera_id for s, _ in done],
                ),
            )
        progress.faces_done += len(done)

    def embed_sighting(self, source: FaceSource) -> np.ndarray | None:
        """The new model's embedding of a face sighting, re-detected on its thumbnail; None when the
        thumbnail is gone or the new pack finds no face where the sighting's face was."""
        data = self.catalog.store.media.read(source.thumbnail_path)
        if data is None:
            return None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        expected = face_in_thumbnail(source.box, self.margin)
        # detectors need the face big enough and some room around it: scale up, then pad
        scale = min(4.0, max(1.0, MIN_FACE_PX / max(expected.width, expected.height, 1.0)))
        if scale > 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        pad = max(image.shape[:2]) // 2
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        expected = Box(
            expected.x1 * scale + pad, expected.y1 * scale + pad, expected.x2 * scale + pad, expected.y2 * scale + pad
        )
        found = self.analyzer.analyze(image, plates=False, embed=False).faces
        scored = [(_iou(face.box, expected), face) for face in found]
        scored = [(overlap, face) for overlap, face in scored if overlap >= MIN_OVERLAP]
        if not scored:
            return None
        best = max(scored, key=lambda item: item[0])[1]
        embedded = self.analyzer.embed_faces(image, [best])
        return np.asarray(embedded[0].embedding, dtype=np.float32) if embedded else None

    # --- watch-list ------------------------------------------------------------------------------

    def reembed_watchlist(self, progress: ReembedProgress) -> None:
        """Embed, from their kept photos, the face entries that have no embedding of the new model.
        Entries made before photos were kept cannot be: they are counted and named in the errors."""
        store = self.catalog.store
        changed = False
        for entry in store.watchlists.all(self.model):
            if (
                entry.kind != SightingKind.FACE
                or entry.embeddings
                or entry.id is None
                or entry.id in progress.watchlist_skipped
            ):
                continue
            photos = store.watchlists.photos(entry.id)
            vectors = [v for v in (self._embed_photo(photo) for photo in photos) if v is not None]
            if not vectors:
                progress.watchlist_skipped.add(entry.id)
                if not photos:
                    progress.watchlist_without_photos += 1
                progress.error(
                    f"watch-list entry {entry.id} ({entry.label!r}) "
                    + (
                        "has no kept photos (made before photos were kept) and cannot be re-embedded: add it again "
                        "with its photos to keep it matching"
                        if not photos
                        else "the new model finds no face in its photos"
                    )
                )
                continue
            store.watchlists.set_embeddings(entry.id, self.model, vectors)
            progress.watchlist_done += 1
            changed = True
        if changed:
            self.on_watchlist_change()

    def _embed_photo(self, photo: bytes) -> np.ndarray | None:
        """The new model's embedding of the largest face in ``photo`` (as a watch-list upload picks it)."""
        image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        faces = self.analyzer.analyze(image, plates=False, embed=False).faces
        if not faces:
            return None
        embedded = self.analyzer.embed_faces(image, [max(faces, key=lambda f: f.box.area)])
        return np.asarray(embedded[0].embedding, dtype=np.float32) if embedded else None
