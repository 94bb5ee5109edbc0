"""Where finished sightings go: the store implements :class:`SightingSink`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from skynet.records import Sighting


class SightingSink(Protocol):
    """Receives each finished sighting with its images (BGR uint8); the sink decides where they are saved.

    ``thumbnail`` is the crop of the best view; ``context`` the whole frame it came from
    (scaled down to a bounded size). Called from camera worker threads: implementations must
    be thread-safe.
    """

    def publish(self, sighting: Sighting, thumbnail: np.ndarray, context: np.ndarray) -> None: ...
