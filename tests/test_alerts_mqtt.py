"""MQTT alert publishing against a real Mosquitto broker (Debian package ``mosquitto``).

Each test starts its own broker on 127.0.0.1 (servers.Mosquitto) with a generated config, and stops and
restarts it to prove that alerts published while it is away are delivered once it is back.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from servers import Mosquitto, ServerUnavailable, find_mosquitto, require, require_server
from waiting import wait_for

from skynet.alerts import MqttOptions, MqttPublisher, alert_event
from skynet.records import Alert, Box, PlateText, Sighting, SightingKind, WatchlistEntry


@pytest.fixture
def broker(tmp_path) -> Iterator[Mosquitto]:
    require("mosquitto")
    broker = Mosquitto(find_mosquitto(), tmp_path)
    try:
        broker.start()
    except ServerUnavailable as error:
        broker.stop()
        require_server("Mosquitto", str(error))
    yield broker
    broker.stop()


class Subscriber:
    """A persistent-session QoS 1 subscriber to ``skynet/alerts/#``."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-subscriber", clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda client, *_: client.subscribe("skynet/alerts/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda _client, _userdata, message: self.messages.put(message)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, 15, "the subscriber's SUBACK")

    def receive(self, count: int, timeout_s: float = 15.0) -> list[mqtt.MQTTMessage]:
        return [self.messages.get(timeout=timeout_s) for _ in range(count)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(broker) -> Iterator[Subscriber]:
    subscriber = Subscriber(broker.port)
    yield subscriber
    subscriber.close()


def publisher_for(port: int, **options) -> MqttPublisher:
    publisher = MqttPublisher(MqttOptions(port=port, client_id="test-publisher", reconnect_max_s=1, **options))
    publisher.start()
    return publisher


def alert_payload(alert_id: int, camera_id: str = "gate-1") -> bytes:
    sighting = Sighting(
        camera_id,
        SightingKind.PLATE,
        100.0,
        104.0,
        102.0,
        Box(1, 2, 3, 4),
        0.8,
        plate=PlateText("京A12345", (0.9,) * 7),
        id=alert_id * 10,
    )
    entry = WatchlistEntry(SightingKind.PLATE, "stolen car", "case 42", "alice", 0.0, plate_pattern="京A12345", id=7)
    alert = Alert(7, sighting.id, camera_id, 105.0, 1.0, id=alert_id)
    return alert_event(
        alert, entry, sighting, f"http://127.0.0.1:8000/api/sightings/{sighting.id}/thumbnail"
    ).to_bytes()


def test_alert_is_published_on_the_cameras_topic_with_qos_1(broker, subscriber):
    publisher = publisher_for(broker.port)
    try:
        wait_for(lambda: publisher.connected, 15, "publisher connection")
        assert publisher.publish("gate-1", alert_payload(1))
        (message,) = subscriber.receive(1)
        assert message.topic == "skynet/alerts/gate-1"
        assert message.qos == 1
        event = json.loads(message.payload)
        assert event["type"] == "alert"
        assert event["data"]["alert_id"] == 1
        assert event["data"]["sighting"]["thumbnail_url"] == "http://127.0.0.1:8000/api/sightings/10/thumbnail"
        assert event["data"]["sighting"]["plate"]["text"] == "京A12345"
        assert event["data"]["entry"] == {"id": 7, "kind": "plate", "label": "stolen car"}
        assert "case 42" not in message.payload.decode()
        wait_for(lambda: publisher.pending == 0, 15, "PUBACK")
        assert (publisher.accepted, publisher.acknowledged, publisher.dropped) == (1, 1, 0)
    finally:
        publisher.stop()


def test_topic_prefix_is_configurable_and_camera_ids_cannot_inject_levels():
    publisher = MqttPublisher(MqttOptions(topic_prefix="city/north"))
    assert publisher.topic("cam 7") == "city/north/cam 7"
    assert publisher.topic("a/b+#") == "city/north/a_b__"


def test_alerts_published_while_the_broker_is_down_arrive_after_it_restarts(broker, subscriber):
    publisher = publisher_for(broker.port)
    try:
        wait_for(lambda: publisher.connected, 15, "publisher connection")
        assert publisher.publish("gate-1", alert_payload(1))
        assert json.loads(subscriber.receive(1)[0].payload)["data"]["alert_id"] == 1

        broker.stop()
        wait_for(lambda: not publisher.connected, 15, "publisher to notice the broker is gone")
        assert all(publisher.publish(camera, alert_payload(n, camera)) for n, camera in ((2, "gate-1"), (3, "gate-2")))
        assert publisher.pending == 2

        broker.start()
        received = subscriber.receive(2)
        assert sorted((m.topic, json.loads(m.payload)["data"]["alert_id"]) for m in received) == [
            ("skynet/alerts/gate-1", 2),
            ("skynet/alerts/gate-2", 3),
        ]
        wait_for(lambda: publisher.pending == 0, 15, "PUBACKs after reconnecting")
        assert publisher.dropped == 0
    finally:
        publisher.stop()


def test_publisher_started_while_the_broker_is_down_delivers_once_it_is_up(broker, subscriber):
    broker.stop()  # the subscriber's persistent session survives on disk
    publisher = publisher_for(broker.port)
    try:
        assert publisher.publish("gate-3", alert_payload(4, "gate-3"))
        time.sleep(0.3)  # what is tested: while the broker stays down, the alert stays queued
        assert not publisher.connected and publisher.pending == 1
        broker.start()
        (message,) = subscriber.receive(1)
        assert (message.topic, json.loads(message.payload)["data"]["alert_id"]) == ("skynet/alerts/gate-3", 4)
    finally:
        publisher.stop()


def test_queue_is_bounded_and_drops_are_counted(broker, subscriber):
    broker.stop()
    publisher = publisher_for(broker.port, queue_size=2)
    try:
        results = [publisher.publish("gate-1", alert_payload(n)) for n in range(1, 6)]
        assert results == [True, True, False, False, False]
        assert (publisher.accepted, publisher.dropped, publisher.pending) == (2, 3, 2)
        broker.start()
        assert sorted(json.loads(m.payload)["data"]["alert_id"] for m in subscriber.receive(2)) == [1, 2]
        wait_for(lambda: publisher.pending == 0, 15, "PUBACKs")
        with pytest.raises(queue.Empty):
            subscriber.messages.get(timeout=0.5)
    finally:
        publisher.stop()
