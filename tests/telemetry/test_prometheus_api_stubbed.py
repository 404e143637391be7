"""Failures of the PromQL source against real loopback servers: each is a ``TelemetryError``
naming "prometheus" and the reason (timeout, connection refused, non-200, ``status: error``,
malformed JSON or an answer of the wrong shape), with the foreign exception, where there is one,
as its cause.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.exceptions import TelemetryError
from telemetry.sources import PrometheusSource
from telemetry.sources.prometheus_api import MAX_POINTS
from telemetry.sources.promql import QUERIES

from .prometheus_server import PrometheusServer, requires_prometheus
from .servers import ThreadedServer, app_of

QUERY_PATHS = ("/api/v1/query", "/api/v1/query_range")


def stub_api(status: int, body: bytes) -> Starlette:
    """A Prometheus HTTP API that answers every query with ``status`` and ``body``;
    status 0 hangs past any client's timeout instead."""

    async def query(request: Request) -> Response:
        await request.body()
        if status == 0:
            await asyncio.sleep(2)
        return Response(body, status_code=status or 200, media_type="application/json")

    return app_of([Route(p, query, methods=["GET", "POST"]) for p in QUERY_PATHS])


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b"internal error", "HTTP 500"),
        (503, b"<html>Service Unavailable</html>", "HTTP 503"),
        (200, b'{"status": "success", "data": ', "malformed JSON"),
        (
            400,
            _json({"status": "error", "errorType": "bad_data", "error": "parse error"}),
            "bad_data",
        ),
        (200, _json({"status": "error", "errorType": "timeout", "error": "x"}), "status 'error'"),
        (200, _json(["not", "an", "object"]), "not a JSON object"),
        (200, _json({"status": "success"}), "no data"),
        (200, _json({"status": "success", "data": {"resultType": "matrix"}}), "expected vector"),
        (
            200,
            _json({"status": "success", "data": {"resultType": "vector", "result": [{}]}}),
            "series without labels",
        ),
        (
            200,
            _json(
                {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1]}]},
                }
            ),
            "malformed sample",
        ),
        (0, b"", "timeout"),
    ],
    ids=[
        "500",
        "503",
        "garbage",
        "bad-query",
        "status-error",
        "not-object",
        "no-data",
        "wrong-type",
        "no-labels",
        "bad-sample",
        "hang",
    ],
)
def test_a_failing_server_raises_telemetry_error(status: int, body: bytes, reason: str) -> None:
    with ThreadedServer(stub_api(status, body)) as server:
        prom = PrometheusSource(server.url, timeout=0.3)
        with prom, pytest.raises(TelemetryError) as err:
            prom.collect(at=1.0)
        assert err.value.source == "prometheus"
        assert reason in err.value.reason


def test_backfill_failures_raise_telemetry_error_too() -> None:
    with ThreadedServer(stub_api(500, b"overloaded")) as server:
        prom = PrometheusSource(server.url, timeout=0.3)
        with prom, pytest.raises(TelemetryError, match="HTTP 500"):
            prom.backfill(0.0, 60.0, 15.0)


def test_long_backfills_are_split_under_the_points_limit() -> None:
    asked: list[dict[str, str]] = []

    empty = _json({"status": "success", "data": {"resultType": "matrix", "result": []}})

    async def query_range(request: Request) -> Response:
        asked.append(dict(parse_qsl((await request.body()).decode())))
        return Response(empty, media_type="application/json")

    app = app_of([Route("/api/v1/query_range", query_range, methods=["POST"])])
    with ThreadedServer(app) as server, PrometheusSource(server.url) as prom:
        assert prom.backfill(0.0, 2.5 * MAX_POINTS, 1.0) == []
    starts = sorted({float(a["start"]) for a in asked})
    assert len(asked) == 3 * len(QUERIES) and starts == [0.0, MAX_POINTS, 2 * MAX_POINTS]
    assert all(float(a["end"]) - float(a["start"]) < MAX_POINTS for a in asked)
    assert {a["step"] for a in asked} == {"1.000"} and all("timeout" in a for a in asked)


@requires_prometheus
def test_a_stopped_prometheus_refuses_connections() -> None:
    prometheus = PrometheusServer("127.0.0.1:9").start()
    url = prometheus.url
    prometheus.stop()
    with PrometheusSource(url, timeout=1.0) as prom, pytest.raises(TelemetryError) as err:
        prom.collect()
    assert err.value.source == "prometheus"
    assert "connection failed" in err.value.reason
    assert isinstance(err.value.__cause__, Exception)
