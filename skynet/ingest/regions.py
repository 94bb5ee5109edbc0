"""Where to look in a frame: motion regions plus live tracks, with a full-frame pass now and then.

Detection costs in proportion to the pixels it sees, and in a street camera most pixels do not
change between two analysed frames. As in Frigate, a cheap frame difference (a small blurred
grey copy of the frame against the last analysed one) finds what moved, and a running average
of those copies (the background) tells where the moving things are now from where they were: a
region is made around each blob that differs from the background and has moved, not around the
place an object just left. Those and the boxes of the objects being tracked, padded and
merged, are the regions the detectors run on; a blob spanning much of the frame (specks and outlines
joined into a chain) is kept only near what changed. A region made only for live tracks of one kind
(faces or plates) goes only to that kind's detector; one that holds motion, or tracks of both kinds,
to both (something new may be in it). The whole frame is analysed on the first frame,
after a change of resolution, on motion over much of the picture and, so that something new
that arrived without moving is still found, once ``full_frame_every_s`` seconds have passed and
the picture outside the frame's regions differs from the last whole-frame pass (an unchanged
remainder holds nothing new: the pass is put off until it does not). A frame with no motion and
nothing tracked is not analysed. A region holding only tracks that are settled (their sightings already say
what they are) and their objects' motion is looked at on every ``settled_every``-th region pass only, the
tracker carrying those tracks in between (:attr:`RegionOptions.settled_every`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from skynet.ingest.pacing import motion_thumbnail
from skynet.ingest.settled_regions import leave_out_settled
from skynet.records import Box, Region, needs_faces, needs_plates


@dataclass(frozen=True, slots=True)
class RegionOptions:
    """Motion detection and region shaping.

    ``pixel_delta``: grey-level change that counts as motion (on a ``width``-pixel wide blurred
    copy); ``min_changed``: fraction of that copy which must change before any region is made
    (sensor noise and compression flicker stay below it); ``margin``: each region grows by this
    fraction of its size on every side, and is at least ``min_side`` pixels wide and high, so
    an object cut by a region's edge is rare; ``merge_slack``: overlapping regions are merged into
    one box while it holds at most this many times the pixels they cover, else they stay apart,
    overlapping (an object found in both is kept once, :mod:`skynet.detectors.analyzer`);
    ``max_coverage``: regions covering more of the frame than this are replaced by a full-frame pass;
    ``cut_above``: a moving blob whose box spans more of the frame than this (specks of the background and
    outlines of objects that passed, joined by the dilation) is kept only within ``cut_reach`` thumbnail
    pixels of what changed, one region per part (see :func:`find_motion`); a pass whose regions would have
    covered over ``max_coverage`` without that cut stands in for a whole-frame pass: its regions are seen
    finely and the next region pass is seen as the first after a whole-frame pass, and the live tracks' boxes
    grow by ``track_margin`` of their size before the padding (a plate standing in view, which the whole-frame
    pass would have seen, has room around it);
    ``remainder_min_changed``: fraction of the copy which must differ from the last full-frame pass,
    outside a frame's regions, for the periodic full-frame pass to be made (lower than ``min_changed``:
    something small that arrived without moving is still looked for); ``background_rate`` /
    ``foreground_rate``: weight of each analysed copy in the running average of the background where
    it matches the background / where it differs (slowly: a passing object leaves no trail, one that
    stays becomes background in about ``1 / foreground_rate`` analysed frames). ``arrival_hold_s``: a region
    made for something new (overlapping none of the previous region pass's) is looked at again on the passes
    of the next ``arrival_hold_s`` while it still holds foreground and no live track, though nothing moves in
    it, by both detectors: something that arrives and stands still gets more than one look, as a detector may
    miss it in one view (a face popping in and standing, missed by its first fine view, waited for the
    periodic whole-frame pass). ``fine_every``: the
    regions may be seen finer than the whole frame (see :mod:`skynet.detectors.analyzer`) on every
    ``fine_every``-th region pass after a whole-frame pass, and a region that overlaps none of the
    previous pass's on any pass; on the others they are seen at the whole frame's scale, and only the
    live tracks' boxes, grown by ``track_margin`` of their size on every side to at least
    ``track_min_side`` pixels, are seen finely (an object stays several analysed frames in view: it is
    found finely on the next fine pass, and once tracked, finely on every pass). 1: every pass fine.
    ``settled_every``: a region that holds live tracks which are all settled (a plate whose reads agree, a face
    with its best views: :meth:`~skynet.tracking.track.TrackAccumulator.steady`) and nothing else, that is no
    arrival, no held arrival, no track not yet settled and no motion but that of those tracks' objects (a blob
    holding one of them that goes on from a blob of the last frame, grown at most 1.5 times, see
    :mod:`skynet.ingest.settled_regions`: one that appeared or grew suddenly holds something new), is looked at
    on every ``settled_every``-th region pass only (by neither detector on the others: the tracker coasts those
    tracks on its motion estimates, a frame without a look is no miss that ends one), as video analytics engines
    run their detector on an interval and let the tracker carry objects in between. A region overlapping one that
    must be looked at, a whole-frame pass and a pass standing in for one are looked at in full. 1: every region on
    every pass.
    """

    full_frame_every_s: float = 10.0
    pixel_delta: int = 12
    min_changed: float = 0.002
    width: int = 160
    margin: float = 0.1
    min_side: int = 160
    max_coverage: float = 0.5
    cut_above: float = 0.25
    cut_reach: int = 6
    remainder_min_changed: float = 0.0005
    background_rate: float = 0.1
    foreground_rate: float = 0.005
    arrival_hold_s: float = 1.0
    merge_slack: float = 1.25
    fine_every: int = 2
    track_margin: float = 0.5
    track_min_side: int = 64
    settled_every: int = 2


FINE_CROPS_COVER = 0.5  # a region that crops around its tracks would cover this much of is seen finely whole
FULL_FRAME: None = None  # a plan of ``None`` means: analyse the whole frame


class RegionPlanner:
    """Per camera: for each frame due for analysis, the regions to analyse (see the module doc).

    :meth:`plan` returns ``None`` for a full-frame pass, a list of boxes (image pixels) for a
    region pass, or an empty list when the frame need not be analysed at all.
    """

    def __init__(self, options: RegionOptions | None = None) -> None:
        self.options = options or RegionOptions()
        self._reference: np.ndarray | None = None
        self._full_reference: np.ndarray | None = None  # the thumbnail of the last whole-frame pass
        self._background: Background | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_full: float | None = None
        self._passes = 0  # region passes since the last whole-frame pass
        self._previous: list[Box] = []  # the regions of the last region pass
        self._arrivals: list[tuple[float, Box]] = []  # regions made for something new, and when
        self._moved: list[Box] = []  # the motion boxes of the last frame planned

    def plan(self, image: np.ndarray, timestamp: float, tracked: Sequence[Box] = ()) -> list[Box] | None:
        """Regions of ``image`` to analyse; ``tracked`` are the boxes of live tracks (image pixels; a
        :class:`~skynet.records.Region` says which detectors its track needs, a plain box both). A region is
        a :class:`~skynet.records.Region` where it says which to see finely (on a pass that is not fine,
        ``fine_every``) or that it needs only one detector (it holds the tracks of one kind and no motion)."""
        height, width = image.shape[:2]
        small = motion_thumbnail(image, self.options.width)
        if (
            self._reference is None
            or self._full_reference is None
            or self._background is None
            or image.shape != self._shape
            or self._last_full is None
            or timestamp < self._last_full
        ):
            self._full(image, small, timestamp)
            return FULL_FRAME
        scale = width / small.shape[1]
        changed = cv2.absdiff(small, self._reference) > self.options.pixel_delta
        foreground = self._background.foreground(small, self.options.pixel_delta)
        within: np.ndarray | None = foreground
        if foreground.mean() > self.options.max_coverage:  # the light or the view changed: a new background
            self._background, within = Background(small), None
        else:
            self._background.update(small, foreground, self.options.background_rate, self.options.foreground_rate)
        motion = (
            find_motion(changed, scale, within, self.options.cut_above, self.options.cut_reach)
            if changed.mean() >= self.options.min_changed
            else Motion([])
        )
        moved, self._moved = self._moved, motion.boxes
        # where a spanning blob was cut, a tracked object (a plate standing in view) is seen in its own region
        # only, not the whole frame: with half its size around it (a detector needs room around a plate)
        grow = 0.0 if motion.whole is None else self.options.track_margin
        around = [_grow(b, grow, 0, width, height) for b in tracked]
        held = self._held(timestamp, within, tracked, scale)
        regions = merge_overlapping(
            [*self._shaped([*motion.boxes, *around], width, height), *held], self.options.merge_slack
        )
        if _covered(regions, scale, small.shape) > self.options.max_coverage or (
            timestamp - self._last_full >= self.options.full_frame_every_s
            and self._changed_outside(small, self._full_reference, regions, scale)
        ):
            self._full(image, small, timestamp)
            return FULL_FRAME
        if regions:  # compared with the last analysed frame, so slow changes add up until seen
            self._reference = small
        arrived: list[Box] = []
        if self._passes:  # not on the first region pass after a whole-frame pass: all was just seen whole
            arrived = [r for r in regions if not r.overlaps_any(self._previous)]
            self._arrivals += [(timestamp, _needing(r, True, True)) for r in arrived]  # something new: both detectors
        whole = [] if motion.whole is None else self._shaped([*motion.whole, *around], width, height)
        if _covered(whole, scale, small.shape) > self.options.max_coverage:  # the cut stands in for a whole pass
            self._passes, self._previous = 0, []
            return regions
        marked = self._fine_or_coarse(regions, tracked, width, height)
        every = self.options.settled_every
        if every <= 1 or self._passes % every == 0:
            return marked
        return leave_out_settled(marked, regions, motion.boxes, moved, tracked, [*held, *arrived])

    def _shaped(self, boxes: Sequence[Box], width: int, height: int) -> list[Box]:
        options = self.options
        return shape_regions(boxes, width, height, options.margin, options.min_side, options.merge_slack)

    def _fine_or_coarse(self, regions: list[Box], tracked: Sequence[Box], width: int, height: int) -> list[Box]:
        """``regions`` as they are on a fine pass (``fine_every``), else seen coarsely but for new ones
        and those that crops around the ``tracked`` boxes would mostly cover, plus those crops."""
        previous, self._previous = self._previous, regions
        if not regions:
            return regions
        self._passes += 1
        if self.options.fine_every <= 1 or (self._passes - 1) % self.options.fine_every == 0:
            return regions
        around = shape_regions(tracked, width, height, self.options.track_margin, self.options.track_min_side)
        marked: list[Box] = []
        for region in regions:
            inside = [r for r in around if r.iou(region) > 0]
            around = [r for r in around if r not in inside]  # a crop over two regions: one of them
            new = not region.overlaps_any(previous)
            if new or sum(r.area for r in inside) >= FINE_CROPS_COVER * region.area:
                marked.append(region)  # seen finely whole
            else:
                marked += [_region(region, fine=False), *(_region(r, inner=True) for r in inside)]
        return marked

    def _held(self, timestamp: float, foreground: np.ndarray | None, tracked: Sequence[Box], scale: float) -> list[Box]:
        """The regions of arrivals within ``arrival_hold_s`` that still hold foreground (``foreground`` None: a new
        background, nothing held) and no live track, for both detectors. (Held for the kinds not tracked there
        instead, the plate detector's looks at faces tracked there made 9 false plates of 35 sightings in
        ``bench_ingest``'s re-index, +16 % CPU.)"""
        if foreground is None:
            self._arrivals = []
            return []
        self._arrivals = [(t, r) for t, r in self._arrivals if timestamp - t <= self.options.arrival_hold_s]
        held = []
        for _, region in self._arrivals:
            if foreground[_thumbnail_part(region, scale)].any() and not region.overlaps_any(tracked):
                held.append(region)
        return held

    def _changed_outside(self, small: np.ndarray, reference: np.ndarray, regions: Sequence[Box], scale: float) -> bool:
        """Whether ``small`` differs from ``reference`` (by over ``pixel_delta``, on at least ``remainder_min_changed``
        of it) outside ``regions`` (image pixels, ``scale`` times the thumbnail's)."""
        changed = cv2.absdiff(small, reference) > self.options.pixel_delta
        for region in regions:
            changed[_thumbnail_part(region, scale)] = False
        return bool(changed.mean() >= self.options.remainder_min_changed)

    def _full(self, image: np.ndarray, small: np.ndarray, timestamp: float) -> None:
        """Remember ``small`` as the reference: the whole frame is analysed."""
        if self._background is None or image.shape != self._shape:
            self._background = Background(small)
        self._reference, self._full_reference, self._shape, self._last_full = small, small, image.shape, timestamp
        self._passes, self._previous, self._arrivals, self._moved = 0, [], [], []


class Background:
    """A running average of motion thumbnails: the scene without what passes through it."""

    def __init__(self, first: np.ndarray) -> None:
        self._mean = first.astype(np.float32)

    def foreground(self, small: np.ndarray, pixel_delta: int) -> np.ndarray:
        """Where ``small`` differs from the background by more than ``pixel_delta`` grey levels."""
        return cv2.absdiff(small.astype(np.float32), self._mean) > pixel_delta

    def update(self, small: np.ndarray, foreground: np.ndarray, rate: float, foreground_rate: float) -> None:
        """Blend ``small`` in: at ``rate`` where it matches the background, ``foreground_rate`` elsewhere."""
        mask = foreground.astype(np.uint8)
        cv2.accumulateWeighted(small, self._mean, rate, mask=1 - mask)
        cv2.accumulateWeighted(small, self._mean, foreground_rate, mask=mask)


@dataclass(frozen=True, slots=True)
class Motion:
    """Boxes (image pixels) around what moved, and ``whole``: what they would be had no spanning blob been
    cut to its parts (None when none was)."""

    boxes: list[Box]
    whole: list[Box] | None = None


def find_motion(
    changed: np.ndarray,
    scale: float,
    foreground: np.ndarray | None = None,
    cut_above: float = 1.0,
    cut_reach: int = 6,
) -> Motion:
    """Boxes (in pixels of the full image, ``scale`` times the mask's) around the changed blobs of
    a boolean mask; neighbouring blobs are joined by a small dilation first. With ``foreground``
    (a mask of what differs from the background), around each foreground blob that changed
    instead: where a moving object is now, not the place it left. A foreground blob whose box spans
    more than ``cut_above`` of the mask (specks and outlines joined into a chain) is cut to its parts
    within ``cut_reach`` pixels of a change, each boxed apart."""
    kernel = np.ones((3, 3), np.uint8)
    if foreground is None:
        mask = cv2.dilate(changed.astype(np.uint8), kernel, iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return Motion(_boxes(stats[1:count], scale))
    mask = cv2.dilate(foreground.astype(np.uint8), kernel, iterations=2)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    touched = np.unique(labels[changed])
    touched = touched[touched > 0]
    whole = _boxes(stats[touched], scale)
    spanning = stats[touched, cv2.CC_STAT_WIDTH] * stats[touched, cv2.CC_STAT_HEIGHT] > cut_above * mask.size
    if not spanning.any():
        return Motion(whole)
    near = cv2.dilate(changed.astype(np.uint8), kernel, iterations=cut_reach)
    parts = (np.isin(labels, touched[spanning]) & (near > 0)).astype(np.uint8)
    count, _, part_stats, _ = cv2.connectedComponentsWithStats(parts, connectivity=8)
    kept = [box for box, cut in zip(whole, spanning, strict=True) if not cut]
    return Motion(kept + _boxes(part_stats[1:count], scale), whole)


def _boxes(stats: np.ndarray, scale: float) -> list[Box]:
    """Boxes of ``connectedComponentsWithStats`` rows (x, y, width, height, area), ``scale`` times larger."""
    return [
        Box(float(x) * scale, float(y) * scale, float(x + w) * scale, float(y + h) * scale) for x, y, w, h, _ in stats
    ]


def shape_regions(
    boxes: Sequence[Box], width: int, height: int, margin: float, min_side: int, slack: float = float("inf")
) -> list[Box]:
    """``boxes`` padded by ``margin`` of their size, at least ``min_side`` square, clipped to the
    image, with overlapping ones merged (see :func:`merge_overlapping` for ``slack``)."""
    grown = [_grow(b, margin, min_side, width, height) for b in boxes if b.area > 0]
    return merge_overlapping([b for b in grown if b.area > 0], slack)  # a track predicted off the image: none


def merge_overlapping(boxes: Sequence[Box], slack: float = float("inf")) -> list[Box]:
    """The union boxes of every group of (transitively) overlapping ``boxes``; two overlapping boxes are
    merged only while their union box holds at most ``slack`` times the pixels the two cover (two
    diagonal neighbours stay apart, overlapping: one box around both would cover much that neither does).
    A union needs every detector that one of its boxes needs."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for i, other in enumerate(out):
                iw = min(box.x2, other.x2) - max(box.x1, other.x1)
                ih = min(box.y2, other.y2) - max(box.y1, other.y1)
                if iw <= 0 or ih <= 0:
                    continue
                union = Box(min(box.x1, other.x1), min(box.y1, other.y1), max(box.x2, other.x2), max(box.y2, other.y2))
                if union.area <= slack * (box.area + other.area - iw * ih):
                    out[i] = _needing(
                        union, needs_faces(box) or needs_faces(other), needs_plates(box) or needs_plates(other)
                    )
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


def _region(box: Box, fine: bool = True, inner: bool = False) -> Region:
    return Region(
        box.x1, box.y1, box.x2, box.y2, fine=fine, inner=inner, faces=needs_faces(box), plates=needs_plates(box)
    )


def _needing(box: Box, faces: bool, plates: bool) -> Box:
    """``box`` as a plain box when it needs both detectors, else as a region needing ``faces`` / ``plates``."""
    if faces and plates:
        return Box(box.x1, box.y1, box.x2, box.y2)
    return Region(box.x1, box.y1, box.x2, box.y2, faces=faces, plates=plates)


def _thumbnail_part(box: Box, scale: float) -> tuple[slice, slice]:
    """The rows and columns of the motion thumbnail that ``box`` (image pixels, ``scale`` times the thumbnail's)
    touches."""
    return (
        slice(int(box.y1 // scale), int(np.ceil(box.y2 / scale))),
        slice(int(box.x1 // scale), int(np.ceil(box.x2 / scale))),
    )


def _covered(regions: Sequence[Box], scale: float, shape: tuple[int, ...]) -> float:
    """The share of the frame that ``regions`` (image pixels, which may overlap) cover, counted on a
    thumbnail of ``shape`` (``scale`` times smaller)."""
    mask = np.zeros(shape[:2], np.uint8)
    for r in regions:
        mask[_thumbnail_part(r, scale)] = 1
    return float(mask.mean())


def _grow(box: Box, margin: float, min_side: int, width: int, height: int) -> Box:
    """``box`` (a :class:`Region` stays one, needing the same detectors) grown by ``margin`` of its size on
    every side, at least ``min_side`` square, clipped to the image."""
    cx, cy = box.center
    half_w = max(box.width * (0.5 + margin), min_side / 2)
    half_h = max(box.height * (0.5 + margin), min_side / 2)
    return replace(
        box,
        x1=float(np.floor(max(0.0, cx - half_w))),
        y1=float(np.floor(max(0.0, cy - half_h))),
        x2=float(np.ceil(min(width, cx + half_w))),
        y2=float(np.ceil(min(height, cy + half_h))),
    )
