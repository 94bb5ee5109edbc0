"""Issue 14, item 15: NaN and infinities anywhere in a request, and time ranges that end before they start,
answer 422 with a message naming the field, on every route that takes them (never 500, never silently
accepted), on a real ``skynet serve``."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.models, pytest.mark.slow]

REASON = "case 15: numbers"
RANGED_QUERIES = {  # route -> its other query parameters
    "/api/search/plate": {"q": "AB123", "reason": REASON},
    "/api/trajectory/plate": {"q": "AB123", "reason": REASON},
    "/api/audit": {},
}
RANGED_FORMS = {"/api/search/face": {"reason": REASON, "sighting_id": "1"}, "/api/trajectory": {"reason": REASON}}
EXPORT = '{"reason": "case 15: numbers", "plate": {"q": "AB123"}, %s}'
CAMERA = '{"id": "cam-nan", "name": "Gate", "source_url": "rtsp://192.0.2.1/live", %s}'


def _refused(answer, *names: str) -> None:
    assert answer.status_code == 422, (answer.request.url, answer.status_code, answer.text)
    detail = answer.json()["detail"]
    assert all(name in detail for name in names), detail


def test_nan_infinity_and_reversed_ranges_are_422_everywhere(seeded_service):
    service = seeded_service
    with service.client("admin") as admin:
        for path, params in RANGED_QUERIES.items():
            for bad in ("NaN", "nan", "Infinity", "-inf"):
                _refused(admin.get(path, params={**params, "since": bad}), "since", "finite")
                _refused(admin.get(path, params={**params, "until": bad}), "until", "finite")
            _refused(admin.get(path, params={**params, "since": 200, "until": 100}), "since", "until", "after")
            assert admin.get(path, params={**params, "since": 100, "until": 100}).status_code == 200, path
        for path, form in RANGED_FORMS.items():
            _refused(admin.post(path, data={**form, "since": "NaN"}), "since", "finite")
            _refused(admin.post(path, data={**form, "until": "inf"}), "until", "finite")
            _refused(admin.post(path, data={**form, "since": "200", "until": "100"}), "since", "until", "after")

        json_headers = {"Content-Type": "application/json"}
        for fields, names in (
            ('"since": NaN', ("since", "finite")),
            ('"until": Infinity', ("until", "finite")),
            ('"since": 200, "until": 100', ("since", "until", "after")),
            ('"max_speed_kmh": NaN', ("max_speed_kmh",)),
        ):
            _refused(admin.post("/api/exports", content=EXPORT % fields, headers=json_headers), *names)
        for fields, name in (('"latitude": NaN', "latitude"), ('"longitude": -Infinity', "longitude")):
            _refused(admin.post("/api/cameras", content=CAMERA % fields, headers=json_headers), name, "finite")
        _refused(admin.patch("/api/cameras/none", content='{"latitude": NaN}', headers=json_headers), "latitude")
        watch = {"kind": "plate", "label": "van", "reason": REASON, "pattern": "AB123", "expires_at": "NaN"}
        _refused(admin.post("/api/watchlist", data=watch), "expires_at", "finite")
        _refused(admin.post("/api/search/face", data={"reason": REASON, "sighting_id": "1", "min_similarity": "nan"}))
    assert "Traceback" not in service.log() and "500 Internal Server Error" not in service.log()
