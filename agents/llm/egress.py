"""Guards on what leaves for a cloud model: redaction, a spend limit and a circuit breaker.

:class:`Redactor` replaces secrets, tokens and addresses with ``[REDACTED:<kind>]`` before a
prompt leaves the machine; :class:`SpendGuard` holds one tier to a budget per rolling hour;
:class:`CircuitBreaker` stops calling a tier that keeps failing and probes it after a cooldown.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["CircuitBreaker", "Redactor", "SpendGuard"]

_WINDOW_S = 3600.0
_EPSILON_USD = 1e-9
"""Tolerance on the limit, so that float sums like 0.1 + 0.2 do not refuse an exact fit."""

_NOT_REDACTED = r"(?!(?:[A-Za-z0-9-]+[ \t]+)?\[REDACTED:)"
"""A value that is not already a placeholder (nor a scheme word followed by one)."""

_SECRET_KEY = (
    r"(?:password|passwd|pwd|client[_-]?secret|secret|api[_-]?key|access[_-]?key|token|auth)"
)
_H = r"[0-9A-Fa-f]{1,4}"
_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV6 = "|".join(
    (
        rf"(?:{_H}:){{7}}{_H}",
        rf"(?:{_H}:){{1,7}}:",
        rf"(?:{_H}:){{1,6}}:{_H}",
        rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        rf"{_H}:(?::{_H}){{1,6}}",
        rf"::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_IPV4}",
        rf"(?:{_H}:){{1,4}}:{_IPV4}",
        rf":(?::{_H}){{1,7}}",
    )
)
_B64 = r"A-Za-z0-9+/_\-"
_URL_END = r"(?=[.,;:)}\]]*(?:[\s\"'<>]|$))"
"""The end of a URL: only closing punctuation before whitespace, a quote or the end."""
_VALUE_END = r"(?=[.:)}\]>]*(?:[\s\"'<>,;&]|$))"
"""The end of an unquoted value: as a URL's, or a separator (``,``, ``;``, ``&``)."""

_RULES: tuple[tuple[str, str, int], ...] = (
    (
        "private-key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ),
    (
        "url-credentials",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://"  # scheme
        r"[^\s/?#@:]*:[^\s/@]*@"  # user:password@
        rf"[^\s\"'<>]+?{_URL_END}",
        0,
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", 0),
    (
        "bearer",
        r"(?P<keep>\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?)"
        + _NOT_REDACTED
        + r"(?:(?:bearer|basic|digest|token|negotiate|ntlm|apikey)[ \t]+)?[^\s\"',;]+",
        re.IGNORECASE,
    ),
    ("bearer", r"(?P<keep>\b[Bb]earer[ \t]+)(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{8,}=*", 0),
    ("aws-key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0),
    (
        "secret-assignment",
        r"(?P<keep>\b(?:[A-Za-z0-9]+[_.-]){0,4}"  # a prefix: DB_, X-Auth-, aws_secret_
        + _SECRET_KEY
        + r"(?:[_-]?(?:key|token))?(?![A-Za-z0-9_])"  # a suffix: _key, _token
        + r"[\"']?[ \t]*[:=][ \t]*(?P<q>[\"'])?)"  # "=", ":", JSON quotes
        + _NOT_REDACTED
        + rf"(?(q)(?:(?!(?P=q))[^\r\n])+|[^\s\"',;&]+?{_VALUE_END})",  # quoted or bare
        re.IGNORECASE,
    ),
    # IPv6 before IPv4, so that a mapped ::ffff:10.0.0.1 goes as one address.
    ("ipv6", rf"(?<![\w:.])(?:{_IPV6})(?:%[0-9A-Za-z]+)?(?![\w:]|\.\d)", 0),
    ("ipv4", rf"(?<![\w.]){_IPV4}(?::\d{{1,5}})?(?![\w-]|\.\d)", 0),
    (
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
        r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
        0,
    ),
    (
        "hostname",
        r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
        r"(?:svc|cluster\.local|internal|local|corp)(?::\d{1,5})?(?![\w-]|\.\w)",
        re.IGNORECASE,
    ),
    ("high-entropy", r"\b[0-9A-Fa-f]{32,}\b", 0),
    (
        "high-entropy",
        rf"(?<![{_B64}])(?=[{_B64}]*[a-z])(?=[{_B64}]*[A-Z])(?=[{_B64}]*\d)"
        rf"[{_B64}]{{40,}}={{0,2}}(?![{_B64}=])",
        0,
    ),
)
"""(kind, pattern, flags), applied in this order: the more specific first."""

_LABELS = {"secret-assignment": "secret"}
"""Placeholder names that differ from the kind (``password=[REDACTED:secret]``)."""


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]

    def replace(self, match: re.Match[str]) -> str:
        keep = match.groupdict().get("keep") or ""
        return f"{keep}[REDACTED:{_LABELS.get(self.kind, self.kind)}]"


class Redactor:
    """Removes secrets, tokens and addresses from text bound for a cloud model.

    ``extra_patterns`` are regular expressions of kind ``custom``, applied after the built-in
    kinds (``private-key``, ``url-credentials``, ``jwt``, ``bearer``, ``aws-key``,
    ``secret-assignment``, ``ipv6``, ``ipv4``, ``email``, ``hostname``, ``high-entropy``).
    """

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        rules = [_Rule(kind, re.compile(pattern, flags)) for kind, pattern, flags in _RULES]
        for pattern in extra_patterns:
            try:
                rules.append(_Rule("custom", re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"invalid extra redaction pattern {pattern!r}: {exc}") from exc
        self._rules = tuple(rules)

    def redact(self, text: str) -> str:
        """The text with each match replaced by ``[REDACTED:<kind>]``."""
        return self._scan(text)[0]

    def redact_messages(self, messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """Copies of chat messages with every ``content`` redacted and other keys kept."""
        out = []
        for message in messages:
            copy = dict(message)
            if "content" in copy:
                copy["content"] = self.redact(copy["content"])
            out.append(copy)
        return out

    def count(self, text: str) -> dict[str, int]:
        """How many matches of each kind the text holds (kinds with none are left out)."""
        return dict(self._scan(text)[1])

    def _scan(self, text: str) -> tuple[str, Counter[str]]:
        counts: Counter[str] = Counter()
        for rule in self._rules:
            text, n = rule.pattern.subn(rule.replace, text)
            if n:
                counts[rule.kind] += n
        return text, counts


class SpendGuard:
    """A spend limit per rolling hour for one tier; thread-safe."""

    def __init__(
        self, limit_usd_per_hour: float | None, clock: Callable[[], float] = time.time
    ) -> None:
        if limit_usd_per_hour is not None and not limit_usd_per_hour >= 0:
            raise ValueError(f"limit_usd_per_hour must be >= 0 or None, not {limit_usd_per_hour}")
        self._limit = limit_usd_per_hour
        self._clock = clock
        self._spent: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    @property
    def limit(self) -> float | None:
        """The limit in USD per hour; ``None`` for none."""
        return self._limit

    def allows(self, estimated_usd: float) -> bool:
        """Whether the spend of the last hour plus ``estimated_usd`` stays within the limit."""
        _check_amount("estimated_usd", estimated_usd)
        if self._limit is None:
            return True
        return self.spent_last_hour() + estimated_usd <= self._limit + _EPSILON_USD

    def record(self, usd: float) -> None:
        """Counts a call's cost against the current hour."""
        _check_amount("usd", usd)
        with self._lock:
            self._spent.append((self._clock(), usd))

    def spent_last_hour(self) -> float:
        """USD recorded in the last 3600 s."""
        with self._lock:
            cutoff = self._clock() - _WINDOW_S
            while self._spent and self._spent[0][0] <= cutoff:
                self._spent.popleft()
            return sum(usd for _, usd in self._spent)


def _check_amount(name: str, usd: float) -> None:
    if not usd >= 0:
        raise ValueError(f"{name} must be >= 0, not {usd}")


class CircuitBreaker:
    """Stops calls to a failing tier: opens after ``failures_to_open`` consecutive failures,
    lets one trial call through after ``cooldown_s`` (half-open), closes on a success,
    re-opens on a failure; thread-safe.

    A success reported in any state closes the breaker; a failure reported while open (a call
    that began before it opened) is ignored and does not extend the cooldown.
    """

    def __init__(
        self,
        failures_to_open: int = 3,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_to_open < 1:
            raise ValueError(f"failures_to_open must be >= 1, not {failures_to_open}")
        if not cooldown_s >= 0:
            raise ValueError(f"cooldown_s must be >= 0, not {cooldown_s}")
        self._failures_to_open = failures_to_open
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._open = False
        self._opened_at = 0.0
        self._trial_out = False
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """``half_open`` once the cooldown has passed, whether or not the trial is out."""
        with self._lock:
            return self._state()

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, True once, for the trial."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open" or self._trial_out:
                return False
            self._trial_out = True
            return True

    def success(self) -> None:
        """Reports a call that succeeded: the breaker closes."""
        with self._lock:
            self._open = False
            self._trial_out = False
            self._failures = 0

    def failure(self) -> None:
        """Reports a call that failed: counts towards opening, or re-opens after a trial."""
        with self._lock:
            if not self._open:
                self._failures += 1
                if self._failures >= self._failures_to_open:
                    self._trip()
            elif self._trial_out:
                self._trip()

    def _state(self) -> Literal["closed", "open", "half_open"]:
        if not self._open:
            return "closed"
        if self._trial_out or self._clock() - self._opened_at >= self._cooldown_s:
            return "half_open"
        return "open"

    def _trip(self) -> None:
        self._open = True
        self._opened_at = self._clock()
        self._trial_out = False
        self._failures = 0
