"""A photo or a face sighting turned into the one face embedding a search or a watch-list entry needs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import cv2
import numpy as np

from skynet.config import Settings
from skynet.errors import ConfigError, NotFoundError, SkynetError, UnavailableError, UnusableInputError
from skynet.images import load_image
from skynet.index.catalog import Catalog
from skynet.index.face_models import face_model_id
from skynet.records import Box, Detections, FaceDetection, SightingKind
from skynet.store.errors import QueryError

if TYPE_CHECKING:
    from skynet.detectors.analyzer import ImageAnalyzer

Analyze = Callable[[np.ndarray], Detections]
MIRROR_MIN_IOU = 0.5  # the mirrored photo's face must lie where the chosen face's mirror image lies


def photo_embedding(analyze: Analyze, image: np.ndarray, face: FaceDetection) -> np.ndarray:
    """The embedding a search or watch-list photo is queried by: the mean of its chosen ``face``'s
    embedding and that of the same face in the mirrored photo (found again by ``analyze``), made unit
    length again (flip test-time augmentation; the face alone if the mirror shows none where expected).

    A photo is one view, where a camera track's stored embedding already averages its best views; the
    mirror adds a second, equally sharp view of the face, which makes the query less dependent on the
    photo's pose and lighting side. On camera views of the DEV faces (``benchmarks/eval_faces.py --video
    6``) this raised the share of same-person pairs reaching the calibrated threshold from 94.0 % to 95.0 %
    at the same false-match rate (1e-4)."""
    embedding = np.asarray(face.embedding, dtype=np.float32)
    width = image.shape[1]
    mirrored = Box(width - face.box.x2, face.box.y1, width - face.box.x1, face.box.y2)
    found = [f for f in analyze(cv2.flip(image, 1)).faces if f.embedding is not None]
    twin = max(found, key=lambda f: f.box.iou(mirrored), default=None)
    if twin is None or twin.box.iou(mirrored) < MIRROR_MIN_IOU:
        return embedding
    mean = embedding + np.asarray(twin.embedding, dtype=np.float32)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


class SimilarityBand(StrEnum):
    """What a face similarity says about two faces, in words an investigator can act on."""

    MATCH = "match"  # at or above the calibrated threshold: the same person, 1 false match in 10 000 pairs
    POSSIBLE = "possible"  # below it, but reached by 99 % of same-person pairs and 1 % of different ones
    UNLIKELY = "unlikely"  # what faces of different people commonly reach


@dataclass(frozen=True, slots=True)
class SimilarityBands:
    """The face similarities that separate the bands, from the DEV calibration (``benchmarks/eval_faces.py
    --video 6``: photos against camera views of the DEV faces): ``match`` is the calibrated threshold
    (``SKYNET_WATCHLIST_MIN_SIMILARITY``, false match rate 1e-4), ``possible`` the similarity at a false
    match rate of 1e-2 (``SKYNET_FACE_POSSIBLE_SIMILARITY``)."""

    match: float
    possible: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SimilarityBands:
        return cls(
            settings.watchlist_min_similarity, min(settings.face_possible_similarity, settings.watchlist_min_similarity)
        )

    def band(self, similarity: float) -> SimilarityBand:
        if similarity >= self.match:
            return SimilarityBand.MATCH
        return SimilarityBand.POSSIBLE if similarity >= self.possible else SimilarityBand.UNLIKELY


@dataclass(frozen=True, slots=True)
class FaceQuery:
    """The face a search is for: a photo's face (``photo``: its embedding, with its ``box`` and the
    ``faces_in_image``) or a face sighting, whose stored embedding :meth:`FaceQueries.embedding` reads
    (a store call: made in the thread that runs the search, so a request crosses threads once).
    ``photo_name`` is the uploaded file's name, for the audit log."""

    sighting_id: int | None = None
    photo: np.ndarray | None = None
    box: Box | None = None
    faces_in_image: int = 0
    photo_name: str | None = None


class FaceQueries:
    """Finds the face of a photo with ``analyze`` (photos for a search while a re-embedding job runs:
    with ``analyze_searched``, the model the face index holds), or reads a face sighting's embedding."""

    def __init__(
        self, catalog: Catalog, settings: Settings, analyze: Analyze | None, analyze_searched: Analyze | None = None
    ) -> None:
        self.catalog = catalog
        self.max_image_pixels = settings.max_image_pixels
        self.max_image_bytes = settings.max_image_bytes
        self.analyze = analyze
        self.analyze_searched = analyze_searched

    def from_photo(
        self, data: bytes, name: str | None, face_index: int | None = None, search: bool = False
    ) -> FaceQuery:
        """The chosen face of the photo ``data`` (the file ``name``): the largest, or number ``face_index``
        (0-based, in the analyser's order). :class:`BadImageError` for what is not an image,
        :class:`UnusableInputError` when it has no face or the index is out of range,
        :class:`UnavailableError` without an analyser. ``search``: a query for the face index, embedded
        by the model the index holds."""
        image = load_image(data, self.max_image_pixels, self.max_image_bytes, name=name or "upload")
        analyze = self._analyzer(search)
        detections = analyze(image)
        faces = [f for f in detections.faces if f.embedding is not None]
        if not faces:
            raise UnusableInputError(f"no face found in {name or 'the upload'!r}", "use a clearer, frontal photo")
        if face_index is None:
            chosen = max(faces, key=lambda f: f.box.area)
        elif face_index < len(faces):
            chosen = faces[face_index]
        else:
            raise UnusableInputError(f"face_index {face_index} out of range: the image has {len(faces)} face(s)")
        embedding = photo_embedding(analyze, image, chosen)
        return FaceQuery(None, embedding, chosen.box, len(faces), name)

    def from_sighting(self, sighting_id: int) -> np.ndarray:
        """The searched model's embedding of face sighting ``sighting_id``; :class:`NotFoundError` if unknown,
        :class:`UnusableInputError` if it is a plate or has no vector of that model (yet)."""
        sighting = self.catalog.store.sightings.get(sighting_id)
        if sighting is None:
            raise NotFoundError(f"no sighting with id {sighting_id}")
        if sighting.kind is not SightingKind.FACE:
            raise UnusableInputError(f"sighting {sighting_id} is not a face sighting")
        embedding = self.catalog.face_embedding(sighting_id)
        if embedding is None:
            raise UnusableInputError(
                f"sighting {sighting_id} has no embedding of the searched model "
                f"{self.catalog.face_model} yet (it is re-embedded by the running job)"
            )
        return embedding

    def embedding(self, query: FaceQuery) -> np.ndarray:
        """The query's embedding: the photo's, or the sighting's (see :meth:`from_sighting`)."""
        if query.photo is not None:
            return query.photo
        return self.from_sighting(int(query.sighting_id or 0))

    def _analyzer(self, search: bool) -> Analyze:
        """The analyser of photos: a ``search`` photo must be embedded by the model the face index holds,
        so while a re-embedding job runs (the configured pack embeds with another model) it goes to
        ``analyze_searched``."""
        analyze = self.analyze
        catalog = self.catalog
        if search and catalog.live_model != catalog.face_model:
            analyze = self.analyze_searched
            if analyze is None:
                raise UnavailableError(
                    f"faces are being re-embedded for model {catalog.live_model}; until that job ends "
                    f"the index holds {catalog.face_model} vectors",
                    "search by sighting_id meanwhile",
                )
        if analyze is None:
            raise UnavailableError("this server has no face analyser loaded", "search by sighting_id instead")
        return analyze


class SearchedModelAnalyzer:
    """Faces of a search photo embedded by the model the face index holds: ``analyze`` (the cameras'
    analysers) once that is the configured pack's model; while a re-embedding job runs, the searched
    model's own pack (loaded on first use), so searches keep working on the old index."""

    def __init__(self, settings: Settings, catalog: Catalog, analyze: Analyze) -> None:
        self.settings = settings
        self.catalog = catalog
        self.analyze = analyze
        self._lock = threading.Lock()
        self.loaded: tuple[str, ImageAnalyzer] | None = None  # (model, its pack's analyser)

    def __call__(self, image: np.ndarray) -> Detections:
        searched = self.catalog.face_model
        if searched is None or searched == self.catalog.live_model:
            self.loaded = None  # after the switch the old pack is not needed any more
            return self.analyze(image)
        with self._lock:
            if self.loaded is None or self.loaded[0] != searched:
                self.loaded = (searched, self._pack_analyzer(searched))
            return self.loaded[1].analyze(image, plates=False)

    def _pack_analyzer(self, model: str) -> ImageAnalyzer:
        from skynet.detectors.analyzer import ImageAnalyzer

        pack = model.split("/", 1)[0]
        try:
            if face_model_id(pack) != model:
                raise ConfigError(f"pack {pack!r} no longer embeds faces as {model}")
            return ImageAnalyzer.from_settings(self.settings.model_copy(update={"model_pack": pack}))
        except SkynetError as error:
            raise QueryError(
                f"search by photo needs model pack {pack!r} (the face index holds {model} vectors "
                f"until the re-embedding to {self.catalog.live_model} completes): {error.message}",
                "install that pack again, or search by sighting_id until the job completes",
            ) from None
