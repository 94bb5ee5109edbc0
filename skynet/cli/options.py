"""Options shared by several commands, turned into :class:`Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from skynet.config import Settings

if TYPE_CHECKING:
    from skynet.system import System

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default $SKYNET_DATA_DIR or ~/.local/share/skynet)."),
]
ModelDir = Annotated[
    Path | None,
    typer.Option("--model-dir", help="Model directory (default $SKYNET_MODEL_DIR or <data-dir>/models)."),
]


def load_settings(data_dir: Path | None = None, model_dir: Path | None = None, **overrides) -> Settings:
    """Settings from the environment, with the command-line values that were given on top."""
    given = {k: v for k, v in {"data_dir": data_dir, "model_dir": model_dir, **overrides}.items() if v is not None}
    return Settings(**given)


def api_node_system(settings: Settings) -> System:
    """The API node's parts over ``settings``' store, without analysers: for commands that change the store as the
    API does (audited, checked). The composition root is imported here, on use (see :mod:`skynet.cli`)."""
    from skynet.app import build
    from skynet.system import SystemRole

    return build(settings, SystemRole.API_NODE, analysers=0)
