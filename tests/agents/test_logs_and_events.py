"""Log patterns and templates, and the window of recent Kubernetes events."""

from __future__ import annotations

from agents.analysis import EventWindow, LogPattern, classify, summarise, template
from telemetry import ClusterView, KubeEvent, LogLines

AUTH = (
    'ts=2026-01-05T01:16:14Z level=error msg="request failed" upstream=mongodb-hotels code=500 '
    'err="auth error: SCRAM authentication failed, storedKey mismatch"'
)
DB_AUTH = (
    '{"t":{"$date":"2026-01-05T01:16:14.000000Z"},"s":"I","c":"ACCESS",'
    '"msg":"Authentication failed"}'
)
HARMLESS = (
    'ts=2026-01-05T01:10:00Z level=error msg="failed to refresh service discovery cache" '
    'err="context canceled"',
    'ts=2026-01-05T01:10:00Z level=warn msg="slow GC pause" pause_ms=17',
    "<33 new auto-negotiating client connection",
)


def test_lines_are_classified_by_what_practitioners_grep_for() -> None:
    assert classify(AUTH) is LogPattern.AUTH
    assert classify(DB_AUTH) is LogPattern.AUTH
    assert classify("panic: load configuration: open /etc/geo/config.v2.yaml") is LogPattern.PANIC
    assert classify('msg="request failed" code=500 err="json: cannot unmarshal string"') is (
        LogPattern.DECODE
    )
    assert classify("Memory cgroup out of memory: Killed process 1002 (geo)") is LogPattern.OOM
    assert classify('msg="upstream connect error ... connection failure"') is LogPattern.CONNECT
    assert classify('msg="upstream request timeout" upstream=geo') is LogPattern.TIMEOUT
    assert [classify(line) for line in HARMLESS] == [None, None, None]


def test_templates_mask_what_varies() -> None:
    assert template(HARMLESS[1]) == 'ts=<ts> level=warn msg="slow GC pause" pause_ms=<n>'
    assert template("from 10.64.2.5:8083 id 9f86d081884c7d65") == "from <ip> id <id>"


def test_a_summary_counts_patterns_their_upstreams_and_pod_latency() -> None:
    logs = [
        LogLines(
            "hotel",
            "geo-a-1",
            "geo",
            (
                AUTH,
                AUTH,
                HARMLESS[0],
                'ts=2026-01-05T01:16:00Z level=info msg="request stats" rps=80 p50_ms=3.0',
            ),
        ),
        LogLines(
            "hotel",
            "geo-a-2",
            "geo",
            (DB_AUTH, 'ts=2026-01-05T01:16:00Z level=info msg="request stats" rps=80 p50_ms=9.5'),
        ),
        LogLines("hotel", "geo-a-3", "geo", error="container is starting"),
    ]
    summary = summarise("hotel/geo", logs)
    assert summary.lines == 6
    assert summary.count(LogPattern.AUTH) == 3
    assert summary.upstream_of(LogPattern.AUTH) == "mongodb-hotels"
    assert summary.local[LogPattern.AUTH] == 1
    assert summary.strong() == [LogPattern.AUTH]
    assert summary.pod_p50 == {"geo-a-1": 3.0, "geo-a-2": 9.5}
    assert "<ts>" in summary.examples[LogPattern.AUTH]


def event(uid: str, at: float, count: int = 1) -> KubeEvent:
    return KubeEvent(
        "hotel",
        f"geo.{uid}",
        "Pod",
        "geo-1",
        "Warning",
        "BackOff",
        "Back-off",
        count=count,
        first_seen=at,
        last_seen=at,
        uid=uid,
    )


def test_the_event_window_keeps_the_latest_of_each_event_for_its_horizon() -> None:
    window = EventWindow(horizon_s=600)
    window.update(ClusterView(time=100, events=[event("a", 90), event("b", 95)]))
    window.update(ClusterView(time=115, events=[event("a", 110, count=2)]))
    assert [(e.uid, e.count) for e in window.events()] == [("b", 1), ("a", 2)]
    assert [e.uid for e in window.events(since=100)] == ["a"]
    window.update(ClusterView(time=700))
    assert [e.uid for e in window.events()] == ["a"]  # b: last seen 605 s ago
    window.update(ClusterView(time=800))
    assert len(window) == 0
