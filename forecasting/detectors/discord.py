"""A nearest-neighbour (discord) detector: how far the latest window is from every earlier one.

The score at tick ``t`` is the Euclidean distance from the last ``window`` values to the most
similar earlier, non-overlapping stretch of the same series within ``history`` ticks (the "left
matrix profile"; with ``stride > 1`` only every ``stride``-th lag is compared, which is cheaper
but misses matches between the compared lags), per value and in units of the series' long-run
standard deviation. A shape the series has shown before scores low, however large; a new shape
scores high.

The squared distance for every lag is kept and updated in O(1) per lag and tick,
``D_t(l) = D_{t-1}(l) + (x_t - x_{t-l})^2 - (x_{t-w} - x_{t-w-l})^2``, over a doubled ring
buffer so that the lagged values of all lags are one contiguous slice (no copy). The values and
the two squared differences are single precision and the table is updated in blocks of lags that
stay in the CPU cache; the running sums themselves are double precision, so they do not drift.
A lag's sum is computed exactly once, when the series has enough values for it (until then it
is infinite and never the nearest).
"""

from __future__ import annotations

import numpy as np

from forecasting.detectors._bank import SlowSpread, grown

__all__ = ["NearestWindow"]


class NearestWindow:
    """Distance from the latest ``window`` values to their nearest earlier match."""

    name = "nearest_window"

    def __init__(
        self,
        width: int = 0,
        window: int = 4,
        history: int = 576,
        stride: int = 1,
        block: int = 16,
    ) -> None:
        if window < 1 or history < 1 or stride < 1 or block < 1:
            raise ValueError("window, history, stride and block must be positive")
        self.window, self.history, self.stride, self.block = window, history, stride, block
        # Row j of the distance table is lag w + history - 1 - j * stride (oldest lag first).
        self._rows = len(range(0, history, stride))
        self._lags = window + history - 1 - stride * np.arange(self._rows)
        self._size = 2 * window + history + 1
        self._values = np.zeros((2 * self._size, width), dtype=np.float32)
        self._last = np.zeros(width)
        self._distances = np.full((self._rows, width), np.inf)
        self._scratch = np.zeros((2, min(block, self._rows), width), dtype=np.float32)
        self._count = np.zeros(width, dtype=np.int64)
        self._spread = SlowSpread(width=width)
        self._tick = 0

    def resize(self, width: int) -> None:
        self._values = grown(self._values, width, 0.0)
        self._last = grown(self._last, width, 0.0)
        self._distances = grown(self._distances, width, np.inf)
        self._scratch = grown(self._scratch, width, 0.0)
        self._count = grown(self._count, width, 0)
        self._spread.resize(width)

    def _slice(self, newest_age: int) -> np.ndarray:
        """Values aged ``newest_age + history - 1`` down to ``newest_age`` ticks, per stride."""
        end = self._tick % self._size + self._size - newest_age
        start = end - self.history + 1
        return self._values[start : end + 1 : self.stride]

    def update(self, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        ok = np.isfinite(x)
        # A missing value repeats the last one, so the incremental distances stay consistent.
        x = np.where(ok, x, self._last)
        self._last = x
        pos = self._tick % self._size
        self._values[pos] = x
        self._values[pos + self._size] = x
        nearest = self._advance(self._values[pos], self._values[pos + self._size - self.window])
        self._tick += 1
        self._count += 1
        nearest = self._start_lags(nearest)
        scale = np.sqrt(self.window) * self._spread.std + 1e-12
        score = np.sqrt(np.maximum(nearest, 0.0)) / scale
        self._spread.update(np.where(ok, x, np.nan))
        return np.where(ok & np.isfinite(score), score, 0.0)

    def _advance(self, newest: np.ndarray, oldest: np.ndarray) -> np.ndarray:
        """Slide every lag's window by one tick; the smallest distance per series.

        One block of lags per tick is summed from scratch instead, so rounding left behind by
        a huge value (its square dwarfs the sum for a while) cannot outlive a cycle of blocks.
        """
        fresh, stale = self._slice(self.window), self._slice(2 * self.window)
        rebuild = self._tick % len(range(0, self._rows, self.block))
        nearest = np.full(len(newest), np.inf)
        for k, start in enumerate(range(0, self._rows, self.block)):
            end = min(start + self.block, self._rows)
            rows = self._distances[start:end]
            if k == rebuild:
                self._rebuild(rows, start, end)
            else:
                add, drop = self._scratch[0, : end - start], self._scratch[1, : end - start]
                np.subtract(newest, fresh[start:end], out=add)
                np.square(add, out=add)
                np.subtract(oldest, stale[start:end], out=drop)
                np.square(drop, out=drop)
                rows += add  # in double precision
                rows -= drop
            np.minimum(nearest, rows.min(axis=0), out=nearest)
        return nearest

    def _rebuild(self, rows: np.ndarray, start: int, end: int) -> None:
        """The sums of rows ``start:end`` from scratch (infinite for lags a series lacks)."""
        newest = self._tick % self._size + self._size
        term = self._scratch[0, : end - start]
        rows[:] = 0.0
        for age in range(self.window):
            np.subtract(
                self._values[newest - age], self._slice(self.window + age)[start:end], out=term
            )
            np.square(term, out=term)
            rows += term
        lags = self._lags[start:end, None]
        if self._count.min() + 1 < lags.max() + self.window:
            rows[lags + self.window > self._count + 1] = np.inf

    def _start_lags(self, nearest: np.ndarray) -> np.ndarray:
        """Compute, exactly, the lag each series has just got enough values for."""
        w = self.window
        lag = self._count - w
        offset = w + self.history - 1 - lag
        cols = np.flatnonzero((offset >= 0) & (offset % self.stride == 0) & (lag >= w))
        cols = cols[offset[cols] // self.stride < self._rows]
        if not len(cols):
            return nearest
        newest = (self._tick - 1) % self._size + self._size
        exact = np.zeros(len(cols))
        for age in range(w):
            now = self._values[newest - age, cols].astype(float)
            exact += np.square(now - self._values[newest - age - lag[cols], cols])
        self._distances[offset[cols] // self.stride, cols] = exact
        nearest[cols] = np.minimum(nearest[cols], exact)
        return nearest
