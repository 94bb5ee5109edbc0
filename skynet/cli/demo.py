"""``skynet demo``: make a sample image and analyse it, to show the installation works."""

from __future__ import annotations

import cv2
import typer

from skynet.cli import app
from skynet.cli.detect import describe
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.synthetic import DEMO_PLATES, paste_demo_plates, street_scene


@app.command()
def demo(data_dir: DataDir = None, model_dir: ModelDir = None) -> None:
    """Render a street scene with two Chinese plates, save it, and run detection on it."""
    settings = load_settings(data_dir, model_dir)
    scene = paste_demo_plates(street_scene())
    out_dir = settings.data_dir / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "sample.jpg"
    cv2.imwrite(str(path), scene)
    typer.echo(f"sample image with plates {', '.join(DEMO_PLATES[:2])}: {path}")
    result = ImageAnalyzer.from_settings(settings).analyze(scene)
    typer.echo(describe(path, result))
