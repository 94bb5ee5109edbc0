"""Issue 14, item 17: the API schema needs a token like every route but /api/health, the docs page is
served from the server itself (no CDN) and holds nothing of the API until the schema is fetched with a
token, and JSON answers and sighting images are marked ``nosniff`` and ``no-store``."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from skynet.records import Box, PlateText, Sighting, SightingKind
from skynet.services.demo import DEMO_CAMERA_ID
from skynet.store.sighting_writes import SightingMedia

pytestmark = [pytest.mark.models, pytest.mark.slow]


def _plate_sighting(catalog) -> None:
    jpeg = cv2.imencode(".jpg", np.full((32, 64, 3), 128, np.uint8))[1].tobytes()
    plate = PlateText("桂B12345", (0.9,) * 7)
    sighting = Sighting(DEMO_CAMERA_ID, SightingKind.PLATE, 1.0, 2.0, 1.0, Box(0, 0, 9, 9), 0.5, plate=plate)
    catalog.add_sightings([sighting], [SightingMedia(thumbnail=jpeg, context=jpeg)])


def test_the_schema_needs_a_token_and_the_docs_come_from_the_server(start_service):
    service = start_service(demo=True, seed=_plate_sighting)
    with service.client() as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/redoc").status_code == 404
        page = anonymous.get("/docs", follow_redirects=True)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/api/" not in page.text, "the docs page itself lists routes"
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/") or s.startswith("data:") for s in sources), sources
        for source in sources:
            if source.startswith("/docs/assets/"):
                assert anonymous.get(source).status_code == 200, source
        assert "SwaggerUIBundle" in anonymous.get("/docs/assets/swagger-ui-bundle.js").text
    with service.client("operator") as operator:
        schema = operator.get("/openapi.json")
        assert schema.status_code == 200 and "/api/stream-tickets" in schema.json()["paths"]


def test_json_answers_and_sighting_images_are_nosniff_and_no_store(start_service):
    service = start_service(demo=True, seed=_plate_sighting)
    with service.client("investigator") as investigator, service.client() as anonymous:
        sighting = investigator.get("/api/sightings/1", params={"reason": "case 14-17"})
        answers = {
            "health": anonymous.get("/api/health"),
            "401": anonymous.get("/api/cameras"),
            "cameras": investigator.get("/api/cameras"),
            "sighting": sighting,
            "thumbnail": anonymous.get(sighting.json()["thumbnail_url"]),  # signed links need no token
            "context": anonymous.get(sighting.json()["context_url"]),
            "schema": investigator.get("/openapi.json"),
            "422": investigator.get("/api/sightings/0", params={"reason": "case 14-17"}),
        }
    for name, answer in answers.items():
        assert answer.status_code in (200, 401, 422), (name, answer.status_code)
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["cache-control"] == "no-store", name
    assert answers["thumbnail"].headers["content-type"] == "image/jpeg"
