"""The web UI's files as the server serves them (no browser): the redirect, security headers, JavaScript
modules that all resolve, and ``/ui/session`` telling each role what it may do."""

from __future__ import annotations

import re

import pytest
from api_support import Api, make_api

from skynet.accounts.model import PERMISSIONS, Role
from skynet.api.ui import STATIC_DIR

IMPORT = re.compile(r"""^import\s[^;]*?from\s+"(\./[^"]+)";""", re.MULTILINE | re.DOTALL)


@pytest.fixture
def api(tmp_path) -> Api:
    return make_api(tmp_path)


def test_root_redirects_to_the_ui_which_is_served_with_a_strict_policy(api: Api) -> None:
    root = api.client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    page = api.client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/ui/js/main.js">' in page.text
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline: the policy forbids it


def test_every_module_and_import_is_served_as_javascript(api: Api) -> None:
    modules = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))
    assert "main.js" in modules
    for name in modules:
        served = api.client.get(f"/ui/js/{name}")
        assert served.status_code == 200, name
        assert served.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript"), name
        for target in IMPORT.findall(served.text):
            assert (STATIC_DIR / "js" / target).is_file(), f"{name} imports missing {target}"
    assert api.client.get("/ui/app.css").headers["content-type"].startswith("text/css")


def test_no_module_writes_html_from_data() -> None:
    """Text from the API (labels, reasons, camera names) is always set as text, never parsed as HTML."""
    for path in (STATIC_DIR / "js").glob("*.js"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", source), path.name


@pytest.mark.parametrize("role", list(Role))
def test_session_names_the_user_and_what_their_role_may_do(api: Api, role: Role) -> None:
    answer = api.client.get("/ui/session", headers=api.as_role(role.value))
    assert answer.status_code == 200
    assert answer.json() == {
        "user": role.value,
        "role": role.value,
        "permissions": sorted(p.value for p in PERMISSIONS[role]),
    }


def test_session_needs_a_valid_token(api: Api) -> None:
    assert api.client.get("/ui/session").status_code == 401
    wrong = api.client.get("/ui/session", headers={"Authorization": "Bearer skynet_not-a-token"})
    assert wrong.status_code == 401 and "invalid API token" in wrong.json()["detail"]
