"""Schemathesis against the OpenAPI schema, as an admin: no route answers 5xx to generated input,
and answers match their documented schemas and status codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import schemathesis
from api_support import colour_jpeg, make_api
from hypothesis import HealthCheck, assume, given, settings
from schemathesis.python import asgi as schemathesis_asgi

from skynet.ingest.archive_roots import ArchiveRoots
from skynet.records import Box, PlateText, Sighting, SightingKind
from skynet.services.reindex import ReindexJobs
from skynet.store.sighting_writes import SightingMedia

EXAMPLES = 20
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


class NoJobs:
    def run(self, files, camera_id, start_time, force, on_progress, on_outcome, on_deleted, stop):
        return []


def seeded_api(data_dir: Path):
    """A service with one face and one plate sighting (with media), an upload face, a job runner."""
    # generated camera sources are mostly relative paths and digits: allowed here (files in the working
    # directory, devices), so generated camera creations get past the allow-list too
    api = make_api(data_dir, camera_file_dirs=[Path.cwd()], camera_devices=True)
    media = SightingMedia(thumbnail=colour_jpeg((1, 2, 3), 16), context=colour_jpeg((3, 2, 1), 32))
    embedding = np.ones(8, np.float32)
    api.catalog.add_sightings(
        [
            Sighting("cam-a", SightingKind.FACE, 1.0, 2.0, 1.0, Box(0, 0, 9, 9), 0.5, embedding=embedding),
            Sighting(
                "cam-b",
                SightingKind.PLATE,
                1.0,
                2.0,
                1.0,
                Box(0, 0, 9, 9),
                0.5,
                plate=PlateText("桂B12345", (0.9,) * 7),
            ),
        ],
        [media, media],
    )
    api.system.runner.register(ReindexJobs(api.catalog.store, NoJobs, ArchiveRoots([data_dir]), api.system.auditor))
    # search already uses the configured model: re-embedding answers 409
    api.analyzer.register((200, 200, 200), (Box(0, 0, 5, 5), embedding))
    return api


@pytest.mark.slow
def test_api_survives_generated_requests(tmp_path: Path) -> None:
    api = seeded_api(tmp_path)
    headers = api.as_role("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    # logging out would revoke the token every later request needs (tested in test_api.py)
    operations = [op for op in operations if op.path != "/api/logout"]
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def check(case) -> None:
                # nor may it disable, demote or delete the acting admin or revoke its tokens (hypothesis draws
                # names such as "admin" from the code's own strings)
                assume((case.path_parameters or {}).get("name") != "admin")
                case.call_and_validate(headers=headers, checks=CHECKS)

            check()
        # the generated requests were authenticated and got past validation: searches and camera changes were audited
        actions = {e.action for e in api.catalog.store.audit.events(10_000)}
        assert {"search.plate", "camera.create"} <= actions, actions
    finally:
        # the lifespan schemathesis started ends before the store closes: its end writes the refusals still
        # counted (generated media links with bad signatures) to the audit log
        schemathesis_asgi.shutdown_lifespans()
        api.close()
