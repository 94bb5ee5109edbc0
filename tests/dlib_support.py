"""A tiny network in dlib's DNN serialisation, written without dlib: for tests of the reader and converter.

Layer tags and parameters are written as dlib writes them (compact integers, length-prefixed tags,
version-2 tensors), separated by the kind of bookkeeping dlib puts between layers (flags and
empty gradient tensors), so the reader must skip it exactly as in a real file.
"""

from __future__ import annotations

import math

import numpy as np


def compact(value: int) -> bytes:
    """dlib's compact integer: control byte (byte count, sign bit), then little-endian bytes."""
    magnitude = abs(value)
    size = max(1, (magnitude.bit_length() + 7) // 8)
    return bytes([size | (0x80 if value < 0 else 0)]) + magnitude.to_bytes(size, "little")


def real(value: float) -> bytes:
    """dlib's float outside tensors: an integer mantissa and a binary exponent."""
    mantissa, exponent = math.frexp(value)
    return compact(int(mantissa * (1 << 53))) + compact(exponent - 53)


def text(value: str) -> bytes:
    return compact(len(value)) + value.encode("ascii")


def tensor(values: np.ndarray, shape: tuple[int, int, int, int]) -> bytes:
    return compact(2) + b"".join(compact(d) for d in shape) + np.asarray(values, "<f4").tobytes()


BOOKKEEPING = b"110" + tensor(np.zeros(0), (0, 0, 0, 0)) * 3  # flags, then empty gradient / output tensors


def _conv(rng: np.random.Generator, filters: int, channels: int, kernel: int, stride: int, pad: int) -> bytes:
    params = rng.normal(0, 0.3, filters * channels * kernel * kernel + filters)
    fields = [filters, kernel, kernel, stride, stride, pad, pad]
    return text("con_4") + tensor(params, (params.size, 1, 1, 1)) + b"".join(compact(v) for v in fields)


def _affine(rng: np.random.Generator, channels: int) -> bytes:
    params = np.concatenate([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.1, channels)])
    return text("affine_") + tensor(params, (params.size, 1, 1, 1))


def _pool(kind: str, window: int, stride: int) -> bytes:
    return text(f"{kind}_pool_2") + b"".join(compact(v) for v in (window, window, stride, stride, 0, 0))


def tiny_network(seed: int = 0, size: int = 18) -> bytes:
    """A dlib-serialised ResNet in miniature: stem (conv, affine, relu, max pool), one residual
    block, one down-sampling block (stride-2 conv, 2x2 average-pool shortcut, channels 4 -> 8, 3x3
    block output added to a 4x4 shortcut),
    global average pool, fully connected 8 -> 4."""
    rng = np.random.default_rng(seed)
    relu, add = text("relu_"), text("add_prev_")
    layers = [
        _conv(rng, 4, 3, 3, 1, 1),
        _affine(rng, 4),
        relu,
        _pool("max", 3, 2),
        _conv(rng, 4, 4, 3, 1, 1),
        _affine(rng, 4),
        relu,
        _conv(rng, 4, 4, 3, 1, 1),
        _affine(rng, 4),
        add,
        relu,
        _conv(rng, 8, 4, 3, 2, 0),
        _affine(rng, 8),
        relu,
        _conv(rng, 8, 8, 3, 1, 1),
        _affine(rng, 8),
        _pool("avg", 2, 2),
        add,
        relu,
        _pool("avg", 0, 1),
        text("fc_2") + compact(4) + compact(8) + tensor(rng.normal(0, 0.5, 32), (8, 4, 1, 1)),
    ]
    header = compact(1) + text("loss_metric_2") + real(0.04) + real(0.6) + compact(2) * 20
    network_input = text("input_rgb_image_sized") + real(122.5) + real(117.0) + real(104.25)
    network_input += compact(size) + compact(size)
    return header + network_input + b"".join(layer + BOOKKEEPING for layer in layers)
