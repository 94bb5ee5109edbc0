"""Alerts to an MQTT broker: one topic per camera, QoS 1, queued while the broker is away.

paho-mqtt's network thread connects in the background and keeps reconnecting; QoS 1 messages
stay in its queue until the broker acknowledges them and are re-sent after a reconnect. The
queue is bounded (``queue_size``): past it a new alert is refused, counted in ``dropped`` and
logged, never silently lost. Alerts are also in the store and on the live stream.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

_TOPIC_UNSAFE = re.compile(r"[+#/\x00]")


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Broker address, credentials and topic layout (alerts go to ``<topic_prefix>/<camera_id>``)."""

    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "skynet/alerts"
    client_id: str = "skynet"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    keepalive_s: int = 30
    queue_size: int = 10_000
    reconnect_max_s: int = 30


class MqttPublisher:
    """Publishes alert payloads; :meth:`publish` never blocks and may be called from any thread."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        self.accepted = 0
        self.acknowledged = 0
        self.dropped = 0
        self._lock = threading.Lock()  # never held while calling paho, whose callbacks take it
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=options.client_id)
        client.max_queued_messages_set(options.queue_size)
        client.reconnect_delay_set(1, options.reconnect_max_s)
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def topic(self, camera_id: str) -> str:
        """The topic for ``camera_id`` (MQTT wildcards and level separators replaced by ``_``)."""
        return f"{self.options.topic_prefix}/{_TOPIC_UNSAFE.sub('_', camera_id)}"

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    @property
    def pending(self) -> int:
        """Alerts accepted but not yet acknowledged by the broker."""
        with self._lock:
            return self.accepted - self.acknowledged

    def start(self) -> None:
        """Starts the network thread; it connects (and reconnects) whenever the broker is reachable."""
        self._client.connect_async(self.options.host, self.options.port, self.options.keepalive_s)
        self._client.loop_start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Waits up to ``drain_s`` for unacknowledged alerts, then disconnects (logging any left)."""
        deadline = time.monotonic() + drain_s
        while self.pending and self.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pending:
            log.warning(
                "MQTT: stopping with %d alert(s) not acknowledged by %s:%d",
                self.pending,
                self.options.host,
                self.options.port,
            )
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, camera_id: str, payload: bytes) -> bool:
        """Queues ``payload`` for ``camera_id``'s topic at QoS 1; False if refused (queue full)."""
        with self._lock:
            self.accepted += 1  # before publishing: the acknowledgement may come first
        info = self._client.publish(self.topic(camera_id), payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            return True
        with self._lock:
            self.accepted -= 1
            self.dropped += 1
        log.error(
            "MQTT: queue full (%d), alert for camera %s dropped (%d so far)",
            self.options.queue_size,
            camera_id,
            self.dropped,
        )
        return False

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning(
                "MQTT: broker %s:%d refused the connection: %s", self.options.host, self.options.port, reason_code
            )
        else:
            log.info("MQTT: connected to %s:%d", self.options.host, self.options.port)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning(
                "MQTT: lost %s:%d (%s); reconnecting, %d alert(s) queued",
                self.options.host,
                self.options.port,
                reason_code,
                self.pending,
            )

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        with self._lock:
            self.acknowledged += 1
