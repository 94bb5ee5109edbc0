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
from collections.abc import Sequence
from pathlib import Path

import cv2
import dlib
import numpy as np

from skynet.detectors import registry
from skynet.detectors.runtime import create_session
from skynet.errors import ModelFileError
from skynet.models.dlib_onnx import INPUT, OUTPUT, block_size, graph_input
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

    The shape predictor and the chip read the BGR image where it lies: no colour conversion and no copy
    of the frame (dlib's shape predictor sees grey levels, the mean of the three channels, the same in
    either channel order; the chips come out BGR). Only an image that is not one contiguous block (a
    view) is cut around each face first, with a margin of the face's size, on multiples of
    :data:`CROP_ALIGN` pixels so that dlib's halving pyramid samples the same pixels as on the whole image.
    """

    def __init__(self, shape_model: Path) -> None:
        try:
            self.shape_predictor = dlib.shape_predictor(str(shape_model))
        except RuntimeError as exc:  # dlib reports unreadable files as RuntimeError
            raise ModelFileError(f"Model {shape_model.name} could not be loaded by dlib: {exc}") from exc

    def __call__(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> np.ndarray:
        """(N, 150, 150, 3) BGR uint8 chips of ``faces``, each given with the BGR image it lies in."""
        return np.stack([self._chip(image, face.box) for image, face in faces])

    def _chip(self, image: np.ndarray, box: Box) -> np.ndarray:
        x0 = y0 = 0
        if not image.flags.c_contiguous:
            height, width = image.shape[:2]
            margin = CROP_MARGIN * max(box.width, box.height)
            x0 = int(max(0.0, box.x1 - margin)) // CROP_ALIGN * CROP_ALIGN
            y0 = int(max(0.0, box.y1 - margin)) // CROP_ALIGN * CROP_ALIGN
            x1, y1 = int(min(width, box.x2 + margin + 1)), int(min(height, box.y2 + margin + 1))
            image = np.ascontiguousarray(image[y0:y1, x0:x1])
        rect = dlib.rectangle(round(box.x1) - x0, round(box.y1) - y0, round(box.x2) - 1 - x0, round(box.y2) - 1 - y0)
        details = dlib.get_face_chip_details(self.shape_predictor(image, rect), size=CHIP_SIZE, padding=CHIP_PADDING)
        return chip_of(image, details)


def chip_of(image: np.ndarray, details: dlib.chip_details) -> np.ndarray:
    """dlib's ``extract_image_chip(image, details)`` (any channel order), cut by OpenCV at a third to a half of
    dlib's cost.

    Where the chip's area is small enough for dlib to sample the image itself (up to about 300 pixels a side:
    camera faces), dlib samples each chip pixel bilinearly at the affine image of the chip's corners onto the
    (rotated) rectangle of ``details``, truncates to uint8, and leaves black any pixel whose four neighbours
    are not all in the image; OpenCV's ``warpAffine`` on float pixels with a NaN border does the same (its
    sample positions are quantised to 1/32 pixel: chips differ from dlib's by at most 1 grey level, in few
    pixels). Larger areas dlib samples from its image pyramid: see :func:`_pyramid_chip`.
    """
    area = details.rect
    left, top, right, bottom = area.left(), area.top(), area.right(), area.bottom()
    levels = _pyramid_levels(left, top, right, bottom, details.rows * details.cols)
    corners = _corners(left, top, right, bottom, details.angle)
    if levels:
        return _pyramid_chip(image, details, corners, levels)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    x0, y0 = max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2)
    pixels = image[y0 : math.ceil(max(ys)) + 3, x0 : math.ceil(max(xs)) + 3].astype(np.float32)
    chip = cv2.warpAffine(
        pixels,
        _chip_to_image(details, corners, x0, y0, 1),
        (details.cols, details.rows),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(math.nan,) * 3,
    )
    return cv2.patchNaNs(chip, 0.0).astype(np.uint8)  # the cast truncates, as dlib's does


def _pyramid_levels(left: float, top: float, right: float, bottom: float, chip_pixels: int) -> int:
    """How many times dlib halves the image (``pyramid_down<2>``) before it samples a chip of this area: while
    the area halved once more (sides counted inclusively) still holds more pixels than the chip."""
    levels = 0
    while True:
        left, top, right, bottom = (left / 2 - _DOWN_X, top / 2 - _DOWN_Y, right / 2 - _DOWN_X, bottom / 2 - _DOWN_Y)
        if (right - left + 1) * (bottom - top + 1) <= chip_pixels:
            return levels
        levels += 1


_DOWN_X, _DOWN_Y = 1.25, 0.75  # dlib's pyramid_down<2> maps a point p of an image to p / 2 - (1.25, 0.75)


def _corners(left: float, top: float, right: float, bottom: float, angle: float) -> list[tuple[float, float]]:
    """The chip rectangle's top-left, top-right, bottom-left and bottom-right corners turned by ``angle`` about
    its centre."""
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        (centre_x + cos * (x - centre_x) - sin * (y - centre_y), centre_y + sin * (x - centre_x) + cos * (y - centre_y))
        for x, y in ((left, top), (right, top), (left, bottom), (right, bottom))
    ]


def _chip_to_image(
    details: dlib.chip_details, corners: list[tuple[float, float]], x0: int, y0: int, step: int
) -> np.ndarray:
    """The affine map from chip pixels to the pixels of an image cut at (x0, y0) and reduced ``step`` times."""
    return cv2.getAffineTransform(
        np.array([[0, 0], [details.cols - 1, 0], [0, details.rows - 1]], np.float32),
        np.array([((x - x0) / step, (y - y0) / step) for x, y in corners[:3]], np.float32),
    )


def _pyramid_chip(
    image: np.ndarray, details: dlib.chip_details, corners: list[tuple[float, float]], levels: int
) -> np.ndarray:
    """The chip of a large face as dlib cuts it from its image pyramid, by OpenCV: the region under the chip
    halved ``levels`` times by ``cv2.pyrDown`` (the same 5-tap binomial filter as dlib's ``pyramid_down<2>``),
    sampled bilinearly at the points dlib samples. dlib maps a point to the next level by ``p / 2 - (1.25,
    0.75)`` while its filter centres lie at ``2 p + 2``: on the original image its samples are shifted by
    ``2**(n + 1) - 2 - 2**n * c_n`` (n halvings, ``c_n`` the offsets summed over the levels), which this
    shift reproduces. Rounding instead of dlib's truncation makes the chip differ by one or two grey levels
    (descriptors within a cosine of 0.9998 of dlib's chip on the DEV photos). A chip that reaches the image
    border is left to dlib, whose pyramid ends short of the border in its own way.
    """
    offset_x = offset_y = 0.0
    for _ in range(levels):
        offset_x, offset_y = offset_x / 2 + _DOWN_X, offset_y / 2 + _DOWN_Y
    step = 2**levels
    shift_x, shift_y = 2 * step - 2 - step * offset_x, 2 * step - 2 - step * offset_y
    corners = [(x + shift_x, y + shift_y) for x, y in corners]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    support = 2 + 3 * (step - 1)  # pixels of the original image under a filter tap at this level
    x0 = (math.floor(min(xs)) - support) // step * step  # on the original's grid of the level's pixels
    y0 = (math.floor(min(ys)) - support) // step * step
    x1, y1 = math.ceil(max(xs)) + support + 1, math.ceil(max(ys)) + support + 1
    if x0 < 0 or y0 < 0 or x1 > image.shape[1] or y1 > image.shape[0]:
        return dlib.extract_image_chip(image, details)  # dlib's pyramid ends short of the image border its own way
    pixels = image[y0:y1, x0:x1]
    for _ in range(levels):
        pixels = cv2.pyrDown(pixels)
    return cv2.warpAffine(
        pixels,
        _chip_to_image(details, corners, x0, y0, step),
        (details.cols, details.rows),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


class DlibResNetEmbedder:
    """L2-normalised dlib ResNet embeddings of aligned chips, one onnxruntime run per call (the faces of an
    image, or of several images: :meth:`embed_each`)."""

    dim = DIM

    def __init__(self, session, chips: DlibChips) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if (
            [i.name for i in inputs] != [INPUT]
            or inputs[0].type != "tensor(uint8)"
            or outputs[0].name != OUTPUT
            or outputs[0].shape[-1] != DIM
        ):
            raise ModelFileError(
                f"{MODEL_FILE}: not the graph this version of skynet builds from dlib's ResNet.",
                hint="run: skynet models install",
            )
        self.session = session
        self.chips = chips
        self.block = block_size(inputs[0].shape[1])  # the graph's space-to-depth input layout

    def embed(self, image: np.ndarray, faces: list[FaceDetection]) -> list[FaceDetection]:
        """``faces`` with an L2-normalised float32 embedding each (same order)."""
        return self.embed_each([(image, face) for face in faces])

    def embed_each(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]:
        """Each face of ``faces`` (given with the BGR image it lies in) with its embedding, in one batch."""
        if not faces:
            return []
        chips = graph_input(self.chips(faces), self.block)
        vectors = self.session.run([OUTPUT], {INPUT: chips})[0].reshape(len(faces), DIM)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [face.with_embedding(vector) for (_, face), vector in zip(faces, vectors, strict=True)]


@registry.register("face_embedder", "dlib_resnet")
def create(context: registry.BackendContext) -> DlibResNetEmbedder:
    """dlib's ResNet as ONNX (int8 or fp32, see ``SKYNET_PRECISION``) with the 5-point aligner."""
    settings = context.settings
    model = context.precision_model_path(MODEL_FILE)
    session = create_session(model, settings.execution_providers, settings.intra_op_threads, model.name)
    return DlibResNetEmbedder(session, DlibChips(context.model_path(SHAPE_FILE)))
