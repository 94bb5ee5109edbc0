"""Options shared by several commands, turned into :class:`Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skynet.config import Settings

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
