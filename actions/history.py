"""What the guardrails need to know about past actions: when a target was last acted on, and how
many actions ran lately. The SQL store implements :class:`ActionHistory` over its actions table;
:class:`InMemoryActionHistory` serves tests and single-process runs."""

from __future__ import annotations

import bisect
from typing import Protocol, runtime_checkable

from controlplane import TargetRef

__all__ = ["ActionHistory", "InMemoryActionHistory"]


@runtime_checkable
class ActionHistory(Protocol):
    """Actions that were executed (refused or dry-run actions do not count)."""

    def last_action_at(self, target: TargetRef) -> float | None:
        """When an action on ``target`` last ran (epoch seconds), or ``None`` if never."""
        ...

    def count_since(self, since: float) -> int:
        """How many actions ran at or after ``since`` (epoch seconds), on any target."""
        ...


class InMemoryActionHistory:
    """An :class:`ActionHistory` in a list; ``record`` each executed action."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._last: dict[TargetRef, float] = {}

    def record(self, target: TargetRef, at: float) -> None:
        bisect.insort(self._times, at)
        self._last[target] = max(at, self._last.get(target, at))

    def last_action_at(self, target: TargetRef) -> float | None:
        return self._last.get(target)

    def count_since(self, since: float) -> int:
        return len(self._times) - bisect.bisect_left(self._times, since)
