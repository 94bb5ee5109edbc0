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

import httpx
import pytest
from servers import SkynetServe

from skynet.accounts.credentials import hash_password, issue_token
from skynet.accounts.model import Role, User
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.services.demo import set_up_demo

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


@pytest.fixture
def start_service(tmp_path: Path, model_settings: Settings) -> Iterator[Callable[..., Service]]:
    """Starts ``skynet serve`` over a fresh data directory (``demo``: with the demo camera; ``env``: more
    SKYNET_* settings; ``seed``: adds to the catalog first); every service started is stopped at the end."""
    started: list[SkynetServe] = []

    def start(
        *, demo: bool = True, env: dict[str, str] | None = None, seed: Callable[[Catalog], object] | None = None
    ) -> Service:
        data_dir = tmp_path / f"data{len(started)}"
        tokens = prepare(data_dir, demo=demo, seed=seed)
        full_env = {
            **os.environ,
            "SKYNET_DATA_DIR": str(data_dir),
            "SKYNET_MODEL_DIR": str(model_settings.models_path),
            **(env or {}),
        }
        server = SkynetServe(full_env, data_dir / "serve.log")
        started.append(server)
        server.start()
        return Service(server.url, data_dir, tokens, server, full_env)

    yield start
    for server in started:
        server.stop()
