"""Where a camera's video comes from and how to read it: the kind of source and its options, with the
URL's credentials never shown (:mod:`skynet.ingest.sources` opens it, :mod:`skynet.ingest.diagnose`
says why it cannot be)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from enum import StrEnum

from skynet.ingest.source_policy import DEVICE, SourcePolicy
from skynet.redaction import redact_text, redact_url


class SourceKind(StrEnum):
    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where a camera's video comes from and how to read it.

    ``url`` may hold credentials and is never shown unredacted. ``transport`` picks RTSP
    over TCP (default, survives NAT and loss) or UDP. ``start_time`` (Unix seconds) anchors an
    archive file's presentation times; see :mod:`skynet.ingest.archive_time`. ``read_timeout_s``
    is also the watchdog's stall limit: no new frame for that long and the stream is reopened.
    ``decode_threads`` 0 lets FFmpeg choose. ``loop`` plays a file as a live camera: at its own
    frame rate, stamped with the wall clock, from the start again when it ends (the demo camera).
    ``tls_verify`` and ``tls_ca_file`` are the camera's TLS settings (:class:`skynet.records.Camera`),
    used by ``https://`` and ``rtsps://`` sources. ``policy``, when set, is checked at every open
    (:mod:`skynet.ingest.source_policy`); a plain ``rtsp://`` source named by host name is then opened
    at the address that was checked, so a DNS answer changed in between cannot lead it elsewhere.
    """

    camera_id: str
    url: str = field(repr=False)
    transport: str = "tcp"
    start_time: float | None = None
    decode_threads: int = 0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    loop: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None
    policy: SourcePolicy | None = field(default=None, repr=False, compare=False)

    @classmethod
    def live_camera(cls, camera_id: str, url: str, **options) -> SourceSpec:
        """A camera's source. A video file registered as a camera plays like a live camera, in a
        loop (archives are re-indexed with ``skynet reindex`` instead)."""
        spec = cls(camera_id, url, **options)
        return replace(spec, loop=True) if spec.kind is SourceKind.FILE else spec

    @property
    def kind(self) -> SourceKind:
        lowered = self.url.lower()
        if lowered.startswith(("rtsp://", "rtsps://")):
            return SourceKind.RTSP
        if lowered.startswith(("http://", "https://")):
            return SourceKind.HTTP
        if DEVICE.match(self.url):
            return SourceKind.DEVICE
        return SourceKind.FILE

    @property
    def tls(self) -> bool:
        """An ``https://`` or ``rtsps://`` source: its certificate is checked unless ``tls_verify`` is off."""
        return self.url.lower().startswith(("https://", "rtsps://"))

    @property
    def trusted_cas(self) -> str | None:
        """The PEM file of the certificates a TLS server must chain to: the camera's CA file, else the
        system's CA bundle (``SSL_CERT_FILE`` or OpenSSL's default), named to FFmpeg because the OpenSSL
        built into OpenCV's FFmpeg otherwise looks in its build folder, which no machine has."""
        return self.tls_ca_file or ssl.get_default_verify_paths().cafile

    @property
    def live(self) -> bool:
        """Live sources are stamped with the wall clock and reopened when they fail."""
        return self.kind is not SourceKind.FILE or self.loop

    @property
    def redacted(self) -> str:
        return redact_url(self.url)

    def redact(self, text: str) -> str:
        """``text`` with this source's credentials removed."""
        return redact_text(text, [self.url])
