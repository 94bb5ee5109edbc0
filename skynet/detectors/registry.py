"""Detector back-ends registered by role and name; a model pack names one back-end per role.

A back-end module registers a factory with :func:`register`; the factory receives a
:class:`BackendContext` (settings, model store, pack) and returns the detector.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skynet.config import Settings
from skynet.detectors.base import ROLES
from skynet.detectors.runtime import runs_int8
from skynet.errors import ConfigError
from skynet.models import ModelPack, ModelStore
from skynet.models.packs import owner_of


@dataclass(frozen=True, slots=True)
class BackendContext:
    """What a back-end factory may use to build itself."""

    settings: Settings
    store: ModelStore
    pack: ModelPack

    def model_path(self, name: str) -> Path:
        """A verified model file of the pack or its base packs (clear error naming it when missing)."""
        return self.store.require(owner_of(self.pack, name), name)

    def precision_model_path(self, name: str) -> Path:
        """The model file to run for ONNX model ``name``: the pack's int8 variant of it when the
        configured precision runs int8, ``name`` is not one of ``fp32_models`` and the pack has
        one (clear error naming it when missing), else ``name`` itself."""
        owner = owner_of(self.pack, name)
        variant = owner.int8_variant(name)
        settings = self.settings
        if (
            variant is not None
            and name not in settings.fp32_models
            and runs_int8(settings.precision, settings.execution_providers)
        ):
            return self.store.require(owner, variant)
        return self.model_path(name)

    def optional_model_path(self, name: str) -> Path | None:
        """An optional model file of the pack when the user supplied it, else None."""
        return self.store.optional(owner_of(self.pack, name), name)


Factory = Callable[[BackendContext], Any]

_FACTORIES: dict[tuple[str, str], Factory] = {}

# Modules that register the built-in back-ends when imported.
_BUILTIN_MODULES = (
    "skynet.detectors.centerface",
    "skynet.detectors.dlib_resnet",
    "skynet.detectors.clp_det",
    "skynet.detectors.plate_readers",
    "skynet.detectors.scrfd",
    "skynet.detectors.arcface",
    "skynet.detectors.yolo",
    "skynet.detectors.easyocr_reader",
)


def register(role: str, name: str) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory`` as back-end ``name`` for ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {ROLES}")

    def decorate(factory: Factory) -> Factory:
        _FACTORIES[(role, name)] = factory
        return factory

    return decorate


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def create(role: str, name: str, context: BackendContext) -> Any:
    """Build back-end ``name`` for ``role``; a clear error lists the registered ones otherwise."""
    _load_builtins()
    try:
        factory = _FACTORIES[(role, name)]
    except KeyError:
        known = sorted(n for r, n in _FACTORIES if r == role)
        raise ConfigError(f"No {role} back-end named {name!r}.", hint=f"registered: {', '.join(known)}") from None
    return factory(context)


def names(role: str) -> list[str]:
    """Registered back-end names for ``role``."""
    _load_builtins()
    return sorted(n for r, n in _FACTORIES if r == role)
