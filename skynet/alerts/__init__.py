"""Alert delivery: the live WebSocket stream, signed webhooks with a durable outbox, and MQTT."""

from skynet.alerts.events import EventType, LiveEvent, alert_event, camera_status_event, sighting_event
from skynet.alerts.hub import LiveHub
from skynet.alerts.mqtt import MqttOptions, MqttPublisher
from skynet.alerts.outbox import DeliveryOutbox, MemoryOutbox
from skynet.alerts.webhooks import RetryPolicy, WebhookDispatcher, WebhookTarget, sign, verify_signature

__all__ = [
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
    "sighting_event",
    "sign",
    "verify_signature",
]
