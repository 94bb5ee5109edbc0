"""``skynet demo``: make a sample image and analyse it, to show the installation works."""

from __future__ import annotations

import cv2
import numpy as np
import typer

from skynet.cli import app
from skynet.cli.detect import describe
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.synthetic import paste_plate, render_plate, street_scene

DEMO_PLATES = {"桂B12345": [[300, 420], [520, 430], [518, 500], [298, 488]],
               "粤BD12345": [[800, 380], [1040, 372], [1046, 450], [804, 456]]}


@app.command()
def demo(data_dir: DataDir = None, model_dir: ModelDir = None) -> None:
    """Render a street scene with two Chinese plates, save it, and run detection on it."""
    settings = load_settings(data_dir, model_dir)
    scene = street_scene()
    for text, corners in DEMO_PLATES.items():
        scene = paste_plate(scene, render_plate(text), np.array(corners, np.float32))
    out_dir = settings.data_dir / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "sample.jpg"
    cv2.imwrite(str(path), scene)
    typer.echo(f"sample image with plates {', '.join(DEMO_PLATES)}: {path}")
    result = ImageAnalyzer.from_settings(settings).analyze(scene)
    typer.echo(describe(path, result))
