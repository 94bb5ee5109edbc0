"""Accuracy on real footage: false face sightings per camera-hour on real clips, and the scenario's figures
over several seeds.

    .venv/bin/python benchmarks/eval_video.py [--clips DIR] [--live-s 160] [--seeds 0 1 2]
        [--scenarios DIR] [--json out.json] [--out DIR]

1. **Real clips, re-indexed**: every clip of ``--clips`` (default ``../shared/data/videos_surveillance``,
   whose clips show no face large enough to recognise, so every face sighting there is false) runs
   through a camera worker as ``skynet reindex`` runs it (5 fps analysis, motion gate and region
   detection, faces embedded and plates read as tracks need, the configured face gates). Counted: face
   and plate sightings, face tracks the gates turned away and why; ``false_face_per_camera_hour`` is
   face sightings per hour of footage.
2. **Real clips as live cameras**: the same clips registered as cameras play in a loop at their own
   frame rate (as a video file added as a camera does), all at once, for ``--live-s`` seconds
   (default 160: two loops of the longest DEV clip); the same counts per hour of camera time.
3. **Scenarios** (``--seeds``): for each seed a scenario built by ``benchmarks/scenario.py`` from the
   DEV face and plate sets (``--faces``, ``--plates``; built once into ``--scenarios``, reused when its
   ``manifest.json`` is there), then run by ``benchmarks/run_scenario.py`` (the whole service); its
   figures are collected per seed.

Thumbnails of every face sighting on the real clips are written to ``--out`` to be looked at. Prints a
table and writes the JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from skynet.config import Settings
from skynet.detectors.batching import camera_pool
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.worker import CameraWorker, WorkerOptions
from skynet.records import Sighting, SightingKind

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov"}


class Collect:
    """A sighting sink that keeps every sighting and face thumbnail (thread-safe)."""

    def __init__(self) -> None:
        self.sightings: list[tuple[Sighting, np.ndarray]] = []
        self._lock = threading.Lock()

    def publish(self, sighting: Sighting, thumbnail: np.ndarray, context: np.ndarray) -> None:
        with self._lock:
            self.sightings.append((sighting, thumbnail))


class GateLog(logging.Handler):
    """Counts the face tracks the gates turn away, by reason (from the tracker's debug log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.reasons: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if "is no sighting" in record.msg and len(record.args) >= 3:
            self.reasons[str(record.args[2])] += 1


def clip_seconds(path: Path) -> float:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
        return float(frames / fps) if fps > 0 else 0.0
    finally:
        capture.release()


def run_clips(clips: list[Path], settings: Settings, live_s: float | None, out: Path | None) -> dict:
    """Every clip through a camera worker (an archive, or with ``live_s`` a looping live camera for that
    long, all at once); the counts per clip and per camera-hour."""
    pool = camera_pool(settings.model_copy(update={"intra_op_threads": 1}), 2, lazy_embedding=True, lazy_reading=True)
    gates = GateLog()
    logger = logging.getLogger("skynet.tracking.track")
    logger.addHandler(gates)
    logger.setLevel(logging.DEBUG)
    per_clip: dict[str, dict] = {}
    try:
        workers = []
        for clip in clips:
            sink = Collect()
            spec = (
                SourceSpec.live_camera(clip.stem, str(clip))
                if live_s is not None
                else SourceSpec(clip.stem, str(clip), start_time=0.0)
            )
            worker = CameraWorker(
                spec, pool, sink, WorkerOptions.from_settings(settings), embed=pool.embed, read=pool.read
            )
            workers.append((clip, sink, worker.start()))
            if live_s is None:
                worker.join()  # archives one after the other, as one re-index job per camera would
        if live_s is not None:
            time.sleep(live_s)
            for _, _, worker in workers:
                worker.stop()
            for _, _, worker in workers:
                worker.join(60)
        for clip, sink, worker in workers:
            seconds = live_s if live_s is not None else clip_seconds(clip)
            faces = [(s, t) for s, t in sink.sightings if s.kind is SightingKind.FACE]
            per_clip[clip.name] = {
                "seconds": round(seconds, 1),
                "frames_analysed": worker.status().frames_analysed,
                "frames_dropped": worker.status().frames_dropped,  # due for analysis, replaced by a newer one
                "reconnects": worker.status().reconnects,
                "face_sightings": len(faces),
                "plate_sightings": len(sink.sightings) - len(faces),
                "faces": [_describe(s) for s, _ in faces],
            }
            if out is not None:
                for i, (s, thumbnail) in enumerate(faces):
                    mode = "live" if live_s is not None else "archive"
                    cv2.imwrite(str(out / f"{mode}_{clip.stem}_{i}_q{s.quality:.2f}.png"), thumbnail)
    finally:
        logger.removeHandler(gates)
    hours = sum(c["seconds"] for c in per_clip.values()) / 3600.0
    faces = sum(c["face_sightings"] for c in per_clip.values())
    return {
        "clips": per_clip,
        "camera_hours": round(hours, 4),
        "face_sightings": faces,
        "false_face_per_camera_hour": round(faces / hours, 2) if hours else None,
        "face_tracks_turned_away": dict(gates.reasons),
    }


def _describe(sighting: Sighting) -> dict:
    box = sighting.box
    return {
        "first_seen": round(sighting.first_seen, 2),
        "last_seen": round(sighting.last_seen, 2),
        "box": [round(v) for v in box.as_list()],
        "quality": round(sighting.quality, 3),
    }


SCENARIO_FIGURES = {  # name: (path in run_scenario's JSON, target)
    "face stop recall": (("trajectory", "face", "recall"), 0.95),
    "face stop precision": (("trajectory", "face", "precision"), 0.95),
    "plate stop recall": (("trajectory", "plate", "recall"), 0.95),
    "plate stop precision": (("trajectory", "plate", "precision"), 0.98),
    "face sighting precision": (("sightings", "face", "precision"), None),
    "plate sightings read right": (("sightings", "plate", "read_right"), None),
    "live alert recall": (("alerts", "live", "recall"), 0.95),
    "live false alerts": (("alerts", "live", "false_alerts"), None),
    "live duplicate alerts": (("alerts", "live", "duplicate_alerts"), None),  # target 0: one alert per pass
    "archive alert recall": (("alerts", "archive", "recall"), None),
    "archive false alerts": (("alerts", "archive", "false_alerts"), None),
    "archive duplicate alerts": (("alerts", "archive", "duplicate_alerts"), None),
}


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    """Build (once) and run the scenario of ``seed``; its figures."""
    scenario = args.scenarios / f"seed{seed}"
    python = sys.executable
    if not (scenario / "manifest.json").is_file():
        build = [python, str(ROOT / "benchmarks" / "scenario.py"), "--out", str(scenario), "--seed", str(seed)]
        subprocess.run([*build, "--faces", str(args.faces), "--plates", str(args.plates)], check=True)
    results = scenario / "results.json"
    subprocess.run(
        [python, str(ROOT / "benchmarks" / "run_scenario.py"), str(scenario), "--json", str(results)], check=True
    )
    full = json.loads(results.read_text(encoding="utf-8"))
    figures = {name: _get(full, path) for name, (path, _) in SCENARIO_FIGURES.items()}
    figures["mismatches"] = full.get("mismatches")
    return figures


def _get(results: dict, path: tuple[str, ...]):
    for key in path:
        results = results.get(key) if isinstance(results, dict) else None
    return results


def table(results: dict) -> str:
    lines = [f"{'real clips':44s} {'camera-h':>9s} {'face sightings':>15s} {'per camera-h':>13s}"]
    for mode in ("archive", "live"):
        r = results.get(mode)
        if r:
            lines.append(
                f"{mode:44s} {r['camera_hours']:9.3f} {r['face_sightings']:15d} {r['false_face_per_camera_hour']:13.1f}"
            )
            analysed = sum(c["frames_analysed"] for c in r["clips"].values())
            dropped = sum(c["frames_dropped"] for c in r["clips"].values())
            lines.append(f"  frames analysed: {analysed}, dropped: {dropped}")
            lines.append(f"  face tracks turned away: {r['face_tracks_turned_away']}")
    seeds = results.get("scenarios", {})
    if seeds:
        lines.append("")
        lines.append(f"{'scenario':32s} {'target':>7s} " + " ".join(f"{'seed ' + s:>8s}" for s in seeds))
        for name, (_, target) in SCENARIO_FIGURES.items():
            values = [seeds[s].get(name) for s in seeds]
            cells = " ".join(f"{_fmt(v):>8s}" for v in values)
            lines.append(f"{name:32s} {'' if target is None else f'>= {target:g}':>7s} {cells}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DATA / "videos_surveillance", help="a folder of real clips")
    parser.add_argument("--live-s", type=float, default=160.0, help="seconds the clips play as live cameras (0: not)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="scenario seeds to build and run")
    parser.add_argument("--scenarios", type=Path, default=Path("/tmp/skynet_eval_video"), help="scenarios live here")
    parser.add_argument("--faces", type=Path, default=DATA / "faces_identities", help="the scenarios' face set")
    parser.add_argument("--plates", type=Path, default=DATA / "cn_plate_crops", help="the scenarios' plate set")
    parser.add_argument("--no-clips", action="store_true", help="only the scenarios")
    parser.add_argument("--out", type=Path, help="write face sighting thumbnails of the real clips here")
    parser.add_argument("--json", type=Path, help="write every figure as JSON here")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"settings": {k: v for k, v in settings.model_dump().items() if k.startswith("face_min")}}
    if not args.no_clips:
        folder = args.clips / "videos" if (args.clips / "videos").is_dir() else args.clips
        clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not clips:
            print(f"error: no video clips in {folder}", file=sys.stderr)
            return 1
        results["archive"] = run_clips(clips, settings, None, args.out)
        if args.live_s > 0:
            results["live"] = run_clips(clips, settings, args.live_s, args.out)
    results["scenarios"] = {str(seed): run_seed(seed, args) for seed in args.seeds}
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
