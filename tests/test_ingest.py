"""Ingest on real files (Debian ffmpeg makes them): sources, timestamps, pacing, bad input, workers."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from ingest_support import (
    ListSink,
    SquareAnalyzer,
    make_audio_only,
    make_clip,
    square_painter,
)
from waiting import wait_for

from skynet.detectors.pool import AnalyzerPool
from skynet.ingest.archive_time import (
    ArchiveFileError,
    ArchiveTimeError,
    resolve_start_time,
    time_from_name,
)
from skynet.ingest.cameras import CameraSet
from skynet.ingest.pacing import LatestSlot, LiveClock, MotionGate, RateGate
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.sources import SourceError, open_source
from skynet.ingest.status import CameraState
from skynet.ingest.worker import CameraWorker, WorkerOptions
from skynet.records import Camera, Detections

pytestmark = pytest.mark.requires("ffmpeg")
START = datetime.fromisoformat("2024-05-01T08:00:00+00:00").timestamp()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    square = make_clip(root / "square.mp4", 4.0, painter=square_painter(), creation_time="2024-05-01T08:00:00Z")
    still = make_clip(root / "still.mp4", 3.0, painter=square_painter(speed_px=0))
    indexed_first = make_clip(root / "indexed.mp4", 4.0, painter=square_painter(), faststart=True)
    truncated = root / "truncated.mp4"
    data = indexed_first.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])  # index intact, second half of the frames gone
    no_index = root / "no_index.mp4"
    no_index.write_bytes(square.read_bytes()[: len(data) // 2])  # index (at the end) gone
    garbage = root / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    named = root / "cam7_20240501_080000.mp4"
    shutil.copy(still, named)
    return {
        "square": square,
        "still": still,
        "truncated": truncated,
        "garbage": garbage,
        "empty": empty,
        "audio": make_audio_only(root / "audio.m4a"),
        "named": named,
        "no_index": no_index,
    }


def test_archive_frames_carry_start_plus_presentation_time(clips):
    start = resolve_start_time(clips["square"])
    assert start == START  # from the container's creation_time (ffprobe)
    source = open_source(SourceSpec("cam1", str(clips["square"]), start_time=start))
    stamps = []
    while (stamp := source.grab()) is not None:
        stamps.append(stamp)
    source.close()
    assert len(stamps) == 100
    assert stamps[0] == pytest.approx(START, abs=1e-3)
    np.testing.assert_allclose(np.diff(stamps), 0.04, atol=1e-3)


def test_start_time_from_argument_or_file_name(clips):
    assert resolve_start_time(clips["square"], explicit=START + 60) == START + 60
    expected = datetime(2024, 5, 1, 8, 0, 0).timestamp()  # no zone in the name: local time
    assert resolve_start_time(clips["named"]) == expected
    assert time_from_name("x_2024-05-01T08.00.00+0200.mp4", "%Y-%m-%dT%H.%M.%S%z") == START - 7200
    with pytest.raises(ArchiveTimeError, match="no start time"):
        resolve_start_time(clips["still"])


def test_a_file_is_checked_before_its_start_time_and_the_error_names_the_pattern_setting(clips):
    for broken in ("garbage", "audio"):  # not a video: said first, whether or not a start time is given
        with pytest.raises(ArchiveFileError, match="not a video file"):
            resolve_start_time(clips[broken])
        with pytest.raises(ArchiveFileError, match="not a video file"):
            resolve_start_time(clips[broken], explicit=123.0)
    with pytest.raises(ArchiveTimeError) as missing:
        resolve_start_time(clips["still"])
    assert "SKYNET_ARCHIVE_NAME_PATTERN" in missing.value.hint
    from skynet.config import Settings

    assert Settings(archive_name_pattern="cam7_%Y%m%d").archive_name_pattern == "cam7_%Y%m%d"
    assert resolve_start_time(clips["named"], name_pattern="cam7_%Y%m%d") == datetime(2024, 5, 1).timestamp()


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ("empty", "is empty"),
        ("audio", "no video stream"),
        ("garbage", "corrupt or not a video"),
    ],
)
def test_bad_files_give_clear_errors(clips, clip, message):
    with pytest.raises(SourceError, match=message) as caught:
        open_source(SourceSpec("cam9", str(clips[clip]), start_time=0.0))
    assert "cam9" in str(caught.value)


def test_missing_file_and_bad_transport():
    with pytest.raises(SourceError, match="does not exist"):
        open_source(SourceSpec("cam9", "/no/such/file.mp4", start_time=0.0))
    with pytest.raises(SourceError, match="transport"):
        open_source(SourceSpec("cam9", "rtsp://127.0.0.1:1/x", transport="quic"))


def test_rate_gate_keeps_five_of_twenty_five_fps():
    gate = RateGate(5.0)
    passed = [i for i in range(100) if gate.due(i * 0.04)]
    assert passed == list(range(0, 100, 5))
    assert gate.due(100.0)  # a gap restarts the grid instead of catching up
    assert not gate.due(100.1)
    assert gate.due(3.0)  # so does a jump back (a stream whose times restart)
    assert not gate.due(3.1) and gate.due(3.2)


def test_live_clock_stamps_frames_by_the_streams_time_and_says_how_far_behind_the_reader_is():
    clock = LiveClock()
    assert clock.stamp(1000.0, 0.0) == 1000.0  # no presentation times yet: the wall clock
    # read on time (50 ms after each frame), then a reader needing 80 ms per 40 ms frame
    assert clock.stamp(1000.05, 0.04) == pytest.approx(1000.05)
    stamps = [clock.stamp(1000.05 + 0.08 * i, 0.04 + 0.04 * i) for i in range(1, 26)]
    # 40 ms apart, as shown (within the 0.2 % a camera clock may drift by)
    assert stamps == pytest.approx([1000.05 + 0.04 * i for i in range(1, 26)], abs=0.005)
    assert clock.behind_s == pytest.approx(25 * 0.04, abs=0.005)
    drifting = LiveClock()  # a camera clock 0.1 % slow: never behind
    for i in range(3600):
        drifting.stamp(2000.0 + i * 1.001, float(i))
    assert drifting.behind_s < 0.01
    still = LiveClock()  # a stream without times (MJPEG, a device): the wall clock, never behind
    assert [still.stamp(t, 0.0) for t in (5.0, 6.0, 9.0)] == [5.0, 6.0, 9.0] and still.behind_s == 0.0


def test_motion_gate_skips_static_frames_but_not_for_ever():
    gate = MotionGate(max_static_s=1.0)
    frame = np.zeros((360, 640, 3), np.uint8)
    assert gate.moving(frame, 0.0)
    assert not gate.moving(frame.copy(), 0.2)
    moved = frame.copy()
    moved[100:160, 100:160] = 255
    assert gate.moving(moved, 0.4)
    assert not gate.moving(moved, 0.6)
    assert gate.moving(moved, 1.5)  # the heartbeat
    assert gate.moving(np.zeros((720, 1280, 3), np.uint8), 1.6)  # resolution changed


def test_latest_slot_drops_and_counts_when_live_blocks_when_archive():
    live: LatestSlot[int] = LatestSlot(block=False)
    for i in range(5):
        assert live.put(i)
    assert live.take(0) == 4 and live.dropped == 4
    backlog: LatestSlot[int] = LatestSlot(block=False, depth=2)  # a burst is caught up on, oldest first
    for i in range(4):
        assert backlog.put(i)
    assert [backlog.take(0), backlog.take(0), backlog.take(0)] == [2, 3, None] and backlog.dropped == 2
    with pytest.raises(ValueError):
        LatestSlot(block=False, depth=0)
    archive: LatestSlot[int] = LatestSlot(block=True)
    assert archive.put(1)
    assert not archive.put(2, timeout=0.05)  # full: waits instead of dropping
    assert archive.take(0) == 1 and archive.dropped == 0
    archive.close()
    assert archive.take(0.05) is None and archive.closed


def run_archive(path: Path, analyzer, **options) -> tuple[CameraWorker, ListSink]:
    sink = ListSink()
    worker = CameraWorker(SourceSpec("arch", str(path), start_time=START), analyzer, sink, WorkerOptions(**options))
    assert worker.start().join(timeout=60)
    return worker, sink


def test_archive_worker_analyses_at_five_fps_and_publishes_sightings(clips):
    analyzer = SquareAnalyzer()
    worker, sink = run_archive(clips["square"], analyzer, motion_gate=False)
    status = worker.status()
    assert status.state is CameraState.FINISHED and status.last_error is None
    assert status.frames_read == 100 and status.frames_analysed == analyzer.calls == 20
    assert status.frames_dropped == 0
    kinds = sorted(s.kind.value for s, _, _ in sink.items)
    assert kinds == ["face", "plate"] and status.sightings == 2
    face = next(s for s, _, _ in sink.items if s.kind.value == "face")
    assert face.first_seen == pytest.approx(START) and face.last_seen == pytest.approx(START + 3.8, abs=0.01)
    assert face.origin.kind == "archive" and face.origin.offset_s == pytest.approx(0.0)
    thumb = next(t for s, t, _ in sink.items if s is face)
    assert thumb.shape[0] >= 80 and thumb.max() == 255


def test_motion_gate_cuts_analysis_of_a_static_scene(clips):
    analyzer = SquareAnalyzer()
    worker, sink = run_archive(clips["still"], analyzer, regions=None)  # whole frames: gate only
    status = worker.status()
    assert status.frames_analysed == analyzer.calls == 3  # first frame + one heartbeat per second
    assert status.frames_static == 12
    assert len(sink.items) == 2  # the still square is still seen (face + plate)


def test_region_gate_follows_a_still_object_in_its_region_and_skips_an_empty_scene(clips, tmp_path):
    analyzer = SquareAnalyzer()
    worker, sink = run_archive(clips["still"], analyzer)  # regions: the default
    status = worker.status()
    # the first frame whole, then only the tracked square's region (no full pass within 10 s); once its face and
    # plate tracks are settled, on every other frame only (RegionOptions.settled_every): 6 of 14 looks skipped
    assert status.frames_analysed == 15 and analyzer.calls == 9 and analyzer.region_calls == 8
    assert status.frames_static == 0
    assert sorted(s.kind.value for s, _, _ in sink.items) == ["face", "plate"]  # one track each, unbroken
    empty = SquareAnalyzer()
    worker, sink = run_archive(make_clip(tmp_path / "empty.mp4", 3.0), empty)
    assert empty.calls == 1 and worker.status().frames_static == 14 and not sink.items


def test_resolution_change_mid_stream_is_followed(clips, tmp_path):
    parts = []
    for name, (width, height) in {"small": (640, 360), "large": (1280, 720)}.items():
        mp4 = make_clip(tmp_path / f"{name}.mp4", 2.0, width, height, painter=square_painter())
        parts.append(tmp_path / f"{name}.ts")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(mp4), "-c", "copy", "-f", "mpegts", str(parts[-1])], check=True
        )
    joined = tmp_path / "joined.ts"  # one stream whose resolution (and clock) changes half-way:
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    worker, sink = run_archive(joined, SquareAnalyzer())
    status = worker.status()
    assert status.state is CameraState.FINISHED and status.frames_read == 100
    assert status.frames_analysed == 20
    # OpenCV scales frames after the change to the first resolution (a reopen gets the new one).
    assert {c.shape for _, _, c in sink.items} == {(360, 640, 3)}
    assert sorted(round(s.box.width) for s, _, _ in sink.items if s.kind.value == "face") == [40, 80]


def test_truncated_archive_reports_where_decoding_stopped(clips):
    worker, sink = run_archive(clips["truncated"], SquareAnalyzer(), motion_gate=False)
    status = worker.status()
    assert status.state is CameraState.FAILED, status
    assert "decoding stopped at" in status.last_error and "of 4.0 s (truncated or damaged file)" in status.last_error
    assert 0 < status.frames_read < 100 and len(sink.items) == 2  # what was decoded is still published
    worker, _ = run_archive(clips["no_index"], SquareAnalyzer())
    assert worker.status().state is CameraState.FAILED and "corrupt" in worker.status().last_error


def test_failing_analysis_and_sink_do_not_stop_the_camera(clips):
    def broken(image):
        raise RuntimeError("model exploded")

    worker, sink = run_archive(clips["square"], broken, motion_gate=False)
    status = worker.status()
    assert status.state is CameraState.FINISHED and status.frames_read == 100
    assert "model exploded" in status.last_error and sink.items == []


def test_camera_set_runs_files_in_parallel_and_reports_each(clips):
    sink = ListSink()
    cameras = CameraSet(SquareAnalyzer(), sink, WorkerOptions(motion_gate=False))
    cameras.start(SourceSpec("a", str(clips["square"]), start_time=START))
    cameras.start(SourceSpec("b", str(clips["empty"]), start_time=START))
    assert cameras.wait(timeout=60)
    a, b = cameras.statuses()
    assert (a.camera_id, a.state, a.frames_analysed) == ("a", CameraState.FINISHED, 20)
    assert b.camera_id == "b" and b.state is CameraState.FAILED and "empty" in b.last_error
    assert len(sink.items) == 2


def test_cameras_of_the_service_restart_and_stop_one_by_one(clips):
    cameras = CameraSet(SquareAnalyzer(), ListSink(), WorkerOptions(motion_gate=False))
    cameras.start_camera(Camera("a", "A", str(clips["square"])))  # a file registered as a camera loops, like a live one
    cameras.start_camera(Camera("b", "B", str(clips["still"])))
    wait_for(lambda: cameras.last_analysed("a") is not None, 30, "a frame of camera a analysed")
    assert cameras.status("a").state is not CameraState.FINISHED
    cameras.start_camera(Camera("a", "A", str(clips["named"])))  # its URL changed: one worker, on the new file
    assert [s.camera_id for s in cameras.statuses()] == ["b", "a"]
    assert cameras.status("a").source.endswith(clips["named"].name)
    cameras.stop_camera("a")
    assert cameras.status("a") is None and cameras.last_analysed("a") is None
    assert [s.camera_id for s in cameras.statuses()] == ["b"]
    assert cameras.stop_all(timeout=30)
    assert cameras.status("b").state is CameraState.STOPPED


def test_analyzer_pool_never_lends_one_analyzer_to_two_threads():
    class Exclusive:
        def __init__(self) -> None:
            self.busy = False
            self.calls = 0

        def analyze(self, image, **options):  # embed, regions, read
            assert not self.busy, "used by two threads at once"
            self.busy = True
            time.sleep(0.01)
            self.calls += 1
            self.busy = False
            return Detections(image.shape[1], image.shape[0])

    analyzers = [Exclusive(), Exclusive()]
    pool = AnalyzerPool(analyzers)
    image = np.zeros((8, 8, 3), np.uint8)
    threads = [threading.Thread(target=lambda: [pool(image) for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a.calls for a in analyzers) == 40 and all(a.calls > 0 for a in analyzers)
    with pytest.raises(ValueError):
        AnalyzerPool([])


def test_looping_file_plays_live_at_its_frame_rate_and_starts_over(tmp_path):
    from skynet.synthetic import write_demo_clip

    clip = write_demo_clip(tmp_path / "demo.avi", seconds=1.0, fps=10, size=(320, 180))
    source = open_source(SourceSpec("demo", str(clip), loop=True))
    started_wall, started = time.time(), time.monotonic()
    stamps = [source.grab() for _ in range(25)]  # 2.5 passes over a 10-frame file
    elapsed = time.monotonic() - started
    source.close()
    assert None not in stamps
    assert 2.0 <= elapsed <= 4.0  # paced to 10 fps, not decoded as fast as possible
    assert started_wall <= stamps[0] and stamps[-1] <= time.time()  # wall-clock stamps, like a camera


def test_a_missing_local_device_gives_a_clear_error():
    # v4l2loopback (a kernel module) is not available here: only the error path can be tested.
    for url in ("/dev/video63", "63"):
        with pytest.raises(SourceError, match=r"local device /dev/video63 does not exist"):
            open_source(SourceSpec("usb", url))
