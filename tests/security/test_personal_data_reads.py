"""Issue 14, items 5, 6 and 11 on a real ``skynet serve``: media only through signed, short-lived links that
name their user and token (no thumbnail by sequential id; an operator sees the faces of their alerts and no
live sightings); reading one sighting needs a reason and is audited like a search; every audit row names the
API token used and who minted it."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import MEDIA_LINK_TTL_S, SEEN_PLATE
from waiting import wait_for
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = [pytest.mark.models, pytest.mark.slow]

REASON = "case 2026-114: stolen van"


def _with(url: str, **changes) -> str:
    """``url`` with some of its query values changed (a forged link)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return f"{parts.path}?{urlencode({**query, **changes})}"


def _audit(admin, action: str, **fields) -> list[dict]:
    """The audit rows of ``action`` whose ``fields`` have those values (the service is shared with other probes)."""
    rows = admin.get("/api/audit", params={"action": action, "limit": 1000}).json()
    return [row for row in rows if all(row[k] == v for k, v in fields.items())]


def test_media_links_sighting_reads_and_audited_tokens(seeded_service):
    service = seeded_service
    with service.client("admin") as admin, service.client() as anonymous:
        minted = admin.post("/api/users/investigator/tokens", json={"days": 1, "reason": REASON, "label": "probe"})
        assert minted.status_code == 201
        token_id = minted.json()["token_id"]
        with service.client() as investigator:
            investigator.headers["Authorization"] = f"Bearer {minted.json()['token']}"
            # item 11: a search with a token an admin minted names the token and the admin
            found = investigator.get("/api/search/plate", params={"q": SEEN_PLATE, "mode": "exact", "reason": REASON})
            assert found.status_code == 200
            results = [r["sighting"] for r in found.json()["results"]]
            assert len(results) == 3
            (search_row,) = _audit(admin, "search.plate", token_id=token_id)
            assert search_row["actor"] == "investigator" and search_row["reason"] == REASON
            assert (search_row["token_id"], search_row["token_minted_by"]) == (token_id, "admin")

            # item 6: reading one sighting needs a reason and is audited like a search
            sid = results[0]["id"]
            missing = investigator.get(f"/api/sightings/{sid}")
            assert missing.status_code == 422 and "reason" in missing.text
            assert investigator.get(f"/api/sightings/{sid}", params={"reason": "x"}).status_code == 422
            for result in results:
                assert investigator.get(f"/api/sightings/{result['id']}", params={"reason": REASON}).status_code == 200
            reads = _audit(admin, "sighting.read", actor="investigator")
            assert sorted(r["detail"]["sighting_id"] for r in reads) == sorted(r["id"] for r in results)
            assert all(r["reason"] == REASON and r["token_id"] == token_id for r in reads)

            # item 5: media through the signed link only, each read audited with its context
            link = results[0]["thumbnail_url"]
            assert "sig=" in link and "access_token" not in link and minted.json()["token"] not in link
            image = anonymous.get(link)
            assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
            assert anonymous.get(results[1]["context_url"]).status_code == 200
            media_reads = _audit(admin, "media.read", actor="investigator")
            assert {(r["detail"]["sighting_id"], r["detail"]["media"]) for r in media_reads} == {
                (sid, "thumbnail"),
                (results[1]["id"], "context"),
            }
            assert all(r["detail"]["context"] == "search.plate" and r["token_id"] == token_id for r in media_reads)
            assert all(r["actor"] == "investigator" and r["token_minted_by"] == "admin" for r in media_reads)

            # not guessable: by sequential id (with or without a token), or a signed link changed
            other = results[1]["id"]
            assert investigator.get(f"/api/sightings/{other}/thumbnail").status_code == 401
            assert anonymous.get(link.replace(f"/sightings/{sid}/", f"/sightings/{other}/")).status_code == 401
            assert anonymous.get(_with(link, by="admin")).status_code == 401
            assert anonymous.get(_with(link, expires=int(time.time()) + 86400)).status_code == 401
            assert anonymous.get(link.replace("/thumbnail?", "/context?")).status_code == 401
            # short-lived: the link stops opening its file
            wait_for(lambda: anonymous.get(link).status_code == 401, MEDIA_LINK_TTL_S + 5, "the media link to expire")
            assert "expired" in anonymous.get(link).json()["detail"]
            # and it dies with its token
            fresh = investigator.get(f"/api/sightings/{other}", params={"reason": REASON}).json()["thumbnail_url"]
            assert anonymous.get(fresh).status_code == 200
            revoked = admin.delete(f"/api/users/investigator/tokens/{token_id}", params={"reason": REASON})
            assert revoked.status_code == 204
            assert anonymous.get(fresh).status_code == 401

    # item 5: an operator sees the faces of their alerts, nothing by id, no live sightings
    with service.client("operator") as operator, service.client() as anonymous:
        assert operator.get(f"/api/sightings/{sid}").status_code == 403
        assert operator.get(f"/api/sightings/{sid}/thumbnail").status_code == 401
        (alert,) = operator.get("/api/alerts").json()
        assert anonymous.get(alert["thumbnail_url"]).status_code == 200
        assert anonymous.get(alert["context_url"]).status_code == 200
        # the alert's link opens that sighting only
        assert (
            anonymous.get(alert["thumbnail_url"].replace(f"/{alert['sighting_id']}/", f"/{other}/")).status_code == 401
        )
        with service.client("admin") as admin:
            operator_reads = _audit(admin, "media.read", actor="operator")
            assert len(operator_reads) == 2 and operator_reads[0]["detail"]["context"] == f"alert {alert['id']}"
            assert operator_reads[0]["token_minted_by"] == "operator"  # a token of their own
        ws_url = service.url.replace("http://", "ws://") + "/api/live?types=sighting"
        with pytest.raises(InvalidStatus):
            connect(ws_url, additional_headers={"Authorization": f"Bearer {service.tokens['operator']}"})
        with connect(ws_url, additional_headers={"Authorization": f"Bearer {service.tokens['investigator']}"}):
            pass  # investigators may watch sightings
        with service.client("admin") as admin:
            refused = _audit(admin, "auth.forbidden")
            assert any(r["actor"] == "operator" and r["detail"]["permission"] == "search" for r in refused)
