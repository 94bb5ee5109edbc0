"""Handing each alert (and each new sighting) to every configured channel: live hub, webhooks, MQTT, SMS and
e-mail; alerts read back from the store (updated, acknowledged) to the live hub."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from skynet.alerts import AlertChannels, LiveHub, MqttPublisher, WebhookDispatcher, alert_event, sighting_event
from skynet.records import Alert, Sighting, WatchlistEntry
from skynet.store import Store

log = logging.getLogger(__name__)

ThumbnailUrl = Callable[[Sighting], str | None]


class AlertFanout:
    """Publishes alerts to the live hub, the webhook dispatcher, MQTT, and SMS and e-mail (each optional).

    Every channel is independent: a failing one is logged and the others still get the alert.
    Webhook, SMS and e-mail deliveries go through a durable outbox, so they survive a gateway or
    receiver outage and a restart.
    """

    def __init__(
        self,
        thumbnail_url: ThumbnailUrl,
        hub: LiveHub | None = None,
        webhooks: WebhookDispatcher | None = None,
        mqtt: MqttPublisher | None = None,
        messages: AlertChannels | None = None,
    ) -> None:
        self.thumbnail_url = thumbnail_url
        self.hub = hub
        self.webhooks = webhooks
        self.mqtt = mqtt
        self.messages = messages

    def alert(self, alert: Alert, entry: WatchlistEntry, sighting: Sighting) -> None:
        """Deliver one alert on every channel."""
        event = alert_event(alert, entry, sighting, self.thumbnail_url(sighting))
        channels: list[tuple[str, Callable[[], object]]] = []
        hub, webhooks, mqtt, messages = self.hub, self.webhooks, self.mqtt, self.messages
        if hub is not None:
            channels.append(("live", lambda: hub.publish(event)))
        if webhooks is not None:
            channels.append(("webhooks", lambda: webhooks.submit(event.to_bytes())))
        if mqtt is not None:
            channels.append(("mqtt", lambda: mqtt.publish(alert.camera_id, event.to_bytes())))
        if messages is not None:
            channels.append(("sms/e-mail", lambda: messages.alert(alert, entry, sighting)))
        for name, deliver in channels:
            try:
                deliver()
            except Exception:  # one channel failing must not cost the others the alert
                log.exception("delivering alert %s on %s failed", alert.id, name)

    def alert_updated(self, alert: Alert, entry: WatchlistEntry, sighting: Sighting) -> None:
        """Show the live view an alert's better sighting of the same pass; the other channels were told once."""
        if self.hub is not None:
            self.hub.publish(alert_event(alert, entry, sighting, self.thumbnail_url(sighting)))

    def sightings(self, sightings: list[Sighting]) -> None:
        """Announce newly stored sightings on the live hub."""
        if self.hub is None:
            return
        now = time.time()
        for sighting in sightings:
            self.hub.publish(sighting_event(sighting, self.thumbnail_url(sighting), now))


def publish_alerts(
    store: Store, hub: LiveHub, thumbnail_url: ThumbnailUrl, alerts: Sequence[Alert], *, updated: bool
) -> None:
    """Put ``alerts`` (rows of ``store``) on ``hub`` as ``alert`` events with their entries and sightings;
    ``updated``: alerts already announced (the live view merges them, no alarm). One whose entry or sighting was
    deleted since is left out."""
    if not alerts:
        return
    entries = {entry.id: entry for entry in store.watchlists.all()}
    sightings = {s.id: s for s in store.sightings.get_many([a.sighting_id for a in alerts])}
    for alert in alerts:
        entry, sighting = entries.get(alert.entry_id), sightings.get(alert.sighting_id)
        if entry is not None and sighting is not None:
            hub.publish(alert_event(alert, entry, sighting, thumbnail_url(sighting), updated=updated))
