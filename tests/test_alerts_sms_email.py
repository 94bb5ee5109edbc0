"""SMS and e-mail alerts against real gateways on 127.0.0.1: Kannel (bearerbox, smsbox) with its fake SMSC,
whose output shows what the network received, and an aiosmtpd SMTP server keeping what it accepts in a Maildir.

An alert raised by a watch-listed plate reaches both with the templates applied; gateways that are down are
retried with back-off and get each message once when they are back; deliveries pending when the service
stops are sent by the next ``skynet serve``, none lost and none twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from channels_support import IMAGE, SENDER, channel_settings, plate_sighting, running
from message_servers import Kannel, SmtpServer
from servers import ServerUnavailable, SkynetServe, require, require_server
from tls_support import self_signed
from waiting import wait_for

from skynet.alerts import channels_from_settings
from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.records import Alert, Camera, Channel, DeliveryState, Sighting, SightingKind, WatchlistEntry
from skynet.store import Store, open_store
from skynet.watchlist import AlertFanout, WatchlistMatcher

SEEN = 1_738_282_500.0  # 2025-01-31 08:15:00 +0800
TEMPLATES = {
    "alert_sms_template": "ALERT {alert_id} {label} {plate} @{camera} {time} {link}",
    "alert_email_subject": "[Skynet] {label}: {plate} at {camera}",
    "alert_email_body": "Entry {label}\nPlate {plate}\nCamera {camera}\nSeen {time}\nAlert {alert_id}\n{link}",
    "public_url": "https://skynet.example.org/",
    "alert_time_zone": "Asia/Shanghai",
}


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[Kannel]:
    require("kannel")
    (tmp_path / "kannel").mkdir()
    server = Kannel(tmp_path / "kannel")
    try:
        server.start()
    except ServerUnavailable as error:
        server.stop()
        require_server("Kannel", str(error))
    yield server
    server.stop()


def _smtp(directory: Path, **options) -> SmtpServer:
    require("smtp")
    directory.mkdir()
    server = SmtpServer(directory, **options)
    try:
        return server.start()
    except ServerUnavailable as error:
        server.stop()
        require_server("the aiosmtpd SMTP server", str(error))


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = _smtp(tmp_path / "smtp")
    yield server
    server.stop()


def _entry(store: Store, recipients: tuple[str, ...] = ()) -> WatchlistEntry:
    store.cameras.save(Camera("gate", "North gate", "rtsp://10.0.0.1/gate"))
    entry = WatchlistEntry(
        SightingKind.PLATE, "stolen van", "case 7", "chief", SEEN - 60, plate_pattern="桂B1234?", recipients=recipients
    )
    entry_id = store.watchlists.add(entry)
    return next(e for e in store.watchlists.all() if e.id == entry_id)


def _raise(store: Store, entry: WatchlistEntry, plate: str, at: float = SEEN) -> tuple[Alert, WatchlistEntry, Sighting]:
    """A stored sighting of ``plate`` and its stored alert on ``entry``, as the matcher makes them."""
    (sighting_id,) = store.sightings.add([plate_sighting("gate", plate, at)])
    alert = Alert(entry.id, sighting_id, "gate", at + 0.5, 1.0)
    return replace(alert, id=store.alerts.add(alert)), entry, store.sightings.get(sighting_id)


def _states(store: Store, ids: list[int]) -> list:
    return [store.outbox.get(i) for i in ids]


def test_a_watch_listed_plate_sends_the_templated_sms_and_email_to_the_role_and_the_entry(
    tmp_path, kannel, smtp, caplog
):
    settings = channel_settings(tmp_path / "data", kannel, smtp, ["+86 138 0000 0001", "duty@example.org"], **TEMPLATES)
    with Catalog.open(settings.data_dir) as catalog, caplog.at_level(logging.INFO, logger="skynet.alerts"):
        store = catalog.store
        _entry(store, recipients=("+8613900000002", "case-officer@example.org"))
        channels = channels_from_settings(settings, store.outbox, store.cameras.name)
        writer = CatalogWriter(catalog)
        writer.add_listener(WatchlistMatcher(store, AlertFanout(lambda s: None, messages=channels).alert, 0.9))
        with running(channels):
            writer.publish(plate_sighting("gate", "桂B12345", SEEN), IMAGE, IMAGE)
            writer.flush()
            wait_for(lambda: len(kannel.messages()) == 2 and len(smtp.messages()) == 2, 20, "2 SMS and 2 e-mails")
            # a message reaches its receiver just before its delivery is recorded as done
            wait_for(lambda: all(d.state is DeliveryState.DONE for d in _states(store, [1, 2, 3, 4])), 10, "the log")
        writer.close()
        (alert,) = store.alerts.latest()
        log = {channel: store.outbox.for_channel(channel).deliveries() for channel in (Channel.SMS, Channel.EMAIL)}

    link = f"https://skynet.example.org/#/wall?alert={alert.id}"
    text = f"ALERT {alert.id} stolen van 桂B12345 @North gate 2025-01-31 08:15:00 +0800 {link}"
    assert sorted((sms.to, sms.text) for sms in kannel.messages()) == [
        ("+8613800000001", text),
        ("+8613900000002", text),
    ]
    mails = {mail["To"]: mail for mail in smtp.messages()}
    assert sorted(mails) == ["case-officer@example.org", "duty@example.org"]
    for address, mail in mails.items():
        assert (mail["From"], mail["X-MailFrom"], mail["X-RcptTo"]) == (SENDER, SENDER, address)
        assert mail["Subject"] == "[Skynet] stolen van: 桂B12345 at North gate"
        assert mail.get_content_type() == "text/plain" and not mail.is_multipart()  # no image attached
        assert mail.get_content().replace("\r\n", "\n") == (
            f"Entry stolen van\nPlate 桂B12345\nCamera North gate\nSeen 2025-01-31 08:15:00 +0800\n"
            f"Alert {alert.id}\n{link}\n"
        )
        assert mail["Message-ID"].startswith(f"<skynet.alert-{alert.id}.") and mail["Message-ID"].endswith(
            "@example.org>"
        )
        assert mail["Auto-Submitted"] == "auto-generated"
    assert len({mail["Message-ID"] for mail in mails.values()}) == 2  # one key per delivery

    # the delivery log: a row per recipient, delivered at the first attempt
    for rows in log.values():
        assert [(row.state, row.attempts, row.last_error) for row in rows] == [(DeliveryState.DONE, 1, None)] * 2
        assert all(SEEN < row.delivered_at <= time.time() for row in rows)
    assert sorted(row.target for row in log[Channel.SMS]) == ["+8613800000001", "+8613900000002"]
    # and a log line per delivery, which shows neither the Kannel password nor whole numbers or addresses
    delivered = [r.getMessage() for r in caplog.records if r.getMessage().endswith("delivered (attempt 1)")]
    assert len(delivered) == 4
    assert any(line.startswith("sms delivery") and "+86********001 via http://127.0.0.1:" in line for line in delivered)
    assert any(line.startswith("email delivery") and "d***@example.org via 127.0.0.1" in line for line in delivered)
    for secret in (kannel.password, "+8613800000001", "duty@example.org", "case-officer"):
        assert secret not in caplog.text


def test_gateways_that_are_down_are_retried_with_back_off_and_get_each_message_once_when_back(
    tmp_path, kannel, smtp, caplog
):
    settings = channel_settings(tmp_path / "data", kannel, smtp, ["+8613800000001", "duty@example.org"])
    kannel.stop()
    smtp.stop()
    with Catalog.open(settings.data_dir) as catalog, caplog.at_level(logging.WARNING, logger="skynet.alerts"):
        store = catalog.store
        channels = channels_from_settings(settings, store.outbox, store.cameras.name)
        with running(channels):
            ids = channels.alert(*_raise(store, _entry(store), "桂B12345"))
            assert len(ids) == 2
            wait_for(lambda: all(d.attempts >= 2 and d.last_error for d in _states(store, ids)), 20, "2 failed tries")
            kannel.start()
            smtp.start()
            wait_for(lambda: all(d.state is DeliveryState.DONE for d in _states(store, ids)), 30, "the deliveries")
            time.sleep(1.0)  # nothing more arrives
        sms, mail = _states(store, ids)

    assert len(kannel.messages()) == 1 and len(smtp.messages()) == 1
    assert sms.attempts >= 3 and "ConnectError" in sms.last_error
    assert mail.attempts >= 3 and "ConnectionRefusedError" in mail.last_error
    for channel in ("sms", "email"):
        failures = [r for r in caplog.records if r.getMessage().startswith(f"{channel} delivery")]
        assert "attempt 1: " in failures[0].getMessage() and failures[0].getMessage().endswith("retry in 2 s")
        assert "attempt 2: " in failures[1].getMessage() and failures[1].getMessage().endswith("retry in 4 s")
        assert failures[1].created - failures[0].created >= 2.0 - 0.1  # it waited as it said
    assert kannel.password not in caplog.text


def test_kannel_refusing_the_credentials_is_retried_not_dropped(tmp_path, kannel):
    settings = channel_settings(tmp_path / "data", kannel, None, ["+8613800000001"], kannel_password="wrong")
    with Catalog.open(settings.data_dir) as catalog:
        store = catalog.store
        channels = channels_from_settings(settings, store.outbox, store.cameras.name)
        with running(channels):
            (delivery_id,) = channels.alert(*_raise(store, _entry(store), "桂B12345"))
            refused = wait_for(lambda: store.outbox.get(delivery_id).last_error, 10, "Kannel's answer")
        delivery = store.outbox.get(delivery_id)
    assert refused == "Kannel answered HTTP 403: Authorization failed for sendsms"
    assert delivery.state is DeliveryState.PENDING and delivery.next_attempt_at > time.time()
    assert kannel.messages() == []


def test_email_over_starttls_with_a_login(tmp_path, caplog):
    certificate = self_signed(tmp_path / "tls")
    server = _smtp(tmp_path / "smtp", certificate=certificate, login=("alerts", "s3cret-pw"))
    try:
        settings = channel_settings(tmp_path / "data", None, server, ["duty@example.org"])
        tls = {"smtp_tls": "starttls", "smtp_ca_file": certificate.cert, "smtp_username": "alerts"}
        with Catalog.open(settings.data_dir) as catalog, caplog.at_level(logging.INFO, logger="skynet.alerts"):
            store = catalog.store
            entry = _entry(store)
            refused = settings.model_copy(update={**tls, "smtp_password": "wrong"})
            good = settings.model_copy(update={**tls, "smtp_password": "s3cret-pw"})
            channels = channels_from_settings(refused, store.outbox, store.cameras.name)
            with running(channels):
                (first,) = channels.alert(*_raise(store, entry, "桂B12341"))
                wait_for(lambda: store.outbox.get(first).last_error, 20, "the refused login")
            assert store.outbox.get(first).state is DeliveryState.PENDING  # a configuration fault: retried
            channels = channels_from_settings(good, store.outbox, store.cameras.name)
            with running(channels):  # the admin fixed the password and restarted: both go out
                channels.alert(*_raise(store, entry, "桂B12342"))
                wait_for(lambda: len(server.messages()) == 2, 20, "two e-mails")
    finally:
        server.stop()
    warnings = [
        r.getMessage() for r in caplog.records if r.name.startswith("skynet.alerts") and r.levelno == logging.WARNING
    ]
    assert "SMTP login refused: 535" in warnings[0] and warnings[0].endswith("retry in 2 s")
    assert sorted(m["Subject"] for m in server.messages()) == [
        "Skynet alert #1: stolen van at North gate",
        "Skynet alert #2: stolen van at North gate",
    ]
    assert "s3cret-pw" not in caplog.text


@pytest.mark.models
def test_deliveries_pending_when_the_service_stops_are_sent_by_the_next_skynet_serve_once(
    tmp_path, kannel, smtp, model_settings
):
    data_dir = tmp_path / "data"
    numbers = ["+8613800000001", "+8613800000002"]
    settings = channel_settings(data_dir, kannel, smtp, [*numbers, "duty@example.org"])
    with Catalog.open(data_dir) as catalog:
        store = catalog.store
        entry = _entry(store)
        channels = channels_from_settings(settings, store.outbox, store.cameras.name)
        with running(channels):
            sent = channels.alert(*_raise(store, entry, "桂B12340"))
            wait_for(lambda: all(d.state is DeliveryState.DONE for d in _states(store, sent)), 20, "the first alert")
            kannel.stop()
            smtp.stop()
            pending = [i for n in (1, 2, 3) for i in channels.alert(*_raise(store, entry, f"桂B1234{n}"))]

            def tried_and_waiting() -> bool:  # failed once and waiting for the retry (not mid-attempt)
                return all(d.last_error and d.next_attempt_at < time.time() + 60 for d in _states(store, pending))

            wait_for(tried_and_waiting, 20, "a failed try of each")
        alerts = sorted(a.id for a in store.alerts.latest())
    assert len(sent) == 3 and len(pending) == 9
    kannel.start()
    smtp.start()
    env = {
        **os.environ,
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODEL_DIR": str(model_settings.models_path),
        "SKYNET_KANNEL_URL": kannel.url,
        "SKYNET_KANNEL_USERNAME": kannel.username,
        "SKYNET_KANNEL_PASSWORD": kannel.password,
        "SKYNET_SMTP_HOST": "127.0.0.1",
        "SKYNET_SMTP_PORT": str(smtp.port),
        "SKYNET_SMTP_TLS": "none",
        "SKYNET_SMTP_FROM": SENDER,
        "SKYNET_ALERT_RECIPIENTS": '{"duty": ["+8613800000001", "+8613800000002", "duty@example.org"]}',
    }
    with SkynetServe(env, tmp_path / "serve.log") as server:
        wait_for(lambda: len(kannel.messages()) == 8 and len(smtp.messages()) == 4, 60, "every message")
        time.sleep(2.0)  # and no more
        output = server.stop()

    # each alert reached each number once and each address once: none lost, none twice
    per_number = Counter((sms.to, sms.text.split(":")[0]) for sms in kannel.messages())
    assert per_number == Counter({(n, f"Skynet alert #{a}"): 1 for n in numbers for a in alerts})
    assert Counter(m["Subject"].split(":")[0] for m in smtp.messages()) == {f"Skynet alert #{a}": 1 for a in alerts}
    with open_store(data_dir) as store:
        after = _states(store, sent + pending)
    assert all(d.state is DeliveryState.DONE for d in after)
    assert [d.attempts for d in after[:3]] == [1, 1, 1] and all(d.attempts >= 2 for d in after[3:])
    assert output.count("delivered (attempt") == 9  # the log of the second life: the 9 pending ones
    assert kannel.password not in output and "+8613800000001" not in output
