"""Probe 7: a camera's credentials, wherever its URL carries them (user-info, any query parameter, path
parameters, the fragment, percent-encoded or with ``@``/``:`` in the password), never leave the server: not in
the camera list, the answers to POST and PATCH, the camera status and its last error, the audit log, the
server's log or an export. A password with an unencoded ``/``, ``?`` or ``#`` is refused, without echoing it."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from ingest_support import RtspServer, make_clip
from listeners import closed_port
from waiting import wait_for

from skynet.redaction import redact_text, redact_url
from skynet.synthetic import paste_plate, render_plate, street_scene

pytestmark = [pytest.mark.models, pytest.mark.slow]

PLATE = "桂B12345"

# (URL with {host} for host:port, the secrets in it): the forms camera makers use.
URL_FORMS = [
    ("rtsp://admin:Userinfo-Pass-1@{host}/Streaming/Channels/101", ["Userinfo-Pass-1"]),
    ("http://{host}/cgi-bin/snapshot.cgi?user=admin&pwd=Dvr-Pwd-2&channel=1", ["Dvr-Pwd-2"]),
    ("http://{host}/videostream.cgi?user=admin&password=Query-Password-3", ["Query-Password-3"]),
    ("http://{host}/video.mjpg?pw=Short-Pw-4", ["Short-Pw-4"]),
    ("http://{host}/videostream.cgi?loginuse=admin&loginpas=Loginpas-5", ["Loginpas-5"]),
    ("rtsp://{host}/axis-media/media.amp;user=root;password=Axis-Param-6", ["Axis-Param-6"]),
    ("rtsp://{host}/user=admin_password=Xmeye-Path-7_channel=1_stream=0.sdp?real_stream", ["Xmeye-Path-7"]),
    ("http://{host}/live/stream.mjpg#token=Fragment-Token-8", ["Fragment-Token-8"]),
    ("rtsp://admin:P%40ss%3Aw%2Frd%3F%23-9@{host}/live", ["P%40ss%3Aw%2Frd%3F%23-9", "P@ss:w/rd?#-9"]),
    ("rtsp://admin:At@Colon:Pass-10@{host}/live", ["At@Colon:Pass-10"]),
    ("rtsp://{host}/live?token=Token-11&sig=Signature-12", ["Token-11", "Signature-12"]),
]


@pytest.mark.parametrize("form, secrets", URL_FORMS)
def test_redaction_hides_every_credential_form_and_keeps_the_address(form, secrets):
    url = form.format(host="10.1.2.3:554")
    shown = redact_url(url)
    error = redact_text(f"cannot open {url}: the camera said {secrets[-1]!r} is wrong", [url])
    for secret in secrets:
        assert secret not in shown and secret not in error
    assert "10.1.2.3:554" in shown and "10.1.2.3:554" in error
    assert redact_url(shown) == shown  # redacting twice changes nothing


def _plate_clip(tmp_path):
    plate = render_plate(PLATE)

    def paint(index: int, image: np.ndarray) -> None:
        x = 100 + 6 * (index % 100)
        corners = np.float32([[x, 400], [x + 220, 405], [x + 219, 475], [x - 1, 470]])
        image[:] = paste_plate(street_scene(1280, 720), plate, corners)

    return make_clip(tmp_path / "street.mp4", 4.0, 1280, 720, 25, paint, preset="veryfast")


@pytest.mark.requires("rtsp", "ffmpeg")
def test_camera_credentials_never_leave_the_server(start_service, tmp_path):
    server = RtspServer({"street": _plate_clip(tmp_path)}).start()
    try:
        with closed_port() as dead_port:
            _probe(start_service, server, f"127.0.0.1:{dead_port}")
    finally:
        server.kill()


def _probe(start_service, server: RtspServer, dead: str) -> None:
    """``dead``: host:port of a port that refuses connections."""
    service = start_service(demo=False, env={"SKYNET_CAMERA_NETWORKS": '["127.0.0.1/32"]'})
    street_secrets = ["Stream-Pass-13", "Stream-Token-14", "Stream-Frag-15"]
    street_url = (
        f"rtsp://viewer:{street_secrets[0]}@127.0.0.1:{server.port}/street?token={street_secrets[1]}"
        f"#sig={street_secrets[2]}"
    )
    secrets = [s for _, form_secrets in URL_FORMS for s in form_secrets] + street_secrets
    answers: list[str] = []
    cameras = {f"form-{n}": form.format(host=dead) for n, (form, _) in enumerate(URL_FORMS)}
    with service.client("operator") as operator, service.client("admin") as admin:
        for n, (camera_id, url) in enumerate(cameras.items()):
            if n % 2:  # every other one: created harmless, then given its URL by PATCH
                created = operator.post(
                    "/api/cameras",
                    json={
                        "id": camera_id,
                        "name": camera_id,
                        "source_url": f"rtsp://{dead}/x",
                        "reason": "camera work 1",
                    },
                )
                assert created.status_code == 201, created.text
                changed = operator.patch(
                    f"/api/cameras/{camera_id}", json={"source_url": url, "reason": "camera work 1"}
                )
            else:
                changed = admin.post(
                    "/api/cameras",
                    json={"id": camera_id, "name": camera_id, "source_url": url, "reason": "camera work 1"},
                )
            assert changed.status_code in (200, 201), changed.text
            assert changed.json()["has_credentials"] is True and dead in changed.json()["source"]
            answers.append(changed.text)
        street = operator.post(
            "/api/cameras", json={"id": "street", "name": "Street", "source_url": street_url, "reason": "camera work 1"}
        )
        assert street.status_code == 201, street.text
        answers.append(street.text)
        unencoded = f"rtsp://admin:Sl/ash?Q#H-16@{dead}/live"
        refused = operator.post(
            "/api/cameras", json={"id": "unencoded", "name": "x", "source_url": unencoded, "reason": "camera work 1"}
        )
        assert refused.status_code == 422 and "percent-encode" in refused.json()["detail"], refused.text
        answers.append(refused.text)
        secrets.append("Sl/ash?Q#H-16")

        def diagnosed() -> list[str] | None:
            errors = [admin.get(f"/api/cameras/{c}/status").json().get("last_error") for c in cameras]
            return errors if all(errors) else None

        errors = wait_for(diagnosed, 60, "every unreachable camera's diagnosis", interval_s=0.5)
        assert all("cannot reach" in e for e in errors), errors  # the diagnosis names the (redacted) URL
        for role in ("admin", "operator", "investigator"):
            with service.client(role) as client:
                answers.append(client.get("/api/cameras").text)
                answers += [client.get(f"/api/cameras/{c}/status").text for c in [*cameras, "street"]]
        answers.append(admin.get("/api/audit", params={"limit": 1000}).text)
        assert '"camera.update"' in answers[-1] and '"camera.create"' in answers[-1]

    with service.client("investigator") as investigator:

        def found() -> list[dict]:
            answer = investigator.get(
                "/api/search/plate",
                params={"q": PLATE, "mode": "exact", "cameras": ["street"], "reason": "probe 7: credential leaks"},
            )
            return answer.json()["results"] if answer.status_code == 200 else []

        hits = wait_for(found, 120, f"a sighting of {PLATE} on the street camera", interval_s=2)
        export = investigator.post(
            "/api/exports",
            json={"sighting_ids": [h["sighting"]["id"] for h in hits], "reason": "probe 7: credential leaks"},
        )
        assert export.status_code == 200, export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        members = {name: archive.read(name).decode("utf-8", "replace") for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    assert [c["id"] for c in manifest["cameras"]] == ["street"]

    texts = {"answers": "\n".join(answers), "export": "\n".join(members.values()), "log": service.log()}
    for where, text in texts.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{where} shows {leaked}"
