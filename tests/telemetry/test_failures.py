"""Failing sources: errors name the source and reason; the collector isolates, backs off,
keeps the last good data marked stale, and recovers. Real loopback servers throughout."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from controlplane.clock import ManualClock
from controlplane.exceptions import TelemetryError
from telemetry import Backoff, ClusterView, Collector, KubernetesSource, ScrapeSource, SeriesStore
from testbed.runner import free_port

from .servers import FakeExporter, ThreadedServer, app_of

TIMEOUT_S = 0.3


@dataclass
class Exporters:
    flaky: FakeExporter
    steady: FakeExporter
    url: str


@pytest.fixture
def exporters() -> Iterator[Exporters]:
    flaky = FakeExporter("shop", "cart")
    steady = FakeExporter("bank", "ledger")

    async def kube_error(request: Request) -> Response:
        return PlainTextResponse("etcd is down", status_code=500)

    routes = [
        *flaky.routes("/flaky"),
        *steady.routes("/steady"),
        Route("/api/v1/events", kube_error),
    ]
    with ThreadedServer(app_of(routes)) as server:
        yield Exporters(flaky, steady, server.url)
        flaky.mode = steady.mode = "ok"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "HTTP 500"), ("slow", "timed out after 0.3 s"), ("garbage", "malformed exposition")],
)
def test_scrape_failures_raise_telemetry_error(
    exporters: Exporters, mode: str, reason: str
) -> None:
    exporters.flaky.mode = mode
    url = f"{exporters.url}/flaky/metrics"
    with (
        ScrapeSource(url, timeout=TIMEOUT_S, name="shop") as src,
        pytest.raises(TelemetryError) as info,
    ):
        src.fetch(0.0, 60.0)
    assert info.value.source == "shop"
    assert info.value.reason.startswith(reason)
    assert info.value.__cause__ is not None or mode == "error"


def test_refused_connection_raises_telemetry_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with ScrapeSource(url, timeout=TIMEOUT_S) as src, pytest.raises(TelemetryError) as info:
        src.fetch(0.0, 60.0)
    assert info.value.source == url  # the name defaults to the URL
    assert info.value.reason.startswith("request failed")


def test_kubernetes_failures_raise_telemetry_error(exporters: Exporters) -> None:
    kube = KubernetesSource(exporters.url, timeout=TIMEOUT_S, name="kube")
    with pytest.raises(TelemetryError) as info:
        kube.events()
    assert (info.value.source, info.value.reason) == (
        "kube",
        "list_event_for_all_namespaces: HTTP 500 Internal Server Error",
    )
    kube.close()
    refused = KubernetesSource(f"http://127.0.0.1:{free_port()}", timeout=TIMEOUT_S)
    with pytest.raises(TelemetryError, match="list_event_for_all_namespaces"):
        refused.fetch(0.0, 60.0)
    refused.close()


class Crashing:
    """A buggy source: raises something that is not a TelemetryError."""

    name = "buggy"

    def fetch(self, now: float, window_s: float) -> ClusterView:
        raise RuntimeError("bug in a plugin")


def test_collector_isolates_backs_off_keeps_stale_data_and_recovers(
    exporters: Exporters, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(1000.0)
    flaky = ScrapeSource(f"{exporters.url}/flaky/metrics", timeout=TIMEOUT_S, name="flaky")
    steady = ScrapeSource(f"{exporters.url}/steady/metrics", timeout=TIMEOUT_S, name="steady")
    store = SeriesStore(points=100)
    collector = Collector(
        [flaky, Crashing(), steady],
        clock,
        store,
        rate_window_s=30,
        backoff=Backoff(initial_s=10, factor=2, max_s=40),
        max_stale_s=120,
    )

    def tick(seconds: float = 5) -> ClusterView:
        clock.advance(seconds)
        return collector.tick()

    with caplog.at_level(logging.WARNING, logger="telemetry.collector"):
        view = tick(0)
        view = tick()
    assert view.sources["flaky"].state == view.sources["steady"].state == "ok"
    assert view.sources["buggy"].state == "failing"
    assert view.sources["buggy"].last_error == "RuntimeError: bug in a plugin"
    assert view.services["shop/cart"].rps == pytest.approx(20.0)  # 100 requests per 5 s
    failed = [r for r in caplog.records if r.getMessage() == "telemetry source failed"]
    assert failed, "failures are logged"
    assert (failed[0].__dict__["source"], failed[0].__dict__["failures"]) == ("buggy", 1)

    exporters.flaky.mode = "error"
    hits = exporters.flaky.hits
    view = tick()  # t=1010: fails (1), retry in 10 s
    status = view.sources["flaky"]
    assert (status.state, status.consecutive_failures) == ("stale", 1)
    assert status.last_error and status.last_error.startswith("HTTP 500")
    assert status.next_attempt == 1020.0
    assert "shop/cart" in view.services, "the last good data stays, marked stale"
    assert view.services["bank/ledger"].rps == pytest.approx(20.0), "the others go on"
    assert exporters.flaky.hits == hits + 1

    view = tick()  # t=1015: backing off, no request
    assert exporters.flaky.hits == hits + 1
    assert view.sources["flaky"].state == "stale"
    assert math.isnan(store.last("service/shop/cart/rps") or math.nan), "stale data not stored"
    assert store.last("service/bank/ledger/rps") == pytest.approx(20.0)

    delays = []
    for _ in range(5):  # retries at 1020, 1040, 1080, 1120, 1160 (back-off capped at 40 s)
        before = exporters.flaky.hits
        while exporters.flaky.hits == before:
            view = tick()
        delays.append(view.sources["flaky"].next_attempt - view.time)
    assert delays == [20.0, 40.0, 40.0, 40.0, 40.0]
    assert view.sources["flaky"].consecutive_failures == 6
    # last good data older than max_stale_s: the source is failing and contributes nothing
    assert view.sources["flaky"].state == "failing"
    assert "shop/cart" not in view.services
    assert "bank/ledger" in view.services

    exporters.flaky.mode = "ok"
    while view.sources["flaky"].state != "ok":
        view = tick()
    assert view.time == 1200.0
    status = view.sources["flaky"]
    assert (status.consecutive_failures, status.last_error, status.last_success) == (0, None, 1200)
    assert "shop/cart" in view.services
    flaky.close()
    steady.close()


def test_collector_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        Collector([Crashing(), Crashing()], ManualClock())
