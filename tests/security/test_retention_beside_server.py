"""Issue 14, item 16: ``skynet retention`` run beside a running server. The server's face index does not
see deletions made by another process, so it would go on finding deleted faces: the command refuses while
any other process has the data directory open (the server applies retention itself with
SKYNET_RETENTION_DAYS). And a search's audit row counts the sightings the reply holds, never index hits
whose sightings are gone."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from store_support import face, open_catalog

from skynet.accounts.model import Role, User
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.records import Camera
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQueries, FaceQuery, SimilarityBands
from skynet.services.media_links import KEY_PURPOSE, MediaLinks
from skynet.services.search import Filters, SearchService
from skynet.services.sightings import SightingService

DAY = 86400.0
REASON = "retention order 2026-3"


def _faces(n: int, t: float) -> list:
    rng = np.random.default_rng(int(t))
    return [face(t + i, rng.standard_normal(128).astype(np.float32), "gate") for i in range(n)]


def _seed(catalog: Catalog) -> None:
    catalog.store.cameras.save(Camera("gate", "Gate", "rtsp://10.0.0.1/gate"))
    catalog.add_sightings(_faces(5, time.time() - 60 * DAY) + _faces(3, time.time() - DAY))


def _retention(env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "skynet", "retention", "--older-than", "30d", "--reason", REASON]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.models
@pytest.mark.slow
def test_cli_retention_refuses_while_a_server_runs(start_service):
    service = start_service(demo=False, seed=_seed)
    refused = _retention(service.env)
    assert refused.returncode == 2 and "skynet serve" in refused.stderr and "retention not run" in refused.stderr
    with service.client("investigator") as investigator:
        asked = {"sighting_id": "1", "reason": REASON, "top_k": "10", "include_weaker": "true"}  # random faces
        found = investigator.post("/api/search/face", data=asked)
        assert found.status_code == 200, found.text
        assert len(found.json()["results"]) == 8  # nothing was deleted behind the server's back
    service.server.stop()
    done = _retention(service.env)
    assert done.returncode == 0 and "deleted 5 sightings" in done.stdout, done.stdout + done.stderr
    with Catalog.open(service.data_dir) as catalog:
        assert catalog.store.sightings.counts()["face"] == 3 and catalog.faces.status().vectors == 3
        (row,) = catalog.store.audit.events(1, action="retention.delete")
        assert (row.actor, row.reason, row.detail["sighting_ids"]) == ("cli", REASON, [[1, 5]])


def test_a_search_audits_the_sightings_it_returns(tmp_path):
    with open_catalog(tmp_path) as catalog:
        catalog.store.cameras.save(Camera("gate", "Gate", "rtsp://10.0.0.1/gate"))
        ids = catalog.add_sightings(_faces(5, 1_750_000_000.0))
        with catalog.store.db.write("deleting behind the index's back"):  # what another process's deletion did
            catalog.store.db.execute("DELETE FROM sightings WHERE id IN (?, ?)", (ids[0], ids[1]))
        auditor = Auditor(catalog.store.audit)
        links = MediaLinks(catalog.store.audit.derived_key(KEY_PURPOSE), catalog.store.users, time.time)
        sightings = SightingService(catalog.store, auditor, links)
        faces = FaceQueries(catalog, Settings(data_dir=tmp_path), None, None)
        bands = SimilarityBands(match=-1.0, possible=-1.0)  # random faces: every one counts as a match
        search = SearchService(catalog, sightings, faces, auditor, bands)
        user = User("ivy", Role.INVESTIGATOR, 0.0)
        found = search.search_faces(user, REASON, FaceQuery(sighting_id=ids[2]), 10, None, Filters())
        (row,) = catalog.store.audit.events(1, action="search.face")
        assert len(found) == 3 and row.detail["results"] == 3
