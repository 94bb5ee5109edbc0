"""The alert channels the settings configure: webhooks (``SKYNET_WEBHOOKS``), the MQTT broker
(``SKYNET_MQTT_URL``), and SMS and e-mail: who is told of an alert, in which words, and the workers that
deliver them.

An alert goes to every role of ``SKYNET_ALERT_RECIPIENTS`` and to the recipients its watch-list entry
names, each address once: phone numbers by SMS (:mod:`skynet.alerts.sms`, Kannel), addresses by e-mail
(:mod:`skynet.alerts.mail`, SMTP). Its texts are made from the templates in the settings
(:mod:`skynet.alerts.messages`) when it is raised, and each recipient's message is queued in the durable
outbox (a row of the store's ``deliveries``): retried with back-off, kept across restarts, and kept
once delivered, as the delivery log. Only the text leaves: no image, and of the entry only its label.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skynet.alerts.mail import SmtpMail, SmtpOptions, alert_email
from skynet.alerts.messages import AlertFields, AlertTemplates, Template
from skynet.alerts.mqtt import MqttOptions
from skynet.alerts.outbox import DeliveryOutbox
from skynet.alerts.sms import KannelOptions, KannelSms
from skynet.alerts.webhooks import WebhookTarget
from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.records import Alert, Channel, Recipient, Sighting, WatchlistEntry

log = logging.getLogger(__name__)


class AlertChannels:
    """Queues an SMS or e-mail per recipient of each alert (:meth:`alert`, any thread, no network) and
    delivers them (:meth:`run`, on an asyncio loop). A channel left out (None) is not configured: its
    recipients are skipped with a warning."""

    def __init__(
        self,
        templates: AlertTemplates,
        roles: Mapping[str, Sequence[Recipient]],
        camera_name: Callable[[str], str | None],
        *,
        sms: KannelSms | None = None,
        email: SmtpMail | None = None,
        public_url: str | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        self.templates = templates
        self.roles = roles
        self.camera_name = camera_name
        self.sms, self.email = sms, email
        self.public_url, self.zone = public_url, zone

    def recipients(self, entry: WatchlistEntry) -> list[Recipient]:
        """Everyone told of ``entry``'s alerts: the roles' recipients, then the entry's own, each once."""
        found = [r for members in self.roles.values() for r in members]
        for text in entry.recipients:
            try:
                found.append(Recipient.parse(text))
            except ValueError as error:  # stored before it was checked: skip it, tell the others
                log.error("watch-list entry %s: recipient skipped: %s", entry.id, error)
        return list(dict.fromkeys(found))

    def alert(self, alert: Alert, entry: WatchlistEntry, sighting: Sighting) -> list[int]:
        """Queue ``alert``'s messages; returns the delivery ids."""
        recipients = self.recipients(entry)
        camera = self.camera_name(alert.camera_id) or alert.camera_id
        fields = AlertFields.of(alert, entry, sighting, camera, self.public_url, self.zone)
        ids: list[int] = []
        numbers = [r.address for r in recipients if r.channel is Channel.SMS]
        if numbers:
            if self.sms is None:
                log.warning("alert %s: %d SMS recipients skipped: SMS is not configured", alert.id, len(numbers))
            else:
                ids += self.sms.queue(numbers, self.templates.sms_text(fields).encode("utf-8"))
        addresses = [r.address for r in recipients if r.channel is Channel.EMAIL]
        if addresses:
            if self.email is None:
                log.warning(
                    "alert %s: %d e-mail recipients skipped: e-mail is not configured", alert.id, len(addresses)
                )
            else:
                subject, body = self.templates.email(fields)
                sender = self.email.options.sender
                for address in addresses:
                    message = alert_email(sender, address, subject, body, fields.alert_id, alert.created_at)
                    ids += self.email.queue([address], message)
        return ids

    async def run(self) -> None:
        """Deliver until cancelled (run it as a task for the service's lifetime)."""
        await asyncio.gather(*(worker.run() for worker in (self.sms, self.email) if worker is not None))


def channels_from_settings(
    settings: Settings, outbox: DeliveryOutbox, camera_name: Callable[[str], str | None]
) -> AlertChannels | None:
    """The SMS and e-mail channels the settings configure (None when neither is), checked now: a bad
    template, recipient, URL or address is a :class:`ConfigError` naming the setting."""
    if not settings.kannel_url and not settings.smtp_host:
        if settings.alert_recipients:
            raise ConfigError(
                "SKYNET_ALERT_RECIPIENTS is set but neither SMS nor e-mail is configured",
                "set SKYNET_KANNEL_URL (SMS) or SKYNET_SMTP_HOST (e-mail)",
            )
        return None
    sms = email = None
    if settings.kannel_url:
        kannel = KannelOptions(
            settings.kannel_url, settings.kannel_username, settings.kannel_password, settings.sms_sender
        )
        sms = KannelSms(outbox, kannel)
    if settings.smtp_host:
        if not settings.smtp_from:
            raise ConfigError("e-mail alerts need SKYNET_SMTP_FROM, the sender address")
        smtp = SmtpOptions(
            settings.smtp_host,
            settings.smtp_from,
            settings.smtp_port,
            settings.smtp_tls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_ca_file,
        )
        email = SmtpMail(outbox, smtp)
    templates = AlertTemplates(
        Template("SKYNET_ALERT_SMS_TEMPLATE", settings.alert_sms_template),
        Template("SKYNET_ALERT_EMAIL_SUBJECT", settings.alert_email_subject),
        Template("SKYNET_ALERT_EMAIL_BODY", settings.alert_email_body),
    )
    return AlertChannels(
        templates,
        _roles(settings.alert_recipients, sms_on=sms is not None, email_on=email is not None),
        camera_name,
        sms=sms,
        email=email,
        public_url=settings.public_url,
        zone=_zone(settings.alert_time_zone),
    )


def _roles(configured: Mapping[str, Sequence[str]], *, sms_on: bool, email_on: bool) -> dict[str, list[Recipient]]:
    roles: dict[str, list[Recipient]] = {}
    for role, items in configured.items():
        try:
            roles[role] = [Recipient.parse(item) for item in items]
        except ValueError as error:
            raise ConfigError(f"SKYNET_ALERT_RECIPIENTS, role {role!r}: {error}") from None
        for recipient in roles[role]:
            if recipient.channel is Channel.SMS and not sms_on:
                raise ConfigError(f"role {role!r} lists phone numbers but SMS is not configured (SKYNET_KANNEL_URL)")
            if recipient.channel is Channel.EMAIL and not email_on:
                raise ConfigError(
                    f"role {role!r} lists e-mail addresses but e-mail is not configured (SKYNET_SMTP_HOST)"
                )
    return roles


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SKYNET_ALERT_TIME_ZONE: unknown time zone {name!r}", "e.g. Asia/Shanghai or UTC") from None


def mqtt_options(settings: Settings) -> MqttOptions | None:
    """Broker options from ``SKYNET_MQTT_URL`` (``mqtt://[user:password@]host[:port]``, ``mqtts://`` for TLS)."""
    if not settings.mqtt_url:
        return None
    url = urlsplit(settings.mqtt_url)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise ConfigError("SKYNET_MQTT_URL must look like mqtt://host:1883 or mqtts://user:password@host:8883")
    return MqttOptions(
        host=url.hostname,
        port=url.port or (8883 if url.scheme == "mqtts" else 1883),
        topic_prefix=settings.mqtt_topic_prefix,
        username=url.username,
        password=url.password,
        tls=url.scheme == "mqtts",
    )


def webhook_targets(settings: Settings) -> list[WebhookTarget]:
    """Targets from ``SKYNET_WEBHOOKS``; each needs a name, a URL and a signing secret."""
    targets = []
    for number, item in enumerate(settings.webhooks, 1):
        missing = [key for key in ("name", "url", "secret") if not item.get(key)]
        if missing:
            raise ConfigError(f"webhook {number} in SKYNET_WEBHOOKS lacks {', '.join(missing)}")
        targets.append(WebhookTarget(item["name"], item["url"], item["secret"]))
    return targets
