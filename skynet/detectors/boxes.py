"""Box helpers shared by the optional back-ends: scored boxes and non-maximum suppression."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class ScoredBoxes:
    """Detections of one image (x1 y1 x2 y2): ``boxes`` (N, 4) x1 y1 x2 y2, ``scores`` (N,), ``classes`` (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    @classmethod
    def empty(cls) -> ScoredBoxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def select(self, keep: np.ndarray) -> ScoredBoxes:
        return ScoredBoxes(self.boxes[keep].reshape(-1, 4), self.scores[keep], self.classes[keep])


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, classes: np.ndarray | None = None) -> np.ndarray:
    """Indices of the boxes kept by non-maximum suppression at ``iou``, best score first.

    ``boxes`` is (N, 4) x1 y1 x2 y2; with ``classes`` boxes only suppress boxes of their class.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).tolist()
    if classes is None:
        kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou)
    else:
        kept = cv2.dnn.NMSBoxesBatched(xywh, scores.tolist(), classes.astype(int).tolist(), 0.0, iou)
    return np.asarray(kept, dtype=np.int64).reshape(-1)
