"""``skynet detect`` on a directory: every image analysed, bad files reported, JSON lines."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from skynet.cli import _register_commands, app
from skynet.synthetic import DEMO_PLATES, paste_plate, render_plate, street_scene


@pytest.mark.models
def test_detect_directory_json_with_a_bad_file(model_settings, cjk_font, tmp_path):
    scene = paste_plate(
        street_scene(), render_plate("桂B12345", cjk_font), np.float32([[300, 420], [520, 430], [518, 500], [298, 488]])
    )
    photos = tmp_path / "photos" / "day1"
    photos.mkdir(parents=True)
    cv2.imwrite(str(photos / "street.jpg"), scene)
    (photos / "broken.png").write_bytes(b"not a png")
    (photos / "notes.txt").write_text("ignored: not an image suffix")
    _register_commands()
    result = CliRunner().invoke(
        app, ["detect", str(tmp_path / "photos"), "--json", "--model-dir", str(model_settings.models_path)]
    )
    assert result.exit_code == 1  # one file failed; the others were still processed
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_name = {line["path"].rsplit("/", 1)[-1]: line for line in lines}
    assert set(by_name) == {"broken.png", "street.jpg"}
    assert "not an image" in by_name["broken.png"]["error"]
    plates = by_name["street.jpg"]["plates"]
    assert [p["read"]["text"] for p in plates] == ["桂B12345"] and plates[0]["read"]["format"]["valid"]
    assert by_name["street.jpg"]["total_model_ms"] > 0


@pytest.mark.models
def test_demo_prints_the_calibrated_confidence_of_its_correct_reads(model_settings, tmp_path):
    """``skynet demo`` reads its two plates right and says so with confidence (it printed 0.03 for a right
    read when confidences were per-frame character probabilities)."""
    _register_commands()
    result = CliRunner().invoke(
        app, ["demo", "--data-dir", str(tmp_path), "--model-dir", str(model_settings.models_path)]
    )
    assert result.exit_code == 0, result.output
    reads = re.findall(r"plate \d: (\S+) .*confidence (\d\.\d\d)", result.stdout)
    assert sorted(text for text, _ in reads) == sorted(DEMO_PLATES[:2])
    assert all(float(confidence) >= 0.9 for _, confidence in reads), result.stdout
