"""Unknown-face identities: grouped as faces are stored, usable as a companion target, merged and split
by investigators with an audit row each."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from api_support import make_api

from skynet.index.identities import IdentityGrouper
from skynet.index.synthetic import clustered_embeddings
from skynet.records import Box, PlateText, Sighting, SightingKind

T0 = 1_700_000_000.0


def face(camera: str, at: float, embedding: np.ndarray) -> Sighting:
    return Sighting(camera, SightingKind.FACE, at - 2, at + 2, at, Box(0, 0, 80, 100), 0.9, embedding=embedding)


def pairwise(predicted: dict[int, int], truth: dict[int, int]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping: over pairs put together, and pairs that belong together."""
    same_predicted = same_truth = both = 0
    for a, b in combinations(sorted(truth), 2):
        p, t = predicted[a] == predicted[b], truth[a] == truth[b]
        same_predicted += p
        same_truth += t
        both += p and t
    return both / max(1, same_predicted), both / max(1, same_truth)


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path)
    yield api
    api.close()


def test_faces_are_grouped_into_identities_as_they_are_stored(api):
    vectors, labels = clustered_embeddings(240, identities=30, spread=0.2, seed=3)
    catalog, truth = api.catalog, {}
    grouper = IdentityGrouper(catalog, threshold=0.924)
    for start in range(0, len(vectors), 40):  # batches, as the store writer hands them over
        batch = [face("cam-a", T0 + i, vectors[i]) for i in range(start, start + 40)]
        ids = catalog.add_sightings(batch)
        grouper([replace(s, id=i) for s, i in zip(batch, ids, strict=True)])
        truth.update({i: int(labels[start + k]) for k, i in enumerate(ids)})
    predicted = catalog.store.identities.of(truth)
    assert len(predicted) == len(truth)
    precision, recall = pairwise(predicted, truth)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    assert len(set(predicted.values())) <= 33  # about one identity per person


def test_an_identity_is_a_companion_target_and_investigators_merge_and_split_it(api):
    vectors, _ = clustered_embeddings(4, identities=2, spread=0.0, seed=5)
    catalog = api.catalog
    centre_a, centre_b = vectors[0], next(v for v in vectors if float(v @ vectors[0]) < 0.5)
    # person A passes cam-a and cam-b; the car 桂C77777 is there each time, the car 桂D11111 only once
    stored = catalog.add_sightings([face("cam-a", T0, centre_a), face("cam-b", T0 + 600, centre_a)])
    read = lambda text: PlateText(text, (0.95,) * 7)  # noqa: E731
    catalog.add_sightings(
        [
            Sighting("cam-a", SightingKind.PLATE, T0 - 3, T0 + 3, T0, Box(0, 0, 90, 30), 0.9, plate=read("桂C77777")),
            Sighting(
                "cam-b",
                SightingKind.PLATE,
                T0 + 598,
                T0 + 602,
                T0 + 600,
                Box(0, 0, 90, 30),
                0.9,
                plate=read("桂C77777"),
            ),
            Sighting(
                "cam-b",
                SightingKind.PLATE,
                T0 + 599,
                T0 + 601,
                T0 + 600,
                Box(0, 0, 90, 30),
                0.9,
                plate=read("桂D11111"),
            ),
        ]
    )
    other = catalog.add_sightings([face("cam-b", T0 + 900, centre_b)])
    grouper = IdentityGrouper(catalog, threshold=0.924)
    assert grouper.group_all() == 3
    identities = catalog.store.identities.of([*stored, *other])
    person_a, person_b = identities[stored[0]], identities[other[0]]
    assert identities[stored[1]] == person_a != person_b

    admin = api.as_role("admin")
    body = {"reason": "case 2026-31", "since": T0 - 60, "until": T0 + 3600, "target": {"identity_id": person_a}}
    answer = api.client.post("/api/analytics/companions", json=body, headers=admin)
    assert answer.status_code == 200, answer.text
    assert [c["key"] for c in answer.json()["companions"]] == ["桂C77777"]

    investigator = api.as_role("investigator")
    shown = api.client.get(f"/api/identities/{person_a}", params={"reason": "case 2026-31"}, headers=investigator)
    assert [s["id"] for s in shown.json()["sightings"]] == stored
    merge = {"into": person_a, "merged": person_b, "reason": "the same man, case 2026-31"}
    assert api.client.post("/api/identities/merge", json=merge, headers=investigator).json()["sightings"] == 1
    assert (
        api.client.get(
            f"/api/identities/{person_b}", params={"reason": "case 2026-31"}, headers=investigator
        ).status_code
        == 404
    )
    split = {"sighting_ids": other, "reason": "not him after all, case 2026-31"}
    answer = api.client.post(f"/api/identities/{person_a}/split", json=split, headers=investigator)
    assert answer.status_code == 200 and answer.json()["identity_id"] not in (person_a, person_b)
    operator = api.as_role("operator")
    assert api.client.post("/api/identities/merge", json=merge, headers=operator).status_code == 403
    actions = [e.action for e in api.system.auditor.events(10) if e.action.startswith("identity.")]
    assert actions[:3] == ["identity.split", "identity.merge", "identity.read"]  # the operator's try: auth.forbidden
    trajectory = api.client.get(
        f"/api/identities/{person_a}/trajectory", params={"reason": "case 2026-31"}, headers=investigator
    )
    assert trajectory.status_code == 200 and trajectory.json()["sightings"] == 2
