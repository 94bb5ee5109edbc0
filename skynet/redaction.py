"""Keeping credentials of URLs (cameras, webhooks, databases) out of logs, statuses, errors, audit rows and answers.

One rule for showing a URL (:func:`redact_url`): the scheme, host, port and path stay; every part that
can carry a credential becomes ``***``: the user-info, every query value, the fragment, and the values of
``name=value`` parameters in the path (Axis' ``;password=``, XMEye's ``/user=admin_password=…``). There is
no list of "secret-looking" parameter names to keep up: cameras put passwords in ``pw``, ``pwd``,
``loginpas``, ``passwd``, ``token``, ``sig``, ``auth``, … A channel number hidden by this rule costs
nothing; a password missed by a name list leaks.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

HIDDEN = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PATH_VALUE = re.compile(r"=[^;&/]*")
_QUERY_ITEM = re.compile(r"([^&;]*)")
_UNDERSCORED_VALUE = re.compile(r"=(.*?)(?=_[A-Za-z][A-Za-z0-9]*=|[;&/]|$)")
_MIN_PIECE = 4  # pieces shorter than this (a channel "1") are only hidden inside a URL


def authority_end(rest: str) -> int:
    """Where the authority (``user:password@host:port``) of ``rest`` (a URL after ``scheme://``) ends:
    at the first ``/``, ``?`` or ``#``, as FFmpeg and ``urllib`` split it."""
    found = re.search(r"[/?#]", rest)
    return found.start() if found else len(rest)


def redact_url(url: str) -> str:
    """``url`` with its user-info, query values, fragment and path-parameter values replaced by ``***``.

    A URL with an ``@`` after its host (a password holding an unencoded ``/``, ``?`` or ``#``) is cut at
    its last ``@``: everything before it is hidden. Text without ``scheme://`` (a file path, a device)
    is returned as it is."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url
    rest = url[scheme.end() :]
    end = authority_end(rest)
    hidden_user = "@" in rest[:end]
    if "@" in rest[end:]:
        rest, hidden_user = rest[rest.rindex("@") + 1 :], True
        end = authority_end(rest)
    host = rest[:end].rsplit("@", 1)[-1]
    tail, hash_mark, _ = rest[end:].partition("#")
    path, question_mark, query = tail.partition("?")
    return (
        url[: scheme.end()]
        + (HIDDEN + "@" if hidden_user else "")
        + host
        + _PATH_VALUE.sub("=" + HIDDEN, path)
        + question_mark
        + _QUERY_ITEM.sub(_hidden_query_item, query)
        + (hash_mark + HIDDEN if hash_mark else "")
    )


def _hidden_query_item(item: re.Match[str]) -> str:
    key, equals, _ = item.group(1).partition("=")
    if not item.group(1):
        return ""
    return key + "=" + HIDDEN if equals else HIDDEN


def secret_pieces(url: str) -> list[str]:
    """The parts of ``url`` that :func:`redact_url` hides, as written and percent-decoded (user, password,
    query values, fragment, path-parameter values), longest first; to find them where they appear alone."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return []
    rest = url[scheme.end() :]
    at = rest.rfind("@")
    user, _, password = rest[:at].partition(":") if at >= 0 else ("", "", "")
    tail = rest[at + 1 :]
    tail, _, fragment = tail[authority_end(tail) :].partition("#")
    path, _, query = tail.partition("?")
    pieces = [user, password, fragment, *(value[1:] for value in _PATH_VALUE.findall(path))]
    pieces += _UNDERSCORED_VALUE.findall(path)  # XMEye's /user=admin_password=SECRET_channel=1
    pieces += [item.partition("=")[2] or item for item in re.split(r"[&;]", f"{query}&{fragment}")]
    found = {p for piece in pieces for p in (piece, unquote(piece)) if len(p) >= _MIN_PIECE}
    return sorted(found, key=len, reverse=True)


def redact_text(text: str, secrets: list[str]) -> str:
    """``text`` (a log line, an error) with every URL in it redacted, and the credentials of the
    ``secrets`` URLs hidden wherever they appear (whole, or their pieces alone)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, redact_url(secret))
    text = _IN_TEXT.sub(lambda found: redact_url(found.group(0)), text)
    for secret in secrets:
        for piece in secret_pieces(secret) if secret else []:
            text = text.replace(piece, HIDDEN)
    return text
