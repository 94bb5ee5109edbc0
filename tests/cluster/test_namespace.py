"""The private network namespace of tests/cluster_support.py: loopback only, up; nothing outlives its driver."""

from __future__ import annotations

import sys
import textwrap

from cluster_support import NAMESPACE, namespace_unavailable, run_in_namespace
from servers import require_server

DRIVER = textwrap.dedent(
    """
    import json, socket, subprocess
    up = socket.create_server(("127.0.0.1", 0))  # loopback is up: something can listen on it
    subprocess.Popen(["sleep", "600"], start_new_session=True)  # left running on purpose
    print(json.dumps({"interfaces": [name for _, name in socket.if_nameindex()], "port": up.getsockname()[1]}))
    """
)


def test_the_namespace_has_only_loopback_and_ends_with_its_driver():
    if reason := namespace_unavailable():
        require_server(NAMESPACE, reason)
    run = run_in_namespace([sys.executable, "-c", DRIVER], timeout_s=30)
    assert run.returncode == 0, run.output
    assert run.report()["interfaces"] == ["lo"] and run.report()["port"] > 0
    assert run.leftover == [], "the sleep the driver left behind ends with the namespace"
