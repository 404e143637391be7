"""Counters into per-second rates, in-process, from a source's last raw snapshots.

A :class:`CounterWindow` keeps the cumulative values of every counter series at each scrape
(stamped with the collector's clock) and answers, like PromQL's ``rate(x[W])``, the per-second
increase over the snapshots at or after ``now - W``. Unlike Prometheus it does not extrapolate
to the window's edges: with regular scrapes the snapshots span exactly ``W`` and the increase is
the counted one. The rules of :func:`counter_increase`:

* a value lower than the one before is a **counter reset** (the process restarted and counts
  from zero again), so that step adds the new value, as Prometheus' ``rate`` does;
* a series **new** during the window (never seen before) counts from zero at the snapshot
  before it appears: Istio creates a response code's series at its first request, and a
  container's CPU counter starts with the container;
* a series that was seen before the window, vanished and came back (a node's kubelet down)
  counts only from its reappearance; gaps inside the window are bridged;
* a series that vanished during the window (a deleted pod) keeps its rate over the part of the
  window it was there, as PromQL's ``rate`` over a range keeps it.

Memory is bounded: at most ``max_snapshots`` snapshots, each one float per series.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from .frame import Sample

__all__ = ["CounterWindow", "counter_increase"]

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def series_key(sample: Sample) -> SeriesKey:
    return sample.name, tuple(sorted(sample.labels.items()))


def counter_increase(values: np.ndarray, seen_before: np.ndarray | None = None) -> np.ndarray:
    """The increase of each column of ``values`` (snapshots x series, oldest first, NaN absent).

    ``seen_before`` marks the series known before the first row; their leading absence does
    not count from zero. A 1-D ``values`` is one series.
    """
    m = np.asarray(values, dtype=float)
    if m.ndim == 1:
        m = m[:, None]
    k, s = m.shape
    if k < 2:
        return np.zeros(s)
    present = ~np.isnan(m)
    rows = np.arange(k)[:, None]
    last = np.maximum.accumulate(np.where(present, rows, 0), axis=0)
    filled = m[last, np.arange(s)]  # forward-filled; NaN only before a series' first value
    first = m[present.argmax(axis=0), np.arange(s)]
    lead = np.zeros(s) if seen_before is None else np.where(seen_before, first, 0.0)
    filled = np.where(np.isnan(filled), lead, filled)
    steps = np.diff(filled, axis=0)
    steps = np.where(steps < 0, filled[1:], steps)
    return np.nan_to_num(steps.sum(axis=0))


class CounterWindow:
    """The last raw snapshots of a source's counters, and their rates over a window."""

    def __init__(self, max_snapshots: int = 256) -> None:
        if max_snapshots < 2:
            raise ValueError("a rate needs at least two snapshots")
        self.max_snapshots = max_snapshots
        self._index: dict[SeriesKey, int] = {}
        self._seen_before = np.zeros(0, dtype=bool)
        self._snapshots: deque[tuple[float, np.ndarray]] = deque()
        self._samples: dict[int, Sample] = {}  # the last sample of each column (its labels)

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def series(self) -> int:
        """Series known to the window (those in any kept snapshot, and a few just dropped)."""
        return len(self._index)

    @property
    def nbytes(self) -> int:
        return sum(values.nbytes for _, values in self._snapshots) + self._seen_before.nbytes

    def add(self, time: float, samples: Sequence[Sample]) -> None:
        """Record the counters' cumulative values at ``time``.

        A snapshot at the time of the last one replaces it; one before it (the clock went
        back) starts the window afresh.
        """
        if self._snapshots and time < self._snapshots[-1][0]:
            self._snapshots.clear()
        elif self._snapshots and time == self._snapshots[-1][0]:
            self._snapshots.pop()
        cols = [self._column(series_key(sample)) for sample in samples]
        values = np.full(len(self._index), np.nan)
        values[cols] = [sample.value for sample in samples]
        self._snapshots.append((time, values))
        self._samples.update(zip(cols, samples, strict=True))
        while len(self._snapshots) > self.max_snapshots:
            self._drop_oldest()

    def rates(self, window_s: float) -> tuple[float, list[Sample]]:
        """The span covered and the per-second rate of each series seen in the last ``window_s``.

        The span is 0 (and there are no rates) until two snapshots fall in the window.
        """
        if not self._snapshots:
            return 0.0, []
        now = self._snapshots[-1][0]
        while self._snapshots[0][0] < now - window_s - 1e-9:
            self._drop_oldest()
        span = now - self._snapshots[0][0]
        if len(self._snapshots) < 2 or span <= 0:
            return 0.0, []
        matrix = np.full((len(self._snapshots), len(self._index)), np.nan)
        for row, (_, values) in enumerate(self._snapshots):
            matrix[row, : len(values)] = values
        cols = np.flatnonzero(~np.isnan(matrix).all(axis=0))
        increase = counter_increase(matrix[:, cols], self._seen()[cols])
        rates = (increase / span).tolist()
        out = []
        for col, rate in zip(cols.tolist(), rates, strict=True):
            sample = self._samples[col]
            out.append(Sample(sample.name, sample.labels, rate))
        return span, out

    def _column(self, key: SeriesKey) -> int:
        col = self._index.get(key)
        if col is None:
            col = self._index[key] = len(self._index)
        return col

    def _seen(self) -> np.ndarray:
        """Which series were in a snapshot already dropped, one flag per known series."""
        missing = len(self._index) - len(self._seen_before)
        if missing > 0:
            self._seen_before = np.concatenate([self._seen_before, np.zeros(missing, bool)])
        return self._seen_before

    def _drop_oldest(self) -> None:
        _, values = self._snapshots.popleft()
        self._seen()[: len(values)] |= ~np.isnan(values)
        latest = self._snapshots[-1][1] if self._snapshots else np.zeros(0)
        if len(self._index) > 2 * max(int((~np.isnan(latest)).sum()), 512):
            self._compact()

    def _compact(self) -> None:
        """Forget the series no kept snapshot holds, renumbering the others."""
        width = len(self._index)
        live = np.zeros(width, dtype=bool)
        for _, values in self._snapshots:
            live[: len(values)] |= ~np.isnan(values)
        keep = np.flatnonzero(live)
        renumber = {int(old): new for new, old in enumerate(keep)}
        self._index = {k: renumber[c] for k, c in self._index.items() if c in renumber}
        self._seen_before = self._seen()[keep]
        self._snapshots = deque(
            (t, np.concatenate([values, np.full(width - len(values), np.nan)])[keep])
            for t, values in self._snapshots
        )
        self._samples = {renumber[c]: s for c, s in self._samples.items() if c in renumber}
