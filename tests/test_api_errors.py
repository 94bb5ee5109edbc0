"""Errors as HTTP answers: each kind one status code, every answer one body, each error of one kind."""

import importlib
import pkgutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import skynet
from skynet.accounts.errors import AuthError, LastAdminError, UnknownUserError, WeakPasswordError
from skynet.accounts.throttle import LoginThrottled
from skynet.api.errors import STATUS, install_error_handlers, status_of
from skynet.errors import BadImageError, ConfigError, InvalidInputError, SkynetError, TooLargeError, UnavailableError
from skynet.store.errors import CameraInUseError, QueryError, StorageFullError, StoreError, UnknownCameraError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (QueryError("too broad"), 400),
        (UnknownCameraError("no camera 'x'"), 400),
        (InvalidInputError("send exactly one"), 400),
        (WeakPasswordError("password too short"), 422),
        (TooLargeError("upload too large"), 413),
        (BadImageError("not an image"), 415),
        (AuthError("invalid API token"), 401),
        (UnknownUserError("no user 'x'"), 404),
        (LastAdminError("the last admin"), 409),
        (CameraInUseError("still has sightings"), 409),
        (LoginThrottled(40, "from this address"), 429),
        (UnavailableError("no analyser"), 503),
        (StorageFullError("disk full"), 507),
        (StoreError("corrupt file"), 500),
        (ConfigError("bad setting"), 500),
    ],
)
def test_each_kind_has_one_status_code(error: SkynetError, code: int) -> None:
    assert status_of(error) == code


def _all_error_classes() -> set[type[SkynetError]]:
    for module in pkgutil.walk_packages(skynet.__path__, "skynet."):
        if not module.name.startswith(("skynet.api.ui", "skynet.__main__")):
            importlib.import_module(module.name)
    found: set[type[SkynetError]] = set()
    todo = [SkynetError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_of_one_kind_at_most() -> None:
    """The kinds an error inherits form one line (a kind and the kinds it refines), never two unrelated
    ones: otherwise its status code would depend on the order of its base classes."""
    for cls in _all_error_classes():
        kinds = [k for k in cls.__mro__ if k in STATUS]
        for narrower, wider in zip(kinds, kinds[1:], strict=False):
            assert issubclass(narrower, wider), f"{cls.__qualname__} is both {narrower.__name__} and {wider.__name__}"


def test_one_body_and_the_headers_a_kind_needs() -> None:
    app = FastAPI()
    install_error_handlers(app)
    raised: dict[str, SkynetError] = {
        "token": AuthError("invalid API token", "ask an admin for a new one"),
        "login": LoginThrottled(40, "for user 'root'"),
        "store": StoreError("the database is locked"),
    }

    @app.get("/{what}")
    def fail(what: str) -> None:
        raise raised[what]

    client = TestClient(app)
    token = client.get("/token")
    assert token.status_code == 401 and token.headers["WWW-Authenticate"] == "Bearer"
    assert token.json() == {"detail": "invalid API token", "hint": "ask an admin for a new one"}
    login = client.get("/login")
    assert login.status_code == 429 and login.headers["Retry-After"] == "40"
    assert login.json() == {
        "detail": "too many failed logins for user 'root'; try again in 40 s",
        "hint": "API tokens keep working; an admin can issue a new one",
    }
    store = client.get("/store")
    assert store.status_code == 500 and store.json() == {"detail": "the database is locked", "hint": None}
    assert "WWW-Authenticate" not in store.headers and "Retry-After" not in store.headers
