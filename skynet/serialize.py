"""Turning records into JSON-ready dictionaries (numpy arrays to lists, floats rounded)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

import numpy as np


def to_jsonable(value: Any, digits: int = 4) -> Any:
    """A JSON-serialisable copy of ``value`` (dataclasses, numpy arrays and scalars, enums, sets as sorted lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), digits) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), digits)
    if isinstance(value, (np.floating, float)):
        return round(float(value), digits)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, digits) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v, digits) for v in value)
    return value
