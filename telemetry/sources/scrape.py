"""Direct scrape of a Prometheus exposition endpoint (the embedded default: the testbed's
``/metrics``), with counters turned into rates and histograms into quantiles in-process.

Each :meth:`ScrapeSource.fetch` GETs the endpoint (with a timeout), parses it with
``prometheus_client``'s parser, adds the counters to the source's
:class:`~telemetry.rates.CounterWindow` stamped with the collector's time, and hands the gauges
and the rates over the window to a :class:`~telemetry.views.ViewBuilder`, with the identity
gauges it holds over the window (``ViewBuilder.held``). Only the series the builder reads are
kept. Non-200 answers, timeouts, connection errors and malformed expositions
raise :class:`~controlplane.exceptions.TelemetryError` naming the source.
"""

from __future__ import annotations

import logging
from types import TracebackType

import httpx

from controlplane.exceptions import TelemetryError

from ..exposition import Family, is_counter, parse_exposition
from ..frame import Frame, Sample, group_by_name
from ..model import ClusterView
from ..rates import CounterWindow, SeriesKey, series_key
from ..views import ViewBuilder

__all__ = ["ScrapeSource"]

log = logging.getLogger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


class ScrapeSource:
    """Scrapes ``url`` once per :meth:`fetch`; ``name`` defaults to the URL.

    ``client`` (an ``httpx.Client``) is injected for tests and shared pools; without one the
    source makes its own, with ``timeout`` seconds for every phase of the request, and closes
    it in :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        *,
        name: str | None = None,
        builder: ViewBuilder | None = None,
        max_snapshots: int = 256,
    ) -> None:
        self.url = url
        self.name = name or url
        self.timeout = timeout
        self.builder = builder or ViewBuilder()
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self.window = CounterWindow(max_snapshots)
        self._held: dict[SeriesKey, tuple[float, Sample]] = {}

    def scrape(self) -> list[Family]:
        """GET and parse the exposition (no state changes)."""
        try:
            response = self._client.get(self.url, timeout=self.timeout, headers={"Accept": ACCEPT})
        except httpx.TimeoutException as exc:
            raise TelemetryError(self.name, f"timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise TelemetryError(self.name, f"request failed: {exc!r}") from exc
        if response.status_code != 200:
            raise TelemetryError(
                self.name, f"HTTP {response.status_code}: {response.text[:200].strip()!r}"
            )
        return parse_exposition(response.text, self.name)

    def fetch(self, now: float, window_s: float) -> ClusterView:
        """Scrape, record the counters at ``now`` and build the view over ``window_s``."""
        return self.builder.build(self.frame(now, window_s, self.scrape()))

    def frame(self, now: float, window_s: float, families: list[Family]) -> Frame:
        """The builder's gauges from ``families`` and its counters' rates over ``window_s``."""
        gauges: list[Sample] = []
        counters: list[Sample] = []
        for family in families:
            for sample in family.samples:
                if sample.name in self.builder.counters and is_counter(family.type, sample.name):
                    counters.append(sample)
                elif sample.name in self.builder.gauges:
                    gauges.append(sample)
        self.window.add(now, counters)
        span, rates = self.window.rates(window_s)
        held = self._hold(now, window_s, gauges)
        log.debug(
            "scraped",
            extra={"source": self.name, "gauges": len(gauges), "counters": len(counters)},
        )
        return Frame(now, span, group_by_name(gauges), group_by_name(rates), held)

    def _hold(self, now: float, window_s: float, gauges: list[Sample]) -> dict[str, list[Sample]]:
        """The held gauges seen at or after ``now - window_s`` (their latest values)."""
        for sample in gauges:
            if sample.name in self.builder.held:
                self._held[series_key(sample)] = (now, sample)
        self._held = {k: v for k, v in self._held.items() if now - v[0] <= window_s + 1e-9}
        return group_by_name(sample for _, sample in self._held.values())

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> ScrapeSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
