"""A real ``skynet serve`` for the security probes: one user of each role with an API token, the demo
camera (a generated street clip with a watch-listed plate), and the server's whole log for inspection.

Probes talk to it over HTTP and WebSockets on 127.0.0.1 exactly as an attacker or a careless client
would; nothing in the service is replaced or patched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from servers import SkynetServe

from skynet.accounts.credentials import hash_password, issue_token
from skynet.accounts.model import Role, User
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.records import Alert, Box, Camera, PlateText, Sighting, SightingKind, WatchlistEntry
from skynet.services.demo import set_up_demo
from skynet.store.sighting_writes import SightingMedia

PASSWORD = "correct horse battery staple"
ROLES = {"admin": Role.ADMIN, "investigator": Role.INVESTIGATOR, "operator": Role.OPERATOR}


@dataclass
class Service:
    """A running ``skynet serve``: its URL, data directory, each role's user name and token, its log."""

    url: str
    data_dir: Path
    tokens: dict[str, str]
    server: SkynetServe
    env: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **options) -> httpx.Client:
        """An HTTP client of the service, authenticated as ``role``'s user (None: anonymous)."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=options.pop("timeout", 30.0), **options)

    def log(self) -> str:
        """Everything the server printed so far (its access log included)."""
        return self.server.log.read_text(errors="replace")


def prepare(data_dir: Path, *, demo: bool = True, seed: Callable[[Catalog], object] | None = None) -> dict[str, str]:
    """A data directory with one user per role (their names are the role names), with ``demo`` the demo
    camera, and whatever ``seed`` adds to the catalog; returns each role's API token."""
    now = time.time()
    tokens = {}
    with Catalog.open(data_dir) as catalog:
        if demo:
            set_up_demo(Settings(data_dir=data_dir), catalog.store)
        if seed is not None:
            seed(catalog)
        for name, role in ROLES.items():
            user = catalog.store.users.add_user(User(name, role, now, hash_password(PASSWORD)))
            tokens[name], _ = issue_token(catalog.store.users, user, now)
    return tokens


def _serve(
    data_dir: Path,
    model_settings: Settings,
    demo: bool,
    env: dict[str, str] | None,
    seed: Callable[[Catalog], object] | None,
) -> Service:
    tokens = prepare(data_dir, demo=demo, seed=seed)
    full_env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODEL_DIR": str(model_settings.models_path),
        **(env or {}),
    }
    server = SkynetServe(full_env, data_dir / "serve.log")
    server.start()
    return Service(server.url, data_dir, tokens, server, full_env)


@pytest.fixture
def start_service(tmp_path: Path, model_settings: Settings) -> Iterator[Callable[..., Service]]:
    """Starts ``skynet serve`` over a fresh data directory (``demo``: with the demo camera; ``env``: more
    SKYNET_* settings; ``seed``: adds to the catalog first); every service started is stopped at the end."""
    started: list[SkynetServe] = []

    def start(
        *, demo: bool = True, env: dict[str, str] | None = None, seed: Callable[[Catalog], object] | None = None
    ) -> Service:
        service = _serve(tmp_path / f"data{len(started)}", model_settings, demo, env, seed)
        started.append(service.server)
        return service

    yield start
    for server in started:
        server.stop()


SEEN_PLATE = "桂B12345"
MEDIA_LINK_TTL_S = 4


def seed_sightings(catalog: Catalog) -> None:
    """Camera ``cam-1`` (its source never answers) with three plate sightings of :data:`SEEN_PLATE` (with
    thumbnails and context frames), a watch-list entry for that plate, and an alert on the first sighting."""
    catalog.store.cameras.save(Camera("cam-1", "Gate", "file:///dev/null"))
    jpeg = cv2.imencode(".jpg", np.full((32, 64, 3), 128, np.uint8))[1].tobytes()
    read = PlateText(SEEN_PLATE, (0.9,) * len(SEEN_PLATE))
    sightings = [
        Sighting("cam-1", SightingKind.PLATE, t, t + 1, t, Box(0, 0, 9, 9), 0.5, plate=read) for t in (10.0, 20.0, 30.0)
    ]
    ids = catalog.add_sightings(sightings, [SightingMedia(thumbnail=jpeg, context=jpeg)] * len(sightings))
    entry = WatchlistEntry(SightingKind.PLATE, "van", "case 14: seeded", "admin", 1.0, plate_pattern=SEEN_PLATE)
    catalog.store.alerts.add(Alert(catalog.store.watchlists.add(entry), ids[0], "cam-1", 11.0, 1.0))


@pytest.fixture(scope="session")
def seeded_service(tmp_path_factory: pytest.TempPathFactory, model_settings: Settings) -> Iterator[Service]:
    """One ``skynet serve`` shared by the probes that leave it as they found it (they change only users and
    tokens they create): no demo camera, :func:`seed_sightings`' data, media links valid for
    :data:`MEDIA_LINK_TTL_S` seconds. Starting a service costs most of a probe's time."""
    env = {"SKYNET_MEDIA_LINK_TTL_S": str(MEDIA_LINK_TTL_S)}
    service = _serve(tmp_path_factory.mktemp("seeded") / "data", model_settings, False, env, seed_sightings)
    yield service
    service.server.stop()
