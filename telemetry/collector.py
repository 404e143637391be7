"""The collector: one tick asks every source for its view, isolates failures and keeps windows.

:meth:`Collector.tick` calls each :class:`~telemetry.sources.base.Source` in turn. A source
that raises is recorded, never fatal to the others: it is retried only after an exponential
back-off (:class:`Backoff`, capped), and meanwhile its last good view stands in, marked
``stale`` in :attr:`ClusterView.sources`, until it is older than ``max_stale_s``; then the source
is ``failing`` and contributes nothing. Views merge in the order of the sources (the first
source to name a service, node or edge wins). Only fresh data go to the
:class:`~telemetry.store.SeriesStore`: the view's series and each service's latency bucket
rates (``hist/...``, for exact SLO quantiles), so a stale source leaves gaps, not flat lines.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.clock import Clock
from controlplane.exceptions import TelemetryError

from .histogram import bucket_series
from .model import ClusterView, SourceStatus
from .sources.base import Source
from .store import SeriesStore

__all__ = ["Backoff", "Collector", "merge_views"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delay before retrying a source after its ``n``-th consecutive failure."""

    initial_s: float = 5.0
    factor: float = 2.0
    max_s: float = 300.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.initial_s * self.factor ** max(failures - 1, 0)))


class Collector:
    """Ticks the sources into cluster views and the series store.

    ``rate_window_s`` is the window every rate and quantile is computed over (PromQL's
    ``[1m]``). ``store`` defaults to a fresh :class:`SeriesStore`.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        clock: Clock,
        store: SeriesStore | None = None,
        rate_window_s: float = 60.0,
        *,
        backoff: Backoff | None = None,
        max_stale_s: float = 600.0,
    ) -> None:
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        if rate_window_s <= 0:
            raise ValueError("rate_window_s must be positive")
        self.sources = list(sources)
        self.clock = clock
        self.store = store if store is not None else SeriesStore()
        self.rate_window_s = rate_window_s
        self.backoff = backoff or Backoff()
        self.max_stale_s = max_stale_s
        self.status = {name: SourceStatus(name) for name in names}
        self._last_good: dict[str, ClusterView] = {}
        self._view: ClusterView | None = None

    @property
    def view(self) -> ClusterView | None:
        """The view of the last tick (None before the first)."""
        return self._view

    def tick(self) -> ClusterView:
        """Ask every due source, merge the views, append the fresh series to the store."""
        now = self.clock.now()
        fresh: list[ClusterView] = []
        parts: list[ClusterView] = []
        for source in self.sources:
            status = self.status[source.name]
            if now >= status.next_attempt:
                view = self._attempt(source, status, now)
                if view is not None:
                    fresh.append(view)
                    parts.append(view)
                    continue
            stand_in = self._stand_in(status, now)
            if stand_in is not None:
                parts.append(stand_in)
        statuses = {name: dataclasses.replace(s) for name, s in self.status.items()}
        view = merge_views(now, parts, statuses)
        fresh_view = merge_views(now, fresh, {})
        last = self.store.now
        if last is not None and now < last:  # the wall clock stepped back: keep the store sane
            log.warning("clock went back; tick not stored", extra={"now": now, "last": last})
        else:
            self.store.append(now, {**fresh_view.series(), **bucket_series(fresh_view)})
        self._view = view
        return view

    def _attempt(self, source: Source, status: SourceStatus, now: float) -> ClusterView | None:
        started = time.perf_counter()
        try:
            view = source.fetch(now, self.rate_window_s)
        except TelemetryError as exc:
            self._failed(status, now, exc.reason)
            return None
        except Exception as exc:  # a buggy source must not stop the others; keep the trace
            log.exception("telemetry source crashed", extra={"source": source.name})
            self._failed(status, now, f"{type(exc).__name__}: {exc}")
            return None
        if status.consecutive_failures:
            log.info(
                "telemetry source recovered",
                extra={"source": source.name, "failures": status.consecutive_failures},
            )
        status.state = "ok"
        status.last_success = now
        status.last_error = None
        status.consecutive_failures = 0
        status.next_attempt = now
        self._last_good[source.name] = view
        log.debug(
            "telemetry source fetched",
            extra={"source": source.name, "seconds": time.perf_counter() - started},
        )
        return view

    def _failed(self, status: SourceStatus, now: float, reason: str) -> None:
        status.consecutive_failures += 1
        status.last_error = reason
        delay = self.backoff.delay(status.consecutive_failures)
        status.next_attempt = now + delay
        log.warning(
            "telemetry source failed",
            extra={
                "source": status.name,
                "reason": reason,
                "failures": status.consecutive_failures,
                "retry_in_s": delay,
            },
        )

    def _stand_in(self, status: SourceStatus, now: float) -> ClusterView | None:
        """The last good view of a source not fetched this tick, while young enough."""
        last = self._last_good.get(status.name)
        if last is None or now - last.time > self.max_stale_s:
            self._last_good.pop(status.name, None)
            status.state = "failing"
            return None
        status.state = "stale"
        return dataclasses.replace(last, events=[])


def merge_views(
    time: float, views: Sequence[ClusterView], sources: dict[str, SourceStatus]
) -> ClusterView:
    """One view from several; the first view holding a service, node or edge wins it."""
    merged = ClusterView(time=time, sources=sources)
    for view in views:
        for key, svc in view.services.items():
            merged.services.setdefault(key, svc)
        for key, node in view.nodes.items():
            merged.nodes.setdefault(key, node)
        for key, edge in view.edges.items():
            merged.edges.setdefault(key, edge)
        merged.events.extend(view.events)
    return merged
