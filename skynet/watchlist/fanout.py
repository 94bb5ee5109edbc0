"""Handing each alert (and each new sighting) to every configured channel: live hub, webhooks, MQTT."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from skynet.alerts import LiveHub, MqttPublisher, WebhookDispatcher, alert_event, sighting_event
from skynet.records import Alert, Sighting, WatchlistEntry

log = logging.getLogger(__name__)

ThumbnailUrl = Callable[[Sighting], str | None]


class AlertFanout:
    """Publishes alerts to the live hub, the webhook dispatcher and MQTT (each optional).

    Every channel is independent: a failing one is logged and the others still get the alert.
    Webhook deliveries go through a durable outbox, so they survive a broker or receiver outage.
    """

    def __init__(
        self,
        thumbnail_url: ThumbnailUrl,
        hub: LiveHub | None = None,
        webhooks: WebhookDispatcher | None = None,
        mqtt: MqttPublisher | None = None,
    ) -> None:
        self.thumbnail_url = thumbnail_url
        self.hub = hub
        self.webhooks = webhooks
        self.mqtt = mqtt

    def alert(self, alert: Alert, entry: WatchlistEntry, sighting: Sighting) -> None:
        """Deliver one alert on every channel."""
        event = alert_event(alert, entry, sighting, self.thumbnail_url(sighting))
        channels: list[tuple[str, Callable[[], object]]] = []
        if self.hub is not None:
            channels.append(("live", lambda: self.hub.publish(event)))
        if self.webhooks is not None:
            channels.append(("webhooks", lambda: self.webhooks.submit(event.to_bytes())))
        if self.mqtt is not None:
            channels.append(("mqtt", lambda: self.mqtt.publish(alert.camera_id, event.to_bytes())))
        for name, deliver in channels:
            try:
                deliver()
            except Exception:  # one channel failing must not cost the others the alert
                log.exception("delivering alert %s on %s failed", alert.id, name)

    def sightings(self, sightings: list[Sighting]) -> None:
        """Announce newly stored sightings on the live hub."""
        if self.hub is None:
            return
        now = time.time()
        for sighting in sightings:
            self.hub.publish(sighting_event(sighting, self.thumbnail_url(sighting), now))
