"""Keeping camera credentials out of logs, status, errors and API answers."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = re.compile(r"pass|pwd|token|secret|key|auth|user", re.IGNORECASE)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(url: str) -> str:
    """``url`` with user/password and secret-looking query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub("***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_PARAMS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: list[str]) -> str:
    """``text`` (a log line or error) with every secret URL, and any user-info, redacted."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, redact_url(secret))
    return _USERINFO.sub("***@", text)
