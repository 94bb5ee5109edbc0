"""Why a source could not be opened: specific, credential-free reasons instead of OpenCV's silence."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skynet.ingest.probe import probe

if TYPE_CHECKING:
    from skynet.ingest.source_spec import SourceSpec

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def file_problem(spec: SourceSpec) -> str | None:
    """What is wrong with an archive file before decoding (missing, empty, no video), or ``None``."""
    path = Path(spec.url)
    if not path.is_file():
        return f"archive file {path} does not exist."
    if path.stat().st_size == 0:
        return f"archive file {path} is empty (0 bytes)."
    facts = probe(path)
    if facts is None:
        return None
    if facts.error is not None:
        return f"archive file {path} is corrupt or not a video ({facts.error})."
    if not facts.has_video:
        found = ", ".join(facts.stream_kinds) or "no streams"
        return f"archive file {path} has no video stream ({found})."
    return None


def open_failure(spec: SourceSpec, url: str | None = None) -> str:
    """The most specific reason OpenCV could not open ``spec`` (already redacted); ``url`` is the URL it
    was opened at, when that is not ``spec.url`` (an RTSP source pinned to its checked address)."""
    shown = spec.redacted
    kind = spec.kind.value
    if kind == "device":
        return device_problem(shown)
    if kind == "file":
        return f"archive file {shown} could not be decoded (unsupported codec or damaged file)."
    reason = unreachable(url or spec.url, spec.open_timeout_s)
    if reason is not None:
        return spec.redact(f"cannot reach {shown}: {reason}.")
    reason = tls_problem(spec) if spec.tls else None
    if reason is not None:
        return spec.redact(f"the server at {shown} answered, but {reason}")
    return (
        f"the server at {shown} answered, but the stream could not be opened within "
        f"{spec.open_timeout_s:g} s (wrong path or mount, wrong credentials, or an unsupported codec)."
    )


def device_problem(url: str) -> str:
    """Why a local capture device (``/dev/videoN`` or the index ``N``) could not be opened."""
    path = Path(url if url.startswith("/") else f"/dev/video{url}")
    if not path.exists():
        return f"local device {path} does not exist (no camera connected, or its driver is not loaded)."
    if not os.access(path, os.R_OK | os.W_OK):
        return f"no permission to open local device {path} (add the user to its group, usually 'video')."
    return f"local device {path} could not be opened as a video capture device (busy, or not a camera)."


def _address(url: str) -> tuple[str | None, int | None]:
    """The URL's host and port (the scheme's default port when it names none); ValueError when malformed."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())


def unreachable(url: str, timeout_s: float) -> str | None:
    """``None`` when a TCP connection to the URL's host and port succeeds, else the reason."""
    try:
        host, port = _address(url)
    except ValueError as exc:
        return f"malformed URL ({exc})"
    if not host or not port:
        return "no host or port in the URL"
    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 5.0)):
            return None
    except socket.gaierror:
        return f"unknown host {host}"
    except TimeoutError:
        return f"no answer from {host}:{port} (timed out)"
    except OSError as exc:
        return f"{exc.strerror or exc} ({host}:{port})"


def ca_file_problem(path: str) -> str | None:
    """What is wrong with a camera's CA file (not absolute, missing, unreadable, no PEM
    certificate in it), or ``None`` when TLS can use it."""
    file = Path(path)
    if not file.is_absolute():
        return f"CA file {path} is not an absolute path."
    if not file.exists():
        return f"CA file {path} does not exist."
    if not file.is_file():
        return f"CA file {path} is not a file."
    if not os.access(file, os.R_OK):
        return f"CA file {path} cannot be read (no permission)."
    try:
        ssl.create_default_context(cafile=str(file))
    except (ssl.SSLError, OSError, UnicodeDecodeError) as error:
        return f"CA file {path} holds no PEM certificate ({getattr(error, 'reason', None) or error})."
    return None


# OpenSSL's verification results (X509_V_ERR_*) that a camera's CA file can cure.
_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN = 18, 19
_UNKNOWN_ISSUER = {2, 20, 21}
_NOT_YET_VALID, _EXPIRED = 9, 10
_NAME_MISMATCH = {62, 64}


def tls_problem(spec: SourceSpec) -> str | None:
    """Why a TLS handshake with ``spec``'s server fails under the camera's TLS settings (a clause
    that names the fix), or ``None`` when it succeeds or cannot be tried. The probe trusts what
    FFmpeg is given (:attr:`SourceSpec.trusted_cas`), so its verdict is FFmpeg's."""
    try:
        host, port = _address(spec.url)
    except ValueError:
        return None
    if not host or not port:
        return None
    if spec.tls_verify:
        context = ssl.create_default_context(cafile=spec.trusted_cas)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=min(spec.open_timeout_s, 5.0)) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return None
    except ssl.SSLCertVerificationError as error:
        return _certificate_failure(error, host, spec.tls_ca_file)
    except ssl.SSLError as error:
        if error.reason == "WRONG_VERSION_NUMBER":
            scheme = "http" if spec.kind.value == "http" else "rtsp"
            return f"not with TLS: check the port, or use {scheme}:// if the camera has no TLS."
        return f"the TLS handshake failed ({error.reason or error})."
    except OSError:
        return None


def _certificate_failure(error: ssl.SSLCertVerificationError, host: str, ca_file: str | None) -> str:
    """The sentence for a certificate the camera's settings do not trust, with the fix."""
    trusted = f"the CA file {ca_file}" if ca_file else "this machine's trusted CA certificates"
    code = error.verify_code
    if code == _SELF_SIGNED:
        why = f"it is self-signed and not in {trusted}"
    elif code == _SELF_SIGNED_IN_CHAIN or code in _UNKNOWN_ISSUER:
        why = f"it is issued by a certificate authority that is not in {trusted} (a private CA?)"
    elif code in _NAME_MISMATCH:
        return (
            f"its TLS certificate could not be verified: it is issued for another name than {host!r}. "
            "Use the name the certificate names in the camera's URL, or mark the camera as not verified "
            "(tls_verify false)."
        )
    elif code in (_EXPIRED, _NOT_YET_VALID):
        state = "has expired" if code == _EXPIRED else "is not valid yet"
        return (
            f"its TLS certificate could not be verified: it {state} (check the camera's and this "
            "machine's clocks). Renew the camera's certificate, or mark the camera as not verified (tls_verify false)."
        )
    else:
        why = error.verify_message or str(error)
    return (
        f"its TLS certificate could not be verified: {why}. Set the camera's CA file (tls_ca_file) to a PEM "
        "copy of the camera's certificate or of the CA that issued it, or mark the camera as not verified "
        "(tls_verify false)."
    )
