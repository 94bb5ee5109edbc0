"""Retention: delete sightings older than a cut-off for real (rows, vectors, media) and audit it; held
evidence (exported, or with an acknowledged alert) is kept."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.index.catalog import Catalog
from skynet.records import AuditEvent

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")


def parse_age(text: str) -> float:
    """Seconds in an age such as ``30d``, ``12h``, ``2w`` or ``90m``."""
    match = _AGE.fullmatch(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"cannot read the age {text!r}", "write a number and a unit: 30d, 12h, 2w, 90m, 45s")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention run deleted."""

    cutoff: float
    sightings: int
    face_vectors: int
    files: int
    held_kept: int = 0


def apply_retention(
    catalog: Catalog,
    older_than_s: float,
    *,
    actor: str = "retention",
    reason: str | None = None,
    now: float | None = None,
) -> RetentionReport:
    """Delete every sighting whose best view is older than ``older_than_s`` seconds, but held evidence
    (:mod:`skynet.store.holds`); audited as ``retention.delete`` with ``reason`` (default: the policy's age)
    and the ids of the sightings and alerts deleted and of the held sightings kept."""
    if older_than_s <= 0:
        raise ConfigError("the retention age must be positive")
    cutoff = (time.time() if now is None else now) - older_than_s
    deleted = catalog.delete_before(cutoff)
    report = RetentionReport(cutoff, len(deleted.ids), len(deleted.face_ids), deleted.files, len(deleted.held_ids))
    catalog.save_indexes()
    catalog.store.audit.append(
        AuditEvent(
            at=time.time(),
            actor=actor,
            action="retention.delete",
            reason=reason or f"retention policy: sightings older than {older_than_s / 86400:g} days",
            detail={"cutoff": cutoff, **deleted.audited()},
        )
    )
    return report


def run_retention_policy(catalog: Catalog, settings: Settings, stop: threading.Event) -> None:
    """Apply ``settings.retention_days`` every ``settings.retention_interval_s`` until ``stop`` is set.

    Meant for a service thread; does nothing when no retention is configured.
    """
    if settings.retention_days is None:
        return
    while not stop.is_set():
        try:
            report = apply_retention(catalog, settings.retention_days * 86400)
            log.info(
                "retention: deleted %d sightings, %d vectors, %d files",
                report.sightings,
                report.face_vectors,
                report.files,
            )
        except Exception:  # keep the policy running; the next round retries
            log.exception("retention run failed")
        stop.wait(settings.retention_interval_s)
