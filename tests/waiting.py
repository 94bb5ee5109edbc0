"""The one way the tests wait for something: poll a condition until it holds, or fail saying what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition that did not hold in time (an assertion failure, so a test that hits it fails)."""


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """Poll ``condition`` every ``interval_s`` until it returns something true, and return that; raise
    :class:`WaitTimeout` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
    return result
