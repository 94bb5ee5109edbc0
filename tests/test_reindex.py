"""Re-indexing archives into the store: parallel, idempotent, resumable after a kill, clear per-file errors."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ingest_support import SquareAnalyzer, make_clip, square_painter
from waiting import wait_for

from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.ingest.reindex import Reindexer, archive_files
from skynet.records import Box, Camera, Origin, Sighting, SightingKind
from skynet.store.holds import HoldCause
from skynet.store.jobs import FileState
from skynet.store.sqlite import DB_NAME

pytestmark = pytest.mark.requires("ffmpeg")
START = 1_714_550_400.0
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for name in ("a_20240501_080000.mp4", "b_20240501_090000.mp4", "c_20240501_100000.mp4"):
        make_clip(root / name, 3.0, painter=square_painter())
    (root / "broken_20240501_110000.mp4").write_bytes(b"\x00" * 4096)
    (root / "notes.txt").write_text("not a video")
    return root


def _reindex(data_dir: Path, files: list[Path], force: bool = False, pack: str = "default"):
    with Catalog.open(data_dir) as catalog:
        catalog.store.cameras.save(Camera("cam1", "archive camera", ""))
        writer = CatalogWriter(catalog)
        outcomes = Reindexer(catalog, writer, writer.flush, SquareAnalyzer(), pack, jobs=2).run(
            files, "cam1", force=force
        )
        writer.close()
        counts = catalog.store.sightings.counts()
        states = {f: catalog.store.jobs.file_state(str(f)) for f in files}
    return {o.path.name: o for o in outcomes}, counts, states


def test_files_are_found_processed_in_parallel_and_a_second_run_adds_nothing(archive, tmp_path):
    files = archive_files([archive])
    assert [f.name for f in files] == [
        "a_20240501_080000.mp4",
        "b_20240501_090000.mp4",
        "broken_20240501_110000.mp4",
        "c_20240501_100000.mp4",
    ]
    outcomes, counts, states = _reindex(tmp_path, files)
    assert {n: o.status for n, o in outcomes.items()} == {
        "a_20240501_080000.mp4": "done",
        "b_20240501_090000.mp4": "done",
        "c_20240501_100000.mp4": "done",
        "broken_20240501_110000.mp4": "failed",
    }
    assert outcomes["broken_20240501_110000.mp4"].detail  # a clear reason, not an empty failure
    assert counts == {"face": 3, "plate": 3, "identity": 0}
    assert states[files[0]].status == "done" and states[files[0]].frames_done == 75

    again, counts_again, _ = _reindex(tmp_path, files)
    assert again["a_20240501_080000.mp4"].status == "skipped"
    assert counts_again == counts

    other_pack, _, _ = _reindex(tmp_path, files[:1], pack="insightface")
    assert other_pack["a_20240501_080000.mp4"].status == "skipped"
    assert "--force" in other_pack["a_20240501_080000.mp4"].detail
    forced, counts_forced, _ = _reindex(tmp_path, files[:1], force=True, pack="insightface")
    assert forced["a_20240501_080000.mp4"].status == "done" and counts_forced == counts


def test_a_file_left_running_is_redone_without_duplicates(archive, tmp_path):
    clip = archive / "a_20240501_080000.mp4"
    with Catalog.open(tmp_path) as catalog:
        catalog.store.cameras.save(Camera("cam1", "archive camera", ""))
        partial = Sighting(
            "cam1",
            SightingKind.FACE,
            START,
            START + 1,
            START,
            Box(0, 0, 10, 10),
            0.5,
            embedding=np.array([1.0, 0.0], np.float32),
            origin=Origin("archive", str(clip), 0.0),
        )
        catalog.add_sightings([partial])
        stat = clip.stat()
        catalog.store.jobs.set_file_state(FileState(str(clip), stat.st_size, stat.st_mtime, "default", "running"))
    outcomes, counts, _ = _reindex(tmp_path, [clip])
    assert outcomes[clip.name].status == "done"
    assert counts == {
        "face": 1,
        "plate": 1,
        "identity": 0,
    }  # the partial sighting was replaced, not kept beside the new one


def test_killed_run_resumes_to_the_same_result_as_a_clean_run(archive, tmp_path):
    files = [archive / n for n in ("a_20240501_080000.mp4", "b_20240501_090000.mp4", "c_20240501_100000.mp4")]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from pathlib import Path
        from ingest_support import SquareAnalyzer
        from skynet.index.catalog import Catalog
        from skynet.index.writer import CatalogWriter
        from skynet.ingest.reindex import Reindexer
        from skynet.records import Camera
        with Catalog.open(Path({str(tmp_path)!r})) as catalog:
            catalog.store.cameras.save(Camera("cam1", "archive camera", ""))
            writer = CatalogWriter(catalog)
            print("started", flush=True)
            Reindexer(catalog, writer, writer.flush, SquareAnalyzer(delay_s=0.15), "default", jobs=1).run(
                [Path(p) for p in {[str(f) for f in files]!r}], "cam1")
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "started"

    def first_done_second_running() -> bool:  # read straight from the SQLite file the child writes
        with contextlib.closing(sqlite3.connect(tmp_path / DB_NAME, timeout=5)) as db:
            status = dict(db.execute("SELECT path, status FROM reindex_files").fetchall())
        return [status.get(str(f)) for f in files[:2]] == ["done", "running"]

    wait_for(first_done_second_running, 60, "the first file done and the second under way")
    process.send_signal(signal.SIGKILL)
    process.wait()
    with Catalog.open(tmp_path) as catalog:
        states = [catalog.store.jobs.file_state(str(f)) for f in files]
    assert states[0] is not None and states[0].status == "done"
    assert states[1] is not None and states[1].status == "running"

    outcomes, counts, _ = _reindex(tmp_path, files)
    assert [outcomes[f.name].status for f in files] == ["skipped", "done", "done"]
    assert counts == {"face": 3, "plate": 3, "identity": 0}
    with Catalog.open(tmp_path) as catalog:
        assert catalog.store.integrity_problems() == []
        assert sorted(catalog.faces.ids()) == sorted(catalog.store.faces.ids())
        assert len(catalog.faces.ids()) == 3


def test_a_redo_keeps_the_camera_and_start_time_and_reports_what_it_deletes(archive, tmp_path):
    clip = archive / "b_20240501_090000.mp4"
    with Catalog.open(tmp_path) as catalog:
        for camera in ("cam0", "cam1"):
            catalog.store.cameras.save(Camera(camera, camera, ""))
        seen = [
            Sighting(
                "cam0",
                SightingKind.FACE,
                START + i,
                START + i + 1,
                START + i,
                Box(0, 0, 10, 10),
                0.5,
                embedding=np.array([1.0, float(i)], np.float32),
                origin=Origin("archive", str(clip), float(i)),
            )
            for i in range(3)
        ]
        ids = catalog.add_sightings(seen)
        catalog.store.holds.hold([ids[0]], HoldCause.EXPORT, "skynet-export-1", "ivy", START)
        stat = clip.stat()
        catalog.store.jobs.set_file_state(
            FileState(str(clip), stat.st_size, stat.st_mtime, "default", "running", camera_id="cam0", start_time=START)
        )
        writer = CatalogWriter(catalog)
        reindexer = Reindexer(catalog, writer, writer.flush, SquareAnalyzer(), "default")
        deletions: list = []
        (refused,) = reindexer.run([clip], "cam1", on_deleted=lambda path, gone: deletions.append(gone))
        assert (
            refused.status == "failed" and "read before as camera 'cam0' from 2024-05-01 08:00:00 UTC" in refused.detail
        )
        assert deletions == [] and len(catalog.store.sightings.get_many(ids)) == 3  # nothing deleted
        (redone,) = reindexer.run([clip], "cam0", on_deleted=lambda path, gone: deletions.append(gone))
        writer.close()
        assert redone.status == "done"
        (gone,) = deletions
        assert sorted(gone.ids.tolist()) == ids[1:] and gone.held_ids == (ids[0],)  # the exported one is kept
        assert gone.audited()["sighting_ids"] == [[ids[1], ids[2]]]
        state = catalog.store.jobs.file_state(str(clip))
        assert (state.camera_id, state.start_time, state.status) == ("cam0", START, "done")
