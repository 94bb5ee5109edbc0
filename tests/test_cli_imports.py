"""The command line starts light: its commands are registered without importing the service they run."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("skynet.app", "skynet.system", "skynet.api.app", "uvicorn", "fastapi", "norfair", "scipy")


def test_skynet_help_imports_neither_the_composition_root_nor_the_api_nor_the_tracker():
    """``skynet --help`` and light commands such as ``skynet users list`` start without the service: each command
    imports the composition root, the HTTP API and the tracker's library (norfair, with SciPy) when it runs."""
    code = (
        "import sys; from skynet.cli import _register_commands; _register_commands(); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
    shown = subprocess.run([sys.executable, "-m", "skynet", "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert all(command in shown.stdout for command in ("serve", "run", "reindex", "users", "cameras", "feeds"))
