"""Shared fixtures: settings, the default model pack, the shared data sets, a CJK font, the session's
PostgreSQL server; the ``requires`` marker (see servers.py: missing servers fail under CI=true)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from servers import WITHHELD, PostgresServer, ServerUnavailable, require, require_server, withheld

from skynet.config import Settings
from skynet.models import ModelStore, get_pack
from skynet.redaction import redact_url

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*names): needs these servers or tools (keys of servers.REQUIREMENTS); without one the test "
        "skips, or fails under CI=true",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    for marker in item.iter_markers("requires"):
        for name in marker.args:
            require(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the session's PostgreSQL server: $SKYNET_TEST_DATABASE_URL as it is (and left running), else a
    throw-away server in a temporary directory, started at first use, stopped and deleted after the last test."""
    if withheld("postgresql"):
        require_server("PostgreSQL", f"withheld by ${WITHHELD}")
    given = os.environ.get("SKYNET_TEST_DATABASE_URL")
    if given:
        try:
            psycopg.connect(given, connect_timeout=5).close()
        except psycopg.Error as error:
            detail = str(error).replace(given, redact_url(given)).strip()[:300]
            require_server("PostgreSQL", f"cannot connect to $SKYNET_TEST_DATABASE_URL ({redact_url(given)}): {detail}")
        yield given
        return
    server = PostgresServer()
    try:
        server.start()
    except (ServerUnavailable, OSError) as error:
        server.stop()
        require_server("PostgreSQL", str(error))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    """Settings whose default model pack is installed (``make test`` installs it); otherwise the test skips,
    or fails under CI=true."""
    settings = Settings()
    store = ModelStore(settings.models_path)
    missing = [s.file.name for s in store.status(get_pack("default"), verify=False) if s.state != "ok"]
    if missing:
        require_server(
            "the default model pack",
            f"not installed in {store.root} (missing {', '.join(missing)}); run: skynet models install",
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
    require_server("a CJK font", "none found; install Debian package fonts-wqy-zenhei (make test does)")
