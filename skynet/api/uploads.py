"""Uploaded images and sighting ids turned into the one face embedding a search or watch-list needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from skynet.api.services import Services
from skynet.errors import InvalidInputError, NotFoundError, TooLargeError, UnavailableError, UnusableInputError
from skynet.images import load_image
from skynet.records import Box, Detections, SightingKind


async def read_upload(services: Services, upload: UploadFile) -> np.ndarray:
    """The decoded image of ``upload``: :class:`TooLargeError` above ``max_image_bytes``, :class:`BadImageError`
    for anything not an image."""
    limit = services.settings.max_image_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"upload {upload.filename or ''!r} is larger than the limit of {limit:,} bytes")
    return load_image(data, services.settings.max_image_pixels, limit, name=upload.filename or "upload")


async def detect(services: Services, image: np.ndarray, search: bool = False) -> Detections:
    """Run the analyser on ``image`` off the event loop; :class:`UnavailableError` when the server has
    none. A ``search`` photo must be embedded by the model the face index holds: while a re-embedding
    job runs (the configured pack embeds with another model) it goes to ``services.analyze_search``."""
    analyze = services.analyze
    catalog = services.catalog
    if search and catalog.live_model != catalog.face_model:
        analyze = services.analyze_search
        if analyze is None:
            raise UnavailableError(
                f"faces are being re-embedded for model {catalog.live_model}; until that job ends "
                f"the index holds {catalog.face_model} vectors",
                "search by sighting_id meanwhile",
            )
    if analyze is None:
        raise UnavailableError("this server has no face analyser loaded", "search by sighting_id instead")
    return await run_in_threadpool(analyze, image)


async def face_from_upload(
    services: Services, upload: UploadFile, face_index: int | None, search: bool = False
) -> tuple[np.ndarray, Box, int]:
    """(embedding, box, faces found) of the chosen face: the largest, or number ``face_index`` (0-based,
    in the analyser's order); :class:`UnusableInputError` when the image has no face or the index is
    out of range. ``search``: a query for the face index (see :func:`detect`)."""
    detections = await detect(services, await read_upload(services, upload), search)
    faces = [f for f in detections.faces if f.embedding is not None]
    if not faces:
        raise UnusableInputError(
            f"no face found in {upload.filename or 'the upload'!r}", "use a clearer, frontal photo"
        )
    if face_index is None:
        chosen = max(faces, key=lambda f: f.box.area)
    elif face_index < len(faces):
        chosen = faces[face_index]
    else:
        raise UnusableInputError(f"face_index {face_index} out of range: the image has {len(faces)} face(s)")
    return np.asarray(chosen.embedding, dtype=np.float32), chosen.box, len(faces)


def face_from_sighting(services: Services, sighting_id: int) -> np.ndarray:
    """The searched model's embedding of face sighting ``sighting_id``; :class:`NotFoundError` if unknown,
    :class:`UnusableInputError` if it is a plate or has no vector of that model (yet)."""
    sighting = services.catalog.store.sightings.get(sighting_id)
    if sighting is None:
        raise NotFoundError(f"no sighting with id {sighting_id}")
    if sighting.kind is not SightingKind.FACE:
        raise UnusableInputError(f"sighting {sighting_id} is not a face sighting")
    embedding = services.catalog.face_embedding(sighting_id)
    if embedding is None:
        raise UnusableInputError(
            f"sighting {sighting_id} has no embedding of the searched model "
            f"{services.catalog.face_model} yet (it is re-embedded by the running job)"
        )
    return embedding


@dataclass(frozen=True, slots=True)
class FaceQuery:
    """The face a search is for: an analysed upload (``upload``: its embedding) or a face sighting,
    whose stored embedding :meth:`embedding` reads (a store call: make it off the event loop, in
    the thread that runs the search, so the request crosses threads once)."""

    sighting_id: int | None = None
    upload: np.ndarray | None = None
    box: Box | None = None
    faces_in_image: int = 0

    def embedding(self, services: Services) -> np.ndarray:
        """The query embedding; not found or unusable for a sighting id that cannot be searched (see
        :func:`face_from_sighting`)."""
        if self.upload is not None:
            return self.upload
        return face_from_sighting(services, int(self.sighting_id or 0))


async def query_face(
    services: Services, image: UploadFile | None, sighting_id: int | None, face_index: int | None
) -> FaceQuery:
    """The face to search for: from an upload (analysed now) or a sighting id (exactly one of them);
    :class:`InvalidInputError` otherwise."""
    if (image is None) == (sighting_id is None):
        raise InvalidInputError("send exactly one of 'image' (a file) and 'sighting_id'")
    if image is not None:
        embedding, box, faces = await face_from_upload(services, image, face_index, search=True)
        return FaceQuery(upload=embedding, box=box, faces_in_image=faces)
    return FaceQuery(sighting_id=sighting_id)
