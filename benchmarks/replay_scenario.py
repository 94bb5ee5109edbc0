"""Deterministic replay of a scenario's cameras as live cameras: when each visit is first found, and what it cost.

    .venv/bin/python benchmarks/replay_scenario.py SCENARIO [--cameras all|cam01 ...] [--phase 0]
        [--json out.json] [--baseline earlier.json]

Each camera's clip is decoded frame by frame and every frame due at 5 fps (after skipping ``--phase`` video
frames) goes through what a live camera worker runs, on one thread and without a clock: the region planner
(with the live tracks' boxes), the analyser (the service's lazy pool: faces embedded and plates read as
tracks need), the live tracker (a track's first sighting after 0.2 s). No frame is dropped, so the result
depends on the code only, not on the machine's load: for every ground-truth visit of the replayed cameras
(``ground_truth.csv`` of ``benchmarks/scenario.py``), ``first_seen``: seconds from the visit's ``t_in`` to
the first frame of the track whose sighting names it (plate text; face: the nearest held-back photo of any
person, at the watch-list threshold), and ``published``: to the frame at which that sighting is made. A live
alert comes that long after the face or plate is in view, plus the machine's queueing and matching (the
wall-clock latency of ``run_scenario.py``). Also counted: analysed frames, whole-frame passes, region
pixels, and the pixels each detector is given. ``--baseline`` prints the visits found later or earlier than
in an earlier run's JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenario_score as score

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.detectors.pool import AnalyzerPool
from skynet.ingest.pacing import RateGate
from skynet.ingest.regions import RegionPlanner
from skynet.ingest.settled_regions import unlooked_regions
from skynet.ingest.worker import LIVE_FIRST_SIGHTING_S, WorkerOptions
from skynet.records import Region, Sighting, SightingKind
from skynet.tracking.tracker import CameraTracker, TrackerOptions


class Counted:
    """A detector that counts the pixels it is given (a whole frame as the detector's own scaled view of it)."""

    def __init__(self, detector, long_side: int | None) -> None:
        self.detector, self.long_side = detector, long_side
        self.frame_shape: tuple[int, ...] = ()
        self.pixels = self.calls = 0.0

    def detect(self, image: np.ndarray, **options):
        pixels = image.shape[0] * image.shape[1]
        if image.shape[:2] == self.frame_shape[:2] and self.long_side:
            pixels *= min(1.0, self.long_side / max(image.shape[:2])) ** 2
        self.pixels += pixels
        self.calls += 1
        return self.detector.detect(image, **options)


def watch_vectors(pool: AnalyzerPool, manifest: dict) -> dict[str, np.ndarray]:
    """Each person's embeddings of their held-back photos (the largest face of each)."""
    vectors = {}
    for person in manifest["people"]:
        found = [pool.analyze(cv2.imread(p)).faces for p in person["query_photos"]]
        best = [max(faces, key=lambda f: f.box.area) for faces in found if faces]
        vectors[person["identity"]] = np.stack(
            [np.asarray(f.embedding, np.float32) for f in best if f.embedding is not None]
        )
    return vectors


def replay_camera(scenario: Path, camera: dict, pool: AnalyzerPool, counters: list[Counted], phase: int) -> dict:
    """One camera's clip as a live camera: plan statistics and (frame time, sighting) of every sighting made."""
    settings_options = WorkerOptions.from_settings(Settings())
    tracking = TrackerOptions(
        analysis_fps=settings_options.analysis_fps,
        first_segment_s=LIVE_FIRST_SIGHTING_S,
        faces=settings_options.faces,
    )
    capture = cv2.VideoCapture(str(scenario / camera["file"]), cv2.CAP_FFMPEG)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    planner = RegionPlanner(settings_options.regions)
    tracker = CameraTracker(camera["id"], tracking, None, pool.embed, pool.read)
    rate = RateGate(settings_options.analysis_fps)
    stats = {"analysed": 0, "whole_frame": 0, "static": 0, "regions": 0, "region_pixels": 0}
    made: list[tuple[float, Sighting]] = []
    index = 0
    while capture.grab():
        timestamp, index = index / fps, index + 1
        if index <= phase or not rate.due(timestamp):
            continue
        _, image = capture.retrieve()
        for counter in counters:
            counter.frame_shape = image.shape
        plan = planner.plan(image, timestamp, tracker.live_boxes())
        if plan == []:
            stats["static"] += 1
            published = tracker.idle(timestamp)
        else:
            stats["analysed"] += 1
            stats["whole_frame"] += plan is None
            outer = [r for r in plan or [] if not (isinstance(r, Region) and r.inner)]
            stats["regions"] += len(outer)
            stats["region_pixels"] += int(sum(r.area for r in outer))
            published = tracker.update(pool(image, plan), timestamp, image, unlooked_regions(plan))
        made += [(timestamp, sighting) for sighting, _, _ in published]
    made += [(index / fps, sighting) for sighting, _, _ in tracker.flush()]
    capture.release()
    return {"stats": stats, "made": made}


def named(sighting: Sighting, vectors: dict[str, np.ndarray], threshold: float) -> str | None:
    """Who or what a sighting shows: its plate's text, or the person whose photos its face is nearest to."""
    if sighting.kind is SightingKind.PLATE:
        return sighting.plate.text if sighting.plate is not None else None
    if sighting.embedding is None:
        return None
    embedding = np.asarray(sighting.embedding, np.float32)
    similarity = {identity: float((v @ embedding).max()) for identity, v in vectors.items()}
    best = max(similarity, key=similarity.__getitem__)
    return best if similarity[best] >= threshold else None


def visit_delays(truth: list[score.Visit], made: list[tuple[str, float, Sighting, str | None]], watched: dict) -> list:
    """Per visit: seconds from ``t_in`` to the first frame of the first sighting naming it, and to that sighting."""
    rows = []
    for visit in truth:
        hits = [
            (at, sighting)
            for camera, at, sighting, name in made
            if camera == visit.camera
            and sighting.kind.value == visit.kind
            and name == visit.identity
            and score.matches(score.Span(camera, sighting.first_seen, sighting.last_seen), visit)
        ]
        first = min(hits, key=lambda hit: hit[0], default=None)
        rows.append(
            {
                **asdict(visit),
                "watched": visit.identity in watched.get(visit.kind, []),
                "first_seen": None if first is None else round(first[1].first_seen - visit.t_in, 3),
                "published": None if first is None else round(first[0] - visit.t_in, 3),
            }
        )
    return rows


def differences(visits: list[dict], baseline: list[dict]) -> list[str]:
    """The visits published later or earlier than in ``baseline`` (or found in only one of them)."""
    before = {(v["camera"], v["kind"], v["identity"], v["t_in"]): v for v in baseline}
    lines = []
    for v in visits:
        b = before.get((v["camera"], v["kind"], v["identity"], v["t_in"]))
        if b is None or b["published"] == v["published"]:
            continue
        change = "later" if b["published"] is None or (v["published"] or 1e9) > b["published"] else "earlier"
        mark = "watched " if v["watched"] else ""
        lines.append(
            f"{change:8} {mark}{v['kind']} {v['identity']} {v['camera']} t_in {v['t_in']}: first seen "
            f"{b['first_seen']} -> {v['first_seen']} s, published {b['published']} -> {v['published']} s"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, help="a directory written by benchmarks/scenario.py")
    parser.add_argument("--cameras", nargs="*", default=["all"], help="camera ids, or 'all' (default)")
    parser.add_argument("--phase", type=int, default=0, help="video frames skipped before the first analysed one")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--baseline", type=Path, help="an earlier run's JSON: print the visits found later / earlier")
    args = parser.parse_args()
    manifest = json.loads((args.scenario / "manifest.json").read_text())
    cameras = [c for c in manifest["cameras"] if args.cameras == ["all"] or c["id"] in args.cameras]
    settings = Settings()
    analyzer = ImageAnalyzer.from_settings(settings.model_copy(update={"intra_op_threads": 1}))
    pool = AnalyzerPool([analyzer], lazy_embedding=True, lazy_reading=True)  # as the service's cameras run
    vectors = watch_vectors(pool, manifest)
    faces = analyzer.face_detector = Counted(analyzer.face_detector, analyzer.face_long_side)
    plates = analyzer.plate_detector = Counted(analyzer.plate_detector, analyzer.plate_long_side)
    cpu = time.process_time()
    made, totals = [], {}
    for camera in cameras:
        replayed = replay_camera(args.scenario, camera, pool, [faces, plates], args.phase)
        made += [
            (camera["id"], at, s, named(s, vectors, settings.watchlist_min_similarity)) for at, s in replayed["made"]
        ]
        totals = {k: totals.get(k, 0) + v for k, v in replayed["stats"].items()}
    replayed_ids = {c["id"] for c in cameras}
    truth = [v for v in score.read_ground_truth(args.scenario / "ground_truth.csv") if v.camera in replayed_ids]
    visits = visit_delays(truth, made, manifest["watchlist"])
    result = {
        "scenario": str(args.scenario),
        "cameras": sorted(replayed_ids),
        "phase": args.phase,
        **totals,
        "face_detector_mpixels": round(faces.pixels / 1e6, 1),
        "plate_detector_mpixels": round(plates.pixels / 1e6, 1),
        "detector_calls": int(faces.calls),
        "plate_detector_calls": int(plates.calls),
        "cpu_s": round(time.process_time() - cpu, 1),
        "visits": visits,
    }
    found = [v for v in visits if v["published"] is not None]
    watched = [v["published"] for v in found if v["watched"]]
    print(f"{len(found)} of {len(visits)} visits found; watched: {len(watched)}, published after", sorted(watched))
    print({k: v for k, v in result.items() if k != "visits"})
    if args.baseline:
        lines = differences(visits, json.loads(args.baseline.read_text())["visits"])
        print("\n".join(lines) if lines else "every visit published at the same frame as in the baseline")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
