"""Region detection: motion regions and live tracks instead of whole frames, same detections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skynet.detectors.analyzer import ImageAnalyzer
from skynet.ingest.regions import (
    RegionOptions,
    RegionPlanner,
    merge_overlapping,
    find_motion,
    shape_regions,
)
from skynet.ingest.settled_regions import unlooked_regions
from skynet.records import Box, FaceDetection, PlateDetection, PlateText, Region, needs_faces, needs_plates


def frame_with(*squares: tuple[int, int, int], size=(1080, 1920), level: int = 255) -> np.ndarray:
    """A grey frame with squares of grey ``level`` (white by default) given as (x, y, side)."""
    image = np.full((*size, 3), 60, np.uint8)
    for x, y, side in squares:
        image[y : y + side, x : x + side] = level
    return image


def inside(box: Box, region: Box) -> bool:
    return region.x1 <= box.x1 and region.y1 <= box.y1 and box.x2 <= region.x2 and box.y2 <= region.y2


def test_motion_boxes_cover_each_changed_blob_in_full_image_pixels():
    mask = np.zeros((90, 160), bool)
    mask[10:20, 10:30] = True
    mask[60:70, 100:110] = True
    boxes = sorted(find_motion(mask, 12.0).boxes, key=lambda b: b.x1)
    assert len(boxes) == 2
    assert inside(Box(120, 120, 360, 240), boxes[0]) and inside(Box(1200, 720, 1320, 840), boxes[1])


def test_regions_are_padded_clipped_and_merged_until_none_overlap():
    regions = shape_regions(
        [Box(1910, 1070, 1920, 1080), Box(100, 100, 300, 200), Box(280, 150, 400, 260), Box(2000, 10, 2100, 50)],
        1920,
        1080,
        margin=0.1,
        min_side=160,
    )
    assert regions[0] == Box(1835, 995, 1920, 1080)  # min side, clipped at the corner
    assert inside(Box(100, 100, 400, 260), regions[1]) and len(regions) == 2  # off the image: none
    assert merge_overlapping([Box(0, 0, 10, 10), Box(20, 0, 30, 10), Box(5, 5, 25, 8)]) == [Box(0, 0, 30, 10)]
    # with a slack, diagonal neighbours stay apart (one box around both would be mostly empty), neighbours
    # side by side are still merged
    diagonal = [Box(0, 0, 100, 100), Box(90, 90, 190, 190)]
    assert merge_overlapping(diagonal, slack=1.25) == diagonal
    assert merge_overlapping([Box(0, 0, 100, 100), Box(90, 0, 190, 100)], slack=1.25) == [Box(0, 0, 190, 100)]


def test_planner_full_frame_first_then_motion_and_tracks_then_nothing_then_full_again():
    planner = RegionPlanner(RegionOptions(full_frame_every_s=10.0))
    assert planner.plan(frame_with((100, 100, 80)), 0.0) is None  # first frame: whole
    assert planner.plan(frame_with((100, 100, 80)), 0.2) == []  # static, nothing tracked
    moved = planner.plan(frame_with((400, 100, 80)), 0.4)  # the square moved 300 px
    assert moved and any(inside(Box(400, 100, 480, 180), r) for r in moved)
    assert sum(r.area for r in moved) < 0.1 * 1920 * 1080
    tracked = planner.plan(frame_with((400, 100, 80)), 0.6, [Box(400, 100, 480, 180)])  # still, but tracked
    assert len(tracked) == 1 and inside(Box(400, 100, 480, 180), tracked[0])
    assert planner.plan(frame_with((400, 100, 80)), 10.5) is None  # the periodic full pass
    assert planner.plan(frame_with((400, 100, 80), size=(720, 1280)), 10.7) is None  # new resolution


def test_planner_falls_back_to_the_whole_frame_when_most_of_it_moves():
    planner = RegionPlanner()
    planner.plan(frame_with(), 0.0)
    lights_on = np.full((1080, 1920, 3), 200, np.uint8)
    assert planner.plan(lights_on, 0.2) is None


class Squares:
    """A stand-in detector: every white square of the image it is given, in its pixels."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sizes: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray, close_ups: bool = True):
        self.sizes.append(image.shape[:2])
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        count, _, stats, _ = cv2.connectedComponentsWithStats((grey > 128).astype(np.uint8))
        out = []
        for x, y, w, h, _ in stats[1:count]:
            box = Box(float(x), float(y), float(x + w), float(y + h))
            points = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x + w / 2, y + h / 2]])
            if self.kind == "face":
                out.append(FaceDetection(box, 0.9, points))
            else:
                out.append(PlateDetection(box, 0.9, points[:4]))
        return out


class Reader:
    def read(self, image, plates):
        return [p.with_read(PlateText("京A12345", (0.9,) * 7)) for p in plates]


@pytest.fixture
def squares_analyzer() -> ImageAnalyzer:
    return ImageAnalyzer(Squares("face"), None, Squares("plate"), Reader(), face_long_side=640, plate_long_side=960)


def test_regions_give_the_whole_frame_detections_inside_them_at_the_same_scale(squares_analyzer):
    image = frame_with((300, 200, 120), (1500, 800, 150))
    whole = squares_analyzer.analyze(image, embed=False)
    region = Box(200, 100, 520, 420)
    part = squares_analyzer.analyze(image, embed=False, regions=[region])
    assert len(whole.faces) == len(whole.plates) == 2 and len(part.faces) == len(part.plates) == 1
    for found, truth in ((part.faces[0], whole.faces[0]), (part.plates[0], whole.plates[0])):
        assert found.box.iou(truth.box) > 0.95 and found.box.iou(Box(300, 200, 420, 320)) > 0.95
    assert np.allclose(part.faces[0].landmarks[0], [300, 200], atol=4)
    assert np.allclose(part.plates[0].corners[2], [420, 320], atol=4)
    assert part.plates[0].read.text == "京A12345"
    # a small region is seen twice as finely as the whole frame (scaled by 1/3 for faces, 1/2 for plates)
    assert squares_analyzer.face_detector.sizes[-1] == (213, 213)
    assert squares_analyzer.plate_detector.sizes[-1] == (320, 320)
    squares_analyzer.fine_regions = False  # regions scaled as the whole frame is
    coarse = squares_analyzer.analyze(image, embed=False, regions=[region])
    assert coarse.faces[0].box.iou(part.faces[0].box) > 0.95
    assert squares_analyzer.face_detector.sizes[-1] == (107, 107)
    assert squares_analyzer.plate_detector.sizes[-1] == (160, 160)


def test_fine_regions_hold_at_most_half_the_pixels_of_the_whole_frames_view_and_never_fewer(squares_analyzer):
    image = frame_with((300, 200, 120))
    squares_analyzer.analyze(image, embed=False, regions=[Box(0, 0, 640, 640)])
    height, width = squares_analyzer.face_detector.sizes[-1]
    assert height == width == 339  # 640 x sqrt(0.5 x 640 x 360 / 640^2): half the 640 x 360 whole-frame view
    squares_analyzer.analyze(image, embed=False, regions=[Box(0, 0, 1920, 720)])
    assert squares_analyzer.face_detector.sizes[-1] == (240, 640)  # two thirds of the frame: as the whole frame


@pytest.mark.models
def test_a_small_face_in_a_region_is_found_when_seen_finer(analyzer, shared_data):
    """A 56-pixel face in a 720p frame (a DEV photo pasted as the scenario does): halved as the whole frame
    is for the face detector it is not found; seen at its own size in a region it is, with a sure score. (At 60
    pixels the halved face scores about 0.59 in fp32 and int8 on an AVX2 CPU: at the detector's threshold.)"""
    photo = cv2.imread(str(shared_data("faces_identities") / "images" / "face_0044.jpg"))
    face = max(analyzer.analyze(photo, plates=False, embed=False).faces, key=lambda f: f.box.area)
    scale = 56 / face.box.height
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[200 : 200 + small.shape[0], 400 : 400 + small.shape[1]] = small
    cx, cy = 400 + face.box.center[0] * scale, 200 + face.box.center[1] * scale
    region = Box(cx - 80, cy - 80, cx + 80, cy + 80)
    try:
        analyzer.fine_regions = False
        assert analyzer.analyze(frame, plates=False, embed=False, regions=[region]).faces == []
    finally:
        analyzer.fine_regions = True
    found = analyzer.analyze(frame, plates=False, embed=False, regions=[region]).faces
    assert len(found) == 1 and found[0].score >= 0.7 and inside(found[0].box, region)


def test_plates_can_be_left_unread_and_read_later(squares_analyzer):
    image = frame_with((300, 200, 120))
    unread = squares_analyzer.analyze(image, faces=False, read=False)
    assert unread.plates and unread.plates[0].read is None
    assert squares_analyzer.read_plates(image, unread.plates)[0].read.text == "京A12345"


def test_slow_motion_adds_up_until_it_is_seen():
    planner = RegionPlanner()
    assert planner.plan(frame_with((100, 100, 80), level=90), 0.0) is None
    plans = [planner.plan(frame_with((100 + 3 * step, 100, 80), level=90), 0.2 * step) for step in range(1, 12)]
    assert plans[0] == []  # a faint edge 3 px further: below the noise threshold
    assert any(plans)  # but compared with the last analysed frame, the drift is seen


def test_worker_options_follow_the_region_settings():
    from skynet.config import Settings
    from skynet.ingest.worker import WorkerOptions

    assert WorkerOptions.from_settings(Settings(region_detection=False)).regions is None
    options = WorkerOptions.from_settings(Settings(full_frame_every_s=3.0), analysis_fps=2.0)
    assert options.regions is not None and options.regions.full_frame_every_s == 3.0 and options.analysis_fps == 2.0
    assert WorkerOptions.from_settings(Settings()).analysis_fps == WorkerOptions().analysis_fps


def test_periodic_full_pass_is_put_off_while_nothing_changed_outside_the_regions():
    planner = RegionPlanner(RegionOptions(full_frame_every_s=10.0))
    assert planner.plan(frame_with(), 0.0) is None
    walking = [planner.plan(frame_with((100 + 60 * step, 500, 120)), 0.4 * step) for step in range(1, 30)]
    assert all(walking)  # a square crossing: regions only, also past 10 s (the rest is as in the first pass)
    # something small arrives and stays outside the regions: the put-off pass is made, once
    assert planner.plan(frame_with((1840, 500, 120), (900, 100, 40)), 11.8) is None
    assert planner.plan(frame_with((1840, 500, 120), (900, 100, 40)), 12.0) == []


def test_regions_hold_where_a_moving_object_is_not_the_place_it_left():
    planner = RegionPlanner()
    assert planner.plan(frame_with(), 0.0) is None
    assert planner.plan(frame_with((100, 500, 120)), 0.2)  # it comes in
    for step in range(1, 4):  # walking right, 200 px per analysed frame
        regions = planner.plan(frame_with((100 + 200 * step, 500, 120)), 0.2 + 0.2 * step)
        assert len(regions) == 1 and inside(Box(100 + 200 * step, 500, 220 + 200 * step, 620), regions[0])
        assert regions[0].x1 > 100 + 200 * step - 80  # the place it left (200 px to the left) is not looked at
    # the lights go on: the scene itself changed (a whole-frame pass), and is the background from then on
    planner = RegionPlanner()
    planner.plan(frame_with(), 0.0)
    assert planner.plan(frame_with(level=90, size=(1080, 1920)) + 100, 0.2) is None
    lit = [planner.plan(frame_with((100 + 200 * step, 500, 120)) + 100, 0.2 + 0.2 * step) for step in range(1, 4)]
    assert all(len(regions) == 1 and regions[0].width < 600 for regions in lit)


def test_regions_are_seen_finely_every_few_passes_and_tracks_and_new_regions_on_every_pass():
    planner = RegionPlanner(RegionOptions(fine_every=3))
    assert planner.plan(frame_with((100, 100, 400)), 0.0) is None
    track = Box(200, 150, 260, 210)  # a face tracked inside the moving square
    plans = [planner.plan(frame_with((100 + 30 * step, 100, 400)), 0.2 * step, [track]) for step in range(1, 5)]
    assert not any(isinstance(r, Region) for r in plans[0] + plans[3])  # 1st and 4th pass: every region fine
    for plan in plans[1:3]:  # the others: the square's regions coarse, a fine crop twice the track's size
        crops = [r for r in plan if isinstance(r, Region) and r.inner]
        assert len(crops) == 1 and crops[0].fine and crops[0].as_list() == [170, 120, 290, 240]
        assert all(isinstance(r, Region) and not r.fine for r in plan if r not in crops)
    # something new comes in on a coarse pass: its region is seen finely at once, the known one coarsely
    plan = planner.plan(frame_with((250, 100, 400), (1500, 700, 100)), 1.0)
    new = next(r for r in plan if inside(Box(1500, 700, 1600, 800), r))
    assert not isinstance(new, Region)  # seen finely, as on a fine pass
    assert any(isinstance(r, Region) and not r.fine for r in plan)
    # a region the crops around its tracks would mostly cover is seen finely whole, with no crop in it
    plan = planner.plan(frame_with((280, 100, 400), (1510, 700, 100)), 1.2, [track, Box(1520, 710, 1600, 790)])
    assert sum(isinstance(r, Region) and r.inner for r in plan) == 1
    assert any(inside(Box(1510, 700, 1610, 800), r) and not isinstance(r, Region) for r in plan)


def test_a_fine_crop_inside_a_coarse_region_finds_its_object_once_at_the_finer_scale(squares_analyzer):
    image = frame_with((300, 200, 60))
    coarse, crop = Region(0, 0, 960, 540, fine=False), Region(270, 170, 390, 290, inner=True)
    found = squares_analyzer.analyze(image, embed=False, regions=[coarse, crop])
    assert squares_analyzer.face_detector.sizes[-2:] == [(180, 320), (80, 80)]  # 1/3 and 2/3 of the pixels
    assert len(found.faces) == len(found.plates) == 1  # the coarse view's find of the same square is left out
    assert found.faces[0].box.iou(Box(300, 200, 360, 260)) > 0.95
    squares_analyzer.fine_regions = False  # regions never seen finer: crops only there to be are left out
    found = squares_analyzer.analyze(image, embed=False, regions=[coarse, crop])
    assert squares_analyzer.face_detector.sizes[-1] == (180, 320) and len(found.faces) == 1


def test_fine_passes_follow_the_settings():
    from skynet.config import Settings
    from skynet.ingest.worker import WorkerOptions

    assert WorkerOptions.from_settings(Settings()).regions == RegionOptions()  # the defaults agree
    assert WorkerOptions.from_settings(Settings(region_fine_every=2)).regions.fine_every == 2
    assert WorkerOptions.from_settings(Settings(region_fine_scale=False)).regions.fine_every == 1
    assert WorkerOptions.from_settings(Settings(region_settled_every=1)).regions.settled_every == 1


def test_an_object_in_two_overlapping_regions_is_found_once_whole(squares_analyzer):
    image = frame_with((300, 200, 60))
    whole, cutting = Box(200, 100, 500, 400), Box(330, 150, 700, 450)  # the second cuts the square at x = 330
    found = squares_analyzer.analyze(image, embed=False, regions=[cutting, whole])
    assert len(found.faces) == len(found.plates) == 1
    assert found.faces[0].box.iou(Box(300, 200, 360, 260)) > 0.95  # the whole view, not the cut one
    two = squares_analyzer.analyze(frame_with((300, 200, 60), (600, 300, 60)), embed=False, regions=[cutting, whole])
    assert len(two.faces) == 2  # two objects in the overlap's neighbourhood stay two


def outline(image: np.ndarray, x1: int, y1: int, x2: int, y2: int, level: int = 200) -> np.ndarray:
    """``image`` with the 8-px outline of a rectangle drawn in grey ``level`` (a thin chain spanning the frame)."""
    cv2.rectangle(image, (x1, y1), (x2, y2), (level, level, level), 8)
    return image


def test_a_blob_spanning_the_frame_is_cut_to_its_parts_near_what_changed():
    foreground = np.zeros((90, 160), bool)
    foreground[10, 10:150] = foreground[80, 10:150] = foreground[10:81, 10] = foreground[10:81, 150] = True
    changed = np.zeros_like(foreground)
    changed[78:83, 20:26] = changed[8:13, 140:146] = True  # two places on the outline moved
    foreground |= changed
    motion = find_motion(changed, 8.0, foreground, cut_above=0.25, cut_reach=6)
    assert motion.whole == [Box(64, 48, 1224, 680)]  # the outline's box (grown by the dilation), as without the cut
    assert len(motion.boxes) == 2  # one box per part near a change, the rest of the outline left out
    assert all(box.width < 200 and box.height < 200 for box in motion.boxes)
    assert find_motion(changed, 8.0, foreground).whole is None  # not cut: the blob's box as it is
    assert find_motion(changed, 8.0, foreground).boxes == [Box(64, 48, 1224, 680)]


def test_a_face_appearing_beside_a_moving_part_of_a_spanning_blob_is_in_a_region_at_once():
    size = (720, 1280)
    planner = RegionPlanner(RegionOptions(fine_every=2))
    assert planner.plan(frame_with(size=size), 0.0) is None
    # outlines of what passed stay as foreground, joined into one chain around most of the frame
    assert planner.plan(outline(frame_with(size=size), 80, 80, 1200, 640), 0.2) is None
    plans = []
    for step in range(4):  # a square walks along the chain's bottom edge
        image = outline(frame_with((200 + 40 * step, 600, 80), size=size), 80, 80, 1200, 640)
        plans.append(planner.plan(image, 0.4 + 0.2 * step))
    for plan in plans:  # regions where it walks, not a whole-frame pass over the chain, all seen finely
        assert plan and not any(isinstance(r, Region) for r in plan)
        assert not any(inside(Box(1100, 80, 1200, 160), r) for r in plan)  # the chain's far corner is left out
        assert sum(r.area for r in plan) < 0.2 * size[0] * size[1]
    # a face comes in beside the walking square, touching the chain: inside a region in the frame it appears
    image = outline(frame_with((360, 600, 80), (460, 560, 60), size=size), 80, 80, 1200, 640)
    plan = planner.plan(image, 1.2)
    assert plan and any(inside(Box(460, 560, 520, 620), r) for r in plan)


def test_a_cut_pass_stands_in_for_a_whole_frame_pass_only_where_the_uncut_regions_would_have_been_one():
    size = (720, 1280)
    planner = RegionPlanner(RegionOptions(fine_every=2))
    planner.plan(frame_with(size=size), 0.0)
    planner.plan(outline(frame_with(size=size), 80, 80, 1200, 640), 0.2)
    track = Box(210, 610, 270, 670)
    for step in range(3):  # each cut pass: every region fine, as the first region pass after a whole-frame pass
        image = outline(frame_with((200 + 40 * step, 600, 80), size=size), 80, 80, 1200, 640)
        plan = planner.plan(image, 0.4 + 0.2 * step, [track])
        assert plan and not any(isinstance(r, Region) for r in plan)
    # a small square moving far from any spanning blob: region passes go on with the fine cycle after the cut
    small = RegionPlanner(RegionOptions(fine_every=2))
    small.plan(frame_with(size=size), 0.0)
    passes = [
        small.plan(frame_with((200 + 40 * step, 300, 80), size=size), 0.2 + 0.2 * step, [track]) for step in range(3)
    ]
    assert not any(isinstance(r, Region) for r in passes[0])  # the first pass after a whole-frame pass: fine
    assert any(isinstance(r, Region) and not r.fine for r in passes[1])  # the second: coarse, with fine crops


def test_on_a_cut_pass_a_tracked_object_is_looked_at_with_half_its_size_around_it():
    size = (720, 1280)
    plate = Box(820, 612, 938, 653)  # a plate standing in view, tracked: 118 px wide, clp_det needs room around it
    room = Box(761, 592, 997, 673)  # half its size on every side
    planner = RegionPlanner()
    planner.plan(frame_with(size=size), 0.0)
    planner.plan(outline(frame_with(size=size), 80, 80, 1200, 640), 0.2)
    walking = outline(frame_with((200, 600, 80), size=size), 80, 80, 1200, 640)  # a spanning chain, cut
    assert any(inside(room, r) for r in planner.plan(walking, 0.4, [plate]))
    planner = RegionPlanner()  # no spanning blob: the whole-frame passes look at it, its region is the usual one
    planner.plan(frame_with(size=size), 0.0)
    regions = planner.plan(frame_with((200, 300, 80), size=size), 0.2, [plate])
    assert any(inside(plate, r) for r in regions) and not any(inside(room, r) for r in regions)


def test_a_region_kept_only_for_tracks_of_one_kind_goes_only_to_that_kind_of_detector():
    planner = RegionPlanner(RegionOptions(fine_every=1))
    planner.plan(frame_with(), 0.0)
    plate, face = Region(1500, 800, 1620, 840, faces=False), Region(200, 100, 260, 160, plates=False)
    moving_plate = Region(920, 520, 980, 540, faces=False)  # a tracked plate where something moves
    both = [Region(200, 900, 320, 940, faces=False), Region(230, 860, 290, 920, plates=False)]  # face over plate
    regions = planner.plan(frame_with((900, 500, 80)), 0.2, [plate, face, moving_plate, *both])
    assert len(regions) == 4

    def holding(box: Box) -> Box:
        return next(r for r in regions if inside(box, r))

    assert isinstance(holding(plate), Region) and not holding(plate).faces and holding(plate).plates
    assert isinstance(holding(face), Region) and holding(face).faces and not holding(face).plates
    assert not isinstance(holding(moving_plate), Region)  # motion: both detectors (something new may be there)
    assert not isinstance(holding(both[0]), Region) and holding(both[0]) is holding(both[1])
    # on a coarse pass the fine crop around a tracked plate is the plate detector's alone, its region both's
    planner = RegionPlanner(RegionOptions(fine_every=2))
    planner.plan(frame_with(), 0.0)
    tracked = Region(960, 520, 1000, 540, faces=False)
    planner.plan(frame_with((900, 500, 80)), 0.2, [tracked])
    coarse = planner.plan(frame_with((930, 500, 80)), 0.4, [tracked])
    crops = [r for r in coarse if isinstance(r, Region) and r.inner]
    assert len(crops) == 1 and inside(tracked, crops[0]) and not crops[0].faces and crops[0].plates
    assert all(r.faces and r.plates for r in coarse if r not in crops)


def test_the_face_detector_skips_a_region_only_for_plates_at_the_scale_it_had_with_every_region(squares_analyzer):
    image = frame_with((300, 200, 60), (1500, 800, 60))
    plate_only = Region(1400, 700, 1700, 960, faces=False)
    found = squares_analyzer.analyze(image, embed=False, regions=[Box(200, 100, 460, 360), plate_only])
    faces, plates = squares_analyzer.face_detector.sizes, squares_analyzer.plate_detector.sizes
    assert len(faces) == 1 and len(plates) == 2  # the plate-only region went to the plate detector alone
    assert len(found.faces) == 1 and found.faces[0].box.iou(Box(300, 200, 360, 260)) > 0.9
    assert len(found.plates) == 2
    squares_analyzer.analyze(image, embed=False, regions=[Box(200, 100, 460, 360), Box(1400, 700, 1700, 960)])
    assert faces[-2] == faces[0]  # the same fine scale as when both regions went to the face detector


STANDING_FACE = Box(1500, 100, 1600, 200)


def detectors_on_standing_face(hold_s: float = 1.0, leaves_at: float = 99.0, tracked: list[Box] | None = None):
    """(time, the detectors a region holding the face goes to) of the passes after it popped in at 0.4 s and stood
    still; ``tracked``: live tracks from 0.6 s on (its first look missed the face)."""
    planner = RegionPlanner(RegionOptions(arrival_hold_s=hold_s))
    assert planner.plan(frame_with(), 0.0) is None
    seen = []
    for step in range(1, 10):  # a square walking along the bottom keeps the passes region passes
        t = 0.2 * step
        squares = [(100 + 60 * step, 700, 120)] + ([(1500, 100, 100)] if 0.4 <= t < leaves_at else [])
        regions = planner.plan(frame_with(*squares), t, (tracked or []) if t >= 0.6 else [])
        holding = [r for r in regions if inside(STANDING_FACE, r)]
        kinds = {"faces" for r in holding if needs_faces(r)} | {"plates" for r in holding if needs_plates(r)}
        seen.append((round(t, 1), kinds))
    return seen[1:]


def test_something_that_arrives_and_stands_still_is_looked_at_again_for_a_while():
    def plans(hold_s: float, leaves_at: float = 99.0) -> list[tuple[float, bool]]:
        return [(t, bool(kinds)) for t, kinds in detectors_on_standing_face(hold_s, leaves_at)]

    # the pass it arrives in looks at it (a detector may miss it there); then for a second, though it stands still
    assert plans(1.0) == [(0.4, True)] + [(t, True) for t in (0.6, 0.8, 1.0, 1.2, 1.4)] + [(1.6, False), (1.8, False)]
    assert plans(0.0) == [(0.4, True)] + [(t, False) for t in (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8)]  # one look only
    # gone (no foreground there): no longer looked at once its leaving was seen
    assert [seen for t, seen in plans(1.0, leaves_at=0.8) if t >= 1.0] == [False] * 5


def test_a_held_arrival_goes_to_both_detectors_though_its_region_was_made_for_one_kinds_track():
    planner = RegionPlanner(RegionOptions(fine_every=1))
    square, standing = (1500, 800, 80), Box(1500, 800, 1580, 880)
    plate = Region(1510, 840, 1570, 860, faces=False)
    assert planner.plan(frame_with(), 0.0) is None
    assert planner.plan(frame_with(square), 0.2)  # it arrives: the first region pass after a whole-frame pass
    assert planner.plan(frame_with(square), 0.4) == []  # it stands, untracked: no region pass
    made = planner.plan(frame_with(square), 0.6, [plate])  # its plate is tracked: new region, the plate detector's
    assert len(made) == 1 and inside(standing, made[0]) and not needs_faces(made[0])
    held = planner.plan(frame_with(square), 0.8)  # the plate track lost: held for both (something new may be here)
    assert len(held) == 1 and inside(standing, held[0]) and needs_faces(held[0]) and needs_plates(held[0])


def test_a_settled_track_is_looked_at_on_every_other_pass_and_other_motion_or_an_unsettled_track_keeps_the_look():
    def walk(step: int, *others: tuple[int, int, int], settled: bool = True) -> tuple[list[Box], Box]:
        x = 300 + 40 * step  # a pedestrian walking right; the face track on it is settled
        track = Region(x + 30, 520, x + 90, 580, plates=False, settled=settled)
        return planner.plan(frame_with((x, 500, 120), *others), 0.2 * step, [track]), track

    def looked(plan: list[Box], box: Box) -> bool:
        holding = [r for r in plan if r.iou(box) > 0]
        assert holding
        return any(needs_faces(r) or needs_plates(r) for r in holding)

    planner = RegionPlanner(RegionOptions(fine_every=1))  # settled_every 2 (the default)
    planner.plan(frame_with(), 0.0)
    seen = [looked(*walk(step)) for step in range(1, 7)]
    # its own motion does not keep the look (but on the first pass: motion where there was none before)
    assert seen == [True, True, False, True, False, True]
    plan, track = walk(7)
    assert not looked(plan, track) and unlooked_regions(plan) == plan  # nothing looked at on this pass
    # something moving elsewhere is looked at on every pass; the settled track still on every other one
    walk(8, (1500, 200, 100))
    plan, track = walk(9, (1500, 220, 100))
    assert not looked(plan, track) and looked(plan, Box(1500, 220, 1600, 320))
    # something moving beside a settled face standing in view (a blob of its own, in its region) keeps the look
    face = Region(800, 500, 860, 560, plates=False, settled=True)
    standing = RegionPlanner(RegionOptions(fine_every=1))
    standing.plan(frame_with(), 0.0)
    plans = [standing.plan(frame_with((800, 500, 60)), 0.2 * step, [face]) for step in range(1, 5)]
    assert [looked(plan, face) for plan in plans] == [True, True, False, True]  # it appeared: motion at first
    plan = standing.plan(frame_with((800, 500, 60), (950, 500, 80)), 1.0, [face])
    assert looked(plan, face)
    # something that joins its blob (the blob grows suddenly) keeps the look
    walk(10)
    plan, track = walk(11, (300 + 40 * 11 + 130, 500, 120))
    assert looked(plan, track)
    # a track not yet settled keeps the look
    walk(12)
    plan, track = walk(13, settled=False)
    assert looked(plan, track)
    # with settled_every 1 every region is looked at on every pass
    planner = RegionPlanner(RegionOptions(fine_every=1, settled_every=1))
    planner.plan(frame_with(), 0.0)
    assert all(looked(*walk(step)) for step in range(1, 5))
