"""The texts of SMS and e-mail alerts, from templates in the settings with named fields.

A template is Python format text (``"Alert #{alert_id}: {label} {plate}"``) over the fields of
:class:`AlertFields` only: a field it does not know, an attribute or index lookup (``{label.upper}``,
``{plate[0]}``) or a broken brace is refused when the service starts, naming the setting. A format
spec is allowed (``{label:.20}`` cuts the label to 20 characters). A literal brace is written twice.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from skynet.errors import ConfigError
from skynet.records import Alert, Sighting, WatchlistEntry


@dataclass(frozen=True, slots=True)
class AlertFields:
    """What a template may show of an alert. No image, no reason or case number of the entry."""

    label: str  # the watch-list entry's label
    plate: str  # the plate read ("" for a face or a registration)
    camera: str  # the camera's name
    time: str  # when the sighting was seen (its best view), local time with the UTC offset
    alert_id: int
    link: str  # the alert in the web UI ("" when no public URL is set)
    identity: str = ""  # a registration's identity key, masked ("" for the rest)
    source: str = "video"  # video, checkpoint or registration

    @classmethod
    def of(
        cls,
        alert: Alert,
        entry: WatchlistEntry,
        sighting: Sighting,
        camera: str,
        public_url: str | None,
        zone: ZoneInfo | None,
    ) -> AlertFields:
        seen = datetime.fromtimestamp(sighting.best_time, zone).astimezone(zone)
        return cls(
            label=entry.label,
            plate=sighting.plate.text if sighting.plate else "",
            identity=sighting.feed.identity.masked if sighting.feed and sighting.feed.identity else "",
            source=sighting.source.value,
            camera=camera,
            time=seen.strftime("%Y-%m-%d %H:%M:%S %z"),
            alert_id=int(alert.id or 0),
            link=f"{public_url.rstrip('/')}/#/wall?alert={alert.id}" if public_url else "",
        )


FIELDS = frozenset(AlertFields.__dataclass_fields__)
_SAMPLE = AlertFields(
    "Stolen van",
    "桂B12345",
    "Gate 3",
    "2025-01-31 08:15:00 +0800",
    123,
    "https://skynet/#/wall",
    "4501**1234",
    "checkpoint",
)
_SPACES = re.compile(r"[ \t]{2,}")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class Template:
    """One template, checked once (on a sample alert); :meth:`render` fills it in."""

    def __init__(self, setting: str, text: str) -> None:
        self.setting, self.text = setting, text
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as error:
            raise ConfigError(f"{setting}: {error}", "write a literal brace twice: {{ or }}") from None
        for _, name, spec, _ in parsed:
            if name is not None and name not in FIELDS:
                raise ConfigError(f"{setting}: unknown field {{{name}}}", f"the fields are {', '.join(sorted(FIELDS))}")
            if "{" in (spec or ""):
                raise ConfigError(f"{setting}: a field inside the format of {{{name}}}")
        try:
            self.render(_SAMPLE)
        except ValueError as error:  # a format spec that does not suit its field: {alert_id:.2}
            raise ConfigError(f"{setting}: {error}") from None

    def render(self, fields: AlertFields) -> str:
        return self.text.format_map(asdict(fields))


@dataclass(frozen=True, slots=True)
class AlertTemplates:
    """The SMS text and the e-mail subject and body of an alert."""

    sms: Template
    email_subject: Template
    email_body: Template

    def sms_text(self, fields: AlertFields) -> str:
        """The SMS: runs of spaces left by empty fields become one."""
        return _SPACES.sub(" ", self.sms.render(fields)).strip()

    def email(self, fields: AlertFields) -> tuple[str, str]:
        """(subject on one line, body)."""
        subject = _SPACES.sub(" ", _LINE_BREAKS.sub(" ", self.email_subject.render(fields))).strip()
        return subject, self.email_body.render(fields).strip() + "\n"
