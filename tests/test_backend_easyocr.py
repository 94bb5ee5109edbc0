"""EasyOCR plate reader: registration, clear errors without the package or its weights, read conversion."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from skynet.config import Settings
from skynet.detectors import easyocr_reader, registry
from skynet.detectors.plate_format import plate_rules
from skynet.errors import ConfigError, ModelFileError
from skynet.models import ModelStore, get_pack
from skynet.records import Box, PlateDetection

LATIN = plate_rules("custom", [r"[A-Z]{2}[0-9]{3}[A-Z]{2}"])


class RecordingReader:
    """Stands in for ``easyocr.Reader.recognize``: returns the given results, records the call."""

    def __init__(self, results):
        self.results = results
        self.calls = []

    def recognize(self, image, **options):
        self.calls.append((image, options))
        return self.results


def test_easyocr_is_registered_by_name_and_missing_weights_name_the_file(tmp_path):
    assert "easyocr" in registry.names("plate_reader")
    settings = Settings(model_dir=tmp_path, plate_reader="easyocr")
    context = registry.BackendContext(settings, ModelStore(tmp_path), get_pack("default"))
    with pytest.raises(ModelFileError) as error:
        registry.create("plate_reader", "easyocr", context)
    assert "english_g2.pth" in error.value.message and str(tmp_path / "easyocr") in error.value.message
    assert "skynet models install easyocr --from" in error.value.hint


def test_without_easyocr_installed_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "easyocr", None)
    with pytest.raises(ConfigError, match="needs EasyOCR") as error:
        easyocr_reader.load_reader(tmp_path, gpu=False)
    assert "skynet[easyocr]" in error.value.hint


def test_reads_are_upper_cased_restricted_to_plate_characters_and_checked():
    stub = RecordingReader([([[0, 0], [9, 0], [9, 9], [0, 9]], "ab 123", 0.9), ([], "cd", 0.8)])
    reader = easyocr_reader.EasyOcrPlateReader(stub, LATIN)
    image = np.full((60, 200, 3), 200, np.uint8)
    plate = PlateDetection(Box(10, 10, 190, 50), 0.9, np.float32([[10, 10], [190, 10], [190, 50], [10, 50]]))
    [read] = reader.read(image, [plate])
    assert read.read.text == "AB123CD" and read.read.format.valid
    assert read.read.char_confidences == (0.8,) * 7
    grey, options = stub.calls[0]
    assert grey.ndim == 2 and options["allowlist"] == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_an_empty_read_is_an_invalid_plate():
    reader = easyocr_reader.EasyOcrPlateReader(RecordingReader([]), LATIN)
    [text] = reader.read_crops([np.zeros((20, 80), np.uint8)])
    assert text.text == "" and not text.format.valid


def test_real_easyocr_reads_with_weights_from_the_model_dir():
    pytest.importorskip("easyocr", reason="easyocr not installed (pip install 'skynet[easyocr]')")
    settings = Settings()
    store = ModelStore(settings.models_path)
    pack = get_pack("easyocr")
    if not store.ready(pack):
        pytest.skip(f"easyocr pack not installed in {store.root} (skynet models install easyocr --from DIR)")
    reader = easyocr_reader.EasyOcrPlateReader(easyocr_reader.load_reader(store.pack_dir(pack), gpu=False), LATIN)
    [text] = reader.read_crops([np.full((40, 160, 3), 255, np.uint8)])
    assert set(text.text) <= LATIN.charset and len(text.char_confidences) == len(text.text)
