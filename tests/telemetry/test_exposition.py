"""The exposition parser agrees with prometheus_client's own output, and refuses garbage."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.exposition import generate_latest

from controlplane.exceptions import TelemetryError
from telemetry import is_counter, parse_exposition

AWKWARD = ['say "hi"', "back\\slash", "new\nline", 'all \\ of "them"\n', "", "ünïcödé"]


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["path", "code"], registry=reg)
    inflight = Gauge("inflight", "In flight.", ["path"], registry=reg)
    latency = Histogram(
        "latency_seconds", "Latency.", ["path"], buckets=(0.01, 0.1, 1.0), registry=reg
    )
    size = Summary("size_bytes", "Sizes.", ["path"], registry=reg)
    for i, path in enumerate(AWKWARD):
        requests.labels(path=path, code="200").inc(i * 3 + 0.25)
        requests.labels(path=path, code="503").inc(i)
        inflight.labels(path=path).set(-i * 1.5)
        for v in (0.005, 0.05, 0.5, 5.0)[: i + 1]:
            latency.labels(path=path).observe(v)
        size.labels(path=path).observe(1024.0 * i)
    Gauge("special", "Special values.", ["kind"], registry=reg).labels(kind="inf").set(math.inf)
    Gauge("unlabelled", "No labels.", registry=reg).set(1e-9)
    return reg


def samples_of_registry(reg: CollectorRegistry) -> set[tuple[str, frozenset, float]]:
    return {
        (s.name, frozenset(s.labels.items()), float(s.value))
        for metric in reg.collect()
        for s in metric.samples
    }


def test_parser_agrees_with_prometheus_client_exactly() -> None:
    reg = registry()
    families = parse_exposition(generate_latest(reg).decode(), "test")
    parsed = {
        (s.name, frozenset(s.labels.items()), s.value)
        for family in families
        for s in family.samples
    }
    assert parsed == samples_of_registry(reg)
    paths = {s.labels.get("path") for family in families for s in family.samples}
    assert set(AWKWARD) <= paths
    types = {family.name: family.type for family in families}
    assert types["http_requests"] == "counter"
    assert types["latency_seconds"] == "histogram"
    assert types["inflight"] == "gauge"


def test_counter_samples_are_told_from_the_rest() -> None:
    assert is_counter("counter", "http_requests_total")
    assert not is_counter("counter", "http_requests_created")
    assert is_counter("histogram", "latency_seconds_bucket")
    assert is_counter("histogram", "latency_seconds_count")
    assert is_counter("summary", "size_bytes_sum")
    assert not is_counter("gauge", "inflight")


@pytest.mark.parametrize(
    "text",
    [
        "this is not metrics\n",
        "<html><body>oops</body></html>\n",
        'metric{label="unterminated 1\n',
        "# TYPE a counter\na_total abc\n",
        'a{="x"} 1\n',
    ],
)
def test_malformed_exposition_raises_telemetry_error(text: str) -> None:
    with pytest.raises(TelemetryError) as info:
        parse_exposition(text, "scrape-a")
    assert info.value.source == "scrape-a"
    assert info.value.reason.startswith("malformed exposition")


def test_empty_exposition_is_an_error() -> None:
    with pytest.raises(TelemetryError, match="empty exposition"):
        parse_exposition("# HELP nothing here\n", "scrape-a")


def families_of(text: str, parser) -> list[tuple[str, str, tuple]]:  # type: ignore[no-untyped-def]
    return [
        (
            f.name,
            f.type,
            tuple((s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples),
        )
        for f in parser(text)
    ]


@pytest.mark.parametrize("app", ["hotel-reservation", "online-boutique"])
def test_fast_path_reads_the_testbed_exactly_as_prometheus_client(app: str) -> None:
    from telemetry.exposition import _fast, _slow
    from testbed.app import load_app
    from testbed.cluster import Cluster
    from testbed.metrics import render

    cluster = Cluster(load_app(app), seed=1)
    cluster.advance(120)
    text = render(cluster)
    assert families_of(text, _fast) == families_of(text, _slow)
    assert sum(len(f.samples) for f in _fast(text)) > 500


def test_fast_path_hands_unusual_text_to_prometheus_client() -> None:
    from telemetry.exposition import _fast, _slow, _Unusual

    text = generate_latest(registry()).decode()  # escaped label values
    with pytest.raises(_Unusual):
        _fast(text)
    assert families_of(text, _slow) == [
        (
            f.name,
            f.type,
            tuple((s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples),
        )
        for f in parse_exposition(text)
    ]
    plain = 'x_total{a="1"} 2\n# TYPE y counter\ny_total 3 1700000000000\nz 4\nz 5\n'
    assert families_of(plain, _fast) == families_of(plain, _slow)
