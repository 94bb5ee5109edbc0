"""Shared fixtures: settings, the default model pack, the shared data sets, a CJK font."""

from __future__ import annotations

from pathlib import Path

import pytest

from skynet.config import Settings
from skynet.models import ModelStore, get_pack

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    """Settings whose default model pack is installed; skips the test otherwise."""
    settings = Settings()
    store = ModelStore(settings.models_path)
    missing = [s.file.name for s in store.status(get_pack("default"), verify=False) if s.state != "ok"]
    if missing:
        pytest.skip(
            f"default model pack not installed in {store.root} (missing {', '.join(missing)}); "
            "run: skynet models install"
        )
    return settings


@pytest.fixture(scope="session")
def analyzer(model_settings):
    """The default-pack :class:`ImageAnalyzer`, built once per test session."""
    from skynet.detectors.analyzer import ImageAnalyzer

    return ImageAnalyzer.from_settings(model_settings)


@pytest.fixture(scope="session")
def shared_data():
    """Returns a function giving the path of a ../shared/data set, skipping when it is absent."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not (path / "labels.csv").is_file():
            pytest.skip(f"data set {name} not found at {path} (../shared/data is not part of this checkout)")
        return path

    return get


@pytest.fixture(scope="session")
def cjk_font() -> Path:
    """A font with Chinese glyphs (Debian fonts-wqy-zenhei) for rendering synthetic plates."""
    for candidate in CJK_FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    pytest.skip("no CJK font found; install Debian package fonts-wqy-zenhei (.ci/run does)")
