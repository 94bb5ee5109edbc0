"""Settled tracks looked at on an interval: which regions of a pass hold only live tracks that are settled and their
objects' own motion, so that neither detector looks at them on this pass (the tracker coasts those tracks), and
which regions of a plan are not looked at (:attr:`skynet.ingest.regions.RegionOptions.settled_every`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from skynet.records import Box, Region, needs_faces, needs_plates

OWN_MOTION_GROWTH = 1.5  # a settled track's blob that grew more since the last frame holds something new


def leave_out_settled(
    marked: list[Box],
    regions: Sequence[Box],
    moving: Sequence[Box],
    moved: Sequence[Box],
    tracked: Sequence[Box],
    new: Sequence[Box],
) -> list[Box]:
    """The pass's ``marked`` regions (``regions`` as the planner shaped them for the detectors) with those that hold
    only settled tracks (:func:`settled_only`) made regions neither detector looks at."""
    resting = settled_only(regions, moving, moved, tracked, new)
    if not resting:
        return marked
    looked = [r for r in regions if r not in resting]
    return [_unlooked(r) if r.overlaps_any(resting) and not r.overlaps_any(looked) else r for r in marked]


def settled_only(
    regions: Sequence[Box], moving: Sequence[Box], moved: Sequence[Box], tracked: Sequence[Box], new: Sequence[Box]
) -> list[Box]:
    """The ``regions`` that hold only settled tracks (``tracked`` boxes that are :class:`Region` records marked
    ``settled``) and the motion of their objects: at least one settled track, no other track, none of the ``new``
    boxes (arrivals), no ``moving`` box but those that hold a settled track and continue one of the last frame's
    (``moved``) at most :data:`OWN_MOTION_GROWTH` times its size (a blob that appeared or grew suddenly holds
    something new joined to the tracked object), and overlapping no region that holds any of those (see
    :attr:`RegionOptions.settled_every`)."""
    settled = [t for t in tracked if isinstance(t, Region) and t.settled]
    if not settled:
        return []
    unsettled = [t for t in tracked if not (isinstance(t, Region) and t.settled)]
    fresh = [m for m in moving if not (m.overlaps_any(settled) and _continues(m, moved))]
    resting = [r for r in regions if r.overlaps_any(settled) and not r.overlaps_any([*unsettled, *fresh, *new])]
    looked = [r for r in regions if r not in resting]
    return [r for r in resting if not r.overlaps_any(looked)]


def _continues(box: Box, before: Sequence[Box]) -> bool:
    """Whether ``box`` (a motion box) overlaps one of the ``before`` boxes and is at most :data:`OWN_MOTION_GROWTH`
    times its size."""
    return any(box.iou(other) > 0 and box.area <= OWN_MOTION_GROWTH * other.area for other in before)


def unlooked_regions(plan: Sequence[Box] | None) -> list[Box]:
    """The regions of a plan (None: a whole-frame pass) that neither detector looks at on this frame."""
    return [r for r in plan or [] if not needs_faces(r) and not needs_plates(r)]


def _unlooked(box: Box) -> Region:
    """``box`` as a region neither detector looks at on this pass (it still counts towards the fine regions' pixel
    budget, so the other regions are seen as they would be with it)."""
    if isinstance(box, Region):
        return replace(box, faces=False, plates=False)
    return Region(box.x1, box.y1, box.x2, box.y2, faces=False, plates=False)
