"""Issue 14, item 9: re-index jobs read only inside the archive roots an admin configures. A path outside
them gets one answer whether or not it exists (no oracle of the server's files), links are followed before
the check (inside a root, a link out is refused too, and never opened), and directories are walked by the
job: the request answers at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from waiting import wait_for

from skynet.index.catalog import Catalog
from skynet.records import Camera

pytestmark = [pytest.mark.models, pytest.mark.slow]

REASON = "case 2026-9: archive of gate north"


def _camera(catalog: Catalog) -> None:
    catalog.store.cameras.save(Camera("gate", "Gate north", "rtsp://10.0.0.1/gate"))


def test_reindex_paths_outside_the_archive_roots_get_one_answer(start_service, tmp_path):
    root = tmp_path / "archives"
    (root / "many").mkdir(parents=True)
    for n in range(300):  # a folder to walk: the job does it, not the request
        folder = root / "many" / f"day-{n:03d}"
        folder.mkdir()
        (folder / "notes.txt").write_text("not a video")
    (root / "many" / "leak.mp4").symlink_to("/etc/passwd")  # a link out of the root, found by the walk
    (root / "shadow.mp4").symlink_to("/etc/shadow")
    (root / "usr").symlink_to("/usr")
    (root / "up").symlink_to(tmp_path)
    service = start_service(demo=False, env={"SKYNET_ARCHIVE_ROOTS": str(root)}, seed=_camera)
    probes = [
        "/root/.ssh/id_rsa",
        "/etc/shadow",
        "/etc/no-such-file",
        "/proc/self/environ",
        "/",
        "/usr",
        str(service.data_dir / "skynet.db"),
        str(root / "shadow.mp4"),
        str(root / "usr"),
        str(root / "up" / "archives" / ".." / "data0" / "skynet.db"),
        str(root / ".." / "elsewhere.mp4"),
        "relative/clip.mp4",
    ]
    with service.client("admin") as admin:
        answers = {
            path: admin.post("/api/jobs/reindex", json={"paths": [path], "camera": "gate", "reason": REASON})
            for path in probes
        }
        for path, answer in answers.items():
            assert answer.status_code == 403, (path, answer.text)
        details = {answer.json()["detail"].replace(repr(path), "PATH") for path, answer in answers.items()}
        hints = {answer.json()["hint"] for answer in answers.values()}
        assert details == {"PATH is not inside an archive root"} and len(hints) == 1, (details, hints)
        assert str(root) in hints.pop()

        started = admin.post(
            "/api/jobs/reindex", json={"paths": [str(root / "many")], "camera": "gate", "reason": REASON}
        )
        assert started.status_code == 202, started.text
        assert started.json()["files_total"] == 0  # not walked yet: the job walks it

        def finished() -> dict | None:
            job = admin.get(f"/api/jobs/{started.json()['id']}").json()
            return None if job["state"] in ("queued", "running") else job

        job = wait_for(finished, 60, "the job over the folder", interval_s=0.2)
        assert job["state"] == "failed" and job["files_total"] == 0
        assert job["errors"] == [f"{os.path.realpath('/etc/passwd')}: not inside an archive root"]
        own = Path(service.data_dir) / "archive"  # the data directory's archive folder is a root as well
        own.mkdir()
        inside = admin.post("/api/jobs/reindex", json={"paths": [str(own)], "camera": "gate", "reason": REASON})
        assert inside.status_code == 202, inside.text
    assert "root:" not in service.log()  # /etc/passwd was never read
