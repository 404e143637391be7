"""PromQL over the Prometheus HTTP API: the telemetry source for clusters that run Prometheus.

:class:`PrometheusSource` evaluates :data:`telemetry.sources.promql.QUERIES` with
``/api/v1/query`` and assembles a :class:`~telemetry.model.ClusterView` equal in shape to the
direct-scrape path's. :meth:`PrometheusSource.backfill` evaluates the same table with
``/api/v1/query_range`` and returns one view per step, so a windowed store and the detectors can
be warmed after a restart; :meth:`PrometheusSource.backfill_into` appends them to a
:class:`~telemetry.store.SeriesStore` as the collector's ticks would have. The source is a
:class:`~telemetry.sources.base.Source` (``name``, ``fetch(now, window_s)``).

The PromQL path aggregates on the server (joins, ``histogram_quantile``; see
:mod:`telemetry.sources.promql`), so each answer holds one number per service, node or edge
rather than every raw series the scrape path's :class:`~telemetry.views.ViewBuilder` reads; the
two are separate implementations of the same definitions, held together by a test.

Every failure (timeout, refused connection, a non-200 answer, ``"status": "error"``, an answer
that is not the JSON the API documents) raises ``TelemetryError("prometheus", reason)`` with the
foreign exception as its cause.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from controlplane.clock import Clock, SystemClock
from controlplane.exceptions import TelemetryError

from ..histogram import bucket_series
from ..model import ClusterView
from .promql import QUERIES, Key, Query, assemble

NAME = "prometheus"
#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 10_000


class SeriesSink(Protocol):
    """Where back-filled values go: the windowed store's ``append``."""

    def append(self, time: float, series: Mapping[str, float]) -> None: ...


class PrometheusSource:
    """Views of a cluster from a Prometheus server at ``base_url``.

    ``rate_window`` is a PromQL duration in the server's seconds. ``time_scale`` is simulated
    seconds per wall second of the cluster being scraped (a testbed run at ``speed``; 1.0 for a
    real cluster): rates are divided by it, so views are per simulated second. ``client`` is an
    ``httpx.Client`` to use instead of a fresh one (tests, shared pools, auth); ``clock`` gives
    the evaluation time of :meth:`collect` when none is asked for.
    """

    name = NAME

    def __init__(
        self,
        base_url: str,
        timeout: float = 5.0,
        rate_window: str = "1m",
        client: httpx.Client | None = None,
        time_scale: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.rate_window = rate_window
        self.time_scale = time_scale
        self.clock = clock if clock is not None else SystemClock()
        self._own_client = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ views

    def fetch(self, now: float, window_s: float) -> ClusterView:
        """The view at ``now`` over the ``window_s`` before it (the collector's ``Source``).

        ``now`` is epoch seconds and ``window_s`` seconds, both of the Prometheus server's clock
        (the collector's, on a real cluster).
        """
        return self.collect(at=now, window=duration(window_s))

    def collect(self, at: float | None = None, window: str | None = None) -> ClusterView:
        """The view at ``at`` (epoch seconds; the clock's now when ``None``) over ``window``
        (a PromQL duration; ``rate_window`` when ``None``).

        Every query is evaluated at the same instant, so the view is one consistent cut.
        """
        at = self.clock.now() if at is None else at
        window = window or self.rate_window
        answers: dict[str, dict[Key, float]] = {}
        for query in QUERIES:
            params = {"query": query.render(window), "time": _fmt(at)}
            answers[query.name] = _vector(query, self._get("/api/v1/query", params))
        return assemble(at, answers, self.time_scale)

    def backfill(
        self, start: float, end: float, step: float, window: str | None = None
    ) -> list[ClusterView]:
        """One view per ``step`` seconds from ``start`` to ``end`` (epoch seconds), oldest first,
        each over ``window`` (``rate_window`` when ``None``) before its time.

        Steps where Prometheus has nothing at all yield no view.
        """
        if step <= 0 or end < start:
            raise ValueError(f"need step > 0 and end >= start, got {start}..{end} by {step}")
        window = window or self.rate_window
        per_time: dict[float, dict[str, dict[Key, float]]] = {}
        chunk = step * (MAX_POINTS - 1)
        lo = start
        while lo <= end:
            hi = min(end, lo + chunk)
            for query in QUERIES:
                params = {
                    "query": query.render(window),
                    "start": _fmt(lo),
                    "end": _fmt(hi),
                    "step": _fmt(step),
                }
                data = self._get("/api/v1/query_range", params)
                for t, key, value in _matrix(query, data):
                    per_time.setdefault(t, {}).setdefault(query.name, {})[key] = value
            lo = hi + step
        return [assemble(t, per_time[t], self.time_scale) for t in sorted(per_time)]

    def backfill_into(
        self, sink: SeriesSink, start: float, end: float, step: float, window_s: float
    ) -> int:
        """Warm ``sink`` (a :class:`~telemetry.store.SeriesStore`) with the back-filled views,
        appending what the collector appends each tick (the view's series and the services'
        latency buckets); return how many ticks were added.

        Call it once at start-up, before the first :meth:`Collector.tick`, with
        ``end`` = now, ``step`` = the tick and ``window_s`` = the collector's rate window, over
        as long a span as the store and the detectors keep.
        """
        views = self.backfill(start, end, step, duration(window_s))
        for view in views:
            sink.append(view.time, {**view.series(), **bucket_series(view)})
        return len(views)

    # ------------------------------------------------------------------ HTTP

    def _get(self, path: str, params: dict[str, str]) -> Any:
        """POST a query (long expressions stay out of the URL); the answer's ``data``."""
        url = self.base_url + path
        params = {**params, "timeout": f"{self.timeout:g}"}
        try:
            response = self.client.post(url, data=params, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise TelemetryError(NAME, f"timeout after {self.timeout:g} s on {url}") from exc
        except httpx.ConnectError as exc:
            raise TelemetryError(NAME, f"connection failed to {url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TelemetryError(NAME, f"HTTP error on {url}: {exc}") from exc
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if response.status_code != 200:
                raise TelemetryError(
                    NAME, f"HTTP {response.status_code} from {url}: {response.text[:200]}"
                ) from exc
            raise TelemetryError(NAME, f"malformed JSON from {url}: {exc}") from exc
        if not isinstance(body, dict):
            raise TelemetryError(NAME, f"malformed answer from {url}: not a JSON object")
        if body.get("status") != "success" or response.status_code != 200:
            raise TelemetryError(
                NAME,
                f"HTTP {response.status_code}, status {body.get('status')!r} from {url}: "
                f"{body.get('errorType', '')} {body.get('error', '')}".rstrip(),
            )
        if "data" not in body:
            raise TelemetryError(NAME, f"malformed answer from {url}: no data")
        return body["data"]


def duration(seconds: float) -> str:
    """``seconds`` as a PromQL duration (whole milliseconds: ``90s`` → ``90000ms``)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a window must be positive, got {seconds} s")
    return f"{ms}ms"


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _result(query: Query, data: Any, kind: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("resultType") != kind:
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise TelemetryError(NAME, f"malformed answer to {query.name}: expected {kind}, got {got}")
    result = data.get("result")
    if not isinstance(result, list):
        raise TelemetryError(NAME, f"malformed answer to {query.name}: result is not a list")
    return result


def _key(query: Query, series: Any) -> Key:
    labels = series.get("metric") if isinstance(series, dict) else None
    if not isinstance(labels, dict):
        raise TelemetryError(NAME, f"malformed answer to {query.name}: series without labels")
    return tuple(str(labels.get(k, "")) for k in query.keys)


def _sample(query: Query, pair: Any) -> tuple[float, float]:
    try:
        t, v = pair
        return round(float(t), 3), float(v)
    except (TypeError, ValueError) as exc:
        raise TelemetryError(NAME, f"malformed sample in {query.name}: {pair!r}") from exc


def _vector(query: Query, data: Any) -> dict[Key, float]:
    return {
        _key(query, series): _sample(query, series.get("value"))[1]
        for series in _result(query, data, "vector")
    }


def _matrix(query: Query, data: Any) -> list[tuple[float, Key, float]]:
    out: list[tuple[float, Key, float]] = []
    for series in _result(query, data, "matrix"):
        key = _key(query, series)
        values = series.get("values")
        if not isinstance(values, list):
            raise TelemetryError(NAME, f"malformed answer to {query.name}: values not a list")
        out.extend((t, key, v) for t, v in (_sample(query, p) for p in values))
    return out


__all__ = ["NAME", "PrometheusSource", "SeriesSink", "duration"]
