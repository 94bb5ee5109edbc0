"""RetinaFace-style priors (anchors) and the decoding of box and landmark regressions.

Pure numpy, shared by detectors of that family (``clp_det``). Priors are ``(cx, cy, w, h)``
rows relative to the network input size, in the order the network emits its outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STRIDES = (8, 16, 32)
MIN_SIZES = ((24, 48), (96, 192), (384, 768))
VARIANCES = (0.1, 0.2)


def generate_priors(
    height: int,
    width: int,
    strides: Sequence[int] = STRIDES,
    min_sizes: Sequence[Sequence[int]] = MIN_SIZES,
) -> np.ndarray:
    """Priors for a ``height`` x ``width`` input: (N, 4) float32 ``(cx, cy, w, h)`` in 0..1.

    For each stride, the ``ceil(H/s) x ceil(W/s)`` cells in row-major order, each with one
    square anchor per min size of that stride.
    """
    parts = []
    for stride, sizes in zip(strides, min_sizes, strict=True):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        cy, cx = np.meshgrid(
            (np.arange(rows) + 0.5) * stride / height, (np.arange(cols) + 0.5) * stride / width, indexing="ij"
        )
        cells = np.stack([cx.ravel(), cy.ravel()], axis=1)
        per_size = [np.hstack([cells, np.tile([size / width, size / height], (len(cells), 1))]) for size in sizes]
        # anchors of one cell are adjacent: (cell0 size0, cell0 size1, cell1 size0, ...)
        parts.append(np.stack(per_size, axis=1).reshape(-1, 4))
    return np.concatenate(parts).astype(np.float32)


def decode_boxes(loc: np.ndarray, priors: np.ndarray, variances: Sequence[float] = VARIANCES) -> np.ndarray:
    """Box regressions (N, 4) to ``(x1, y1, x2, y2)`` boxes relative to the input size."""
    centers = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    return np.hstack([centers - sizes / 2, centers + sizes / 2])


def decode_landmarks(landms: np.ndarray, priors: np.ndarray, variances: Sequence[float] = VARIANCES) -> np.ndarray:
    """Landmark regressions (N, 2K) to (N, K, 2) points relative to the input size."""
    offsets = landms.reshape(landms.shape[0], landms.shape[1] // 2, 2)
    return priors[:, None, :2] + offsets * variances[0] * priors[:, None, 2:]
