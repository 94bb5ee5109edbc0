"""Face search through HTTP with the real models on DEV faces: photos uploaded to the API find
other photos of the same person first."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.app import build
from skynet.config import Settings
from skynet.images import load_image
from skynet.index.catalog import Catalog
from skynet.records import Camera, Sighting, SightingKind
from skynet.system import SystemRole

ENROLLED = 4  # photos per person in the store; the next one is the query


@pytest.mark.models
@pytest.mark.slow
def test_uploaded_photo_finds_the_same_person(tmp_path: Path, analyzer, shared_data) -> None:
    data = shared_data("faces_identities")
    with open(data / "labels.csv", newline="") as handle:
        people: dict[str, list[Path]] = defaultdict(list)
        for row in csv.DictReader(handle):
            if row["source"] == "lfw_krasserm":
                people[row["identity"]].append(data / "images" / row["filename"])
    chosen = sorted(people)[:3]
    settings = Settings(data_dir=tmp_path)
    with Catalog.open(tmp_path) as catalog:
        catalog.store.cameras.save(Camera("cam-a", "A", "rtsp://a"))
        identity_of: dict[int, str] = {}
        for person in chosen:
            for i, path in enumerate(sorted(people[person])[:ENROLLED]):
                image = load_image(path, settings.max_image_pixels, settings.max_image_bytes)
                face = max(analyzer.analyze(image).faces, key=lambda f: f.box.area)
                [sid] = catalog.add_sightings(
                    [Sighting("cam-a", SightingKind.FACE, i, i, i, face.box, 0.9, embedding=face.embedding)]
                )
                identity_of[sid] = person
        admin = catalog.store.users.add_user(User("admin", Role.ADMIN, 0.0))
        token, _ = issue_token(catalog.store.users, admin, 0.0, ttl_s=None)
    # the analyser the test session loaded analyses the uploads (an API node otherwise loads its own)
    system = build(settings, SystemRole.API_NODE, analyzer=analyzer.analyze, catalog=Catalog.open(tmp_path))
    try:
        client = TestClient(system.api)
        for person in chosen:
            query = sorted(people[person])[ENROLLED]
            response = client.post(
                "/api/search/face",
                headers={"Authorization": f"Bearer {token}"},
                data={"reason": "model test", "top_k": str(ENROLLED)},
                files={"image": (query.name, query.read_bytes(), "image/jpeg")},
            )
            assert response.status_code == 200, response.text
            found = [identity_of[r["sighting"]["id"]] for r in response.json()["results"]]
            assert found[0] == person and found.count(person) >= ENROLLED - 1, (person, found)
    finally:
        system.close()
