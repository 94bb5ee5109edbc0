"""SMS and e-mail alert channels without a network: templates, recipients, settings checked at start-up, and
what each alert queues. The gateways themselves are in test_alerts_sms_email.py."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from skynet.alerts import MemoryOutbox, channels_from_settings
from skynet.alerts.messages import AlertFields, Template
from skynet.config import Settings
from skynet.errors import ConfigError
from skynet.records import Alert, Box, Channel, PlateText, Recipient, Sighting, SightingKind, WatchlistEntry

SEEN = 1_738_282_500.0  # 2025-01-31 08:15:00 +0800
GATEWAYS = {
    "kannel_url": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "kannel_username": "skynet",
    "kannel_password": "kannel-secret",
    "smtp_host": "mail.example.org",
    "smtp_username": "alerts",
    "smtp_password": "smtp-secret",
    "smtp_from": "skynet@example.org",
    "alert_time_zone": "Asia/Shanghai",
}


def settings(tmp_path: Path, **more) -> Settings:
    return Settings(data_dir=tmp_path, **{**GATEWAYS, **more})


def alert_of(kind: SightingKind, entry: WatchlistEntry) -> tuple[Alert, WatchlistEntry, Sighting]:
    plate = PlateText("桂B12345", (0.9,) * 7) if kind is SightingKind.PLATE else None
    sighting = Sighting("gate", kind, SEEN - 1, SEEN + 1, SEEN, Box(0, 0, 9, 9), 0.9, plate=plate, id=5)
    return Alert(entry.id or 1, 5, "gate", SEEN + 0.5, 1.0, id=42), entry, sighting


def entry(*recipients: str, kind: SightingKind = SightingKind.PLATE) -> WatchlistEntry:
    return WatchlistEntry(
        kind, "stolen van", "case 7: informant", "chief", 1.0, plate_pattern="桂B*", id=3, recipients=recipients
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{name}", "unknown field {name}"),
        ("{label.upper}", "unknown field {label.upper}"),
        ("{plate[0]}", r"unknown field {plate\[0\]}"),
        ("{}", "unknown field {}"),
        ("alert {alert_id", "expected '}'"),
        ("{alert_id:.2}", "Precision not allowed in integer format specifier"),
        ("{label:{plate}}", "a field inside the format of {label}"),
    ],
)
def test_a_template_that_cannot_be_filled_in_is_refused_naming_the_setting(text, problem):
    with pytest.raises(ConfigError, match=f"SKYNET_ALERT_SMS_TEMPLATE: .*{problem}"):
        Template("SKYNET_ALERT_SMS_TEMPLATE", text)


def test_templates_fill_in_the_named_fields_and_literal_braces(tmp_path):
    fields = AlertFields("van", "桂B12345", "Gate", "2025-01-31 08:15:00 +0800", 42, "")
    assert Template("s", "{{#{alert_id}}} {label:.2} {plate}").render(fields) == "{#42} va 桂B12345"


def test_default_texts_of_a_plate_alert_and_of_a_face_alert(tmp_path):
    outbox = MemoryOutbox()
    channels = channels_from_settings(
        settings(tmp_path, public_url="https://skynet.example.org", alert_recipients={"duty": ["+8613800000001"]}),
        outbox,
        {"gate": "North gate"}.get,
    )
    channels.alert(*alert_of(SightingKind.PLATE, entry()))
    channels.alert(*alert_of(SightingKind.FACE, entry(kind=SightingKind.FACE)))
    texts = [d.body.decode() for d in outbox.for_channel(Channel.SMS).deliveries()]
    link = "https://skynet.example.org/#/wall?alert=42"
    assert texts == [
        f"Skynet alert #42: stolen van 桂B12345 at North gate, 2025-01-31 08:15:00 +0800 {link}",
        f"Skynet alert #42: stolen van at North gate, 2025-01-31 08:15:00 +0800 {link}",  # no plate: one space
    ]
    assert "case 7" not in "".join(texts)  # the entry's reason stays in the audited API


def test_each_recipient_gets_one_message_of_its_channel(tmp_path, caplog):
    outbox = MemoryOutbox()
    roles = {"duty": ["+86 138 0000 0001", "duty@example.org"], "chiefs": ["Chief@Example.org"]}
    channels = channels_from_settings(settings(tmp_path, alert_recipients=roles), outbox, lambda _: None)
    own = entry("+8613800000001", "officer@example.org", "not a number")
    with caplog.at_level(logging.ERROR, logger="skynet.alerts"):
        ids = channels.alert(*alert_of(SightingKind.PLATE, own))
    sms, email = outbox.for_channel(Channel.SMS).deliveries(), outbox.for_channel(Channel.EMAIL).deliveries()
    assert [d.target for d in sms] == ["+8613800000001"]  # the role's and the entry's number: one SMS
    assert [d.target for d in email] == ["duty@example.org", "Chief@Example.org", "officer@example.org"]
    assert sorted(ids) == sorted(d.id for d in sms + email)
    assert "watch-list entry 3: recipient skipped: 'not a number' is neither a phone number" in caplog.text
    assert "gate" in sms[0].body.decode()  # a camera without a name is shown by its id
    mails = [message_from_bytes(d.body, policy=policy.SMTP) for d in email]
    assert [m["To"] for m in mails] == [d.target for d in email]
    assert all(m["Subject"] == "Skynet alert #42: stolen van at gate" for m in mails)
    assert len({m["Message-ID"] for m in mails}) == 3 and not any(m.is_multipart() for m in mails)
    again = MemoryOutbox()  # the same alert queued again makes the same message: same Message-ID
    channels_from_settings(settings(tmp_path, alert_recipients=roles), again, lambda _: None).alert(
        *alert_of(SightingKind.PLATE, own)
    )
    assert [d.body for d in again.for_channel(Channel.EMAIL).deliveries()] == [d.body for d in email]


def test_recipients_of_a_channel_that_is_not_configured_are_skipped_with_a_warning(tmp_path, caplog):
    outbox = MemoryOutbox()
    only_email = settings(tmp_path, kannel_url=None, alert_recipients={"duty": ["duty@example.org"]})
    channels = channels_from_settings(only_email, outbox, lambda _: None)
    with caplog.at_level(logging.WARNING, logger="skynet.alerts"):
        channels.alert(*alert_of(SightingKind.PLATE, entry("+8613800000001")))
    assert [d.target for d in outbox.for_channel(Channel.EMAIL).deliveries()] == ["duty@example.org"]
    assert outbox.for_channel(Channel.SMS).deliveries() == []
    assert "alert 42: 1 SMS recipients skipped: SMS is not configured" in caplog.text


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kannel_url": None, "smtp_host": None}, "SKYNET_ALERT_RECIPIENTS is set but neither SMS nor e-mail"),
        ({"kannel_url": None}, "role 'duty' lists phone numbers but SMS is not configured"),
        ({"alert_recipients": {"duty": ["+86 13800000001", "nobody"]}}, "role 'duty': 'nobody' is neither a phone"),
        ({"kannel_url": "ftp://kannel/sendsms"}, "SKYNET_KANNEL_URL is not an http:// or https:// address"),
        ({"kannel_password": ""}, "SMS alerts need SKYNET_KANNEL_USERNAME and SKYNET_KANNEL_PASSWORD"),
        ({"smtp_from": None}, "e-mail alerts need SKYNET_SMTP_FROM"),
        ({"smtp_from": "skynet"}, "SKYNET_SMTP_FROM: 'skynet' is not an e-mail address"),
        ({"smtp_tls": "none"}, r"SMTP credentials would travel unencrypted \(SKYNET_SMTP_TLS=none\)"),
        ({"smtp_password": None}, "SMTP login needs both SKYNET_SMTP_USERNAME and SKYNET_SMTP_PASSWORD"),
        ({"smtp_ca_file": Path("/nonexistent/ca.pem")}, "SKYNET_SMTP_CA_FILE: /nonexistent/ca.pem is not a file"),
        ({"alert_time_zone": "Mars/Olympus"}, "SKYNET_ALERT_TIME_ZONE: unknown time zone 'Mars/Olympus'"),
        ({"alert_email_subject": "{label} {secret}"}, "SKYNET_ALERT_EMAIL_SUBJECT: unknown field {secret}"),
    ],
)
def test_bad_channel_settings_are_refused_at_start_up_naming_the_setting(tmp_path, changes, problem):
    configured = settings(tmp_path, **{"alert_recipients": {"duty": ["+8613800000001", "duty@example.org"]}, **changes})
    with pytest.raises(ConfigError, match=problem) as refused:
        channels_from_settings(configured, MemoryOutbox(), lambda _: None)
    assert "secret" not in str(refused.value).replace("{secret}", "")


def test_no_channel_configured_is_no_channel(tmp_path):
    assert channels_from_settings(Settings(data_dir=tmp_path), MemoryOutbox(), lambda _: None) is None


def test_settings_hide_the_gateway_secrets_and_the_recipients(tmp_path):
    shown = repr(settings(tmp_path, alert_recipients={"duty": ["+8613800000001"]}))
    for secret in ("kannel-secret", "smtp-secret", "8613800000001", "13013/cgi-bin"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("text", "channel", "address", "masked"),
    [
        ("+86 138-0000-0001", Channel.SMS, "+8613800000001", "+86********001"),
        ("(0771) 555.0123", Channel.SMS, "07715550123", "07*******23"),
        ("duty@example.org", Channel.EMAIL, "duty@example.org", "d***@example.org"),
        ("ops@localhost", Channel.EMAIL, "ops@localhost", "o***@localhost"),
    ],
)
def test_recipients_are_phone_numbers_or_email_addresses(text, channel, address, masked):
    recipient = Recipient.parse(text)
    assert (recipient.channel, recipient.address, recipient.masked()) == (channel, address, masked)


@pytest.mark.parametrize(
    "text", ["12", "call me", "+86 138 0000 0001 ext 5", "a b@example.org", "x@", "x@y\r\nBcc: z@w", "值班@example.org"]
)
def test_anything_else_is_not_a_recipient(text):
    with pytest.raises(ValueError, match="is n"):
        Recipient.parse(text)
