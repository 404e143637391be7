"""Log patterns: what a service's recent log lines say went wrong.

Lines are reduced to **templates** (numbers, hexadecimal ids, addresses, quoted values and
timestamps masked, after Drain-style log parsing) and each template is put in a **pattern**
class by keywords practitioners grep for: authentication failures, out-of-memory kills,
start-up panics, decoding errors, refused or reset connections, timeouts, overload. Harmless
chatter (a slow GC pause, a cancelled discovery refresh) matches no pattern or a weak one
(``connect``, ``timeout``), so the strong patterns are the evidence that counts.

Lines are read through any :class:`LogReader` (``telemetry.KubernetesSource`` is one).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from telemetry import LogLines

__all__ = [
    "STRONG",
    "LogPattern",
    "LogReader",
    "LogSummary",
    "classify",
    "summarise",
    "template",
]


class LogPattern(StrEnum):
    AUTH = "auth"
    OOM = "oom"
    PANIC = "panic"
    DECODE = "decode"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    OVERLOAD = "overload"


STRONG = frozenset({LogPattern.AUTH, LogPattern.OOM, LogPattern.PANIC, LogPattern.DECODE})
"""Patterns healthy services do not log: one line of them is evidence."""

_PATTERNS: tuple[tuple[LogPattern, re.Pattern[str]], ...] = (
    (
        LogPattern.AUTH,
        re.compile(
            r"authenticat\w* fail|auth error|SCRAM|invalid credentials|password authentication"
            r"|AuthenticationFailed|access denied|unauthori[sz]ed",
            re.I,
        ),
    ),
    (LogPattern.OOM, re.compile(r"out of memory|OOMKill|oom-kill|cannot allocate memory", re.I)),
    (
        LogPattern.PANIC,
        re.compile(r"panic:|load configuration|no such file or directory|invalid config", re.I),
    ),
    (
        LogPattern.DECODE,
        re.compile(r"unmarshal|decode|deserializ|nil pointer|NullPointer|Traceback", re.I),
    ),
    (LogPattern.OVERLOAD, re.compile(r"worker pool exhausted|rejecting request|too many", re.I)),
    (LogPattern.TIMEOUT, re.compile(r"timeout|timed out|deadline exceeded", re.I)),
    (
        LogPattern.CONNECT,
        re.compile(r"connection refused|connect error|connection failure|reset by peer", re.I),
    ),
)

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z?"), "<ts>"),
    (re.compile(r'"\$date":"[^"]*"'), '"$date":"<ts>"'),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\b[0-9a-f]{8,}\b|\b[0-9a-f-]{36}\b", re.I), "<id>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
)
_UPSTREAM = re.compile(r"\bupstream=([\w.-]+)")
_P50 = re.compile(r"\bp50_ms=([\d.]+)")


def template(line: str) -> str:
    """The line with its variable parts masked (``pause_ms=17`` → ``pause_ms=<n>``)."""
    for pattern, mask in _MASKS:
        line = pattern.sub(mask, line)
    return line


def classify(line: str) -> LogPattern | None:
    """The first pattern the line matches (strong ones first), or None."""
    for name, pattern in _PATTERNS:
        if pattern.search(line):
            return name
    return None


@dataclass
class LogSummary:
    """The patterns in one service's recent lines, and whom its errors name as upstream."""

    service: str
    lines: int = 0
    patterns: Counter[LogPattern] = field(default_factory=Counter)
    upstreams: dict[LogPattern, Counter[str]] = field(default_factory=dict)
    local: Counter[LogPattern] = field(default_factory=Counter)
    """Pattern lines that name no upstream: about the service itself, not a dependency."""
    examples: dict[LogPattern, str] = field(default_factory=dict)
    """One template per pattern, the most frequent."""
    pod_p50: dict[str, float] = field(default_factory=dict)
    """Each pod's median latency (ms) from the periodic stats lines it logs, where it logs them."""

    def count(self, pattern: LogPattern) -> int:
        return self.patterns.get(pattern, 0)

    def dominant(self, pattern: LogPattern) -> bool:
        """Whether ``pattern`` is what these lines mostly complain of: more than one line, and
        no fewer than any other strong pattern's. Evidence from log text alone must be this
        much (a line anyone can write, an instruction containing "unauthorized", is not)."""
        count = self.count(pattern)
        others = [self.count(p) for p in self.strong() if p is not pattern]
        return count >= 2 and count >= max(others, default=0)

    def strong(self) -> list[LogPattern]:
        return sorted(p for p in self.patterns if p in STRONG)

    def upstream_of(self, pattern: LogPattern) -> str | None:
        """The dependency most of the ``pattern`` lines blame, if they name one."""
        names = self.upstreams.get(pattern)
        if not names:
            return None
        return sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def summarise(service: str, logs: Iterable[LogLines]) -> LogSummary:
    """The patterns of every line of ``logs`` (one service's containers)."""
    summary = LogSummary(service)
    templates: dict[LogPattern, Counter[str]] = {}
    latencies: dict[str, list[float]] = {}
    for container in logs:
        for line in container.lines:
            summary.lines += 1
            p50 = _P50.search(line)
            if p50:
                latencies.setdefault(container.pod, []).append(float(p50.group(1)))
            pattern = classify(line)
            if pattern is None:
                continue
            summary.patterns[pattern] += 1
            templates.setdefault(pattern, Counter())[template(line)] += 1
            upstream = _UPSTREAM.search(line)
            if upstream:
                summary.upstreams.setdefault(pattern, Counter())[upstream.group(1)] += 1
            else:
                summary.local[pattern] += 1
    for pod, values in latencies.items():
        values.sort()
        summary.pod_p50[pod] = values[len(values) // 2]
    for pattern, counts in templates.items():
        summary.examples[pattern] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return summary


@runtime_checkable
class LogReader(Protocol):
    """Reads the recent log lines of a workload's containers (``telemetry.KubernetesSource``)."""

    def pod_logs(
        self,
        namespace: str,
        workload: str,
        *,
        tail_lines: int = 50,
        since_seconds: int | None = None,
    ) -> Sequence[LogLines]: ...
