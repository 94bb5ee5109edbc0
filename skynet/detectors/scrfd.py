"""SCRFD face detector of insightface (``det_10g.onnx`` of buffalo_l, ``scrfd_10g_bnkps.onnx``).

Input ``[B, 3, H, W]`` RGB scaled ``(x - 127.5) / 128``: the image is resized (aspect kept) into
the top-left corner of a zero ``size`` x ``size`` square. Nine outputs, three strides (8, 16, 32)
each giving scores ``[N, 1]``, box distances ``[N, 4]`` and landmark offsets ``[N, 10]`` (in that
order: the three score maps, then the three box maps, then the three landmark maps), in units of
the stride, for two anchors per feature-map cell centred on the cell's top-left pixel. Exports
with a batch dimension emit ``[B, N, c]`` instead and run several images in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from skynet.detectors import registry
from skynet.detectors.boxes import nms
from skynet.detectors.raw_faces import RawFaces
from skynet.detectors.runtime import create_session
from skynet.errors import ModelFileError
from skynet.records import FaceDetection

MODEL_FILE = "det_10g.onnx"
STRIDES = (8, 16, 32)
ANCHORS = 2
NMS_IOU = 0.4
MEAN, STD = 127.5, 128.0


def anchor_centres(height: int, width: int, stride: int) -> np.ndarray:
    """(x, y) of every anchor of a ``height`` x ``width`` input at ``stride``: row-major cells,
    ``ANCHORS`` anchors per cell, at the cell's top-left pixel."""
    rows, cols = np.mgrid[: height // stride, : width // stride]
    centres = np.stack([cols, rows], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, ANCHORS, axis=0)


def decode(
    outputs: Sequence[np.ndarray], height: int, width: int, min_score: float, nms_iou: float = NMS_IOU
) -> RawFaces:
    """Faces from one image's nine outputs (each ``[N, c]``) for an input of ``height`` x ``width``."""
    boxes, scores, marks = [], [], []
    for index, stride in enumerate(STRIDES):
        score = outputs[index].reshape(-1)
        distance = outputs[index + len(STRIDES)].reshape(-1, 4) * stride
        offsets = outputs[index + 2 * len(STRIDES)].reshape(-1, 5, 2) * stride
        centres = anchor_centres(height, width, stride)
        if len(centres) != len(score):
            raise ModelFileError(f"SCRFD stride {stride} output has {len(score)} anchors, expected {len(centres)}.")
        keep = score >= min_score
        centre = centres[keep]
        boxes.append(np.concatenate([centre - distance[keep, :2], centre + distance[keep, 2:]], axis=1))
        scores.append(score[keep])
        marks.append(centre[:, None, :] + offsets[keep])
    all_boxes = np.concatenate(boxes).astype(np.float32)
    all_scores = np.concatenate(scores).astype(np.float32)
    all_marks = np.concatenate(marks).astype(np.float32)
    keep = nms(all_boxes, all_scores, nms_iou)
    return RawFaces(all_boxes[keep].reshape(-1, 4), all_scores[keep], all_marks[keep].reshape(-1, 5, 2))


class Scrfd:
    """SCRFD on frames fitted into a ``size`` x ``size`` square (never enlarged)."""

    def __init__(self, session, size: int, min_score: float) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 3 * len(STRIDES):
            raise ModelFileError(
                f"{MODEL_FILE}: expected one input and {3 * len(STRIDES)} outputs (SCRFD with landmarks), "
                f"got {len(inputs)} and {len(outputs)}."
            )
        shape = inputs[0].shape
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        self.session = session
        self.size = fixed[0] if fixed else max(STRIDES[-1], size // STRIDES[-1] * STRIDES[-1])
        self.batched = len(outputs[0].shape) == 3
        self.min_score = min_score
        self._input = inputs[0].name

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in a BGR uint8 image: boxes (clipped to it) and landmarks in its pixels."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[FaceDetection]]:
        """Faces of several images, in one run when the model has a batch dimension."""
        if not images:
            return []
        fitted = [self._fit(image) for image in images]
        tensor = np.stack([square for square, _ in fitted])
        if self.batched:
            per_image = list(zip(*self.session.run(None, {self._input: tensor}), strict=True))
        else:
            per_image = [self.session.run(None, {self._input: tensor[i : i + 1]}) for i in range(len(images))]
        results = []
        for image, (_, factor), outputs in zip(images, fitted, per_image, strict=True):
            raw = decode(outputs, self.size, self.size, self.min_score)
            results.append(raw.detections(factor, image.shape[1], image.shape[0]))
        return results

    def _fit(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = image.shape[:2]
        factor = min(1.0, self.size / max(height, width))
        new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
        resized = image if factor == 1.0 else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        square = np.zeros((self.size, self.size, 3), np.float32)
        square[:new_h, :new_w] = (resized[:, :, ::-1].astype(np.float32) - MEAN) / STD
        return square.transpose(2, 0, 1), factor


@registry.register("face_detector", "scrfd")
def create(context: registry.BackendContext) -> Scrfd:
    """SCRFD with the pack's ``det_10g.onnx``, input size ``face_detect_long_side``."""
    settings = context.settings
    session = create_session(
        context.model_path(MODEL_FILE), settings.execution_providers, settings.intra_op_threads, MODEL_FILE
    )
    return Scrfd(session, settings.face_detect_long_side, settings.face_min_score)
