"""The settings of SMS and e-mail alerts (skynet.alerts.channels): who gets them, their texts, and the gateways.
Part of :class:`skynet.config.Settings` (``SKYNET_ALERT_*``, ``SKYNET_KANNEL_*``, ``SKYNET_SMTP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class MessageSettings(BaseModel):
    """Alert recipients, message templates, Kannel (SMS) and SMTP (e-mail)."""

    alert_recipients: dict[str, list[str]] = Field(
        default_factory=dict,
        repr=False,
        description='Who SMS and e-mail alerts go to, per role (any name for a group of people): {"duty_desk": '
        '["+8613800000001", "duty@example.org"]}. Every role is told of every alert; a watch-list entry may '
        "name more recipients of its own alerts. Phone numbers get an SMS (needs kannel_url), addresses an "
        "e-mail (needs smtp_host). Personal data: never logged in full.",
    )
    alert_sms_template: str = Field(
        default="Skynet alert #{alert_id}: {label} {plate} {identity} at {camera}, {time} {link}",
        description="Text of SMS alerts. Fields: {label} (watch-list entry), {plate}, {identity} (a registration's "
        "identity key, masked), {source} (video, checkpoint, registration), {camera} (name), {time}, {alert_id}, "
        "{link} (needs public_url). No image is ever sent by SMS.",
    )
    alert_email_subject: str = Field(
        default="Skynet alert #{alert_id}: {label} at {camera}", description="Subject of e-mail alerts (same fields)."
    )
    alert_email_body: str = Field(
        default="Watch-list entry: {label}\nPlate: {plate}\nIdentity: {identity}\nSource: {source}\nCamera: {camera}\n"
        "Seen: {time}\nAlert: #{alert_id}\n"
        "{link}\n\nSent by Skynet. This message carries no image: open the link (sign-in needed) to see the sighting.",
        description="Body of e-mail alerts, plain text (same fields). No image is attached.",
    )
    alert_time_zone: str | None = Field(
        default=None, description="Time zone of the {time} field of alert texts (Asia/Shanghai); unset = the server's."
    )
    public_url: str | None = Field(
        default=None,
        description="Where users open the web UI (https://skynet.example.org), for the {link} of alert texts; "
        "unset = no link.",
    )
    kannel_url: str | None = Field(
        default=None,
        repr=False,
        description="Kannel's sendsms interface for SMS alerts (http://127.0.0.1:13013/cgi-bin/sendsms); unset = "
        "no SMS.",
    )
    kannel_username: str = Field(default="", repr=False, description="Kannel sendsms-user name.")
    kannel_password: str = Field(default="", repr=False, description="Kannel sendsms-user password. A secret.")
    sms_sender: str | None = Field(
        default=None, description="Sender of SMS alerts (Kannel's 'from'); unset = Kannel's global-sender."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail alerts; unset = no e-mail.")
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="SMTP port; default 587 (starttls), 465 (tls) or 25 (none)."
    )
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: upgrade the connection (refused if the server cannot); tls: TLS from the start "
        "(SMTPS); none: plain text, no credentials allowed (a local relay only).",
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="PEM file of the CAs that sign the SMTP server's certificate; unset = the system's."
    )
    smtp_username: str | None = Field(default=None, repr=False, description="SMTP login name, if it needs one.")
    smtp_password: str | None = Field(default=None, repr=False, description="SMTP password. A secret.")
    smtp_from: str | None = Field(
        default=None, description="Sender address of e-mail alerts (skynet@example.org); needed with smtp_host."
    )
