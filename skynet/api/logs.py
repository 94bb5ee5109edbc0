"""The server's log without secrets: a logging filter on every handler that ``skynet serve`` configures
(uvicorn's access and error logs, and the root logger's, which the rest of Skynet logs to).

It masks the values of query parameters named like a secret (``?access_token=``, ``&ticket=``,
``;password=``, ``pw``, ``secret``, ``key``, ``auth``, ``signature``, ...) in request lines and
anything else logged, and anything shaped like a Skynet API token or stream ticket, wherever it
appears. No route takes a long-lived secret in its URL (streams take a ticket); this is the net under
clients that put one there anyway. Camera URLs are redacted where they are logged
(:mod:`skynet.redaction`).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from skynet.accounts.credentials import TOKEN_PREFIX
from skynet.api.tickets import TICKET_PREFIX

MASK = "***"
_SECRET_NAME = r"[\w.~%-]*?(?:token|ticket|pass|pwd|pw|secret|key|auth|sig|credential|session|cookie)[\w.~%-]*"
_QUERY_SECRET = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&;#\s\"']+")
_SKYNET_SECRET = re.compile(rf"((?:{re.escape(TICKET_PREFIX)}|{re.escape(TOKEN_PREFIX)}))[\w-]{{8,}}")


def redact_secrets(text: str) -> str:
    """``text`` with secret query values and Skynet tokens and tickets replaced by ``***``."""
    return _SKYNET_SECRET.sub(rf"\1{MASK}", _QUERY_SECRET.sub(rf"\1{MASK}", text))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, (int, float)) or value is None:
        return value
    text = str(value)
    redacted = redact_secrets(text)
    return value if redacted == text else redacted


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback (it never drops a record).

    The arguments are redacted one by one, so that formatters that read them (uvicorn's access log
    takes its request line from them) keep working."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        message = record.getMessage()
        if redact_secrets(message) == message:
            return True
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(arg) for key, arg in record.args.items()}
        if isinstance(record.__dict__.get("color_message"), str):
            record.__dict__["color_message"] = redact_secrets(record.__dict__["color_message"])
        if redact_secrets(record.getMessage()) != record.getMessage():  # a secret made of several arguments
            record.msg, record.args = redact_secrets(record.getMessage()), ()
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactSecrets` on each handler, and the root logger
    (Skynet's own loggers) on uvicorn's default handler at WARNING; alert deliveries (webhooks, SMS, e-mail)
    at INFO, so that each delivery has its line."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": RedactSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    config["loggers"]["skynet.alerts"] = {"level": "INFO"}
    return config
