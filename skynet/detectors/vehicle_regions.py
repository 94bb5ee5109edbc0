"""Where to look for plates: inside detected vehicles (a little enlarged), or the whole image.

Searching vehicle crops instead of the whole frame lets a plate detector see small, distant
plates at a higher resolution and never fires on text away from vehicles. An image without any
vehicle found is searched whole (a close-up of a plate shows no vehicle to detect).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skynet.detectors.boxes import ScoredBoxes, nms
from skynet.records import Box

# COCO classes of a YOLO vehicle model: car, motorcycle, bus, truck
VEHICLE_CLASSES = frozenset({2, 3, 5, 7})
MIN_SCORE = 0.3
MARGIN = 0.1  # each side of a vehicle box grows by this fraction of its size
MERGE_IOU = 0.5  # plates found twice (in overlapping vehicle crops) are merged at this overlap


def whole(image: np.ndarray) -> Box:
    """The whole image as a search region."""
    return Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]))


def search_regions(image: np.ndarray, vehicles: np.ndarray, margin: float = MARGIN) -> list[Box]:
    """Integer-pixel regions to search for plates: each vehicle box (N, 4) grown by ``margin`` and
    clipped to the image; the whole image when there is no vehicle."""
    height, width = image.shape[:2]
    regions = []
    for x1, y1, x2, y2 in np.asarray(vehicles, np.float32).reshape(-1, 4):
        grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
        region = Box(
            float(np.floor(max(0.0, x1 - grow_x))),
            float(np.floor(max(0.0, y1 - grow_y))),
            float(np.ceil(min(width, x2 + grow_x))),
            float(np.ceil(min(height, y2 + grow_y))),
        )
        if region.area > 0:
            regions.append(region)
    return regions or [whole(image)]


def crop(image: np.ndarray, region: Box) -> np.ndarray:
    """The pixels of ``region`` (integer bounds, see :func:`search_regions`)."""
    return image[int(region.y1) : int(region.y2), int(region.x1) : int(region.x2)]


def merge(found: Sequence[ScoredBoxes], regions: Sequence[Box]) -> ScoredBoxes:
    """Detections made in each region's crop, moved back to image pixels; a plate seen in two
    overlapping regions is kept once (the higher score)."""
    if not found:
        return ScoredBoxes.empty()
    offsets = [np.array([r.x1, r.y1, r.x1, r.y1], np.float32) for r in regions]
    merged = ScoredBoxes(
        np.concatenate([f.boxes + offset for f, offset in zip(found, offsets, strict=True)]).reshape(-1, 4),
        np.concatenate([f.scores for f in found]),
        np.concatenate([f.classes for f in found]),
    )
    if len(regions) == 1:
        return merged
    return merged.select(nms(merged.boxes, merged.scores, MERGE_IOU, merged.classes))
