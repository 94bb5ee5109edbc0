"""Which camera sources may be opened: the allow-list an admin configures (``SKYNET_CAMERA_*`` settings).

A network camera's scheme must be allowed (``SKYNET_CAMERA_SCHEMES``) and its host must be one of the
allowed names (``cam7.example.org``, ``*.cams.example.org``) or resolve only to addresses inside the
allowed networks (``SKYNET_CAMERA_NETWORKS``, CIDR). Loopback, link-local (cloud metadata services),
unspecified and multicast addresses stay refused unless a configured network no wider than that range
names them: ``0.0.0.0/0`` does not open the server itself. A video file must lie in an allowed directory
(``SKYNET_CAMERA_FILE_DIRS``; the demo directory always is), a local capture device needs
``SKYNET_CAMERA_DEVICES``. Anything else FFmpeg would open (``file:``, ``concat:``, ``tcp://``, ...) is refused.

Checked when a camera is created or changed (API, cameras file) and again each time its stream is opened,
against the addresses its name resolves to then (DNS may have changed since).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skynet.errors import ConfigError, UnusableInputError
from skynet.redaction import authority_end

if TYPE_CHECKING:
    from skynet.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})
DEVICE = re.compile(r"^(?:/dev/video(\d+)|(\d+))$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_UNSAFE_CHARACTERS = re.compile(r"[\s\x00-\x1f\x7f]")
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "169.254.0.0/16",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "::/128",
        "fe80::/10",
        "ff00::/8",
    )
)
"""Ranges a wide network does not open: only a configured network inside one of them does."""


class SourceNotAllowedError(UnusableInputError):
    """A camera source outside the allow-list, or one that cannot be checked against it (the message
    names the setting that allows it, never a credential)."""


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """The allow-list of camera sources; see the module docstring."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()
    schemes: frozenset[str] = NETWORK_SCHEMES
    file_dirs: tuple[Path, ...] = ()
    devices: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SourcePolicy:
        """The policy of ``SKYNET_CAMERA_NETWORKS``, ``_SCHEMES``, ``_FILE_DIRS`` and ``_DEVICES`` (plus the
        demo directory); a ConfigError names an entry that is neither a network nor a host name."""
        networks, hosts = [], []
        for entry in settings.camera_networks:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                name = entry.strip().lower().rstrip(".")
                if not _HOST_PATTERN.match(name):
                    raise ConfigError(
                        f"SKYNET_CAMERA_NETWORKS: {entry!r} is neither a network (192.168.10.0/24, 10.0.0.7) "
                        "nor a host name (cam7.example.org, *.cams.example.org)"
                    ) from None
                hosts.append(name)
        schemes = frozenset(s.strip().lower() for s in settings.camera_schemes)
        if not schemes <= NETWORK_SCHEMES:
            raise ConfigError(
                f"SKYNET_CAMERA_SCHEMES: {', '.join(sorted(schemes - NETWORK_SCHEMES))} cannot be allowed "
                f"(choose among {', '.join(sorted(NETWORK_SCHEMES))})"
            )
        dirs = [settings.demo_dir, *settings.camera_file_dirs]
        return cls(tuple(networks), tuple(hosts), schemes, tuple(_real(d) for d in dirs), settings.camera_devices)

    def check(self, url: str) -> list[IPAddress]:
        """Refuse ``url`` (SourceNotAllowedError) unless this policy allows it; returns the checked addresses
        its host resolves to now (none for files, devices, and an allowed name that does not resolve)."""
        if _UNSAFE_CHARACTERS.search(url):
            raise SourceNotAllowedError(
                "the camera URL contains spaces or control characters: percent-encode them (a space is %20)"
            )
        scheme = _SCHEME.match(url)
        if DEVICE.match(url):
            if not self.devices:
                raise SourceNotAllowedError(
                    "local capture devices are not allowed as cameras (an admin allows them with "
                    "SKYNET_CAMERA_DEVICES=true)"
                )
            return []
        if scheme is None:
            self._check_file(url)
            return []
        return self._check_network(url, scheme.group(1).lower())

    def _check_file(self, path: str) -> None:
        """One message whether or not the file exists, so the answer tells nothing about the server's files."""
        real = _real(Path(path))
        if not any(real.is_relative_to(folder) for folder in self.file_dirs):
            allowed = ", ".join(str(d) for d in self.file_dirs)
            raise SourceNotAllowedError(
                f"video files are allowed as cameras only in these directories: {allowed} (an admin adds "
                "directories with SKYNET_CAMERA_FILE_DIRS)"
            )

    def _check_network(self, url: str, scheme: str) -> list[IPAddress]:
        if scheme not in self.schemes:
            allowed = ", ".join(sorted(self.schemes)) or "none"
            raise SourceNotAllowedError(
                f"camera sources with the scheme {scheme!r} are not allowed (allowed: {allowed}; an admin sets "
                "SKYNET_CAMERA_SCHEMES)"
            )
        rest = url.partition("://")[2]
        if "@" in rest[authority_end(rest) :]:
            raise SourceNotAllowedError(
                "the camera URL has an '@' after its host: percent-encode '@', '/', '?' and '#' in the user name "
                "and password (%40, %2F, %3F, %23)"
            )
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as error:
            raise SourceNotAllowedError(f"the camera URL is malformed ({error})") from None
        if not host:
            raise SourceNotAllowedError("the camera URL names no host")
        host = host.rstrip(".")
        literal = _address(host)
        if literal is not None:
            if not self._admits(literal):
                raise self._refused(host)
            return [literal]
        named = self._named(host)
        addresses = _resolve(host, port)
        if not named and not addresses:
            raise self._refused(host)
        for address in addresses:
            if not (self._admits(address) or (named and not _special(address))):
                raise self._refused(host)
        return addresses

    def _named(self, host: str) -> bool:
        return any(h == host or (h.startswith("*.") and host.endswith(h[1:])) for h in self.hosts)

    def _admits(self, address: IPAddress) -> bool:
        """Inside a configured network; in a special range, only inside a configured network within it."""
        ranges = [s for s in _SPECIAL if address.version == s.version and address in s]
        return any(
            address.version == n.version and address in n and all(n.subnet_of(r) for r in ranges)  # type: ignore[arg-type]
            for n in self.networks
        )

    def _refused(self, host: str) -> SourceNotAllowedError:
        """The one message for a host outside the allow-list, whether it resolved or not."""
        return SourceNotAllowedError(
            f"the camera host {host} is not in the allowed camera networks: an admin adds its network or its "
            'name to SKYNET_CAMERA_NETWORKS (for example ["192.168.10.0/24", "*.cams.example.org"])'
        )


def _real(path: Path) -> Path:
    """The absolute path with symbolic links and ``..`` resolved (whether or not it exists)."""
    return Path(os.path.realpath(path.expanduser()))


def _address(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _special(address: IPAddress) -> bool:
    return any(address.version == s.version and address in s for s in _SPECIAL)


def _resolve(host: str, port: int | None) -> list[IPAddress]:
    """Every address ``host`` resolves to now; empty when it does not resolve."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return _unique(_address(str(info[4][0]).split("%", 1)[0]) for info in found)


def _unique(addresses: Iterable[IPAddress | None]) -> list[IPAddress]:
    seen: list[IPAddress] = []
    for address in addresses:
        if address is not None and address not in seen:
            seen.append(address)
    return seen
