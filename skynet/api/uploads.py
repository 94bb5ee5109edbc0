"""Uploaded files read from a request (never more than the image limit), and the face a search asks for."""

from __future__ import annotations

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from skynet.errors import InvalidInputError, TooLargeError
from skynet.services.faces import FaceQueries, FaceQuery


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The bytes of ``upload``; :class:`TooLargeError` above ``limit`` bytes."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"upload {upload.filename or ''!r} is larger than the limit of {limit:,} bytes")
    return data


async def query_face(
    faces: FaceQueries, image: UploadFile | None, sighting_id: int | None, face_index: int | None
) -> FaceQuery:
    """The face to search for: from an upload (analysed now, off the event loop) or a sighting id (exactly
    one of them); :class:`InvalidInputError` otherwise."""
    if (image is None) == (sighting_id is None):
        raise InvalidInputError("send exactly one of 'image' (a file) and 'sighting_id'")
    if image is not None:
        data = await read_upload(image, faces.max_image_bytes)
        return await run_in_threadpool(faces.from_photo, data, image.filename, face_index, True)
    return FaceQuery(sighting_id=sighting_id)
