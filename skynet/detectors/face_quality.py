"""Face quality from size, sharpness and pose: ranks the faces of one track (< 1 ms per face)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from skynet.records import FaceDetection, FaceQuality

FULL_SIZE_PX = 112.0  # face boxes with a short side of this many pixels or more count as full size
SHARPNESS_CROP_PX = 64  # the face is resampled to this square before measuring sharpness
SHARPNESS_HALF = 200.0  # variance of the Laplacian at which sharpness is 0.5


def face_quality(image: np.ndarray, face: FaceDetection) -> FaceQuality:
    """Size, sharpness and frontalness of ``face`` in ``image`` (BGR uint8), each 0..1.

    ``score`` is their geometric mean, so a face that fails one of them badly ranks low.
    """
    size = min(1.0, min(face.box.width, face.box.height) / FULL_SIZE_PX)
    sharp = sharpness(image, face)
    frontal = frontalness(face.landmarks)
    score = (size * sharp * frontal) ** (1.0 / 3.0)
    return FaceQuality(score=float(score), size=float(size), sharpness=float(sharp), frontalness=float(frontal))


def sharpness(image: np.ndarray, face: FaceDetection) -> float:
    """Variance of the Laplacian of the face crop resampled to a fixed size, mapped to 0..1."""
    height, width = image.shape[:2]
    box = face.box.clipped(width, height)
    x1, y1, x2, y2 = int(box.x1), int(box.y1), math.ceil(box.x2), math.ceil(box.y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    side = SHARPNESS_CROP_PX
    step = max(1, min(x2 - x1, y2 - y1) // (2 * side))  # skip pixels of large faces: stays < 1 ms
    crop = np.ascontiguousarray(image[y1:y2:step, x1:x2:step])
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA if min(gray.shape) > side else cv2.INTER_LINEAR)
    variance = float(cv2.Laplacian(small, cv2.CV_32F).var())
    return variance / (variance + SHARPNESS_HALF)


def frontalness(landmarks: np.ndarray) -> float:
    """How frontal a face looks from its 5 landmarks (eyes, nose, mouth corners), 0..1.

    Yaw: the nose's sideways offset from the eye/mouth midline in eye distances (0 when frontal,
    about 0.5 when the nose is in line with an eye, near 1 in profile). Roll: the eye line's
    tilt, which alignment undoes, so it only weighs by its cosine.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    eye_vector = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_vector))
    if eye_distance < 1e-6:
        return 0.0
    roll = math.atan2(eye_vector[1], eye_vector[0])
    # Work in the frame where the eye line is horizontal.
    rotation = np.array([[math.cos(roll), math.sin(roll)], [-math.sin(roll), math.cos(roll)]])
    eyes_mid = rotation @ ((left_eye + right_eye) / 2)
    mouth_mid = rotation @ ((left_mouth + right_mouth) / 2)
    nose_r = rotation @ nose
    span = mouth_mid[1] - eyes_mid[1]
    along = (nose_r[1] - eyes_mid[1]) / span if abs(span) > 1e-6 else 0.5
    midline_x = eyes_mid[0] + (mouth_mid[0] - eyes_mid[0]) * along
    yaw = abs(nose_r[0] - midline_x) / eye_distance
    return float(np.clip(1.0 - yaw, 0.0, 1.0) * max(0.0, math.cos(roll)))
