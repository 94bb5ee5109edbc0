"""Probe 8: camera sources are limited to the networks, schemes, directories and devices an admin allows;
a source outside is refused when the camera is created or changed and never opened, also when its name
resolves somewhere else later; and what a camera's failure tells an operator reveals nothing about what
answered at that address (no port scanner), while admins get the full diagnosis."""

from __future__ import annotations

import asyncio
import json
import os
import time
from ipaddress import ip_network

import pytest
import websockets
from ingest_support import RtspServer, make_clip
from listeners import CountingListener, NotFoundServer, closed_port
from waiting import wait_for

from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.ingest.camera_config import load_cameras
from skynet.ingest.cameras import CameraSet
from skynet.ingest.source_policy import SourceNotAllowedError, SourcePolicy
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.sources import SourceError, open_source
from skynet.ingest.status import SOURCE_PROBLEM, CameraState
from skynet.records import Camera, Detections

LAN = ["10.0.0.0/8"]


def _policy(tmp_path, networks, **more) -> SourcePolicy:
    return SourcePolicy.from_settings(Settings(data_dir=tmp_path, camera_networks=networks, **more))


def _refusal(policy: SourcePolicy, url: str) -> str:
    with pytest.raises(SourceNotAllowedError) as refused:
        policy.check(url)
    return refused.value.message


def test_wide_networks_do_not_open_the_server_itself_or_metadata_services(tmp_path):
    policy = _policy(tmp_path, ["0.0.0.0/0", "::/0"])
    assert policy.check("rtsp://10.1.2.3/live") and policy.check("http://[2001:db8::5]/video.mjpg")
    for url in (
        "rtsp://127.0.0.1/live",
        "rtsp://127.8.9.10:22/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:8000/api/health",
        "rtsp://[::1]:8000/",
        "rtsp://[::ffff:127.0.0.1]:8000/",
        "rtsp://[fe80::1]/",
    ):
        assert "SKYNET_CAMERA_NETWORKS" in _refusal(policy, url), url
    assert _policy(tmp_path, ["127.0.0.1/32"]).check("rtsp://127.0.0.1:8554/x")  # only when named exactly


def test_names_are_checked_by_the_addresses_they_resolve_to(tmp_path):
    # "localhost" resolves to the server itself: refused, also when the name is on the allow-list
    assert "SKYNET_CAMERA_NETWORKS" in _refusal(_policy(tmp_path, LAN), "rtsp://localhost:8554/x")
    assert "SKYNET_CAMERA_NETWORKS" in _refusal(_policy(tmp_path, [*LAN, "localhost"]), "rtsp://localhost:8554/x")
    # a name that does not resolve is refused with the same message as one that resolves elsewhere
    unknown = _refusal(_policy(tmp_path, LAN), "rtsp://no-such-camera.invalid/x")
    assert unknown == _refusal(_policy(tmp_path, LAN), "rtsp://127.0.0.1/x").replace(
        "127.0.0.1", "no-such-camera.invalid"
    )
    # allowed by name (DNS not answering yet is fine), or by a wildcard
    assert _policy(tmp_path, ["*.cams.invalid"]).check("rtsps://gate7.cams.invalid/live") == []
    assert "SKYNET_CAMERA_NETWORKS" in _refusal(_policy(tmp_path, ["*.cams.invalid"]), "rtsp://cams.invalid.evil/")


def test_schemes_files_and_devices_need_their_own_permission(tmp_path):
    policy = _policy(tmp_path, LAN, camera_schemes=["rtsp", "rtsps"], camera_file_dirs=[tmp_path / "loops"])
    assert "'http'" in _refusal(policy, "http://10.0.0.5/video.mjpg")
    for url in ("file:///etc/passwd", "concat:/etc/passwd|/etc/hosts", "tcp://10.0.0.5:22", "udp://10.0.0.5:53"):
        assert "SKYNET_CAMERA_SCHEMES" in _refusal(policy, url), url
    # files: only inside the allowed directories (and the demo directory), one message whether or not they exist
    (tmp_path / "loops").mkdir()
    (tmp_path / "loops" / "outside").symlink_to("/etc")
    assert policy.check(str(tmp_path / "loops" / "hall.mp4")) == []
    assert policy.check(str(tmp_path / "demo" / "street.avi")) == []
    messages = {
        _refusal(policy, path)
        for path in ("/etc/shadow", "/root/.ssh/id_rsa", "/no/such/file", "/proc/self/environ", "relative.mp4")
    }
    messages.add(_refusal(policy, str(tmp_path / "loops" / ".." / "secret.mp4")))
    messages.add(_refusal(policy, str(tmp_path / "loops" / "outside" / "passwd")))
    assert len(messages) == 1 and "SKYNET_CAMERA_FILE_DIRS" in messages.pop()
    assert "SKYNET_CAMERA_DEVICES" in _refusal(policy, "/dev/video0")
    assert _policy(tmp_path, [], camera_devices=True).check("/dev/video0") == []
    with pytest.raises(ConfigError, match="SKYNET_CAMERA_SCHEMES"):
        _policy(tmp_path, [], camera_schemes=["rtsp", "file"])
    with pytest.raises(ConfigError, match="SKYNET_CAMERA_NETWORKS"):
        _policy(tmp_path, ["10.0.0.0/33"])


def test_a_cameras_file_with_a_source_outside_the_allow_list_is_an_error(tmp_path):
    path = tmp_path / "cameras.toml"
    path.write_text('[[cameras]]\nid = "gate"\nurl = "rtsp://10.0.0.5/live?password=File-Secret-1"\n')
    assert load_cameras(path, _policy(tmp_path, LAN))[0].id == "gate"
    with pytest.raises(ConfigError, match="camera gate: the camera host 10.0.0.5 is not in") as error:
        load_cameras(path, _policy(tmp_path, ["192.168.0.0/16"]))
    assert "File-Secret-1" not in str(error.value)


def test_every_open_checks_the_address_again_and_connects_nowhere_else(tmp_path):
    """A camera admitted once (its name then resolved into the camera network) whose name now resolves to
    the server itself, and a stored camera from before the allow-list: neither is ever connected to."""
    with CountingListener() as listener:
        spec = SourceSpec.live_camera("gate", f"rtsp://localhost:{listener.port}/live", policy=_policy(tmp_path, LAN))
        with pytest.raises(SourceError, match="not opened: the camera host localhost is not in"):
            open_source(spec)
        cameras = CameraSet(lambda image, regions=None: Detections(1, 1), _NoSink(), policy=_policy(tmp_path, LAN))
        cameras.start_camera(Camera("old", "Old", f"http://127.0.0.1:{listener.port}/video.mjpg"))
        try:
            status = wait_for(lambda: cameras.status("old").last_error, 10, "the stored camera's refusal")
            assert "not opened" in status and cameras.status("old").state is CameraState.OFFLINE
            assert cameras.status("old").problem == SOURCE_PROBLEM
        finally:
            cameras.stop_all()
        time.sleep(0.5)
        assert listener.connections == 0


class _NoSink:
    def publish(self, *_) -> None:
        raise AssertionError("nothing to publish")


@pytest.mark.slow
@pytest.mark.requires("rtsp")
def test_a_plain_rtsp_camera_named_by_host_name_is_read_from_the_checked_address(tmp_path):
    server = RtspServer({"clip": make_clip(tmp_path / "clip.mp4", 2.0, 320, 240, 25, lambda i, image: None)})
    with server:
        policy = SourcePolicy(networks=(ip_network("127.0.0.1/32"),))
        source = open_source(SourceSpec.live_camera("named", f"rtsp://localhost:{server.port}/clip", policy=policy))
        try:
            assert source.grab() is not None and source.retrieve() is not None
        finally:
            source.close()


@pytest.mark.models
@pytest.mark.slow
def test_sources_outside_the_allow_list_are_refused_over_http_and_never_opened(start_service, tmp_path):
    service = start_service(env={"SKYNET_CAMERA_NETWORKS": json.dumps(LAN)})
    with CountingListener() as listener, service.client("operator") as operator:
        port = listener.port
        refused = {
            url: operator.post(
                "/api/cameras", json={"id": f"probe-{n}", "name": "probe", "source_url": url, "reason": "camera work 1"}
            )
            for n, url in enumerate(
                (
                    f"rtsp://127.0.0.1:{port}/live",
                    f"http://localhost:{port}/video.mjpg",
                    f"rtsp://[::1]:{port}/",
                    f"rtsp://[::ffff:127.0.0.1]:{port}/",
                    "http://169.254.169.254/latest/meta-data/",
                    f"tcp://127.0.0.1:{port}",
                    "file:///etc/passwd",
                    "/etc/shadow",
                    "/no/such/file.mp4",
                    "/proc/self/environ",
                    "/dev/video0",
                )
            )
        }
        for url, answer in refused.items():
            assert answer.status_code == 422 and "SKYNET_CAMERA_" in answer.json()["detail"], (url, answer.text)
        file_answers = {refused[f].json()["detail"].split(": ", 1)[1] for f in ("/etc/shadow", "/no/such/file.mp4")}
        assert len(file_answers) == 1  # whether the file exists or not
        moved = operator.patch(
            "/api/cameras/demo", json={"source_url": f"rtsp://127.0.0.1:{port}/live", "reason": "camera work 1"}
        )
        assert moved.status_code == 422, moved.text
        listed = {c["id"]: c for c in operator.get("/api/cameras").json()}
        assert list(listed) == ["demo"] and listed["demo"]["source"].endswith("street.avi")
        assert operator.post(
            "/api/cameras",
            json={"id": "lan", "name": "LAN", "source_url": "rtsp://10.9.9.9/x", "reason": "camera work 1"},
        ).is_success
        time.sleep(3)
        assert listener.connections == 0


@pytest.mark.models
@pytest.mark.slow
def test_camera_errors_tell_operators_nothing_about_what_answered(start_service):
    service = start_service(env={"SKYNET_CAMERA_NETWORKS": '["127.0.0.1/32"]'})
    with NotFoundServer() as answering, closed_port() as refusing, service.client("admin") as admin:
        sources = {
            "refusing": f"http://127.0.0.1:{refusing}/video.mjpg",
            "answering": f"http://127.0.0.1:{answering.port}/video.mjpg",
        }
        for camera_id, url in sources.items():
            assert admin.post(
                "/api/cameras", json={"id": camera_id, "name": camera_id, "source_url": url, "reason": "camera work 1"}
            ).is_success

        def diagnoses() -> dict[str, str] | None:
            found = {c: admin.get(f"/api/cameras/{c}/status").json().get("last_error") for c in sources}
            return found if all(found.values()) else None

        detail = wait_for(diagnoses, 60, "both cameras' diagnoses", interval_s=0.5)
        assert "cannot reach" in detail["refusing"] and "answered" in detail["answering"], detail
        for role in ("operator", "investigator"):
            with service.client(role) as client:
                shown = {c: client.get(f"/api/cameras/{c}/status").json()["last_error"] for c in sources}
            assert shown == {c: SOURCE_PROBLEM for c in sources}, (role, shown)
        events = asyncio.run(_camera_status_events(service, "operator", set(sources), 10))
    assert events and all("last_error" not in e and e["problem"] == SOURCE_PROBLEM for e in events), events
    assert "cannot reach" in service.log() and "answered" in service.log()  # the log has the diagnosis


async def _camera_status_events(service, role: str, cameras: set[str], seconds: float) -> list[dict]:
    """The ``camera_status`` events of ``cameras`` that ``role``'s live stream carries within ``seconds``."""
    url = f"ws{service.url.removeprefix('http')}/api/live?types=camera_status"
    headers = {"Authorization": f"Bearer {service.tokens[role]}"}
    events: list[dict] = []
    async with websockets.connect(url, additional_headers=headers) as live:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and {e["camera_id"] for e in events} != cameras:
            try:
                event = json.loads(await asyncio.wait_for(live.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            if event["type"] == "camera_status" and event["data"]["camera_id"] in cameras:
                events.append(event["data"])
    return events


def test_the_default_allows_no_network_camera_and_the_demo_clip(tmp_path):
    policy = SourcePolicy.from_settings(Settings(data_dir=tmp_path))
    assert "SKYNET_CAMERA_NETWORKS" in _refusal(policy, "rtsp://192.168.1.64/Streaming/Channels/101")
    assert policy.check(os.fspath(tmp_path / "demo" / "street.avi")) == []
