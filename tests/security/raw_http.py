"""HTTP over a plain socket, for probes that httpx cannot make: a request head sent without its body (does
the server answer before reading it?), a body pushed until the server stops taking it (how much did it
read?)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


class RawRequest:
    """One request on its own connection: :meth:`send_head` first, then the body with :meth:`push`."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)

    def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def answer(self, timeout_s: float) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body) of the answer, or None when none came within ``timeout_s``."""
        self.sock.settimeout(timeout_s)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except TimeoutError:
            return None
        return int(status_line.split()[1]), headers, body

    def push(
        self,
        total: int,
        chunked: bool = False,
        prefix: bytes = b"",
        filler: bytes = b"A",
        suffix: bytes = b"",
        piece: int = 64 * 1024,
    ) -> int:
        """Sends a body of ``prefix``, about ``total`` bytes of ``filler`` repeated and ``suffix`` (as chunks
        with ``chunked``); returns how many bytes the server took before it closed the connection (or all)."""
        self.sock.settimeout(10)
        parts = [prefix] if prefix else []
        parts += [filler * (piece // len(filler))] * (total // piece) + ([suffix] if suffix else [])
        sent = 0
        try:
            for part in parts:
                self.sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked:
                self.sock.sendall(b"0\r\n\r\n")
        except OSError:  # reset or closed by the server
            pass
        return sent

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawRequest:
        return self

    def __exit__(self, *_) -> None:
        self.close()
