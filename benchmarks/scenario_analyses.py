"""The investigative analyses in a scenario: how a run is scored on what the plan planted.

Planted by ``scenario_plan.plant_analyses`` (with ground truth in ``manifest.json`` under ``analyses``):

* a **cloned plate**: a second vehicle carrying another vehicle's plate, seen at the camera farthest
  from that vehicle's first camera while that vehicle is there (no car covers that distance in no time);
* a **companion pair**: a vehicle that follows another one's whole route a few seconds behind, in the
  other lane;
* **incidents**: three (camera, time window) places around the visits of one vehicle; the plates
  present at all three are computed from every visit of the plan.

Scored through the API as an investigator would ask (``/api/analytics/...``): the rank of the
planted clone among the cloned-plate candidates and the false ones above it, the same for the
companion of the followed vehicle, and precision and recall of the incident intersection. The target
(issue 20): each planted item in the top 5 of its ranking with no false one above it.
"""

from __future__ import annotations

from typing import Any

import httpx
from scenario_score import TOLERANCE_S

TOP = 5


def _rank(keys: list[str], wanted: str) -> tuple[int | None, int]:
    """(1-based rank of ``wanted`` in ``keys`` or None, how many other keys rank above it)."""
    if wanted not in keys:
        return None, len(keys)
    rank = keys.index(wanted) + 1
    return rank, rank - 1


COMPANION_WINDOW_S = 15.0
COMPANION_CAMERAS = 2


def travelling_with(target: str, visits: list) -> set[str]:
    """The vehicles of ``visits`` (scenario_score.Visit) that passed ``COMPANION_CAMERAS`` or more of the
    cameras ``target`` passed, each time within ``COMPANION_WINDOW_S`` of it: companions by the analysis's
    own definition, planted or not (vehicles on neighbouring routes meet by chance too)."""
    mine = [v for v in visits if v.kind == "plate" and v.identity == target]
    met: dict[str, set[str]] = {}
    for v in visits:
        if v.kind != "plate" or v.identity == target:
            continue
        for t in mine:
            gap = max(0.0, v.t_in - t.t_out, t.t_in - v.t_out)
            if v.camera == t.camera and gap <= COMPANION_WINDOW_S:
                met.setdefault(v.identity, set()).add(v.camera)
    return {key for key, cameras in met.items() if len(cameras) >= COMPANION_CAMERAS}


def score(
    client: httpx.Client, truth: dict[str, Any], visits: list, t0: float, span: tuple[float, float], reason: str
) -> dict:
    """Ask each analysis through the API and score it against ``truth`` (what was planted) and ``visits``
    (every ground-truth visit; times in scenario seconds, ``t0`` the scenario's start as Unix time). A
    candidate ranked above a planted one is false only when the ground truth does not make it one too."""
    since, until = t0 + span[0], t0 + span[1]
    results: dict[str, Any] = {}
    if clone := truth.get("cloned_plate"):
        answer = client.post("/api/analytics/cloned-plates", json={"reason": reason, "since": since, "until": until})
        keys = [c["plate"] for c in answer.json()["candidates"]] if answer.status_code == 200 else []
        rank, above = _rank(keys, clone["plate"])
        results["cloned_plates"] = {
            "rank": rank,
            "false_above": above,
            "candidates": len(keys),
            "in_top": _top(rank, above),
        }
    if pair := truth.get("companions"):
        body = {
            "reason": reason,
            "since": since,
            "until": until,
            "target": {"plate": pair["target"]},
            "window_s": COMPANION_WINDOW_S,
            "min_cameras": COMPANION_CAMERAS,
        }
        answer = client.post("/api/analytics/companions", json=body)
        found = answer.json()["companions"] if answer.status_code == 200 else []
        real = travelling_with(pair["target"], visits) | {pair["companion"]}
        keys = [c["key"] for c in found]
        rank, _ = _rank(keys, pair["companion"])
        above = sum(1 for k in keys[: (rank or len(keys) + 1) - 1] if k not in real)
        results["companions"] = {
            "rank": rank,
            "false_above": above,
            "candidates": len(keys),
            "in_top": _top(rank, above),
            "real_companions": sorted(real),  # by the ground truth: the planted one and those met by chance
            "precision_top": round(sum(k in real for k in keys[:TOP]) / min(TOP, len(keys)), 3) if keys else None,
            "top": [[c["key"], len(c["cameras"]), c["surprise"]] for c in found[:TOP]],  # what ranked where
        }
    if incidents := truth.get("incidents"):
        places = [
            {"area": {"cameras": [p["camera"]]}, "since": t0 + p["since"], "until": t0 + p["until"]}
            for p in incidents["places"]
        ]
        answer = client.post("/api/analytics/intersections", json={"reason": reason, "places": places})
        found = {p["key"] for p in answer.json()["present"]} if answer.status_code == 200 else set()
        expected = set(incidents["present_at_all"])
        hits = len(found & expected)
        rank, above = _rank(sorted(found), incidents["suspect"])
        results["intersections"] = {
            "precision": round(hits / len(found), 3) if found else 0.0,
            "recall": round(hits / len(expected), 3) if expected else 0.0,
            "suspect_found": incidents["suspect"] in found,
            "in_top": incidents["suspect"] in found and len(found - expected) == 0,
        }
    return results


def _top(rank: int | None, above: int) -> bool:
    return rank is not None and rank <= TOP and above == 0


def identity_scores(identities: dict[int, int], faces: list[tuple[int, str, float, float]], truth: list) -> dict:
    """Pairwise precision and recall of the unknown-face grouping: ``identities`` (sighting id -> person #n)
    of the stored face sightings ``faces`` (id, camera, start, end in scenario seconds), each taken as the
    person of the ground-truth visit (``truth``: scenario_score.Visit) it matches alone; pairs are counted
    over the sightings that match exactly one person and have an identity."""
    person: dict[int, str] = {}
    for sighting_id, camera, start, end in faces:
        matched = {
            v.identity
            for v in truth
            if v.kind == "face"
            and v.camera == camera
            and start <= v.t_out + TOLERANCE_S
            and end >= v.t_in - TOLERANCE_S
        }
        if len(matched) == 1 and sighting_id in identities:
            person[sighting_id] = matched.pop()
    ids = sorted(person)
    grouped = together = both = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            same_identity, same_person = identities[a] == identities[b], person[a] == person[b]
            grouped += same_identity
            together += same_person
            both += same_identity and same_person
    return {
        "sightings": len(ids),
        "identities": len({identities[i] for i in ids}),
        "people": len(set(person.values())),
        "pairwise_precision": round(both / grouped, 3) if grouped else None,
        "pairwise_recall": round(both / together, 3) if together else None,
    }
