"""Reading a network serialised by dlib's DNN toolkit (``dlib/dnn``), without dlib.

Only what the face-recognition ResNet uses is understood. A serialised network holds, from its
input to its output, each layer's tag string and parameters, separated by dlib's bookkeeping
(version numbers, flags, empty gradient tensors). Layers are found by their tags in file order:
after one layer's parameters the next tag must follow within :data:`MAX_GAP` bytes, so bytes of
a weight tensor are never mistaken for a tag.

dlib's integers are compact: one control byte whose low nibble is the number of little-endian
bytes that follow and whose high bit marks a negative value. A float outside a tensor is a
mantissa and an exponent (two such integers). A tensor is: version 2, then n, k, rows, columns,
then n * k * rows * columns little-endian float32.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAX_GAP = 256  # bytes of bookkeeping allowed between one layer's parameters and the next tag
INPUT_TAG = "input_rgb_image_sized"
LAST_TAG = "fc_2"


class DlibFormatError(ValueError):
    """The bytes are not (or no longer) a dlib network this reader understands."""


@dataclass(frozen=True, slots=True)
class InputRGB:
    """``input_rgb_image_sized``: an RGB image of ``size`` whose channels get ``(x - mean) / 256``."""

    mean_rgb: tuple[float, float, float]
    size: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Conv:
    """``con_``: ``weights`` [filters, channels, kh, kw], ``bias`` [filters], strides and zero padding (y, x)."""

    weights: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Affine:
    """``affine_``: ``y = gamma * x + beta`` per channel (batch normalisation at inference)."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True, slots=True)
class Relu:
    """``relu_``."""


@dataclass(frozen=True, slots=True)
class Pool:
    """``max_pool_`` or ``avg_pool_`` with a ``window`` of (0, 0) meaning the whole image."""

    kind: str  # "max" or "avg"
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def is_global(self) -> bool:
        return self.window == (0, 0)


@dataclass(frozen=True, slots=True)
class AddPrev:
    """``add_prev_``: the residual sum of this point and an earlier (tagged) one, zero-padded to the larger."""


@dataclass(frozen=True, slots=True)
class FullyConnected:
    """``fc_`` without bias: ``y = x @ weights`` with ``weights`` [inputs, outputs]."""

    weights: np.ndarray


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected


@dataclass(frozen=True, slots=True)
class Network:
    """The input layer and the layers after it, from input to output."""

    input: InputRGB
    layers: tuple[Layer, ...]


class _Reader:
    """A cursor over the serialised bytes; every read past the end is a :class:`DlibFormatError`."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise DlibFormatError(f"truncated: {count} bytes wanted at byte {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer at byte {self.pos - 1} (control byte {control:#04x})")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def count(self, what: str) -> int:
        value = self.integer()
        if value < 0:
            raise DlibFormatError(f"negative {what} ({value}) at byte {self.pos}")
        return value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(np.ldexp(float(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        start = self.pos
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"tensor of unknown version {version} at byte {start}")
        shape = tuple(self.count("tensor size") for _ in range(4))
        values = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.take(4 * values), dtype="<f4").astype(np.float32).reshape(shape)

    def pair(self) -> tuple[int, int]:
        return self.count("size"), self.count("size")


def _tag_bytes(tag: str) -> bytes:
    encoded = tag.encode("ascii")
    return bytes([0x01, len(encoded)]) + encoded  # a string is its compact length, then its characters


_PARSERS = {}


def _parses(tag: str):
    def register(function):
        _PARSERS[tag] = function
        return function

    return register


@_parses("con_4")
def _conv(reader: _Reader) -> Conv:
    params = reader.tensor().reshape(-1)
    filters = reader.count("filters")
    kernel = reader.pair()
    stride = reader.pair()
    padding = reader.pair()
    weight_count = params.size - filters
    channels, remainder = divmod(weight_count, max(1, filters * kernel[0] * kernel[1]))
    if filters == 0 or channels == 0 or remainder:
        raise DlibFormatError(f"convolution of {filters} {kernel} filters does not fit its {params.size} parameters")
    weights = params[:weight_count].reshape(filters, channels, *kernel)
    return Conv(weights, params[weight_count:].copy(), stride, padding)


@_parses("affine_")
def _affine(reader: _Reader) -> Affine:
    params = reader.tensor().reshape(-1)
    if params.size % 2:
        raise DlibFormatError(f"affine layer with an odd number of parameters ({params.size})")
    half = params.size // 2
    return Affine(params[:half].copy(), params[half:].copy())


@_parses("relu_")
def _relu(reader: _Reader) -> Relu:
    return Relu()


@_parses("add_prev_")
def _add_prev(reader: _Reader) -> AddPrev:
    return AddPrev()


def _pool(kind: str):
    def parse(reader: _Reader) -> Pool:
        window = reader.pair()
        stride = reader.pair()
        padding = reader.pair()
        return Pool(kind, window, stride, padding)

    return parse


_PARSERS["max_pool_2"] = _pool("max")
_PARSERS["avg_pool_2"] = _pool("avg")


@_parses(LAST_TAG)
def _fully_connected(reader: _Reader) -> FullyConnected:
    outputs = reader.count("outputs")
    inputs = reader.count("inputs")
    weights = reader.tensor()
    if weights.shape != (inputs, outputs, 1, 1):
        raise DlibFormatError(f"fully connected {inputs}->{outputs} layer holds a {weights.shape} tensor")
    return FullyConnected(weights.reshape(inputs, outputs))


_TAGS = {tag: _tag_bytes(tag) for tag in _PARSERS}


def _next_tag(data: bytes, start: int, window: int) -> tuple[str, int]:
    """The first known layer tag in ``data[start:start + window]``, and where its characters end."""
    end = min(len(data), start + window)
    found = [(data.find(marker, start, end), tag) for tag, marker in _TAGS.items()]
    found = [(pos, tag) for pos, tag in found if pos >= 0]
    if not found:
        raise DlibFormatError(
            f"no layer this reader knows within {window} bytes after byte {start}"
            + (" (the file ends there)" if end == len(data) else "")
        )
    pos, tag = min(found)
    unknown = _name_in(data, start, pos)
    if unknown is not None:
        raise DlibFormatError(f"unknown layer {unknown[1]!r} at byte {unknown[0]}")
    return tag, pos + len(_TAGS[tag])


def _name_in(data: bytes, start: int, end: int) -> tuple[int, str] | None:
    """A length-prefixed lower-case name (with a letter) in ``data[start:end]``, where only bookkeeping
    (flags, versions, empty tensors) should be: the tag of a layer this reader does not know."""
    pos = data.find(b"\x01", start, end)
    while pos >= 0:
        if pos + 1 < end and 3 <= data[pos + 1] <= 64:
            name = data[pos + 2 : pos + 2 + data[pos + 1]]
            if len(name) == data[pos + 1] and _NAME.fullmatch(name) and _LETTER.search(name):
                return pos, name.decode("ascii")
        pos = data.find(b"\x01", pos + 1, end)
    return None


_NAME = re.compile(rb"[a-z0-9_]+")
_LETTER = re.compile(rb"[a-z]")


def parse_network(data: bytes) -> Network:
    """The layers of a dlib network with an RGB input whose last layer is a fully connected one."""
    marker = _tag_bytes(INPUT_TAG)
    start = data.find(marker, 0, 4096)
    if start < 0:
        raise DlibFormatError(f"no {INPUT_TAG!r} input layer near the start: not a dlib face-recognition network")
    reader = _Reader(data, start + len(marker))
    mean = (reader.real(), reader.real(), reader.real())
    size = reader.pair()
    layers: list[Layer] = []
    while not layers or not isinstance(layers[-1], FullyConnected):
        tag, reader.pos = _next_tag(data, reader.pos, MAX_GAP)
        layers.append(_PARSERS[tag](reader))
    return Network(InputRGB(mean, size), tuple(layers))
