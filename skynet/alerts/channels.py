"""The alert channels configured in :class:`Settings`: webhook targets (``SKYNET_WEBHOOKS``) and the MQTT
broker (``SKYNET_MQTT_URL``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from skynet.alerts.mqtt import MqttOptions
from skynet.alerts.webhooks import WebhookTarget
from skynet.config import Settings
from skynet.errors import ConfigError


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
