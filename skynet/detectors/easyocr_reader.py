"""EasyOCR as plate reader (``plate_reader='easyocr'``): its Latin recogniser on each plate band.

Needs ``pip install 'skynet[easyocr]'`` (PyTorch) and ``english_g2.pth`` installed as the
``easyocr`` pack (``skynet models install easyocr --from ~/.EasyOCR/model``); EasyOCR is never
allowed to download anything. Reads are restricted to the characters the plate rules allow;
EasyOCR gives one confidence per read, which every character of it carries.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from skynet.detectors import registry
from skynet.detectors.plate_format import PlateRules, plate_rules
from skynet.detectors.plate_rectify import plate_band, plate_colour
from skynet.errors import ConfigError, ModelFileError
from skynet.models import get_pack
from skynet.records import PlateDetection, PlateText

PACK = "easyocr"
MODEL_FILE = "english_g2.pth"


class EasyOcrPlateReader:
    """Reads plate bands with an ``easyocr.Reader`` built without its text detector."""

    def __init__(self, reader, rules: PlateRules) -> None:
        self.reader = reader
        self.rules = rules
        self.allowlist = "".join(sorted(c for c in rules.charset if c.isascii()))

    def read(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]:
        """``plates`` with their text, read from the character band of each."""
        bands = [plate_band(image, plate.corners) for plate in plates]
        return [plate.with_read(text) for plate, text in zip(plates, self.read_crops(bands), strict=True)]

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        """Texts of plate images that show just the characters (BGR or grey uint8)."""
        return [self._read(crop) for crop in crops]

    def _read(self, crop: np.ndarray) -> PlateText:
        grey = crop if crop.ndim == 2 else cv2.cvtColor(crop[:, :, :3], cv2.COLOR_BGR2GRAY)
        results = self.reader.recognize(grey, allowlist=self.allowlist, detail=1, paragraph=False)
        pieces = [(str(text), float(confidence)) for _, text, confidence in results]
        text = "".join(c for piece, _ in pieces for c in piece.upper() if c in self.rules.charset)
        confidence = min((c for _, c in pieces), default=0.0)
        confidences = (round(confidence, 4),) * len(text)
        colour = plate_colour(crop) if crop.ndim == 3 else None
        return PlateText(text=text, char_confidences=confidences, format=self.rules.check(text, confidences, colour))


def load_reader(model_dir, gpu: bool):
    """An ``easyocr.Reader`` for Latin text from ``model_dir``, recogniser only, downloads off."""
    try:
        import easyocr
    except ImportError as exc:
        raise ConfigError(
            "The 'easyocr' plate reader needs EasyOCR, which is not installed.", hint="pip install 'skynet[easyocr]'"
        ) from exc
    try:
        return easyocr.Reader(
            ["en"],
            gpu=gpu,
            model_storage_directory=str(model_dir),
            download_enabled=False,
            detector=False,
            recognizer=True,
            verbose=False,
        )
    except Exception as exc:  # EasyOCR raises FileNotFoundError, RuntimeError, torch errors
        raise ModelFileError(
            f"EasyOCR could not load its recogniser from {model_dir}: {exc}",
            hint=f"run: skynet models install {PACK} --from DIR_WITH_{MODEL_FILE}",
        ) from exc


@registry.register("plate_reader", "easyocr")
def create(context: registry.BackendContext) -> EasyOcrPlateReader:
    """EasyOCR with ``english_g2.pth`` from the ``easyocr`` pack; GPU unless only the CPU provider is set."""
    settings = context.settings
    weights = context.store.require(get_pack(PACK), MODEL_FILE)
    gpu = settings.execution_providers != ["CPUExecutionProvider"]
    reader = load_reader(weights.parent, gpu)
    return EasyOcrPlateReader(reader, plate_rules(settings.plate_region, settings.plate_patterns))
