"""Clocks of the testbed.

Nothing in the testbed reads wall time directly: every component asks a clock. Two kinds:

* :class:`VirtualClock` advances only when the simulation steps it, as fast as the CPU allows
  (evaluation, tests, benchmarks).
* :class:`RealTimeClock` follows the wall clock multiplied by a speed factor (demos, the main
  job): at ``speed=10`` one wall second is ten simulated seconds.

Both satisfy the control plane's ``Clock`` protocol (``now()``, ``sleep()``) structurally; the
testbed does not import the control plane.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

#: Simulated time at which a cluster starts unless told otherwise (a Monday, midnight UTC).
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()


class VirtualClock:
    """Simulated time that moves only when :meth:`advance` (or :meth:`sleep`) is called."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self.start = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


class RealTimeClock:
    """Wall-clock time scaled by ``speed``, starting at ``start`` simulated seconds."""

    def __init__(self, start: float = DEFAULT_START, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start = float(start)
        self.speed = float(speed)
        self._wall0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._wall0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


def iso(ts: float) -> str:
    """RFC 3339 timestamp with second precision, as Kubernetes writes them."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(ts: float) -> str:
    """RFC 3339 timestamp with microseconds (Kubernetes ``MicroTime``)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
