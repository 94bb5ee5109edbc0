"""The real gateways of SMS and e-mail alerts, for tests and ``benchmarks/bench_alerts.py``.

:class:`Kannel` runs Kannel's bearerbox and smsbox (Debian ``kannel``) with its fake SMSC, ``fakesmsc``
(Debian ``kannel-extras``), whose output tells which SMS the "operator network" received, and when.
:class:`SmtpServer` runs aiosmtpd (Debian ``python3-aiosmtpd``, with the system python3) through
``tests/smtp_server.py``, which keeps every message it accepts in a Maildir.

Everything listens on 127.0.0.1 only. Kannel cannot listen on port 0: the first start picks random free
ports and picks again when one is taken (bearerbox or smsbox exits saying so); restarts keep the ports.
The SMTP server binds port 0 and reports its port; a restart binds that port again.
"""

from __future__ import annotations

import mailbox
import random
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote_to_bytes

from servers import MOSQUITTO_PORTS, PORT_ATTEMPTS, ServerUnavailable
from tls_support import Certificate
from waiting import WaitTimeout, wait_for

FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
SYSTEM_PYTHON = "/usr/bin/python3"
SMTP_SERVER = Path(__file__).with_name("smtp_server.py")
_IN_USE = "Address already in use"


def kannel_unavailable() -> str | None:
    """None when Kannel and its fake SMSC can run here, else what is missing."""
    missing = [name for name in ("bearerbox", "smsbox") if not _sbin(name)]
    if missing or not FAKESMSC.exists():
        return "Debian packages kannel and kannel-extras (bearerbox, smsbox, /usr/lib/kannel/test/fakesmsc)"
    return None


def smtp_unavailable() -> str | None:
    """None when the aiosmtpd test server can run here, else what is missing."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import aiosmtpd"], capture_output=True)
    return None if probe.returncode == 0 else "Debian package python3-aiosmtpd (for the system python3)"


def _sbin(name: str) -> str | None:
    found = shutil.which(name) or f"/usr/sbin/{name}"
    return found if Path(found).exists() else None


def _stop(process: subprocess.Popen | None, timeout_s: float = 10.0) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Sms:
    """An SMS as the fake SMSC received it (parts of a long one joined), with the time its last part came."""

    sender: str
    to: str
    text: str
    received_at: float


_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (.*)>$")
_PART = re.compile(r"udh (\S+) data (.*)")


def _bytes(data: str) -> bytes:
    """fakesmsc's form-encoded data (``+`` a space, ``%2B`` a plus) as bytes."""
    return unquote_to_bytes(data.replace("+", " "))


def _decode(data: bytes) -> str:
    """The text of a message that fakesmsc shows as data: UCS-2 (UTF-16-BE) when it holds NUL bytes (every
    character below U+0100 does), else 8-bit text."""
    return data.decode("utf-16-be") if b"\0" in data else data.decode("latin-1")


class Kannel:
    """bearerbox + fakesmsc + smsbox in ``directory``, with one sendsms-user; :attr:`received` lists the SMS
    fakesmsc got, as they arrive. :meth:`stop` stops all three; :meth:`start` again keeps the ports, and
    bearerbox's store file keeps what it had queued."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.username, self.password = "skynet", secrets.token_urlsafe(12)
        self.ports: dict[str, int] | None = None
        self.received: list[Sms] = []
        self._parts: dict[tuple[str, int], dict[int, bytes]] = {}  # (to, reference) -> part number -> data
        self._processes: dict[str, subprocess.Popen] = {}
        self._offsets: dict[str, int] = {}
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The sendsms interface."""
        assert self.ports is not None
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    def start(self, timeout_s: float = 30.0) -> Kannel:
        for _ in range(PORT_ATTEMPTS):
            ports = self.ports or dict(
                zip(("admin", "smsbox", "smsc", "sendsms"), random.sample(MOSQUITTO_PORTS, 4), strict=True)
            )
            if self._start_on(ports, timeout_s):
                self.ports = ports
                return self
            self.stop()
            if self.ports is not None:
                raise ServerUnavailable(f"a port Kannel ran on before ({ports}) is now taken")
        raise ServerUnavailable(f"{PORT_ATTEMPTS} random sets of ports in a row were taken")

    def _start_on(self, ports: dict[str, int], timeout_s: float) -> bool:
        """True once all three run on ``ports``; False when a port is taken."""
        config = self.directory / "kannel.conf"
        config.write_text(self._config(ports))
        self._spawn("bearerbox", [_sbin("bearerbox"), "-v", "1", config])
        if not self._wait("bearerbox", "MAIN: Start-up done", timeout_s):
            return False
        fakesmsc = [FAKESMSC, "-H", "127.0.0.1", "-r", str(ports["smsc"]), "-m", "0", "0 0 text unused"]
        self._processes["fakesmsc"] = process = subprocess.Popen(
            fakesmsc, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        reader = threading.Thread(target=self._read, args=(process,), name="fakesmsc-output", daemon=True)
        reader.start()
        self._readers.append(reader)
        self._wait("bearerbox", "Fakesmsc client connected", timeout_s)
        self._spawn("smsbox", [_sbin("smsbox"), "-v", "1", config])
        return self._wait("smsbox", "Connected to bearerbox", timeout_s)

    def _config(self, ports: dict[str, int]) -> str:
        d = self.directory
        return f"""
group = core
admin-port = {ports["admin"]}
admin-interface = 127.0.0.1
admin-password = {secrets.token_urlsafe(12)}
smsbox-port = {ports["smsbox"]}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
access-log = "{d}/access.log"
store-type = file
store-location = "{d}/kannel.store"

group = smsc
smsc = fake
smsc-id = fake
port = {ports["smsc"]}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {ports["smsbox"]}
sendsms-port = {ports["sendsms"]}
sendsms-interface = 127.0.0.1
global-sender = 10086
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = {self.username}
password = {self.password}
max-messages = 5
concatenation = true
"""

    def _spawn(self, name: str, command: list) -> subprocess.Popen:
        log = self.directory / f"{name}.out"
        self._offsets[name] = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            self._processes[name] = subprocess.Popen([str(c) for c in command], stdout=out, stderr=out)
        return self._processes[name]

    def _output(self, name: str) -> str:
        """What ``name`` printed since its last start."""
        with (self.directory / f"{name}.out").open("rb") as log:
            log.seek(self._offsets[name])
            return log.read().decode(errors="replace")

    def _wait(self, name: str, ready: str, timeout_s: float) -> bool:
        """True once ``ready`` is in the output of ``name``; False when it exited because a port was taken;
        ServerUnavailable otherwise."""
        process = self._processes[name]

        def outcome() -> str | None:
            text = self._output(name)
            if ready in text:
                return "ready"
            return None if process.poll() is None else ("taken" if _IN_USE in text else "exited")

        try:
            state = wait_for(outcome, timeout_s, f"Kannel's {name} ({ready!r})")
        except WaitTimeout as error:
            raise ServerUnavailable(f"{error}; its output: {self._output(name)[-1500:]}") from None
        if state == "exited":
            raise ServerUnavailable(f"{name} exited with {process.returncode}: {self._output(name)[-1500:]}")
        return state == "ready"

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            got = _GOT.search(line.rstrip("\n"))
            if got is None:
                continue
            sender, to, rest = got.groups()
            now = time.time()
            kind, _, data = rest.partition(" ")
            part = _PART.fullmatch(rest)
            with self._lock:
                if part is None:  # one message: "text" as it is, "ucs-2" encoded
                    text = data if kind == "text" else _bytes(data).decode("utf-16-be")
                    self.received.append(Sms(sender, to, text, now))
                    continue
                udh = _bytes(part[1])
                reference, count, number = udh[3], udh[4], udh[5]  # concatenation: 05 00 03 ref count seq
                parts = self._parts.setdefault((to, reference), {})
                parts[number] = _bytes(part[2])
                if len(parts) == count:
                    del self._parts[(to, reference)]
                    text = _decode(b"".join(parts[i] for i in sorted(parts)))
                    self.received.append(Sms(sender, to, text, now))

    def messages(self, to: str | None = None) -> list[Sms]:
        with self._lock:
            return [sms for sms in self.received if to is None or sms.to == to]

    def stop(self) -> None:
        """smsbox, bearerbox, then fakesmsc (which leaves when bearerbox does)."""
        for name in ("smsbox", "bearerbox", "fakesmsc"):
            _stop(self._processes.pop(name, None))
        for reader in self._readers:
            reader.join(5)
        self._readers = []


class SmtpServer:
    """aiosmtpd on 127.0.0.1 keeping every message in the Maildir ``directory/mail``; with ``certificate``
    it requires STARTTLS, with ``login`` (user, password) it requires AUTH."""

    def __init__(
        self, directory: Path, certificate: Certificate | None = None, login: tuple[str, str] | None = None
    ) -> None:
        self.directory = directory
        self.maildir = directory / "mail"
        self.certificate, self.login = certificate, login
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 20.0) -> SmtpServer:
        command = [SYSTEM_PYTHON, str(SMTP_SERVER), "--maildir", str(self.maildir), "--port", str(self.port or 0)]
        if self.certificate is not None:
            command += ["--tls", str(self.certificate.cert), str(self.certificate.key)]
        if self.login is not None:
            command += ["--login", f"{self.login[0]}:{self.login[1]}"]
        log = self.directory / "smtp.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=out, text=True)

        def ready() -> int | None:
            assert self.process is not None and self.process.stdout is not None
            line = self.process.stdout.readline()
            if line.startswith("READY "):
                return int(line.split()[1])
            if self.process.poll() is not None:
                raise ServerUnavailable(f"the SMTP test server exited: {log.read_text(errors='replace')[-1500:]}")
            return None

        self.port = wait_for(ready, timeout_s, "the SMTP test server")
        return self

    def messages(self) -> list[EmailMessage]:
        """Every message received (in no particular order)."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        return [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.iterkeys()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
