"""dlib's 128-d face embedding, run by onnxruntime: 5-point alignment, then the ResNet as ONNX.

Each face is aligned by dlib's 5-point shape predictor on the detector's box and cut out as dlib's
150 x 150 chip (``get_face_chip``, padding 0.25) as dlib's own ``compute_face_descriptor`` does (camera
faces by OpenCV, within one grey level of dlib's chip: :func:`chip_of`); the chips of an image run
through the network as one batch. The network is the ONNX graph
``skynet models install`` builds from dlib's ``.dat`` (:mod:`skynet.models.dlib_onnx`): it gives
dlib's descriptors (the same embedding space, so stored faces and watch-lists stay valid) in a
fraction of the time, and runs int8 where the pack has a quantised variant. (Aligning by the
detector's own five landmarks instead, without dlib, was measured and lost up to 1 point of TAR;
see the README.)
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import dlib
import numpy as np

from skynet.detectors import registry
from skynet.detectors.runtime import create_session
from skynet.errors import ModelFileError
from skynet.models.dlib_onnx import INPUT, OUTPUT
from skynet.records import Box, FaceDetection

SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.onnx"
DIM = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25
CROP_MARGIN = 1.0  # face sizes of image kept around a face for its alignment: the chip lies well inside
CROP_ALIGN = 64  # crops start on multiples of this (dlib's pyramid levels), so chips do not change


class DlibChips:
    """dlib's aligned face chips: 5 landmarks found by the shape predictor inside each face box.

    Each face is cut out of the image with a margin of its own size before colour conversion and
    alignment (a whole 1080p frame would be converted, and for a large face pyramid-reduced, once
    per call). The cut starts at multiples of :data:`CROP_ALIGN` pixels, so dlib's halving
    pyramid samples the same pixels as on the whole image: the chips are those of the whole image.
    """

    def __init__(self, shape_model: Path) -> None:
        try:
            self.shape_predictor = dlib.shape_predictor(str(shape_model))
        except RuntimeError as exc:  # dlib reports unreadable files as RuntimeError
            raise ModelFileError(f"Model {shape_model.name} could not be loaded by dlib: {exc}") from exc

    def __call__(self, image: np.ndarray, faces: list[FaceDetection]) -> np.ndarray:
        """(N, 150, 150, 3) RGB uint8 chips of ``faces`` in the BGR ``image``."""
        return np.stack([self._chip(image, face.box) for face in faces])

    def _chip(self, image: np.ndarray, box: Box) -> np.ndarray:
        height, width = image.shape[:2]
        margin = CROP_MARGIN * max(box.width, box.height)
        x0 = int(max(0.0, box.x1 - margin)) // CROP_ALIGN * CROP_ALIGN
        y0 = int(max(0.0, box.y1 - margin)) // CROP_ALIGN * CROP_ALIGN
        x1, y1 = int(min(width, box.x2 + margin + 1)), int(min(height, box.y2 + margin + 1))
        rgb = np.ascontiguousarray(cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2RGB))
        rect = dlib.rectangle(round(box.x1) - x0, round(box.y1) - y0, round(box.x2) - 1 - x0, round(box.y2) - 1 - y0)
        details = dlib.get_face_chip_details(self.shape_predictor(rgb, rect), size=CHIP_SIZE, padding=CHIP_PADDING)
        return chip_of(rgb, details)


def chip_of(rgb: np.ndarray, details: dlib.chip_details) -> np.ndarray:
    """dlib's ``extract_image_chip(rgb, details)``, cut by OpenCV at a third to a half of dlib's cost where dlib
    samples the image itself (areas up to about 300 pixels a side: camera faces); larger ones, which dlib samples
    from its image pyramid, are left to dlib (as fast there).

    dlib samples each chip pixel bilinearly at the affine image of the chip's corners onto the (rotated)
    rectangle of ``details``, truncates to uint8, and leaves black any pixel whose four neighbours are not
    all in the image; OpenCV's ``warpAffine`` on float pixels with a NaN border does the same (its sample
    positions are quantised to 1/32 pixel: chips differ from dlib's by at most 1 grey level, in few pixels).
    """
    area = details.rect
    left, top, right, bottom = area.left(), area.top(), area.right(), area.bottom()
    # dlib's test for a pyramid level: the area halved by pyramid_down<2> (sides counted inclusively) still
    # holds more pixels than the chip
    if ((right - left) / 2 + 1) * ((bottom - top) / 2 + 1) > details.rows * details.cols:
        return dlib.extract_image_chip(rgb, details)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    cos, sin = math.cos(details.angle), math.sin(details.angle)
    corners = [
        (centre_x + cos * (x - centre_x) - sin * (y - centre_y), centre_y + sin * (x - centre_x) + cos * (y - centre_y))
        for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))
    ]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    x0, y0 = max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2)
    pixels = rgb[y0 : math.ceil(max(ys)) + 3, x0 : math.ceil(max(xs)) + 3].astype(np.float32)
    to_image = cv2.getAffineTransform(
        np.array([[0, 0], [details.cols - 1, 0], [0, details.rows - 1]], np.float32),
        np.array([(x - x0, y - y0) for x, y in corners[:3]], np.float32),
    )
    chip = cv2.warpAffine(
        pixels,
        to_image,
        (details.cols, details.rows),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(math.nan,) * 3,
    )
    return cv2.patchNaNs(chip, 0.0).astype(np.uint8)  # the cast truncates, as dlib's does


class DlibResNetEmbedder:
    """L2-normalised dlib ResNet embeddings of aligned chips, one onnxruntime run per image."""

    dim = DIM

    def __init__(self, session, chips: DlibChips) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or outputs[0].name != OUTPUT or outputs[0].shape[-1] != DIM:
            raise ModelFileError(f"{MODEL_FILE}: not the graph skynet builds from dlib's ResNet.")
        self.session = session
        self.chips = chips

    def embed(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` with an L2-normalised float32 embedding each (same order)."""
        if not faces:
            return []
        chips = self.chips(image, faces).transpose(0, 3, 1, 2).astype(np.float32)
        vectors = self.session.run([OUTPUT], {INPUT: chips})[0].reshape(len(faces), DIM)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [face.with_embedding(vector) for face, vector in zip(faces, vectors, strict=True)]


@registry.register("face_embedder", "dlib_resnet")
def create(context: registry.BackendContext) -> DlibResNetEmbedder:
    """dlib's ResNet as ONNX (int8 or fp32, see ``SKYNET_PRECISION``) with the 5-point aligner."""
    settings = context.settings
    model = context.precision_model_path(MODEL_FILE)
    session = create_session(model, settings.execution_providers, settings.intra_op_threads, model.name)
    return DlibResNetEmbedder(session, DlibChips(context.model_path(SHAPE_FILE)))
