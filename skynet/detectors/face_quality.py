"""Face quality from size, sharpness, pose and exposure, and whether the landmarks lie as a face's do:
ranks the faces of one track and tells usable views from junk (< 1 ms per face)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from skynet.records import Box, FaceDetection, FaceQuality

FULL_SIZE_PX = 112.0  # face boxes with a short side of this many pixels or more count as full size
CROP_PX = 64  # the face is resampled to this square before measuring sharpness and exposure
SHARPNESS_HALF = 200.0  # variance of the Laplacian at which sharpness is 0.5
# Exposure ramps over the face's grey levels (0..255): 0 at the first value, 1 from the second.
DARK = (30.0, 70.0)  # mean level: too dark to see features below the first
BLOWN_OUT = (235.0, 195.0)  # mean level: washed out above the first
FLAT = (6.0, 24.0)  # standard deviation: no contrast below the first


def face_quality(image: np.ndarray, face: FaceDetection) -> FaceQuality:
    """Size, sharpness, frontalness and exposure of ``face`` in ``image`` (BGR uint8), each 0..1,
    and whether its landmarks are plausible (:func:`landmarks_plausible`).

    ``score`` is the geometric mean of the four, so a face that fails one of them badly (a dark or
    profile view) ranks low.
    """
    size = min(1.0, min(face.box.width, face.box.height) / FULL_SIZE_PX)
    grey = _grey_crop(image, face.box)
    sharp = _sharpness(grey)
    frontal = frontalness(face.landmarks)
    lit = _exposure(grey)
    score = (size * sharp * frontal * lit) ** 0.25
    return FaceQuality(
        score=float(score),
        size=float(size),
        sharpness=float(sharp),
        frontalness=float(frontal),
        exposure=float(lit),
        plausible=landmarks_plausible(face.landmarks, face.box),
    )


def sharpness(image: np.ndarray, face: FaceDetection) -> float:
    """Variance of the Laplacian of the face crop resampled to a fixed size, mapped to 0..1."""
    return _sharpness(_grey_crop(image, face.box))


def exposure(image: np.ndarray, face: FaceDetection) -> float:
    """How well lit the face is, 0..1: the lowest of three ramps, on its mean grey level (dark,
    blown out) and on its contrast (standard deviation)."""
    return _exposure(_grey_crop(image, face.box))


def _grey_crop(image: np.ndarray, box: Box) -> np.ndarray | None:
    """The face box of ``image`` in grey, resampled to ``CROP_PX`` square; None for an empty box."""
    height, width = image.shape[:2]
    box = box.clipped(width, height)
    x1, y1, x2, y2 = int(box.x1), int(box.y1), math.ceil(box.x2), math.ceil(box.y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    side = CROP_PX
    step = max(1, min(x2 - x1, y2 - y1) // (2 * side))  # skip pixels of large faces: stays < 1 ms
    crop = np.ascontiguousarray(image[y1:y2:step, x1:x2:step])
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    interpolation = cv2.INTER_AREA if min(grey.shape) > side else cv2.INTER_LINEAR
    return cv2.resize(grey, (side, side), interpolation=interpolation)


def _sharpness(grey: np.ndarray | None) -> float:
    if grey is None:
        return 0.0
    variance = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return variance / (variance + SHARPNESS_HALF)


def _exposure(grey: np.ndarray | None) -> float:
    if grey is None:
        return 0.0
    mean, std = float(grey.mean()), float(grey.std())
    return min(_ramp(mean, *DARK), _ramp(mean, *BLOWN_OUT), _ramp(std, *FLAT))


def _ramp(value: float, zero: float, one: float) -> float:
    """0 at ``zero``, 1 at ``one`` (either order), linear between."""
    return float(np.clip((value - zero) / (one - zero), 0.0, 1.0))


def frontalness(landmarks: np.ndarray) -> float:
    """How frontal a face looks from its 5 landmarks (eyes, nose, mouth corners), 0..1.

    Yaw: the nose's sideways offset from the eye/mouth midline in eye distances (0 when frontal,
    about 0.5 when the nose is in line with an eye, near 1 in profile). Roll: the eye line's
    tilt, which alignment undoes, so it only weighs by its cosine.
    """
    frame = _upright(landmarks)
    if frame is None:
        return 0.0
    eye_distance, roll, eyes_mid, nose, mouth_mid = frame
    span = mouth_mid[1] - eyes_mid[1]
    along = (nose[1] - eyes_mid[1]) / span if abs(span) > 1e-6 else 0.5
    midline_x = eyes_mid[0] + (mouth_mid[0] - eyes_mid[0]) * along
    yaw = abs(nose[0] - midline_x) / eye_distance
    return float(np.clip(1.0 - yaw, 0.0, 1.0) * max(0.0, math.cos(roll)))


# Where the landmarks of real faces lie, in eye distances in the upright face (the eye line level),
# with room to spare: measured on the DEV photos and camera views (eye distance 0.34-0.63 of the box
# width, eyes to mouth 0.83-1.71, nose at 0.47-0.67 of the way from eyes to mouth, mouth 0.73-0.90
# wide, roll within 24 degrees); a back of a head, a profile or clothing breaks one of them.
MIN_EYES_OF_BOX = 0.25  # eye distance / box width
EYES_TO_MOUTH = (0.6, 2.0)
NOSE_ALONG = (0.25, 0.85)
MOUTH_WIDTH = (0.5, 1.2)
MAX_ROLL_DEG = 45.0
BOX_SLACK = 0.1  # landmarks may lie this fraction of the box size outside it


def landmarks_plausible(landmarks: np.ndarray, box: Box) -> bool:
    """Whether the five landmarks lie as a face's do (see the constants above): eyes level enough and
    far enough apart for the box, the mouth below them at a face's distance and width, the nose
    between, every point in (or just around) the box."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    slack_x, slack_y = box.width * BOX_SLACK, box.height * BOX_SLACK
    inside = (
        (points[:, 0] >= box.x1 - slack_x)
        & (points[:, 0] <= box.x2 + slack_x)
        & (points[:, 1] >= box.y1 - slack_y)
        & (points[:, 1] <= box.y2 + slack_y)
    )
    frame = _upright(points)
    if frame is None or not inside.all() or box.width <= 0:
        return False
    eye_distance, roll, eyes_mid, nose, mouth_mid = frame
    mouth = points[4] - points[3]
    eyes_to_mouth = (mouth_mid[1] - eyes_mid[1]) / eye_distance
    along = (nose[1] - eyes_mid[1]) / max(mouth_mid[1] - eyes_mid[1], 1e-6)
    mouth_width = float(np.hypot(*mouth)) / eye_distance
    return bool(
        eye_distance >= MIN_EYES_OF_BOX * box.width
        and abs(math.degrees(roll)) <= MAX_ROLL_DEG
        and EYES_TO_MOUTH[0] <= eyes_to_mouth <= EYES_TO_MOUTH[1]
        and NOSE_ALONG[0] <= along <= NOSE_ALONG[1]
        and MOUTH_WIDTH[0] <= mouth_width <= MOUTH_WIDTH[1]
    )


def _upright(landmarks: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Eye distance, roll (radians), and the eyes' midpoint, nose and mouth's midpoint rotated so that
    the eye line is level; None when the eyes coincide."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    eye_vector = right_eye - left_eye
    eye_distance = float(np.hypot(*eye_vector))
    if eye_distance < 1e-6:
        return None
    roll = math.atan2(eye_vector[1], eye_vector[0])
    rotation = np.array([[math.cos(roll), math.sin(roll)], [-math.sin(roll), math.cos(roll)]])
    return (
        eye_distance,
        roll,
        rotation @ ((left_eye + right_eye) / 2),
        rotation @ nose,
        rotation @ ((left_mouth + right_mouth) / 2),
    )
