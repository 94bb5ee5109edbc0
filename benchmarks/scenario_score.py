"""Scoring a scenario run against its ground truth. All times are scenario seconds (0 = every
clip's first frame); the runner converts Unix times with each camera's start time first.

Matching rules (one tolerance, ``TOLERANCE_S``):

* An interval predicted at a camera (a sighting ``[first_seen, last_seen]``, a trajectory stop
  ``[arrival, departure]``, a search hit) *matches* a ground-truth visit when it is the same
  camera and the intervals overlap once the visit is widened by the tolerance on both sides:
  ``start <= t_out + tol and end >= t_in - tol``.
* Sightings (per kind, identity-blind: which sighting is whom is the searches' job): recall = share
  of visits matched by at least one sighting; precision = share of sightings matching some visit.
  A matched plate sighting is *read right* when its text equals the visit's plate (O/0 folded).
* Trajectory stops (per kind, pooled over the queries): a stop returned for entity E is correct
  when it matches a visit of E; recall = share of E's visits matched by a stop of E's trajectory;
  precision = correct stops / stops returned. An entity passes a camera at most once.
* Plate search: a vehicle is *found* when the exact search for its plate returns at least one
  sighting matching one of its visits; accuracy = vehicles found / vehicles, and the hits are
  also scored like stops (per-visit recall, per-hit precision).
* Face search precision-recall: every hit of every query, pooled and ranked by similarity; at each
  threshold precision = correct hits (matching a visit of the queried person) / hits, recall =
  share of the queried people's visits matched by a hit at or above it.
* Watch-list alerts: a visit of a watch-listed entity is *alerted* when an alert for that entity's
  entry arrives for a sighting matching the visit. Latency = receipt time - the visit's ``t_in``
  (appearance), also reported from ``t_out`` (the moment it left view). Alerts matching no
  expected visit are false alerts. One pass, one alert: every alert beyond the first for a visit is a
  *duplicate* (an update of an alert already received, which shows its pass's better sighting, is none).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOLERANCE_S = 1.0


@dataclass(frozen=True, slots=True)
class Visit:
    kind: str
    identity: str
    camera: str
    t_in: float
    t_out: float


@dataclass(frozen=True, slots=True)
class Span:
    """Something predicted at a camera over a time span (sighting, stop, hit, alert's sighting)."""

    camera: str
    start: float
    end: float
    text: str | None = None  # a plate read
    score: float = 0.0  # a face hit's similarity


def read_ground_truth(path: Path) -> list[Visit]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Visit(r["kind"], r["identity"], r["camera"], float(r["t_in"]), float(r["t_out"]))
            for r in csv.DictReader(handle)
        ]


def matches(span: Span, visit: Visit, tol: float = TOLERANCE_S) -> bool:
    return span.camera == visit.camera and span.start <= visit.t_out + tol and span.end >= visit.t_in - tol


def fold(text: str) -> str:
    return text.upper().replace("O", "0")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def recall_precision(spans: list[Span], visits: list[Visit], tol: float = TOLERANCE_S) -> dict:
    """Share of ``visits`` matched by some span, share of ``spans`` matching some visit."""
    found = sum(any(matches(s, v, tol) for s in spans) for v in visits)
    correct = sum(any(matches(s, v, tol) for v in visits) for s in spans)
    return {
        "recall": _ratio(found, len(visits)),
        "precision": _ratio(correct, len(spans)),
        "visits": len(visits),
        "visits_found": found,
        "predicted": len(spans),
        "predicted_correct": correct,
    }


def mismatches(predicted: dict[str, list[Span]], truth: list[Visit], kind: str) -> dict[str, list]:
    """What went wrong, per entity key (``""`` for identity-blind spans): spans matching none of
    the entity's visits, and visits no span matched (as [key, camera, start, end] rows)."""
    wrong, missed = [], []
    for key, spans in predicted.items():
        visits = [v for v in truth if v.kind == kind and (not key or v.identity == key)]
        wrong += [
            [key, s.camera, round(s.start, 2), round(s.end, 2)] for s in spans if not any(matches(s, v) for v in visits)
        ]
        missed += [[v.identity, v.camera, v.t_in, v.t_out] for v in visits if not any(matches(s, v) for s in spans)]
    return {"wrong": wrong, "missed": missed}


def sighting_scores(sightings: dict[str, list[Span]], truth: list[Visit]) -> dict:
    """Per kind: identity-blind recall and precision; for plates also the share read right."""
    result = {}
    for kind in ("face", "plate"):
        visits = [v for v in truth if v.kind == kind]
        spans = sightings.get(kind, [])
        scores = recall_precision(spans, visits)
        if kind == "plate":
            matched = [(s, v) for s in spans for v in visits if matches(s, v)]
            right = {id(s) for s, v in matched if s.text is not None and fold(s.text) == fold(v.identity)}
            scores["read_right"] = _ratio(len(right), len({id(s) for s, _ in matched}))
        result[kind] = scores
    return result


def per_entity_scores(predicted: dict[str, list[Span]], truth: list[Visit], kind: str) -> dict:
    """Stops (or hits) returned per entity, scored against that entity's own visits, pooled."""
    totals = defaultdict(int)
    for key, spans in predicted.items():
        scores = recall_precision(spans, [v for v in truth if v.kind == kind and v.identity == key])
        for name in ("visits", "visits_found", "predicted", "predicted_correct"):
            totals[name] += scores[name]
    return {
        "recall": _ratio(totals["visits_found"], totals["visits"]),
        "precision": _ratio(totals["predicted_correct"], totals["predicted"]),
        **totals,
    }


def plate_search_scores(hits: dict[str, list[Span]], truth: list[Visit]) -> dict:
    """Vehicles found by exact plate search (accuracy), plus per-visit and per-hit scores."""
    found = sum(
        any(matches(s, v) for s in spans for v in truth if v.kind == "plate" and v.identity == key)
        for key, spans in hits.items()
    )
    return {
        "accuracy": _ratio(found, len(hits)),
        "vehicles": len(hits),
        "vehicles_found": found,
        **{k: v for k, v in per_entity_scores(hits, truth, "plate").items()},
    }


def face_pr_curve(hits: dict[str, list[Span]], truth: list[Visit]) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) at every distinct similarity, highest first."""
    visits = {key: [v for v in truth if v.kind == "face" and v.identity == key] for key in hits}
    total = sum(len(v) for v in visits.values())
    ranked = sorted(((s.score, key, s) for key, spans in hits.items() for s in spans), key=lambda x: -x[0])
    curve: list[tuple[float, float, float]] = []
    seen: set[tuple[str, int]] = set()
    correct = 0
    for rank, (score, key, span) in enumerate(ranked, 1):
        hit = [i for i, v in enumerate(visits[key]) if matches(span, v)]
        correct += bool(hit)
        seen.update((key, i) for i in hit)
        if rank == len(ranked) or ranked[rank][0] != score:
            curve.append((score, correct / rank, len(seen) / total if total else 0.0))
    return curve


def start_offsets(spans: list[Span], visits: list[Visit]) -> list[float]:
    """For each visit matched by a span: the earliest matching span's start minus ``t_in`` (how far
    the predicted clock runs behind the ground truth; the frames analysed are 0.2 s apart)."""
    offsets = []
    for v in visits:
        starts = [s.start for s in spans if matches(s, v)]
        if starts:
            offsets.append(min(starts) - v.t_in)
    return offsets


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    identity: str  # the watch-list entry's label (= the entity)
    sighting: Span
    received: float  # scenario seconds
    alert_id: int | None = None
    updated: bool = False  # an alert received before, now showing a better sighting of its pass


def alert_scores(alerts: list[Alert], truth: list[Visit], watched: dict[str, list[str]], cameras: set[str]) -> dict:
    """Recall of the watch-listed entities' visits at ``cameras``, latencies, false alerts."""
    expected = [v for v in truth if v.camera in cameras and v.identity in watched.get(v.kind, [])]
    first: dict[int, float] = {}
    first_alert: dict[int, Alert] = {}  # expected visit -> its first alert
    alert_ids: dict[int, set] = {}  # expected visit -> the alerts raised for it
    false_alerts: list[list] = []
    for alert in (a for a in alerts if a.sighting.camera in cameras and not a.updated):
        hit = [
            i
            for i, v in enumerate(expected)
            if v.kind == alert.kind and v.identity == alert.identity and matches(alert.sighting, v)
        ]
        if not hit:
            false_alerts.append(
                [alert.identity, alert.sighting.camera, round(alert.sighting.start, 2), round(alert.sighting.end, 2)]
            )
        for i in hit:
            if alert.received < first.get(i, np.inf):
                first[i], first_alert[i] = alert.received, alert
            alert_ids.setdefault(i, set()).add(alert.alert_id if alert.alert_id is not None else id(alert))
    repeated = {i: len(ids) for i, ids in alert_ids.items() if len(ids) > 1}
    from_in = np.array([first[i] - expected[i].t_in for i in first])
    from_out = np.array([first[i] - expected[i].t_out for i in first])

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 3) if len(values) else None

    return {
        "expected": len(expected),
        "alerted": len(first),
        "recall": _ratio(len(first), len(expected)),
        "false_alerts": len(false_alerts),
        "false_alert_sightings": false_alerts,
        "duplicate_alerts": sum(n - 1 for n in repeated.values()),
        "visits_alerted_more_than_once": [
            [expected[i].kind, expected[i].identity, expected[i].camera, expected[i].t_in, n]
            for i, n in repeated.items()
        ],
        "missed": [[v.kind, v.identity, v.camera, v.t_in, v.t_out] for i, v in enumerate(expected) if i not in first],
        "latency_from_appearance_p50_s": pct(from_in, 50),
        "latency_from_appearance_p99_s": pct(from_in, 99),
        "latency_from_leaving_p50_s": pct(from_out, 50),
        "latency_from_leaving_p99_s": pct(from_out, 99),
        "latencies_from_appearance_s": [round(float(x), 3) for x in from_in],
        "alerted_visits": [_alerted_visit(expected[i], first_alert[i]) for i in first],
    }


def _alerted_visit(visit: Visit, alert: Alert) -> dict:
    """Which visit an alert was for, and when: the first alert of the visit, its sighting's span and latencies."""
    return {
        "kind": visit.kind,
        "identity": visit.identity,
        "camera": visit.camera,
        "t_in": visit.t_in,
        "t_out": visit.t_out,
        "alert_id": alert.alert_id,
        "received": round(alert.received, 3),
        "sighting_span": [round(alert.sighting.start, 3), round(alert.sighting.end, 3)],
        "latency_from_appearance_s": round(alert.received - visit.t_in, 3),
        "latency_from_leaving_s": round(alert.received - visit.t_out, 3),
    }
