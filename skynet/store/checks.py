"""Checks of the values the store is given: finite numbers, face embeddings."""

from __future__ import annotations

import math

import numpy as np

from skynet.store.errors import InvalidSightingError


def finite(name: str, *values: float) -> None:
    """Refuse values that are not finite numbers."""
    for value in values:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidSightingError(f"{name} must be a finite number, got {value!r}")


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


def blob_vectors(blobs: list[bytes]) -> np.ndarray:
    """Float32 vectors of the same length, stored as ``blobs``, as the rows of one array."""
    return np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4").reshape(len(blobs), -1).astype(np.float32)
