"""A windowed in-memory series store with bounded memory.

Every :meth:`SeriesStore.append` is one tick: a time and the values of the series seen then.
The store keeps the last ``points`` ticks in a ring shared by all series (one row of a numpy
matrix per series, NaN where a series had no value at a tick) and at most ``max_series``
series; a new series beyond that evicts the least recently updated ones. Memory is therefore at
most ``max_series x points`` floats plus the names; :attr:`nbytes` reports it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["SeriesStore", "SeriesWindow"]


class SeriesWindow(NamedTuple):
    """Times (ascending) and values of one series; NaN where it had no value at a tick."""

    times: np.ndarray
    values: np.ndarray


class SeriesStore:
    """The last ``points`` ticks of at most ``max_series`` series."""

    def __init__(self, points: int = 720, max_series: int = 20_000) -> None:
        if points < 1 or max_series < 1:
            raise ValueError("points and max_series must be positive")
        self.points = points
        self.max_series = max_series
        self._times = np.full(points, np.nan)
        self._head = 0  # the slot the next tick goes to
        self._ticks = 0
        self._rows: dict[str, int] = {}
        self._values = np.full((0, points), np.nan)
        self._updated = np.zeros(0, dtype=np.int64)  # tick number of each row's last value
        self._free: list[int] = []
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    @property
    def now(self) -> float | None:
        """Time of the last tick appended (None before the first)."""
        return None if self._ticks == 0 else float(self._times[(self._head - 1) % self.points])

    @property
    def nbytes(self) -> int:
        """Bytes held: the value matrix, the time ring and the names' index."""
        names = sum(sys.getsizeof(name) for name in self._rows) + sys.getsizeof(self._rows)
        return self._values.nbytes + self._times.nbytes + self._updated.nbytes + names

    def append(self, time: float, series: Mapping[str, float]) -> None:
        """Record one tick; ``time`` must not go back."""
        last = self.now
        if last is not None and time < last:
            raise ValueError(f"time went back from {last} to {time}")
        slot = self._head
        self._values[:, slot] = np.nan
        self._times[slot] = time
        self._head = (slot + 1) % self.points
        self._ticks += 1
        rows = self._rows_for(list(series))
        if rows.size:
            self._values[rows, slot] = np.fromiter(series.values(), float, rows.size)
            self._updated[rows] = self._ticks

    def window(self, name: str, seconds: float, end: float | None = None) -> SeriesWindow:
        """The points of ``name`` in ``(end - seconds, end]`` (``end``: the last tick)."""
        row = self._rows.get(name)
        end = self.now if end is None else end
        if row is None or end is None:
            return SeriesWindow(np.zeros(0), np.zeros(0))
        slots = self._slots()
        times = self._times[slots]
        keep = (times > end - seconds) & (times <= end)
        return SeriesWindow(times[keep], self._values[row, slots][keep])

    def last(self, name: str) -> float | None:
        """The latest value of ``name`` (NaN if it had none at the last tick; None if unknown)."""
        row = self._rows.get(name)
        if row is None or self._ticks == 0:
            return None
        return float(self._values[row, (self._head - 1) % self.points])

    def names(self, prefix: str = "") -> list[str]:
        """The series whose names start with ``prefix``, sorted."""
        return sorted(name for name in self._rows if name.startswith(prefix))

    def _slots(self) -> np.ndarray:
        count = min(self._ticks, self.points)
        return (self._head - count + np.arange(count)) % self.points

    def _rows_for(self, names: list[str]) -> np.ndarray:
        if len(names) > self.max_series:
            raise ValueError(f"one tick holds {len(names)} series, over max_series")
        rows = [self._rows.get(name, -1) for name in names]
        new = [i for i, row in enumerate(rows) if row < 0]
        if new:
            self._updated[[row for row in rows if row >= 0]] = self._ticks  # not evictable now
            for i, row in zip(new, self._allocate(len(new)), strict=True):
                rows[i] = row
                self._rows[names[i]] = row
        return np.array(rows, dtype=np.int64)

    def _allocate(self, count: int) -> list[int]:
        """``count`` fresh rows: free ones, then new ones up to the cap, then evicted ones."""
        taken = [self._free.pop() for _ in range(min(count, len(self._free)))]
        if len(taken) < count and len(self._updated) < self.max_series:
            start = len(self._updated)
            self._resize(min(self.max_series, max(2 * start, start + count - len(taken), 64)))
            self._free.extend(range(len(self._updated) - 1, start - 1, -1))
            taken += [self._free.pop() for _ in range(min(count - len(taken), len(self._free)))]
        if len(taken) < count:
            taken += self._evict(count - len(taken))
        self._values[taken] = np.nan
        return taken

    def _resize(self, capacity: int) -> None:
        grow = capacity - len(self._updated)
        self._values = np.vstack([self._values, np.full((grow, self.points), np.nan)])
        self._updated = np.concatenate([self._updated, np.full(grow, -1, dtype=np.int64)])

    def _evict(self, count: int) -> list[int]:
        """Free the ``count`` least recently updated rows (ties: the lowest rows)."""
        used = np.array(sorted(self._rows.values()), dtype=np.int64)
        victims = used[np.argsort(self._updated[used], kind="stable")[:count]].tolist()
        gone = set(victims)
        self._rows = {name: row for name, row in self._rows.items() if row not in gone}
        self.evicted += len(victims)
        return victims
