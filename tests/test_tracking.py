"""Tracking faces and plates into sightings: real norfair tracker, synthetic detections."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from skynet.records import (
    Box,
    Detections,
    FaceDetection,
    FaceQuality,
    PlateDetection,
    PlateFormat,
    PlateText,
    SightingKind,
)
from skynet.tracking.fusion import fuse_embeddings, vote_plate
from skynet.tracking.track import Observation, ReadOptions, TrackAccumulator
from skynet.tracking.tracker import ArchiveClock, CameraTracker, TrackerOptions

IMAGE = np.zeros((360, 640, 3), np.uint8)


def face(x: float, y: float, quality: float, embedding: np.ndarray, size: float = 60) -> FaceDetection:
    return FaceDetection(
        box=Box(x, y, x + size, y + size),
        score=0.9,
        landmarks=np.zeros((5, 2), np.float32),
        quality=FaceQuality(quality, size, 1.0, 1.0),
        embedding=embedding,
    )


def plate(x: float, text: str, confs: tuple[float, ...]) -> PlateDetection:
    return PlateDetection(
        box=Box(x, 250, x + 90, 280), score=0.95, corners=np.zeros((4, 2), np.float32), read=PlateText(text, confs)
    )


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


def run(tracker: CameraTracker, frames: list[Detections], fps: float = 5.0, t0: float = 1000.0):
    out = []
    for i, detections in enumerate(frames):
        out += tracker.update(detections, t0 + i / fps, IMAGE)
    return out + tracker.flush()


def test_one_moving_face_is_one_sighting_with_best_face_embedding():
    best, other = unit(1, 0, 0), unit(0, 1, 0)
    frames = [
        Detections(640, 360, faces=[face(20 + 12 * i, 100, 0.9 if i == 4 else 0.2, best if i == 4 else other)])
        for i in range(10)
    ]
    sightings = run(CameraTracker("cam", TrackerOptions(max_faces=1)), frames)
    assert len(sightings) == 1
    sighting, thumb, context = sightings[0]
    assert sighting.kind is SightingKind.FACE and sighting.camera_id == "cam"
    assert sighting.first_seen == pytest.approx(1000.0) and sighting.last_seen == pytest.approx(1000.0 + 9 / 5)
    assert sighting.best_time == pytest.approx(1000.0 + 4 / 5)
    assert sighting.box.x1 == pytest.approx(20 + 48)
    np.testing.assert_allclose(sighting.embedding, best, atol=1e-6)
    assert thumb.shape[:2] == (90, 90)  # 60 px box plus 25 % margin on each side
    assert context.shape == IMAGE.shape


def test_two_faces_apart_and_a_return_after_a_gap_are_separate_sightings():
    e = unit(1, 1, 0)
    frames = [
        Detections(640, 360, faces=[face(20 + 5 * i, 50, 0.5, e), face(400 - 5 * i, 200, 0.5, e)]) for i in range(6)
    ]
    frames += [Detections(640, 360)] * 15  # 3 s with nothing: both tracks end
    frames += [Detections(640, 360, faces=[face(100, 50, 0.5, e)]) for _ in range(3)]
    sightings = run(CameraTracker("cam"), frames)
    assert len(sightings) == 3
    assert sorted(round(s.first_seen - 1000.0, 1) for s, _, _ in sightings) == [0.0, 0.0, 4.2]


def test_idle_frames_finish_a_track_by_time():
    tracker = CameraTracker("cam", TrackerOptions(lost_after_s=1.0))
    for t in (0.0, 0.2):  # a face must be seen in two analysed frames to become a sighting
        assert tracker.update(Detections(640, 360, faces=[face(10, 10, 0.5, unit(1, 0))]), t, IMAGE) == []
    assert tracker.idle(0.7) == []
    assert len(tracker.idle(1.3)) == 1


def test_long_track_is_published_every_segment():
    frames = [Detections(640, 360, faces=[face(100, 100, 0.5, unit(1, 0))]) for _ in range(60)]  # 12 s, still
    sightings = run(CameraTracker("cam", TrackerOptions(segment_s=5.0)), frames)
    assert len(sightings) == 3
    assert all(s.track_id == sightings[0][0].track_id for s, _, _ in sightings)


def test_live_track_publishes_its_first_segment_early_then_the_rest_when_it_ends():
    frames = [Detections(640, 360, plates=[plate(100 + 5 * i, "桂B12345", (0.95,) * 7)]) for i in range(20)]  # 4 s
    tracker = CameraTracker("cam", TrackerOptions(segment_s=30.0, first_segment_s=0.5))
    early = []
    for i, detections in enumerate(frames):
        published = tracker.update(detections, 1000.0 + i / 5.0, IMAGE)
        if published and not early:
            early = [(i, s) for s, _, _ in published]
    rest = tracker.flush()
    assert [i for i, _ in early] == [3]  # 0.6 s after the first detection, while the plate is still in view
    assert early[0][1].plate.text == "桂B12345" and early[0][1].last_seen == 1000.6
    assert len(rest) == 1 and rest[0][0].first_seen == 1000.8 and rest[0][0].track_id == early[0][1].track_id


def test_early_plate_sighting_waits_until_reads_agree():
    texts = ["B12345", "B12345"[:4], "桂B12345", "桂B12345", "桂B12345", "桂B12345"]  # entering the view: cut off
    frames = [
        Detections(640, 360, plates=[plate(100 + 5 * i, text, (0.95,) * len(text))]) for i, text in enumerate(texts)
    ]
    tracker = CameraTracker("cam", TrackerOptions(first_segment_s=0.2))
    published = [(i, s) for i, d in enumerate(frames) for s, _, _ in tracker.update(d, 1000.0 + i / 5.0, IMAGE)]
    assert [i for i, _ in published] == [3] and published[0][1].plate.text == "桂B12345"


@pytest.mark.parametrize(
    ("reads", "made"),
    [
        ([0.95, 0.87, 0.73], 3),  # the first of three agreeing reads is the good one
        ([0.95, (0.6, "京A12346"), 0.7], 3),  # a stray read between two agreeing ones
        ([0.95, 0.8, (0.6, "京A12346"), 0.7], 4),  # the third strays: read once more, until the latest agrees
    ],
)
def test_early_plate_sighting_comes_when_reading_stops_after_a_good_first_read(reads, made):
    # reading stops (wants_read) once the track is settled, never before: no early sighting waits for the end
    given = iter(r if isinstance(r, tuple) else (r, "京A12345") for r in reads)
    calls: list[int] = []

    def read(image, plates):
        calls.append(len(calls))
        confidence, text = next(given, (0.7, "京A12345"))
        return [p.with_read(PlateText(text, (confidence,) * 7)) for p in plates]

    frames = [Detections(640, 360, plates=[_unread(100 + 5 * i)]) for i in range(20)]  # 4 s in view
    tracker = CameraTracker("cam", TrackerOptions(first_segment_s=0.5), read=read)
    published, reads_by = [], []
    for i, detections in enumerate(frames):
        published += [(i, s) for s, _, _ in tracker.update(detections, 1000.0 + i / 5.0, IMAGE)]
        reads_by.append(len(calls))
    assert reads_by[3] == made  # reads made until the early sighting (its continuing segment reads anew)
    # early once 0.5 s old (frame 3), though its last reads are under 0.9; not when it ends (4 s later)
    assert [i for i, _ in published][:1] == [3] and published[0][1].plate.text == "京A12345"


def test_plate_track_votes_its_text_and_archive_offset():
    reads = [
        ("京A12345", (0.9,) * 7),
        ("京A12845", (0.9, 0.9, 0.9, 0.9, 0.3, 0.9, 0.9)),
        ("京A1234", (0.5,) * 6),
        ("京A02345", (0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9)),
    ]
    frames = [Detections(640, 360, plates=[plate(100 + 8 * i, text, confs)]) for i, (text, confs) in enumerate(reads)]
    clock = ArchiveClock("/videos/a.mp4", start_time=990.0)
    sightings = run(CameraTracker("cam", archive=clock), frames)
    assert len(sightings) == 1
    sighting = sightings[0][0]
    assert sighting.kind is SightingKind.PLATE and sighting.plate.text == "京A12345"
    assert sighting.origin.kind == "archive" and sighting.origin.offset_s == pytest.approx(10.0)
    assert sighting.best_time == pytest.approx(1000.0)  # the most confident read


def test_faces_and_plates_are_tracked_separately():
    frames = [
        Detections(
            640, 360, faces=[face(100, 250, 0.5, unit(1, 0), size=60)], plates=[plate(100, "沪B99999", (0.9,) * 7)]
        )
        for _ in range(3)
    ]
    kinds = sorted(s.kind.value for s, _, _ in run(CameraTracker("cam"), frames))
    assert kinds == ["face", "plate"]


def test_tracks_without_embedding_or_read_give_no_sighting():
    bare = FaceDetection(box=Box(10, 10, 50, 50), score=0.9, landmarks=np.zeros((5, 2), np.float32))
    unread = PlateDetection(box=Box(100, 100, 190, 130), score=0.9, corners=np.zeros((4, 2), np.float32))
    assert run(CameraTracker("cam"), [Detections(640, 360, faces=[bare], plates=[unread])] * 3) == []


def test_vote_fixes_different_single_character_errors():
    reads = [
        PlateText("粤B1X345", (0.9, 0.9, 0.9, 0.4, 0.9, 0.9, 0.9)),
        PlateText("粤B12Y45", (0.9, 0.9, 0.9, 0.9, 0.4, 0.9, 0.9)),
        PlateText("粤B123Z5", (0.9, 0.9, 0.9, 0.9, 0.9, 0.4, 0.9)),
    ]
    voted = vote_plate(reads)
    assert voted.text == "粤B12345"
    assert voted.char_confidences[0] == pytest.approx(0.9)
    assert voted.char_confidences[3] == pytest.approx(1.8 / 3)
    assert {t for t, _ in voted.alternatives} == {r.text for r in reads}


def test_fused_embedding_is_weighted_and_unit_length():
    fused = fuse_embeddings([unit(1, 0), unit(0, 1)], [3.0, 1.0])
    assert np.linalg.norm(fused) == pytest.approx(1.0, abs=1e-6)
    assert fused[0] == pytest.approx(3 / np.sqrt(10), abs=1e-6)
    with pytest.raises(ValueError):
        fuse_embeddings([], [])


def test_faces_without_embeddings_are_embedded_once_per_kept_face_when_the_track_ends():
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:160, :, 2] = np.arange(640, dtype=np.uint8)[None, :] // 3  # content the crops can be checked by
    calls = []

    def embed(faces):
        calls.append([(chip.shape, face.box) for chip, face in faces])
        return [face.with_embedding(unit(1, 0, 0)) for _, face in faces]

    frames = [Detections(640, 360, faces=[face(20 + 12 * i, 100, 0.1 * i, None)]) for i in range(10)]
    tracker = CameraTracker("cam", TrackerOptions(max_faces=3), embed=embed)
    sightings = []
    for i, detections in enumerate(frames):
        sightings += tracker.update(detections, 1000.0 + i / 5, image)
    assert calls == []  # nothing is embedded while the track goes on
    sightings += tracker.flush()
    assert len(sightings) == 1 and len(calls) == 1 and len(calls[0]) == 3  # the three best faces, in one batch
    np.testing.assert_allclose(sightings[0][0].embedding, unit(1, 0, 0), atol=1e-6)
    for shape, box in calls[0]:  # each face is handed over inside its own crop, in crop coordinates
        assert shape[:2] == (120, 120) and (box.x1, box.y1, box.width) == (30, 30, 60)


def test_a_plate_moving_its_own_width_per_analysed_frame_stays_one_track():
    # a car crossing a 1080p view in 3 s, analysed at 5 fps: the plate moves 160 px a frame
    frames = [
        Detections(
            1920,
            1080,
            plates=[
                PlateDetection(
                    Box(10 + 160 * i, 750, 170 + 160 * i, 800),
                    0.9,
                    np.zeros((4, 2), np.float32),
                    PlateText("京A12345", (0.9,) * 7),
                )
            ],
        )
        for i in range(11)
    ]
    sightings = run(CameraTracker("cam"), frames)
    assert len(sightings) == 1 and sightings[0][0].plate.text == "京A12345"


def test_unread_plates_are_read_only_until_the_track_has_good_reads_or_comes_closer():
    calls: list[int] = []

    def read(image, plates):
        calls.append(len(plates))
        return [p.with_read(PlateText("京A12345", (0.95,) * 7)) for p in plates]

    def unread(x: float, width: float = 90) -> PlateDetection:
        return PlateDetection(Box(x, 250, x + width, 250 + width / 3), 0.9, np.zeros((4, 2), np.float32))

    frames = [Detections(640, 360, plates=[unread(100 + 5 * i)]) for i in range(8)]
    frames.append(Detections(640, 360, plates=[unread(140, width=120)]))  # closer: 1.8 times the area
    sightings = run(CameraTracker("cam", read=read), frames)
    assert calls == [1, 1, 1, 1]  # three reads, then one more for the closer view
    assert len(sightings) == 1 and sightings[0][0].plate.text == "京A12345"


def _unread(x: float, width: float = 90, y: float = 250) -> PlateDetection:
    return PlateDetection(Box(x, y, x + width, y + width / 3), 0.9, np.zeros((4, 2), np.float32))


def _reading(texts: list[str], calls: list[int]):
    """A plate reader giving ``texts`` in turn (an empty or invalid read has confidence 0), counting its calls."""

    def read(image, plates):
        calls.append(len(calls))
        text = texts[min(len(calls), len(texts)) - 1]
        return [p.with_read(PlateText(text, (0.95 if text.startswith("京") else 0.0,) * len(text))) for p in plates]

    return read


def test_a_plate_that_never_reads_is_read_less_and_less_often():
    calls: list[int] = []
    frames = [Detections(640, 360, plates=[_unread(100)]) for _ in range(30)]  # a sign taken for a plate
    frames.append(Detections(640, 360, plates=[_unread(100, width=120)]))  # closer: 1.8 times the area
    sightings = run(CameraTracker("cam", read=_reading(["", "12", "EO"], calls)), frames)
    # analysed frames read: 0 1 2 (three failures), then 2, 4, 8, 8 ... frames apart, and the closer view at once
    assert len(calls) == len([0, 1, 2, 4, 8, 16, 24, 30])
    assert sightings[0][0].plate.confidence == 0.0  # nothing the plate format accepts was ever read


def test_one_good_read_ends_the_back_off():
    calls: list[int] = []
    texts = ["", "", "", "", "京A12345"]
    frames = [Detections(640, 360, plates=[_unread(100 + i)]) for i in range(12)]
    sightings = run(CameraTracker("cam", read=_reading(texts, calls)), frames)
    # failed reads on frames 0 1 2, then 4 (2 apart); a good read on 8 (4 apart), then 9 and 10: three good reads
    assert len(calls) == 7 and sightings[0][0].plate.text == "京A12345"


def test_a_plate_read_while_cut_by_the_border_is_read_at_once_when_whole():
    calls: list[int] = []
    frames = [Detections(640, 360, plates=[_unread(0, y=250)]) for _ in range(6)]  # entering: cut by the left edge
    frames += [Detections(640, 360, plates=[_unread(20 + i, y=250)]) for i in range(3)]  # now in view whole
    sightings = run(CameraTracker("cam", read=_reading(["12345"] * 6 + ["京A12345"], calls)), frames)
    assert len(calls) == 3 + 1 + 3  # 3 failed reads of the cut plate, 1 in the back-off, 3 of the whole plate at once
    assert sightings[0][0].plate.text == "京A12345"


def test_reads_of_a_plate_cut_off_by_the_image_border_do_not_satisfy_the_track():
    track = TrackAccumulator(SightingKind.PLATE, 1, TrackerOptions().images)
    for i in range(3):  # entering the view at the left edge: the province character is cut off
        track.add(Observation(1000.0 + i / 5, plate(0, "B12345", (0.95,) * 6)), IMAGE)
    inside = PlateDetection(box=Box(100, 250, 190, 280), score=0.95, corners=np.zeros((4, 2), np.float32))
    assert track.wants_read(inside, ReadOptions()) and not track.settled(ReadOptions())
    for i in range(3):
        track.add(Observation(1001.0 + i / 5, plate(100 + 5 * i, "桂B12345", (0.95,) * 7)), IMAGE)
    assert not track.wants_read(inside, ReadOptions()) and track.settled(ReadOptions())


def test_a_face_seen_in_one_frame_is_no_sighting():
    junk = [Detections(640, 360, faces=[face(100, 100, 0.31, unit(1, 0))])]  # the vtest.avi jacket: one frame
    assert run(CameraTracker("cam"), junk) == []
    seen_twice = junk + [Detections(640, 360, faces=[face(104, 100, 0.31, unit(1, 0))])]
    assert len(run(CameraTracker("cam"), seen_twice)) == 1


def test_unusable_views_never_become_the_best_view_nor_the_identity():
    good, profile, dark = unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)
    views = []
    for i in range(6):
        if i == 2:  # the highest quality score of the track, but turned away from the camera
            quality, embedding = FaceQuality(0.99, 60, 1.0, 0.2), profile
        elif i == 4:  # dark
            quality, embedding = FaceQuality(0.95, 60, 1.0, 1.0, exposure=0.1), dark
        else:
            quality, embedding = FaceQuality(0.5 + 0.01 * i, 60, 1.0, 1.0), good
        views.append(replace(face(20 + 10 * i, 100, 0.0, embedding), quality=quality))
    [(sighting, _, _)] = run(CameraTracker("cam"), [Detections(640, 360, faces=[v]) for v in views])
    assert sighting.best_time == pytest.approx(1000.0 + 5 / 5)  # the best usable view, not views 2 or 4
    np.testing.assert_allclose(sighting.embedding, good, atol=1e-6)
    assert sighting.quality == pytest.approx(0.55)


def test_a_face_track_without_any_usable_view_is_no_sighting():
    small = [Detections(640, 360, faces=[face(20 + 4 * i, 100, 0.9, unit(1, 0), size=24)]) for i in range(8)]
    assert run(CameraTracker("cam"), small) == []


def test_a_face_track_the_detector_was_never_sure_of_is_no_sighting():
    unsure = [
        Detections(640, 360, faces=[replace(face(20 + 4 * i, 100, 0.5, unit(1, 0)), score=0.52)]) for i in range(8)
    ]
    assert run(CameraTracker("cam"), unsure) == []
    surer_once = unsure[:7] + [Detections(640, 360, faces=[replace(face(48, 100, 0.5, unit(1, 0)), score=0.7)])]
    assert run(CameraTracker("cam"), surer_once) == []  # the best three views: (0.7 + 0.52 + 0.52) / 3 < 0.6
    sure = [Detections(640, 360, faces=[face(20 + 4 * i, 100, 0.5, unit(1, 0))]) for i in range(3)]
    assert len(run(CameraTracker("cam"), sure)) == 1


def test_early_face_sighting_waits_for_a_usable_view():
    frames = [
        Detections(640, 360, faces=[face(100 + 4 * i, 100, 0.5, unit(1, 0), size=30 if i < 3 else 60)])
        for i in range(6)
    ]
    tracker = CameraTracker("cam", TrackerOptions(first_segment_s=0.2))
    published = [(i, s) for i, d in enumerate(frames) for s, _, _ in tracker.update(d, 1000.0 + i / 5.0, IMAGE)]
    assert [i for i, _ in published] == [3]  # the first frame in which the face is large enough


def test_whole_plate_is_the_best_view_even_when_a_cut_view_reads_more_confidently():
    image = np.zeros((360, 640, 3), np.uint8)
    cut = PlateDetection(  # touching the right edge: its read misses the last character
        box=Box(560, 250, 640, 280),
        score=0.99,
        corners=np.zeros((4, 2), np.float32),
        read=PlateText("桂B1234", (0.99,) * 6),
    )
    whole = [
        PlateDetection(
            box=Box(400 + 20 * i, 250, 490 + 20 * i, 280),
            score=0.9,
            corners=np.zeros((4, 2), np.float32),
            read=PlateText("桂B12345", (0.92,) * 7),
        )
        for i in range(3)
    ]
    tracker = CameraTracker("cam")
    frames = [Detections(640, 360, plates=[p]) for p in [*whole, cut]]
    published = [s for i, d in enumerate(frames) for s in tracker.update(d, 1000.0 + i / 5.0, image)]
    [(sighting, _, _)] = published + tracker.flush()
    assert sighting.box.x2 < 640 and sighting.plate.text == "桂B12345"
    assert "桂B1234" not in {t for t, _ in sighting.plate.alternatives}  # the cut read is not voted on


def test_vote_weighs_reads_of_valid_plates_above_reads_no_format_accepts():
    valid = PlateText("京A12345", (0.9,) * 7, format=PlateFormat("cn", "blue", True, 0.9))
    invalid = PlateText("京A1234", (0.0,) * 6, format=PlateFormat("cn", None, False, 0.0))  # confidence 0
    voted = vote_plate([invalid, invalid, invalid, valid])
    assert voted.text == "京A12345" and voted.confidence == pytest.approx(0.9)
    assert voted.alternatives == (("京A1234", 0.0),)
    only_invalid = vote_plate([invalid, PlateText("京A1284", (0.0,) * 6)])  # no weight anywhere: alike
    assert len(only_invalid.text) == 6 and only_invalid.confidence == 0.0


def test_voted_confidence_is_on_the_scale_of_one_read():
    read = PlateText("粤B12345", (0.97, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99))
    voted = vote_plate([read] * 5)
    assert voted.confidence == pytest.approx(read.confidence)
    disagree = vote_plate([read, read, PlateText("粤B12845", (0.97, 0.99, 0.99, 0.99, 0.6, 0.99, 0.99))])
    assert disagree.text == "粤B12345"
    assert disagree.char_confidences[4] == pytest.approx((0.97 * 0.99 * 2) / (0.97 * 2 + 0.6))
    assert dict(disagree.alternatives)["粤B12845"] == pytest.approx(0.6 / (0.97 * 2 + 0.6), abs=1e-4)


def test_a_face_track_turned_away_is_logged_with_its_reason(caplog):
    small = [Detections(640, 360, faces=[face(20, 100, 0.9, unit(1, 0), size=24)])]  # one small view
    with caplog.at_level(logging.DEBUG, logger="skynet.tracking.track"):
        assert run(CameraTracker("cam"), small) == []
    assert "is no sighting: short" in caplog.text and "'small': 1" in caplog.text


def test_live_boxes_say_which_detector_each_track_needs():
    tracker = CameraTracker("cam")
    tracker.update(
        Detections(640, 360, faces=[face(20, 100, 0.9, unit(1, 0))], plates=[plate(300, "", ())]), 0.0, IMAGE
    )
    boxes = tracker.live_boxes()
    assert [(b.faces, b.plates) for b in boxes] == [(True, False), (False, True)]  # the face's track, the plate's
    assert boxes[0].iou(Box(20, 100, 80, 160)) > 0.9 and boxes[1].iou(Box(300, 250, 390, 280)) > 0.9


def test_live_boxes_are_settled_once_a_face_has_its_best_views_or_a_plates_reads_agree():
    tracker = CameraTracker("cam", TrackerOptions(max_faces=3))
    settled = []
    for i in range(4):
        detections = Detections(640, 360, faces=[face(100 + 5 * i, 100, 0.9, unit(1, 0))])
        detections.plates = [plate(300 + 5 * i, "皖A12345", (0.95,) * 7)]
        tracker.update(detections, 1000.0 + i / 5.0, IMAGE)
        settled.append([box.settled for box in tracker.live_boxes()])  # the face's, then the plate's
    # the face: three usable views (max_faces); the plate: its latest read and another agree, one >= 0.9
    assert settled == [[False, False], [False, True], [True, True], [True, True]]


def test_a_track_not_looked_at_coasts_and_its_sighting_is_unbroken():
    def run_with(looks: list[bool], tell: bool) -> list:
        tracker, out = CameraTracker("cam", TrackerOptions(max_faces=1)), []
        for i, look in enumerate(looks):
            x = 100 + 10 * i
            faces = [face(x, 100, 0.9, unit(1, 0))] if look else []
            unlooked = [Box(x - 60, 40, x + 120, 220)] if tell and not look else []
            out += tracker.update(Detections(640, 360, faces=faces), 1000.0 + i / 5.0, IMAGE, unlooked)
        return [s for s, _, _ in out + tracker.flush()]

    # a settled face looked at on every other analysed frame: one sighting from its first to its last look
    alternate = run_with([i % 2 == 0 for i in range(21)], tell=True)
    assert len(alternate) == 1
    assert (alternate[0].first_seen, alternate[0].last_seen) == (1000.0, 1004.0)
    # three frames in a row not looked at where it is: no miss, still one track (told nothing: misses that end it)
    looks = [True, True, False, False, False, True, True]
    assert len(run_with(looks, tell=True)) == 1
    assert len(run_with(looks, tell=False)) == 2
