"""Build a seeded, reproducible multi-camera scenario with ground truth.

    .venv/bin/python benchmarks/scenario.py --out /tmp/scenario            # 8 cameras, 20 + 20, 2 min
    .venv/bin/python benchmarks/scenario.py --quick --out /tmp/scenario_q  # 3 cameras, 4 + 4, 20 s

People come from a face set (``labels.csv`` with ``filename, identity``; identities with at least
two photos; ``--held-back`` photos of each are never pasted: they are the query photos), vehicles
from a plate set (``filename, plate_text``) or synthetic plates (``--plates synthetic``), the
backgrounds from a surveillance clip set (``filename, duration_s``) or generated streets
(``--backgrounds generated``). Writes ``OUT/videos/camNN.mp4`` (H.264), ``OUT/ground_truth.csv``
(kind, identity, camera, t_in, t_out: seconds from every clip's first frame, when the face or
plate is fully in view) and ``OUT/manifest.json`` (cameras with positions and modes, files, start
offsets, query photos, watch-list picks, parameters). See ``scenario_plan.py`` for the movement
model and ``run_scenario.py`` for running it through Skynet.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenario_plan import Params, make_plan, write_plan
from scenario_render import Box, background_clips, render_all

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.errors import SkynetError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
QUICK = {"cameras": 3, "people": 4, "vehicles": 4, "seconds": 20.0, "watch_people": 2, "watch_vehicles": 2}


def face_boxes(analyzer: ImageAnalyzer, faces: Path, photos: set[str]) -> dict[str, Box | None]:
    """The largest face of every photo to paste (CenterFace from the installed model pack)."""
    boxes: dict[str, Box | None] = {}
    for name in sorted(photos):
        image = cv2.imread(str(faces / "images" / name))
        found = analyzer.analyze(image, faces=True, plates=False, embed=False).faces if image is not None else []
        best = max(found, key=lambda f: f.box.area, default=None)
        boxes[name] = None if best is None else (best.box.x1, best.box.y1, best.box.x2, best.box.y2)
    return boxes


def faceless(analyzer: ImageAnalyzer, clips: list[Path], size: tuple[int, int], every: int = 5) -> list[Path]:
    """The background clips in which the face detector finds no face (every ``every``-th frame, at the
    scenario's size): real passers-by would be sightings the ground truth cannot name."""
    kept = []
    for clip in clips:
        capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
        index, clean = 0, True
        while clean:
            ok, image = capture.read()
            if not ok:
                break
            if index % every == 0:
                frame = cv2.resize(image, size)
                clean = not analyzer.analyze(frame, faces=True, plates=False, embed=False).faces
            index += 1
        capture.release()
        if clean:
            kept.append(clip)
        else:
            print(f"background {clip.name} not used: it shows faces the ground truth cannot name", flush=True)
    return kept


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/skynet_scenario"), help="output directory")
    parser.add_argument("--faces", type=Path, default=DATA / "faces_identities")
    parser.add_argument("--plates", default=str(DATA / "cn_plate_crops"), help="a plate set, or 'synthetic'")
    parser.add_argument(
        "--backgrounds", default=str(DATA / "videos_surveillance"), help="a surveillance clip set, or 'generated'"
    )
    parser.add_argument("--quick", action="store_true", help="3 cameras, 4 people, 4 vehicles, 20 s")
    for name, default in (
        ("cameras", 8),
        ("people", 20),
        ("vehicles", 20),
        ("live", 2),
        ("watch-people", 5),
        ("watch-vehicles", 5),
        ("width", 1280),
        ("height", 720),
        ("fps", 25),
        ("seed", 0),
        ("held-back", 1),
    ):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of every clip")
    parser.add_argument("--spacing", type=float, default=60.0, help="metres between neighbouring cameras")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="clips rendered in parallel")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def params_from(args: argparse.Namespace) -> Params:
    plates = None if args.plates == "synthetic" else Path(args.plates)
    return Params(
        faces=args.faces,
        plates=plates,
        cameras=args.cameras,
        people=args.people,
        vehicles=args.vehicles,
        seconds=args.seconds,
        width=args.width,
        height=args.height,
        fps=args.fps,
        live=args.live,
        watch_people=args.watch_people,
        watch_vehicles=args.watch_vehicles,
        spacing_m=args.spacing,
        held_back=args.held_back,
        seed=args.seed,
    )


def build(args: argparse.Namespace) -> Path:
    """Plan, write the ground truth and manifest, render the clips; returns the output directory."""
    plan = make_plan(params_from(args))
    args.out.mkdir(parents=True, exist_ok=True)
    analyzer = ImageAnalyzer.from_settings(Settings())
    clips = [] if args.backgrounds == "generated" else background_clips(Path(args.backgrounds))
    clips = faceless(analyzer, clips, (args.width, args.height))
    write_plan(plan, args.out, [str(c) for c in clips])
    photos = {v.asset for v in plan.visits if v.kind == "face"}
    started = time.perf_counter()
    render_all(plan, args.out, face_boxes(analyzer, args.faces, photos), clips, args.jobs)
    print(
        f"{len(plan.cameras)} clips, {len(plan.visits)} visits in {time.perf_counter() - started:.0f} s -> {args.out}",
        flush=True,
    )
    return args.out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except SkynetError as error:  # e.g. the model pack is missing
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
