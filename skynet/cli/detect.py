"""``skynet detect IMAGE|DIR ... [--json]``: faces and plates per image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from skynet.cli import app
from skynet.cli.options import DataDir, ModelDir, load_settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.errors import BadImageError
from skynet.images import load_image
from skynet.ingest.paths import IMAGE_SUFFIXES, expand_paths
from skynet.records import Detections
from skynet.serialize import to_jsonable


@app.command()
def detect(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or directories of images.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per image (JSON lines).")] = False,
    embeddings: Annotated[bool, typer.Option("--embeddings", help="Include face embeddings in --json output.")] = False,
    faces: Annotated[bool, typer.Option("--faces/--no-faces")] = True,
    plates: Annotated[bool, typer.Option("--plates/--no-plates")] = True,
    threads: Annotated[int | None, typer.Option("--threads", help="Threads per model (0 = all cores).")] = None,
    reader: Annotated[
        str | None, typer.Option("--reader", help="Plate reader: ppocr (accurate) or clp_rec (fast).")
    ] = None,
    data_dir: DataDir = None,
    model_dir: ModelDir = None,
) -> None:
    """Find faces and licence plates in images; prints model time per stage."""
    settings = load_settings(data_dir, model_dir, intra_op_threads=threads, plate_reader=reader)
    analyzer = ImageAnalyzer.from_settings(settings)
    failures = 0
    for path in expand_paths(inputs, IMAGE_SUFFIXES):
        try:
            image = load_image(path, settings.max_image_pixels, settings.max_image_bytes)
        except BadImageError as error:
            failures += 1
            if as_json:
                typer.echo(json.dumps({"path": str(path), "error": error.message}, ensure_ascii=False))
            else:
                typer.secho(f"{path}: {error}", fg=typer.colors.RED, err=True)
            continue
        result = analyzer.analyze(image, faces=faces, plates=plates)
        if as_json:
            typer.echo(json.dumps(detections_json(path, result, embeddings), ensure_ascii=False))
        else:
            typer.echo(describe(path, result))
    if failures:
        raise typer.Exit(code=1)


def detections_json(path: Path, result: Detections, with_embeddings: bool) -> dict:
    """JSON object for one image; embeddings only when asked (128 numbers per face)."""
    data = to_jsonable(result)
    if not with_embeddings:
        for face in data["faces"]:
            face.pop("embedding", None)
    for plate, detection in zip(data["plates"], result.plates, strict=False):
        if detection.read is not None:
            plate["read"]["confidence"] = round(detection.read.confidence, 4)
    data["path"] = str(path)
    data["total_model_ms"] = round(result.total_model_ms, 1)
    return data


def describe(path: Path, result: Detections) -> str:
    """Human-readable lines for one image."""
    stages = ", ".join(f"{stage} {ms:.0f}" for stage, ms in result.model_ms.items())
    lines = [
        f"{path}  {result.image_width}x{result.image_height}  "
        f"{len(result.faces)} face(s), {len(result.plates)} plate(s)  model {result.total_model_ms:.0f} ms ({stages})"
    ]
    for number, face in enumerate(result.faces, 1):
        quality = f" quality {face.quality.score:.2f}" if face.quality else ""
        lines.append(f"  face  {number}: box {_box(face.box)} score {face.score:.2f}{quality}")
    for number, plate in enumerate(result.plates, 1):
        read = plate.read
        if read is None:
            text = "(unread)"
        else:
            kind = read.format.kind if read.format and read.format.kind else "unknown format"
            valid = "valid" if read.format and read.format.valid else "not a valid plate"
            text = f"{read.text}  ({kind}, {valid}, confidence {read.confidence:.2f})"
        lines.append(f"  plate {number}: {text}  box {_box(plate.box)} score {plate.score:.2f}")
    return "\n".join(lines)


def _box(box) -> str:
    return f"({box.x1:.0f},{box.y1:.0f})-({box.x2:.0f},{box.y2:.0f})"
