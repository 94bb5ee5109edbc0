"""Certificates for the TLS tests, made by the openssl CLI (Debian package openssl): self-signed
server certificates, and a private CA with server certificates it issued."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from servers import require

_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Certificate:
    cert: Path  # PEM certificate: a camera's CA file trusts it
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str | Path) -> None:
    require("openssl")
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _alt_name(name: str) -> str:
    try:
        ipaddress.ip_address(name)
        return f"subjectAltName=IP:{name}"
    except ValueError:
        return f"subjectAltName=DNS:{name}"


def self_signed(folder: Path, name: str = "127.0.0.1") -> Certificate:
    """A self-signed server certificate for ``name`` (an IP address or a host name), as cameras make them."""
    folder.mkdir(parents=True, exist_ok=True)
    made = Certificate(folder / f"{name}.pem", folder / f"{name}.key")
    _openssl(
        "req",
        "-x509",
        *_EC_KEY,
        "-subj",
        f"/CN={name}",
        "-addext",
        _alt_name(name),
        "-days",
        "1",
        "-keyout",
        made.key,
        "-out",
        made.cert,
    )
    return made


def private_ca(folder: Path) -> Certificate:
    """A certificate authority of one's own (its certificate is what a camera's CA file holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = Certificate(folder / "ca.pem", folder / "ca.key")
    _openssl(
        "req",
        "-x509",
        *_EC_KEY,
        "-subj",
        "/CN=Skynet test CA",
        "-days",
        "1",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        made.key,
        "-out",
        made.cert,
    )
    return made


def issued_by(ca: Certificate, folder: Path, name: str = "127.0.0.1") -> Certificate:
    """A server certificate for ``name`` issued by ``ca``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = Certificate(folder / f"{name}-by-ca.pem", folder / f"{name}-by-ca.key")
    request, extensions = folder / f"{name}.csr", folder / f"{name}.ext"
    extensions.write_text(_alt_name(name) + "\n")
    _openssl("req", *_EC_KEY, "-subj", f"/CN={name}", "-keyout", made.key, "-out", request)
    _openssl(
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        ca.cert,
        "-CAkey",
        ca.key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        extensions,
        "-out",
        made.cert,
    )
    return made
