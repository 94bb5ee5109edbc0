"""Alert delivery: the live WebSocket stream, signed webhooks, SMS (Kannel) and e-mail (SMTP) with a durable
outbox, and MQTT."""

from skynet.alerts.channels import AlertChannels, channels_from_settings
from skynet.alerts.delivery import RetryPolicy
from skynet.alerts.events import EventType, LiveEvent, alert_event, camera_status_event, sighting_event
from skynet.alerts.hub import LiveHub
from skynet.alerts.mqtt import MqttOptions, MqttPublisher
from skynet.alerts.outbox import DeliveryOutbox, MemoryOutbox
from skynet.alerts.webhooks import WebhookDispatcher, WebhookTarget, sign, verify_signature

__all__ = [
    "AlertChannels",
    "DeliveryOutbox",
    "EventType",
    "LiveEvent",
    "LiveHub",
    "MemoryOutbox",
    "MqttOptions",
    "MqttPublisher",
    "RetryPolicy",
    "WebhookDispatcher",
    "WebhookTarget",
    "alert_event",
    "camera_status_event",
    "channels_from_settings",
    "sighting_event",
    "sign",
    "verify_signature",
]
