"""Score normalisation against an impostor cohort (Z-norm, T-norm, S-norm, top-k adaptive S-norm) against
raw cosine similarity, at equal false-match rate, on the DEV faces (issue 16).

    python benchmarks/eval_score_norm.py --data ../shared/data/faces_identities --video 6 \\
        [--cache faces.npz] [--draws 5] [--json out.json]

The faces are embedded as ``eval_faces.py`` embeds them (query photos with their mirror image, ``--video N``
camera views of every photo, seed 0); ``--cache`` keeps the embeddings in an ``.npz`` (read when it exists).
Two settings: *camera views* (each query photo against the views of every *other* photo, as
``eval_faces.py --video`` calibrates the threshold) and *photos* (photo against every other photo).

A pair's raw cosine ``s(q, g)`` is normalised by the scores of ``q`` and of ``g`` against a cohort of faces:
``z = (s - mean_q) / std_q`` (Z-norm, the query's side), ``t = (s - mean_g) / std_g`` (T-norm, the gallery
item's side), S-norm ``(z + t) / 2``; with ``top-k`` the mean and spread are taken over the ``k`` cohort
faces most similar to that side only (adaptive S-norm). Cohorts, drawn ``--draws`` times at random:

* ``gallery``: a random sample of the gallery being searched (what a product has: the stored sightings of
  the searched range), leaving out only the query photo's own views and the gallery item itself, so the
  searched person's other views are in the cohort (the DEV set has 26 people, so 2-7 % of it);
* ``others``: the same sample without the query's (and the gallery item's) identity: the ideal of a city
  store where any one person is a negligible part of the cohort.

For each, TAR at FAR 1e-3 and 1e-4 over the impostor pairs (the threshold is the impostor score at that
rank; accepted: above it), the mean over the draws with its range, and the normalised threshold at FAR 1e-4.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_faces
import scenario_score
from score_norm import cohort_masks, normalise_with, tar_at_far

COHORT_SIZES = (300, 1000)
TOP_K = (0, 10, 50, 100, 200)  # 0: the whole cohort


@dataclass(frozen=True)
class Faces:
    """Embeddings of the DEV faces: query photos and camera views of them."""

    identities: np.ndarray  # per photo
    photos: np.ndarray  # per photo, zero where no face was found
    found: np.ndarray  # per photo: a face was found
    view_rows: np.ndarray  # per camera view: its photo
    views: np.ndarray


def embed(data: Path, draws: int, threads: int | None) -> Faces:
    from skynet.config import Settings
    from skynet.detectors.analyzer import ImageAnalyzer

    settings = Settings() if threads is None else Settings(intra_op_threads=threads)
    analyzer = ImageAnalyzer.from_settings(settings)
    rows = eval_faces.read_labels(data, None)
    photos, _ = eval_faces.embed_images(analyzer, settings, data, rows, mirror=True)
    views = eval_faces.embed_camera_views(analyzer, settings, data, rows, draws, seed=0)
    dim = next(e.shape[0] for e in photos if e is not None)
    return Faces(
        identities=np.array([row["identity"] for row in rows]),
        photos=np.stack([e if e is not None else np.zeros(dim, np.float32) for e in photos]),
        found=np.array([e is not None for e in photos]),
        view_rows=np.array([v[0] for v in views]),
        views=np.stack([v[1] for v in views]),
    )


def load_or_embed(cache: Path | None, data: Path, draws: int, threads: int | None) -> Faces:
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            return Faces(**{name: stored[name] for name in Faces.__dataclass_fields__})
    faces = embed(data, draws, threads)
    if cache is not None:
        np.savez(cache, **{name: getattr(faces, name) for name in Faces.__dataclass_fields__})
    return faces


@dataclass(frozen=True)
class Setting:
    """One evaluation: queries against a gallery, which pairs count, and who each gallery item is."""

    name: str
    queries: np.ndarray
    query_ids: np.ndarray
    query_rows: np.ndarray  # the photo each query is
    gallery: np.ndarray
    gallery_ids: np.ndarray
    gallery_rows: np.ndarray  # the photo each gallery item shows

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        other_photo = self.query_rows[:, None] != self.gallery_rows[None, :]
        same = self.query_ids[:, None] == self.gallery_ids[None, :]
        return same & other_photo, ~same


def settings_of(faces: Faces) -> list[Setting]:
    rows = np.flatnonzero(faces.found)
    ids = faces.identities
    return [
        Setting(
            "camera views",
            faces.photos[rows],
            ids[rows],
            rows,
            faces.views,
            ids[faces.view_rows],
            faces.view_rows,
        ),
        Setting("photos", faces.photos[rows], ids[rows], rows, faces.photos[rows], ids[rows], rows),
    ]


def evaluate(
    setting: Setting, size: int, k: int, mode: str, rng: np.random.Generator, reference: dict[str, float] | None = None
) -> dict[str, dict]:
    """Raw and normalised scores of one random cohort of ``size`` gallery items, at each FAR; with
    ``reference`` (a threshold per method) also TAR and FAR there."""
    genuine, impostor = setting.pairs()
    raw = setting.queries @ setting.gallery.T
    cohort = rng.choice(len(setting.gallery), size=min(size, len(setting.gallery)), replace=False)
    cohort_ids, cohort_rows = setting.gallery_ids[cohort], setting.gallery_rows[cohort]
    masks = cohort_masks(
        mode,
        setting.query_ids[:, None] == cohort_ids[None, :],
        setting.gallery_ids[:, None] == cohort_ids[None, :],
        setting.query_rows[:, None] != cohort_rows[None, :],  # never the query photo's own views
        np.arange(len(setting.gallery))[:, None] != cohort[None, :],  # never the gallery item itself
        rng,
    )
    scores = normalise_with(mode, k, raw, setting.queries, setting.gallery, setting.gallery[cohort], masks)
    out = {name: tar_at_far(value, genuine, impostor) for name, value in scores.items()}
    for name, threshold in (reference or {}).items():
        out[name]["tar_at_reference"] = float((scores[name][genuine] > threshold).mean())
        out[name]["far_at_reference"] = float((scores[name][impostor] > threshold).mean())
    return out


def summarise(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Mean, min and max of each figure over the draws."""
    out: dict[str, dict] = {}
    for method in runs[0]:
        out[method] = {}
        for key in runs[0][method]:
            values = np.array([run[method][key] for run in runs])
            out[method][key] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
    return out


def cell(figure: dict[str, float]) -> str:
    return f"{figure['mean']:6.1%} ({figure['min']:.1%}-{figure['max']:.1%})"


def evaluate_dev(faces: Faces, modes: list[str], draws: int) -> tuple[list[dict], dict]:
    """Every setting, cohort, size, k and method on the DEV faces (printed); the rows, and the mean
    normalised threshold at FAR 1e-4 per camera-view configuration (mode, size, k, method)."""
    rows: list[dict] = []
    thresholds: dict[tuple, float] = {}
    for setting in settings_of(faces):
        genuine, impostor = setting.pairs()
        print(f"\n{setting.name}: {int(genuine.sum())} genuine, {int(impostor.sum())} impostor pairs")
        raw = summarise([{"raw": tar_at_far(setting.queries @ setting.gallery.T, genuine, impostor)}])["raw"]
        rows.append({"setting": setting.name, "method": "raw", "figures": raw})
        print(
            f"raw cosine: TAR@1e-3 {raw['tar_0.001']['mean']:.1%}, TAR@1e-4 {raw['tar_0.0001']['mean']:.1%} "
            f"(> {raw['threshold_0.0001']['mean']:.4f})"
        )
        print(
            f"{'cohort':12s} {'size':>5s} {'k':>4s} {'method':6s} {'TAR@1e-3':>19s} {'TAR@1e-4':>19s} "
            f"{'thr@1e-4':>8s}  at the 'others' threshold: TAR, FAR"
        )
        sizes = sorted({min(size, len(setting.gallery)) for size in COHORT_SIZES})
        for mode in sorted(modes, key=lambda m: m != "others"):  # "others" first: its thresholds are the reference
            for size in sizes:
                for k in (k for k in TOP_K if k < size):
                    clean = {m: thresholds.get((setting.name, "others", size, k, m)) for m in "zts"}
                    reference = clean if mode != "others" and None not in clean.values() else None
                    runs = [evaluate(setting, size, k, mode, np.random.default_rng(d), reference) for d in range(draws)]
                    for method, figures in summarise(runs).items():
                        if method == "raw":
                            continue
                        threshold = figures["threshold_0.0001"]["mean"]
                        thresholds[(setting.name, mode, size, k, method)] = threshold
                        rows.append(
                            {"setting": setting.name, "cohort": mode, "size": size, "k": k, "method": method}
                            | {"figures": figures}
                        )
                        at_reference = (
                            f"  {figures['tar_at_reference']['mean']:.1%}, {figures['far_at_reference']['mean']:.1e}"
                            if reference
                            else ""
                        )
                        print(
                            f"{mode:12s} {size:5d} {k or 'all':>4} {method:6s} {cell(figures['tar_0.001']):>19s} "
                            f"{cell(figures['tar_0.0001']):>19s} {threshold:8.4f}{at_reference}"
                        )
    return rows, {key[1:]: value for key, value in thresholds.items() if key[0] == "camera views"}


@dataclass(frozen=True)
class Scenario:
    """A scenario run's kept store: its face sightings, who was there, and its people's query photos."""

    name: str
    people: list[str]
    query_rows: np.ndarray  # the DEV photo each query photo is (-1: not one)
    queries: np.ndarray
    spans: list[scenario_score.Span]
    present: list[set[str]]  # per sighting: the people whose visits it overlaps
    sightings: np.ndarray
    truth: list[scenario_score.Visit]


def load_scenario(scenario: Path, data_dir: Path, analyzer, labels: list[dict[str, str]]) -> Scenario:
    """The face sightings of ``data_dir`` (a copy of ``run_scenario.py --keep-data``; opening it migrates it)
    and the scenario's held-back photos embedded as the service embeds them."""
    from skynet.services.faces import photo_embedding
    from skynet.store.store import open_store

    manifest = json.loads((scenario / "manifest.json").read_text(encoding="utf-8"))
    truth = [v for v in scenario_score.read_ground_truth(scenario / "ground_truth.csv") if v.kind == "face"]
    store = open_store(data_dir, sweep_orphans=False)
    try:
        start = next(job.params["start"] for job in store.jobs.latest(1000) if "start" in job.params)
        ids = store.faces.ids()
        sightings = store.sightings.get_many([int(i) for i in ids])
        vectors = np.stack([store.faces.vector(int(i)) for i in ids])
    finally:
        store.close()
    spans = [scenario_score.Span(s.camera_id, s.first_seen - start, s.last_seen - start) for s in sightings]
    row_of = {row["filename"]: index for index, row in enumerate(labels)}
    analyze = functools.partial(analyzer.analyze, plates=False)
    queries = []
    for person in manifest["people"]:
        image = cv2.imread(person["query_photos"][0])
        face = max(analyze(image).faces, key=lambda f: f.box.area)
        queries.append(photo_embedding(analyze, image, face))
    return Scenario(
        name=str(scenario),
        people=[p["identity"] for p in manifest["people"]],
        query_rows=np.array([row_of.get(Path(p["query_photos"][0]).name, -1) for p in manifest["people"]]),
        queries=np.stack(queries),
        spans=spans,
        present=[{v.identity for v in truth if scenario_score.matches(span, v)} for span in spans],
        sightings=vectors,
        truth=truth,
    )


def stops_outcome(scenario: Scenario, accepted: np.ndarray) -> tuple[int, int, list[str]]:
    """Visits found (a visit of the queried person matched by an accepted sighting) and wrong stops
    (accepted sightings of another person, one per camera and person there), as the trajectory is scored."""
    found, wrong = 0, set()
    for query, person in enumerate(scenario.people):
        visits = [v for v in scenario.truth if v.identity == person]
        taken = [scenario.spans[j] for j in np.flatnonzero(accepted[query])]
        found += sum(any(scenario_score.matches(span, v) for span in taken) for v in visits)
        wrong |= {
            f"{person} at {span.camera}: {'/'.join(sorted(scenario.present[j])) or 'nobody'}"
            for j, span in zip(np.flatnonzero(accepted[query]), taken, strict=True)
            if not any(scenario_score.matches(span, v) for v in visits)
        }
    return found, len(wrong), sorted(wrong)


def evaluate_scenario(scenario: Scenario, faces: Faces, modes: list[str], thresholds: dict, draws: int) -> list[dict]:
    """Raw cosine at the configured threshold, and each normalisation at its DEV threshold (FAR 1e-4), the
    cohort drawn from the DEV camera views (an external cohort, for evaluation only)."""
    from skynet.config import Settings

    raw = scenario.queries @ scenario.sightings.T
    visits = sum(v.identity in scenario.people for v in scenario.truth)
    configured = Settings().watchlist_min_similarity
    found, wrong, which = stops_outcome(scenario, raw >= configured)
    print(
        f"\n{scenario.name}: {len(scenario.sightings)} face sightings, {visits} visits of {len(scenario.people)} people"
    )
    print(f"  raw cosine >= {configured}: visits found {found}/{visits}, wrong stops {wrong} {which}")
    rows = [{"scenario": scenario.name, "method": "raw", "visits": visits, "found": found, "wrong_stops": wrong}]
    view_ids = faces.identities[faces.view_rows]
    for mode, size, k, method in ((m, 1000, k, x) for m in modes for k in (50, 100, 200) for x in "zs"):
        threshold = thresholds[(mode, size, k, method)]
        outcomes = []
        for draw in range(draws):
            rng = np.random.default_rng(100 + draw)
            cohort = rng.choice(len(faces.views), size=min(size, len(faces.views)), replace=False)
            cohort_ids = view_ids[cohort]
            masks = cohort_masks(
                mode,
                np.array(scenario.people)[:, None] == cohort_ids[None, :],
                np.array([[c in present for c in cohort_ids] for present in scenario.present]),
                scenario.query_rows[:, None] != faces.view_rows[cohort][None, :],
                np.ones((len(scenario.sightings), len(cohort)), bool),
                rng,
            )
            scores = normalise_with(mode, k, raw, scenario.queries, scenario.sightings, faces.views[cohort], masks)
            outcomes.append(stops_outcome(scenario, scores[method] > threshold))
        founds, wrongs = [o[0] for o in outcomes], [o[1] for o in outcomes]
        rows.append(
            {"scenario": scenario.name, "cohort": mode, "size": size, "k": k, "method": method}
            | {"threshold": threshold, "visits": visits, "found": founds, "wrong_stops": wrongs}
        )
        print(
            f"  {mode:12s} k {k:3d} {method}: > {threshold:.3f}: visits found {min(founds)}-{max(founds)}/{visits}, "
            f"wrong stops {min(wrongs)}-{max(wrongs)} {outcomes[0][2]}"
        )
    # what a product has here: the store's own face sightings as the cohort (a sighting's: the others),
    # the threshold from DEV cohorts of as many camera views drawn from the searched views
    size = len(scenario.sightings)
    masks = (np.ones((len(scenario.queries), size), bool), ~np.eye(size, dtype=bool))
    dev = settings_of(faces)[0]
    for k, method in ((k, x) for k in (0, 10, 20) for x in "zs"):
        scores = normalise_with("store", k, raw, scenario.queries, scenario.sightings, scenario.sightings, masks)
        runs = [evaluate(dev, size, k, "gallery", np.random.default_rng(draw)) for draw in range(draws)]
        thresholds_drawn = [run[method]["threshold_0.0001"] for run in runs]  # a small cohort: each draw its own
        outcomes = [stops_outcome(scenario, scores[method] > threshold) for threshold in thresholds_drawn]
        founds, wrongs = [o[0] for o in outcomes], [o[1] for o in outcomes]
        rows.append(
            {"scenario": scenario.name, "cohort": "store", "size": size, "k": k, "method": method}
            | {"threshold": thresholds_drawn, "visits": visits, "found": founds, "wrong_stops": wrongs}
        )
        print(
            f"  {'store':12s} k {k or size:3d} {method}: > {min(thresholds_drawn):.3f}-{max(thresholds_drawn):.3f}: "
            f"visits found {min(founds)}-{max(founds)}/{visits}, wrong stops {min(wrongs)}-{max(wrongs)}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="identities folder (labels.csv, images/)")
    parser.add_argument("--video", type=int, default=6, metavar="N", help="camera views per photo")
    parser.add_argument("--cache", type=Path, help="embeddings .npz: read when it exists, else written")
    parser.add_argument("--draws", type=int, default=5, help="random cohorts per configuration")
    parser.add_argument("--threads", type=int, help="threads per model (0 = all cores)")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["others", "others +1", "others +2", "others +5", "gallery", "pruned 0.899", "pruned 0.913"],
        help="cohorts (see above)",
    )
    parser.add_argument(
        "--scenario",
        nargs=2,
        action="append",
        type=Path,
        default=[],
        metavar=("SCENARIO", "STORE"),
        help="also a scenario (benchmarks/scenario.py) and a copy of its run's kept store (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    faces = load_or_embed(args.cache, args.data, args.video, args.threads)
    print(f"{int(faces.found.sum())} photos with a face, {len(faces.views)} camera views")
    rows, thresholds = evaluate_dev(faces, args.modes, args.draws)
    if args.scenario:
        from skynet.config import Settings
        from skynet.detectors.analyzer import ImageAnalyzer

        settings = Settings() if args.threads is None else Settings(intra_op_threads=args.threads)
        analyzer = ImageAnalyzer.from_settings(settings)
        labels = eval_faces.read_labels(args.data, None)
        modes = [m for m in args.modes if "+" not in m]
        for scenario, store in args.scenario:
            loaded = load_scenario(scenario, store, analyzer, labels)
            rows += evaluate_scenario(loaded, faces, modes, thresholds, args.draws)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
