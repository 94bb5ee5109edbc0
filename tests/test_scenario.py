"""The scenario benchmark: a tiny scenario built from the DEV data has consistent ground truth,
ground truth fed back as predictions scores perfectly, and the real pipeline scores sensibly."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import scenario
import scenario_score as score
from scenario_plan import EDGE_S, LANE_GAP_S, make_plan
from servers import require

pytestmark = [
    pytest.mark.slow,
    pytest.mark.models,
    pytest.mark.requires("ffmpeg"),
]

TINY = [
    "--cameras",
    "2",
    "--live",
    "1",
    "--people",
    "2",
    "--vehicles",
    "2",
    "--seconds",
    "16",
    "--fps",
    "10",
    "--watch-people",
    "1",
    "--watch-vehicles",
    "1",
    "--seed",
    "3",
    "--spacing",
    "30",
]


def perfect_predictions(truth: list[score.Visit]) -> dict[str, dict[str, list[score.Span]]]:
    """Every visit as the one span predicted for its entity."""
    spans: dict[str, dict[str, list[score.Span]]] = {"face": {}, "plate": {}}
    for v in truth:
        text = v.identity if v.kind == "plate" else None
        spans[v.kind].setdefault(v.identity, []).append(score.Span(v.camera, v.t_in, v.t_out, text, 1.0))
    return spans


def test_tiny_scenario_ground_truth_scoring_and_pipeline(shared_data, model_settings, tmp_path):
    faces, plates = shared_data("faces_identities"), shared_data("cn_plate_crops")
    require("rtsp")  # the live part
    args = scenario.parse_args(
        [
            *TINY,
            "--faces",
            str(faces),
            "--plates",
            str(plates),
            "--backgrounds",
            "generated",
            "--out",
            str(tmp_path / "scn"),
        ]
    )
    out = scenario.build(args)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    truth = score.read_ground_truth(out / "ground_truth.csv")

    # ground truth: inside the clips, on known cameras, lanes never shared at once, queries never pasted
    plan = make_plan(scenario.params_from(args))
    assert [(v.kind, v.key, v.camera) for v in plan.visits] == [(v.kind, v.identity, v.camera) for v in truth]
    assert {v.camera for v in truth} <= {c["id"] for c in manifest["cameras"]}
    assert all(EDGE_S <= v.t_in < v.t_out <= 16 - EDGE_S for v in truth)
    for a in plan.visits:
        for b in plan.visits:
            if a is not b and (a.camera, a.lane) == (b.camera, b.lane):
                assert a.t_out + LANE_GAP_S <= b.t_in or b.t_out + LANE_GAP_S <= a.t_in
    for person in manifest["people"]:
        assert not {Path(q).name for q in person["query_photos"]} & set(person["pasted_photos"])
    assert all((out / c["file"]).stat().st_size > 0 for c in manifest["cameras"])
    assert make_plan(scenario.params_from(args)).visits == plan.visits  # seeded: the same plan again

    # the ground truth fed back as predictions scores perfectly
    spans = perfect_predictions(truth)
    every = {kind: [s for group in spans[kind].values() for s in group] for kind in spans}
    sightings = score.sighting_scores(every, truth)
    assert all(sightings[k]["recall"] == sightings[k]["precision"] == 1.0 for k in ("face", "plate"))
    assert sightings["plate"]["read_right"] == 1.0
    for kind in ("face", "plate"):
        assert score.per_entity_scores(spans[kind], truth, kind)["recall"] == 1.0
        assert score.per_entity_scores(spans[kind], truth, kind)["precision"] == 1.0
    assert score.plate_search_scores(spans["plate"], truth)["accuracy"] == 1.0
    assert score.face_pr_curve(spans["face"], truth)[-1][1:] == (1.0, 1.0)
    live = {c["id"] for c in manifest["cameras"] if c["mode"] == "live"}
    alerts = [
        score.Alert(v.kind, v.identity, score.Span(v.camera, v.t_in, v.t_out), v.t_out + 0.5)
        for v in truth
        if v.identity in manifest["watchlist"][v.kind]
    ]
    on_live = sorted((a.identity, a.sighting.camera, a.sighting.start) for a in alerts if a.sighting.camera in live)
    assert on_live  # the watch-list picks entities a live camera sees: there are visits to alert on
    alerted = score.alert_scores(alerts, truth, manifest["watchlist"], live)
    assert alerted["recall"] == 1.0 and alerted["false_alerts"] == 0 and alerted["missed"] == []
    assert alerted["duplicate_alerts"] == 0
    # each alerted visit is named with its first alert's latency (0.5 s after it left view here)
    assert sorted((v["identity"], v["camera"], v["t_in"]) for v in alerted["alerted_visits"]) == on_live
    assert [v["latency_from_leaving_s"] for v in alerted["alerted_visits"]] == [0.5] * len(on_live)
    # an alert lost: its visit is listed as missed
    lost = score.alert_scores(alerts[1:], truth, manifest["watchlist"], {alerts[0].sighting.camera})
    assert [alerts[0].kind, alerts[0].identity, alerts[0].sighting.camera] in [m[:3] for m in lost["missed"]]
    # a second alert for one pass is a duplicate; the update of an alert already received is none
    first = replace(alerts[0], alert_id=1)
    again = [first, replace(first, received=first.received + 5, updated=True), replace(first, alert_id=2)]
    twice = score.alert_scores(again, truth, manifest["watchlist"], {first.sighting.camera})
    assert twice["duplicate_alerts"] == 1 and [v[4] for v in twice["visits_alerted_more_than_once"]] == [2]
    # a wrong camera, or a time outside the tolerance, does not match
    v = truth[0]
    assert not score.matches(score.Span("elsewhere", v.t_in, v.t_out), v)
    assert not score.matches(score.Span(v.camera, v.t_out + score.TOLERANCE_S + 0.1, v.t_out + 5), v)

    # the real service on it: plates are found and read, and scores are proper shares
    result_path = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_scenario.py"), str(out), "--json", str(result_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(result_path.read_text(encoding="utf-8"))
    assert results["plate_search"]["accuracy"] >= 0.5
    assert results["sightings"]["plate"]["recall"] >= 0.5
    assert results["sightings"]["face"]["recall"] > 0
    for name in ("face_search_pr.png", "alert_latency.png", "trajectory_map.png"):
        assert (out / "results" / name).read_bytes()[:4] == b"\x89PNG"
