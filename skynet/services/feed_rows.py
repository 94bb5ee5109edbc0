"""One record of an external feed, checked and turned into a sighting: a road checkpoint's plate read, or a
person's registration at a hotel, internet café or residence office. The same rules hold for a row of an
imported file and a record pushed over the API; a record that breaks one is refused with the reason."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from skynet.records import (
    Box,
    FeedDetail,
    Origin,
    PlateText,
    RegistrationPlace,
    Sighting,
    SightingKind,
    SightingSource,
)
from skynet.store import plate_search
from skynet.store.identity_keys import IdentityKeys
from skynet.store.sighting_writes import SightingMedia

MAX_PLATE = 16
MAX_TEXT = 200
MAX_IMAGE_BYTES = 2 * 1024 * 1024
EARLIEST = 946684800.0  # 2000-01-01: older times are mistakes
FUTURE_SLACK_S = 86400.0
KEY_CHARS = 32
"""Hex characters of a record's natural key (schema version 16 cut the keys stored before to as many)."""
_OTHER_ID = re.compile(r"[A-Z0-9-]{4,32}")
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?")
_NO_BOX = Box(0.0, 0.0, 0.0, 0.0)
_LIVE = Origin()


class FeedKind(StrEnum):
    """The kinds of external record: what a file or a push holds."""

    CHECKPOINT = "checkpoint"
    REGISTRATION = "registration"


FIELDS: dict[FeedKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    FeedKind.CHECKPOINT: (("plate", "checkpoint", "time"), ("direction", "confidence", "image", "id")),
    FeedKind.REGISTRATION: (
        ("identity", "name", "place", "latitude", "longitude", "time", "source"),
        ("id_type", "id"),
    ),
}
"""Each kind's required and optional fields (CSV columns, JSON keys)."""
_ALLOWED = {kind: frozenset(required + optional) for kind, (required, optional) in FIELDS.items()}


class IdType(StrEnum):
    """Kinds of identity key: a PRC resident identity card number (18 characters, its check digit and birth
    date checked), a passport number, another key (4 to 32 letters, digits and dashes)."""

    CN_ID = "cn_id"
    PASSPORT = "passport"
    OTHER = "other"


class RejectedRecord(ValueError):
    """A record that breaks a rule; the message says which (never echoing an identity key)."""


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A record as stored: its sighting (with the feed detail) and, for a checkpoint read, its image."""

    sighting: Sighting
    media: SightingMedia | None = None


def identity_value(id_type: str | None, text: Any) -> str:
    """The identity key as hashed and sealed: ``TYPE:VALUE`` with the value in one canonical form
    (upper case, no spaces); :class:`RejectedRecord` for a malformed one."""
    try:
        kind = IdType(id_type or IdType.CN_ID)
    except ValueError:
        raise RejectedRecord(f"id_type must be one of {', '.join(IdType)}") from None
    value = _SPACES.sub("", str(text or "")).upper()
    if kind is IdType.CN_ID:
        try:
            value = ric.validate(value)
        except ValidationError as error:
            raise RejectedRecord(f"malformed ID-card number ({error})") from None
        except KeyError:  # python-stdnum's table of places lacks a field for some codes
            raise RejectedRecord("malformed ID-card number (unknown place code)") from None
    elif not _OTHER_ID.fullmatch(value):
        raise RejectedRecord(f"malformed {kind.value} number (4 to 32 letters, digits and dashes)")
    return f"{kind.value}:{value}"


def shown(value: str) -> str:
    """The key of an :func:`identity_value` without its type."""
    return value.partition(":")[2]


class RecordParser:
    """Turns raw records (string-valued CSV rows or JSON objects) into :class:`FeedRecord`. ``is_camera``
    says whether a camera id is known (checkpoints are cameras, most without a stream); ``place`` gives the
    camera of a registration's place (made on first use); ``clock`` bounds times from above."""

    def __init__(
        self,
        keys: IdentityKeys,
        is_camera: Callable[[str], bool],
        place: Callable[[str, RegistrationPlace, float, float], str],
        clock: Callable[[], float],
    ) -> None:
        self.keys = keys
        self.is_camera = is_camera
        self.place = place
        self.clock = clock

    def parse(self, kind: FeedKind, raw: Mapping[str, Any]) -> FeedRecord:
        """The record of ``raw``; :class:`RejectedRecord` naming the first rule it breaks."""
        if not isinstance(raw, Mapping):
            raise RejectedRecord("a record is an object of fields")
        kind = FeedKind(kind)
        required, optional = FIELDS[kind]
        missing = [name for name in required if (value := raw.get(name)) is None or _blank(value)]
        if missing:
            raise RejectedRecord(f"missing {', '.join(missing)}")
        if not _ALLOWED[kind].issuperset(raw):
            unknown = sorted(set(raw) - _ALLOWED[kind])
            raise RejectedRecord(f"unknown field(s) {', '.join(map(str, unknown[:5]))}")
        if kind is FeedKind.CHECKPOINT:
            return self._checkpoint(raw)
        return self._registration(raw)

    def _checkpoint(self, raw: Mapping[str, Any]) -> FeedRecord:
        text = plate_search.clean(str(raw["plate"]))
        if not text or len(text) > MAX_PLATE:
            raise RejectedRecord(f"plate must be 1 to {MAX_PLATE} characters")
        checkpoint = str(raw["checkpoint"]).strip()
        if not self.is_camera(checkpoint):
            raise RejectedRecord(f"unknown checkpoint {checkpoint[:100]!r} (add it as a camera first)")
        at = self._time(raw["time"])
        confidence = _number(raw.get("confidence"), "confidence", 1.0)
        if not 0.0 <= confidence <= 1.0:
            raise RejectedRecord("confidence must be between 0 and 1")
        direction = _text(raw.get("direction"), "direction", 40)
        key = _natural_key("checkpoint", checkpoint, raw.get("id"), text, repr(at), direction or "")
        image = _image(raw.get("image"))
        sighting = Sighting(
            camera_id=checkpoint,
            kind=SightingKind.PLATE,
            first_seen=at,
            last_seen=at,
            best_time=at,
            box=_NO_BOX,
            quality=confidence,
            plate=PlateText(text, (confidence,) * len(text)),
            origin=_LIVE,
            source=SightingSource.CHECKPOINT,
            feed=FeedDetail(key, direction=direction),
        )
        return FeedRecord(sighting, SightingMedia(thumbnail=image) if image else None)

    def _registration(self, raw: Mapping[str, Any]) -> FeedRecord:
        value = identity_value(_text(raw.get("id_type"), "id_type", 20), raw["identity"])
        name = _text(raw["name"], "name", MAX_TEXT)
        place_name = _text(raw["place"], "place", MAX_TEXT)
        try:
            place = RegistrationPlace(str(raw["source"]).strip())
        except ValueError:
            raise RejectedRecord(f"source must be one of {', '.join(RegistrationPlace)}") from None
        latitude = _number(raw["latitude"], "latitude")
        longitude = _number(raw["longitude"], "longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise RejectedRecord("latitude must be within -90..90 and longitude within -180..180")
        at = self._time(raw["time"])
        identity = self.keys.seal(value)
        camera = self.place(place_name or "", place, latitude, longitude)
        key = _natural_key("registration", place.value, raw.get("id"), identity.key_hash, camera, repr(at))
        sighting = Sighting(
            camera_id=camera,
            kind=SightingKind.IDENTITY,
            first_seen=at,
            last_seen=at,
            best_time=at,
            box=_NO_BOX,
            quality=1.0,
            origin=_LIVE,
            source=SightingSource.REGISTRATION,
            feed=FeedDetail(key, place=place, person_name=name, identity=identity),
        )
        return FeedRecord(sighting)

    def _time(self, value: Any) -> float:
        """Unix seconds from a number or an ISO 8601 time with its UTC offset."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            at = float(value)
        else:
            text = str(value).strip()
            at = _iso_time(text) if not _NUMBER.fullmatch(text) else float(text)
        if not math.isfinite(at) or not EARLIEST <= at <= self.clock() + FUTURE_SLACK_S:
            raise RejectedRecord("time out of range (before 2000 or in the future)")
        return at


def _iso_time(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RejectedRecord("bad time (ISO 8601 with UTC offset, or Unix seconds)") from None
    if parsed.tzinfo is None:
        raise RejectedRecord("time without its UTC offset (write 2026-12-06T08:15:00+08:00)")
    return parsed.timestamp()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any, name: str, limit: int) -> str | None:
    if _blank(value):
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise RejectedRecord(f"{name} longer than {limit} characters")
    return text


def _number(value: Any, name: str, default: float | None = None) -> float:
    if _blank(value):
        if default is None:
            raise RejectedRecord(f"missing {name}")
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RejectedRecord(f"{name} is not a number") from None
    if not math.isfinite(number):
        raise RejectedRecord(f"{name} is not a finite number")
    return number


def _image(value: Any) -> bytes | None:
    """A checkpoint's image: JPEG bytes, base64-encoded."""
    if _blank(value):
        return None
    if not isinstance(value, str) or len(value) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise RejectedRecord(f"image must be a base64-encoded JPEG of at most {MAX_IMAGE_BYTES} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RejectedRecord("image is not base64") from None
    if data[:3] != b"\xff\xd8\xff":
        raise RejectedRecord("image is not a JPEG")
    return data


def _natural_key(kind: str, scope: str, record_id: Any, *fields: str) -> str:
    """The record's key: its feed's own id (within ``scope``: a checkpoint, a kind of place) when it has one,
    else what makes it that record. Hashed, so that no identity key stands in it: the first 128 bits of its
    SHA-256, in hex (the unique index of a million rows takes half the room of the whole digest's)."""
    own = None if _blank(record_id) else str(record_id).strip()
    text = "\x1f".join((kind, scope, "id", own) if own else (kind, scope, *fields))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_CHARS]
