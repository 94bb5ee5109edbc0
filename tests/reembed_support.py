"""Two face 'model packs' the re-embedding tests make themselves, and sightings with real thumbnails.

A synthetic face is a textured square on black; :class:`PixelFaces` finds it (the bounding box of
the bright pixels) and embeds it as a fixed random projection of its 8x8 grey-level pattern (made
mirror-symmetric: like a real face embedding, a face and its mirror image embed alike, and search
photos are embedded together with their mirror image), so two
instances with other seeds or sizes are two embedding models that agree on who is who but whose
vectors have nothing in common.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from skynet.index.catalog import Catalog
from skynet.records import Box, Detections, FaceDetection, Sighting, SightingKind
from skynet.store.sighting_writes import SightingMedia
from skynet.tracking.track import crop

FACE_PX = 48
FRAME = (240, 320)
MODEL_A, MODEL_B = "test/pixels16", "test/pixels24"


class PixelFaces:
    """A face analyser (detect + embed) for tests: ``dim``-d embeddings from the face's pixels."""

    def __init__(self, dim: int, seed: int) -> None:
        self.dim = dim
        self.projection = np.random.default_rng(seed).standard_normal((dim, 64)).astype(np.float32)
        self.embedded = 0  # faces embedded so far
        self.lock = threading.Lock()

    def analyze(
        self,
        image: np.ndarray,
        faces: bool = True,
        plates: bool = True,
        embed: bool = True,
        regions: list[Box] | None = None,
    ) -> Detections:
        height, width = image.shape[:2]
        found: list[FaceDetection] = []
        ys, xs = np.nonzero(image.max(axis=2) > 40)
        if len(xs):
            box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            found = [FaceDetection(box, 0.9, np.zeros((5, 2), np.float32))]
        if embed:
            found = self.embed_faces(image, found)
        return Detections(width, height, faces=found)

    def embed_faces(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        out = []
        for face in faces:
            b = face.box
            chip = cv2.cvtColor(image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)], cv2.COLOR_BGR2GRAY)
            pattern = cv2.resize(chip, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32)
            pattern = ((pattern + pattern[:, ::-1]) / 2).reshape(-1)
            vector = self.projection @ (pattern - pattern.mean())
            out.append(face.with_embedding(vector / np.linalg.norm(vector)))
            with self.lock:
                self.embedded += 1
        return out

    def vector(self, image: np.ndarray) -> np.ndarray:
        """The embedding of the one face in ``image``."""
        return self.analyze(image).faces[0].embedding


def identity_pattern(identity: int) -> np.ndarray:
    """The 8x8 texture of one synthetic person."""
    return np.random.default_rng(1000 + identity).integers(60, 256, (8, 8), dtype=np.uint8)


def face_frame(identity: int, seed: int, at: tuple[int, int] = (100, 120)) -> tuple[np.ndarray, Box]:
    """A frame showing ``identity``'s face (a little noise per ``seed``) and the face's box."""
    face = cv2.resize(identity_pattern(identity), (FACE_PX, FACE_PX), interpolation=cv2.INTER_NEAREST)
    noise = np.random.default_rng(seed).integers(-8, 9, face.shape)
    face = np.clip(face.astype(int) + noise, 60, 255).astype(np.uint8)
    frame = np.zeros((*FRAME, 3), np.uint8)
    y, x = at
    frame[y : y + FACE_PX, x : x + FACE_PX] = face[..., None]
    return frame, Box(x, y, x + FACE_PX, y + FACE_PX)


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def store_faces(
    catalog: Catalog, model: PixelFaces, people: list[int], t0: float = 0.0, camera: str = "cam-a"
) -> list[int]:
    """One face sighting per entry of ``people`` (an identity each), embedded by ``model``, with the
    thumbnail and context frame a camera worker would store; returns their ids."""
    sightings, media = [], []
    for n, person in enumerate(people):
        frame, box = face_frame(person, seed=int(t0) + n)
        thumbnail = crop(frame, box, 0.25)
        t = t0 + n
        sightings.append(Sighting(camera, SightingKind.FACE, t, t + 1.0, t, box, 0.9, embedding=model.vector(frame)))
        media.append(SightingMedia(thumbnail=jpeg(thumbnail), context=jpeg(frame)))
    return catalog.add_sightings(sightings, media)
