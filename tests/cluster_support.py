"""A real multi-node Ray cluster and PostgreSQL on this machine, on loopback only, in a private network namespace.

Ray turns ``--node-ip-address=127.0.0.1`` into the machine's own address wherever it finds one, so a local
cluster would talk over the machine's network. In a namespace that has nothing but ``lo`` it binds 127.0.0.1
only. Everything that talks to the cluster (the Ray nodes, PostgreSQL, the driver that calls ``ray.init``) must
therefore run inside that namespace, and so does the code that drives a scenario: a test runs a *driver
program* there with :func:`run_in_namespace` and asserts on what it reports; the driver builds the cluster with
:class:`RayCluster`.

Why ``unshare --net --pid --fork --mount-proc --kill-child`` per test, and not ``ip netns add`` + ``nsenter``:
a PID namespace ends with its first process, and the kernel then SIGKILLs every process left in it, so nothing
outlives a test even when the driver crashes or pytest's timeout kills ``unshare`` (``--kill-child`` passes the
SIGKILL on); a named ``ip netns`` is global state that a crash leaves behind, with its processes still running.
Inside the PID namespace ``ps``, psutil and ``ray stop`` see only the namespace's processes (outside, ``ray
stop`` would kill every Ray process on the machine). The namespace's first process is :func:`_init`: it brings
``lo`` up, runs the driver, reaps the orphans that ``ray start`` leaves it (the kernel reparents them to it) and
exits with the driver's status.

A node is one ``ray start --block`` in a session of its own: its raylet, agents and workers share its process
group, so :meth:`RayCluster.kill_node` SIGKILLs the whole node at once (a machine that dies) and
:meth:`RayCluster.freeze` SIGSTOPs it (or only its raylet: a node cut off while its workers carry on).
Each node carries a custom resource ``skynet_node_<name>`` (1.0) and a label ``skynet-node=<name>`` so that a
driver can find it in ``ray.nodes()`` or place work on it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from waiting import wait_for

NAMESPACE = "a private network namespace"
HEAD_PORT = 6379  # nothing else listens in a private namespace: fixed ports cannot collide
POSTGRES_PORT = 5432
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}  # no usage report (there is no network to send it over anyway)
MB = 1024 * 1024
# The GCS declares a node dead after `threshold` failed health checks in a row, one every `period` ms, each given
# `timeout` ms (ray start --head --system-config). Ray's defaults (3000 ms, 10000 ms, 5) took 15.5 s after a
# SIGKILL here; these take about 5 s (docs/cluster.md, benchmarks/bench_ray.py).
FAILOVER_HEALTH_CHECKS = {
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 5,
}


@cache
def namespace_unavailable() -> str | None:
    """Why this machine cannot run a private network + PID namespace here, or None when it can."""
    from servers import WITHHELD, withheld

    if withheld("netns"):
        return f"withheld by ${WITHHELD}"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (tests and CI run as root)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"the {tool} command is missing (Debian packages util-linux, iproute2)"
    trial = subprocess.run([*UNSHARE, "--", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if trial.returncode != 0:
        return f"unshare failed: {(trial.stderr or trial.stdout).strip()[-300:]}"
    return None


def ray_unavailable() -> str | None:
    """Why Ray cannot be used here, or None."""
    from servers import WITHHELD, withheld

    if withheld("ray"):
        return f"withheld by ${WITHHELD}"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "the ray package is not installed (pip install -e '.[cluster]')"
    return None


def require_cluster() -> None:
    """Skip (fail under CI=true) the current test unless a private namespace and Ray are available."""
    from servers import require_server

    if reason := namespace_unavailable():
        require_server(NAMESPACE, reason)
    if reason := ray_unavailable():
        require_server("Ray", reason)


@dataclass(frozen=True)
class NamespaceRun:
    """What a driver program did in its namespace: exit status, output, and the processes it left (none, since
    the kernel ends them with the namespace; listed so that a test can assert it)."""

    returncode: int
    output: str
    leftover: list[str]

    def report(self) -> dict:
        """The driver's JSON report: its last output line that parses as a JSON object."""
        for line in reversed(self.output.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
        raise AssertionError(f"the driver printed no JSON report (exit {self.returncode}):\n{self.output[-4000:]}")


def run_in_namespace(argv: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> NamespaceRun:
    """Run ``argv`` as the program of a new private network + PID namespace; it sees only ``lo`` (up) and its own
    processes. Returns when it exits (SIGKILLed after ``timeout_s``, with everything it started)."""
    marker = f"skynet-netns-{os.getpid()}-{time.monotonic_ns()}"
    command = [*UNSHARE, "--", sys.executable, str(Path(__file__).resolve()), "init", marker, "--", *argv]
    child_env = {**os.environ, **RAY_ENV, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), child_env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=child_env)
        try:
            returncode = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = process.wait()
        out.seek(0)
        output = out.read().decode(errors="replace")
    return NamespaceRun(returncode, output, _processes_with(marker))


def _processes_with(marker: str) -> list[str]:
    """Processes whose environment holds ``marker`` (every process of a namespace inherits it from _init)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:200].decode(errors="replace")
                found.append(f"{proc.name} {command}")
        except OSError:
            continue
    return found


def _init(marker: str, argv: list[str]) -> int:
    """Process 1 of the namespace: ``lo`` up, run ``argv``, reap every orphan, exit with ``argv``'s status."""
    os.environ["SKYNET_NETNS_MARKER"] = marker
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    driver = subprocess.Popen(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: driver.send_signal(received))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == driver.pid:
            return os.waitstatus_to_exitcode(status)


def assert_private_namespace() -> None:
    """Refuse to start a cluster outside a namespace whose only interface is loopback."""
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        raise RuntimeError(f"not in a private network namespace (interfaces {interfaces}): use run_in_namespace")


@dataclass(frozen=True)
class Node:
    """One Ray node: its name (``skynet_node_<name>`` resource, ``skynet-node`` label) and what it offers."""

    name: str
    num_cpus: float = 1
    memory_mb: int = 1024  # the logical ``memory`` resource that actors and tasks reserve
    object_store_mb: int = 80
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def resource(self) -> str:
        return f"skynet_node_{self.name}"


def node_name(node: dict) -> str | None:
    """The harness name of a node in ``ray.nodes()``, from its ``skynet_node_<name>`` resource."""
    for resource in node.get("Resources", {}):
        if resource.startswith("skynet_node_"):
            return resource.removeprefix("skynet_node_")
    return None


class RayCluster:
    """A Ray head (no CPUs: work goes to the workers) plus worker nodes, optionally PostgreSQL, all on 127.0.0.1;
    built inside a private namespace (see the module docstring). Use as a context manager; :meth:`stop` leaves
    no process behind. ``system_config`` goes to the head (``ray start --system-config``): the GCS settings,
    such as ``health_check_period_ms`` and ``health_check_failure_threshold``."""

    address = f"127.0.0.1:{HEAD_PORT}"

    def __init__(
        self,
        directory: Path,
        workers: Sequence[Node],
        *,
        head: Node = Node("head", num_cpus=0, memory_mb=256),
        system_config: dict | None = None,
        postgres: bool = False,
    ) -> None:
        self.directory, self.workers, self.head = Path(directory), list(workers), head
        self.system_config, self.with_postgres = system_config or {}, postgres
        self.processes: dict[str, subprocess.Popen] = {}
        # Ray's Unix socket paths must stay under 108 bytes: a short directory of its own, deleted by stop().
        self.ray_temp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
        self.postgres = None
        self.database_url = ""

    def __enter__(self) -> RayCluster:
        try:
            self.start()
        except BaseException:
            self.stop(keep_logs=True)
            raise
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.stop(keep_logs=exc_type is not None)

    def start(self, timeout_s: float = 90.0) -> None:
        assert_private_namespace()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.start_node(self.head, timeout_s)
        for node in self.workers:
            self.start_node(node, timeout_s)
        if self.with_postgres:
            from servers import PostgresServer

            self.postgres = PostgresServer(tcp_port=POSTGRES_PORT).start()
            self.database_url = self.postgres.url

    def start_node(self, node: Node, timeout_s: float = 90.0) -> None:
        """Start (or restart, after :meth:`kill_node`) a node; returns once ``ray start`` says it runs."""
        self._launch(node)
        self._wait_started(node.name, timeout_s)

    def _launch(self, node: Node) -> None:
        if node.name in self.processes and self.processes[node.name].poll() is None:
            raise RuntimeError(f"node {node.name} is already running")
        resources = {**node.resources, node.resource: 1.0}
        command = [
            _ray_command(),
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--node-name={node.name}",
            f"--num-cpus={node.num_cpus:g}",
            f"--memory={node.memory_mb * MB}",
            f"--object-store-memory={node.object_store_mb * MB}",
            f"--resources={json.dumps(resources)}",
            f"--labels=skynet-node={node.name}",
            f"--temp-dir={self.ray_temp}",
            "--disable-usage-stats",
        ]
        if node is self.head:
            command += [f"--port={HEAD_PORT}", "--head", "--include-dashboard=false"]
            if self.system_config:
                command.append(f"--system-config={json.dumps(self.system_config)}")
        else:
            command.append(f"--address={self.address}")
        with self._log(node.name).open("ab") as log:
            self.processes[node.name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **RAY_ENV}, start_new_session=True
            )
        if node not in self.workers and node is not self.head:
            self.workers.append(node)

    def _log(self, name: str) -> Path:
        return self.directory / f"ray-start-{name}.log"

    def _wait_started(self, name: str, timeout_s: float) -> None:
        process, log = self.processes[name], self._log(name)

        def started() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"ray start for node {name} exited with {process.returncode}:\n{_tail(log)}")
            return "Ray runtime started" in log.read_text(errors="replace")

        wait_for(started, timeout_s, f"Ray node {name} to start", interval_s=0.1)

    def node_processes(self, name: str) -> list[tuple[int, str]]:
        """(pid, command name) of every process of node ``name``: ``ray start``, raylet, agents, workers."""
        return _node_processes(self.processes[name].pid)

    def raylet_pid(self, name: str) -> int:
        found = [pid for pid, comm in self.node_processes(name) if comm == "raylet"]
        if not found:
            raise RuntimeError(f"node {name} has no raylet")
        return found[0]

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of node ``name`` at once, as when its machine dies; returns once all are gone."""
        self._end_node(self.processes[name], grace_s=0)

    def freeze(self, name: str, raylet_only: bool = False) -> None:
        """SIGSTOP node ``name``: all its processes (a machine that hangs), or only its raylet (the head stops
        hearing from the node while its workers keep running, as in a network partition)."""
        pids = [self.raylet_pid(name)] if raylet_only else [pid for pid, _ in self.node_processes(name)]
        for pid in pids:
            _signal(pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        """SIGCONT every process of node ``name``."""
        for pid, _ in self.node_processes(name):
            _signal(pid, signal.SIGCONT)

    def memory(self, name: str) -> dict[str, int]:
        """Proportional set size in bytes of node ``name``'s processes, summed by command name, and ``total``."""
        sizes: dict[str, int] = {}
        for pid, comm in self.node_processes(name):
            sizes[comm] = sizes.get(comm, 0) + _pss(pid)
        sizes["total"] = sum(sizes.values())
        return sizes

    def stop(self, keep_logs: bool = False) -> None:
        """Workers first, then the head (SIGTERM: ``ray start --block`` drains and stops its node; whatever is
        left after 15 s is SIGKILLed), then PostgreSQL; Ray's temporary directory is deleted, its logs first
        copied to ``directory/ray-logs`` when ``keep_logs`` (on the way out of a failure)."""
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()  # a driver still connected when the head goes waits 60 s for it, then aborts
        order = [name for name in self.processes if name != self.head.name]
        order += [self.head.name] if self.head.name in self.processes else []
        for name in order:
            self._end_node(self.processes[name], grace_s=15)
        if self.postgres is not None:
            self.postgres.stop()
        if keep_logs and (logs := self.ray_temp / "session_latest" / "logs").is_dir():
            shutil.copytree(logs, self.directory / "ray-logs", dirs_exist_ok=True)
        shutil.rmtree(self.ray_temp, ignore_errors=True)

    @staticmethod
    def _end_node(process: subprocess.Popen, grace_s: float) -> None:
        """SIGTERM (when ``grace_s``) and wait, then SIGKILL what is left; returns once every process of the
        node is gone, workers included (once their raylet is gone nothing links them to the node any more)."""
        pids = {pid for pid, _ in _node_processes(process.pid)}
        if grace_s and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        _kill_tree(process.pid)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        process.wait()
        wait_for(lambda: not pids & set(_processes()), 10, "a Ray node's processes to end")


def _ray_command() -> str:
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def _processes() -> dict[int, tuple[str, int, int]]:
    """pid -> (command name, parent pid, process group) of every live process (zombies left out)."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            text = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:
            continue
        if text:
            state, ppid, pgid = text[text.rindex(")") + 2 :].split()[:3]
            if state != "Z":
                found[int(entry)] = (text[text.index("(") + 1 : text.rindex(")")], int(ppid), int(pgid))
    return found


def _node_processes(root: int) -> list[tuple[int, str]]:
    """(pid, command name) of a node started as process ``root`` in a session of its own: its process group, and
    the descendants of those (the raylet starts its workers in sessions of their own)."""
    processes = _processes()
    members = {pid for pid, (_, _, pgid) in processes.items() if pgid == root}
    while grown := {pid for pid, (_, ppid, _) in processes.items() if ppid in members} - members:
        members |= grown
    return [(pid, processes[pid][0]) for pid in sorted(members)]


def _kill_tree(root: int) -> None:
    """SIGKILL a node's processes all at once: stop each (so none starts another) until none is left running,
    then kill them together."""
    stopped: set[int] = set()
    while fresh := {pid for pid, _ in _node_processes(root)} - stopped:
        for pid in fresh:
            _signal(pid, signal.SIGSTOP)
        stopped |= fresh
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def alive_nodes(ray) -> dict[str, str]:
    """Harness name -> node id of the nodes that the GCS reports alive (``ray.nodes()``)."""
    return {name: node["NodeID"] for node in ray.nodes() if node["Alive"] and (name := node_name(node))}


def wait_for_nodes(ray, names: Sequence[str], timeout_s: float = 60.0) -> dict[str, str]:
    """Wait until the GCS reports every node in ``names`` alive; returns :func:`alive_nodes`."""
    wanted = set(names)

    def all_alive() -> dict[str, str] | None:
        nodes = alive_nodes(ray)
        return nodes if wanted <= set(nodes) else None

    return wait_for(all_alive, timeout_s, f"Ray to report nodes {sorted(wanted)} alive", interval_s=0.2)


if __name__ == "__main__" and sys.argv[1:2] == ["init"]:
    separator = sys.argv.index("--")
    sys.exit(_init(sys.argv[2], sys.argv[separator + 1 :]))
