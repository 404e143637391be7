"""Redaction of prompts bound for a cloud model, the hourly spend limit and the circuit breaker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agents.llm.egress import CircuitBreaker, Redactor, SpendGuard

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


# --- Redactor: one realistic line per kind -------------------------------------------------

POSITIVE = [
    pytest.param(
        "2026-11-26T10:00:01Z ERROR tls: loaded -----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "-----END RSA PRIVATE KEY----- from /etc/tls",
        "2026-11-26T10:00:01Z ERROR tls: loaded [REDACTED:private-key] from /etc/tls",
        "private-key",
        id="private-key",
    ),
    pytest.param(
        "2026-11-26T10:00:01Z ERROR db connect failed: postgres://app:s3cr3t@10.0.3.7:5432/orders",
        "2026-11-26T10:00:01Z ERROR db connect failed: [REDACTED:url-credentials]",
        "url-credentials",
        id="url-credentials",
    ),
    pytest.param(
        f"2026-11-26T10:00:02Z WARN reservation rejected jwt {JWT} (expired)",
        "2026-11-26T10:00:02Z WARN reservation rejected jwt [REDACTED:jwt] (expired)",
        "jwt",
        id="jwt",
    ),
    pytest.param(
        "2026-11-26T10:00:03Z DEBUG GET /cart Authorization: Basic YWxhZGRpbjpvcGVu status=401",
        "2026-11-26T10:00:03Z DEBUG GET /cart Authorization: [REDACTED:bearer] status=401",
        "bearer",
        id="authorization-header",
    ),
    pytest.param(
        "2026-11-26T10:00:03Z DEBUG frontend sent Bearer 9f8e7d6c5b4a3f2e to search",
        "2026-11-26T10:00:03Z DEBUG frontend sent Bearer [REDACTED:bearer] to search",
        "bearer",
        id="bearer",
    ),
    pytest.param(
        "2026-11-26T10:00:04Z INFO geo: using AWS_ACCESS_KEY AKIAIOSFODNN7EXAMPLE in eu-west-1",
        "2026-11-26T10:00:04Z INFO geo: using AWS_ACCESS_KEY [REDACTED:aws-key] in eu-west-1",
        "aws-key",
        id="aws-key",
    ),
    pytest.param(
        "2026-11-26T10:00:05Z ERROR profile: env DB_PASSWORD=hunter2 retries=3",
        "2026-11-26T10:00:05Z ERROR profile: env DB_PASSWORD=[REDACTED:secret] retries=3",
        "secret-assignment",
        id="secret-assignment",
    ),
    pytest.param(
        '2026-11-26T10:00:05Z ERROR config {"api_key": "abc def", "user": "app"}',
        '2026-11-26T10:00:05Z ERROR config {"api_key": "[REDACTED:secret]", "user": "app"}',
        "secret-assignment",
        id="secret-assignment-json",
    ),
    pytest.param(
        "2026-11-26T10:00:06Z WARN upstream 10.244.1.17:8080 timed out after 120 ms",
        "2026-11-26T10:00:06Z WARN upstream [REDACTED:ipv4] timed out after 120 ms",
        "ipv4",
        id="ipv4",
    ),
    pytest.param(
        "2026-11-26T10:00:07Z WARN peer 2001:0db8:85a3:0000:0000:8a2e:0370:7334 reset",
        "2026-11-26T10:00:07Z WARN peer [REDACTED:ipv6] reset",
        "ipv6",
        id="ipv6-full",
    ),
    pytest.param(
        "2026-11-26T10:00:07Z WARN peer fe80::1ff:fe23:4567:890a%eth0 reset",
        "2026-11-26T10:00:07Z WARN peer [REDACTED:ipv6] reset",
        "ipv6",
        id="ipv6-compressed",
    ),
    pytest.param(
        "2026-11-26T10:00:08Z INFO paging alice.smith@example.com about search",
        "2026-11-26T10:00:08Z INFO paging [REDACTED:email] about search",
        "email",
        id="email",
    ),
    pytest.param(
        "2026-11-26T10:00:09Z ERROR dial geo.default.svc.cluster.local:8081: connection refused",
        "2026-11-26T10:00:09Z ERROR dial [REDACTED:hostname]: connection refused",
        "hostname",
        id="hostname-cluster-local",
    ),
    pytest.param(
        "2026-11-26T10:00:09Z ERROR dial vault.internal and ldap.corp failed",
        "2026-11-26T10:00:09Z ERROR dial [REDACTED:hostname] and [REDACTED:hostname] failed",
        "hostname",
        id="hostname-internal",
    ),
    pytest.param(
        "2026-11-26T10:00:10Z INFO pulled search@sha256:"
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "2026-11-26T10:00:10Z INFO pulled search@sha256:[REDACTED:high-entropy]",
        "high-entropy",
        id="high-entropy-hex",
    ),
    pytest.param(
        "2026-11-26T10:00:10Z DEBUG signing with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1 ok",
        "2026-11-26T10:00:10Z DEBUG signing with [REDACTED:high-entropy] ok",
        "high-entropy",
        id="high-entropy-base64",
    ),
]


@pytest.mark.parametrize(("line", "expected", "kind"), POSITIVE)
def test_redacts_each_kind(redactor: Redactor, line: str, expected: str, kind: str) -> None:
    assert redactor.redact(line) == expected
    assert redactor.count(line) == {kind: expected.count("[REDACTED:")}


NEGATIVE = [
    "search",
    "geo",
    "frontend",
    "reservation-v2",
    "image search:v2.4.1",
    "pod search-7d9f8b6c5-x2x9q restarted",
    "error ratio 0.95",
    "p99 120 ms",
    "p99_ms=840",
    "cpu at 99.5%",
    "2026-11-26T10:00:00Z",
    "2026-11-26T10:00:00.123+01:00",
    "at 12:30:45 the queue drained",
    "a:b",
    "pod hash a1b2c3d4e5f6",
    "max_tokens: 256 tokens_used=512 author=alice",
    "bearer token expired",
    "std::vector",
    "version 1.2.3.4.5",
    "mac 00:1a:2b:3c:4d:5e",
    "see https://example.com/docs/runbook#search",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_leaves_ordinary_text_alone(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text) == text
    assert redactor.count(text) == {}


def test_secret_assignment_keeps_the_key_name(redactor: Redactor) -> None:
    text = "password=hunter2 X-Auth-Token: tok123, client_secret='a b'&pwd:xyz"
    assert redactor.redact(text) == (
        "password=[REDACTED:secret] X-Auth-Token: [REDACTED:secret], "
        "client_secret='[REDACTED:secret]'&pwd:[REDACTED:secret]"
    )


def test_specific_kinds_win_and_are_not_redacted_twice(redactor: Redactor) -> None:
    text = f"Authorization: Bearer {JWT} token={JWT} key=AKIAIOSFODNN7EXAMPLE"
    assert redactor.redact(text) == (
        "Authorization: Bearer [REDACTED:jwt] token=[REDACTED:jwt] key=[REDACTED:aws-key]"
    )
    assert redactor.count(text) == {"jwt": 2, "aws-key": 1}


def test_private_key_without_end_is_redacted_to_the_end(redactor: Redactor) -> None:
    text = "dump: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert redactor.redact(text) == "dump: [REDACTED:private-key]"


def test_count_tallies_every_kind(redactor: Redactor) -> None:
    text = "from 10.0.0.1 and 10.0.0.2 to bob@example.com, password=x, via db.internal"
    assert redactor.count(text) == {
        "secret-assignment": 1,
        "ipv4": 2,
        "email": 1,
        "hostname": 1,
    }


def test_extra_patterns_are_custom() -> None:
    redactor = Redactor(extra_patterns=[r"\bTENANT-\d+\b"])
    assert redactor.redact("quota hit for TENANT-4711 on search") == (
        "quota hit for [REDACTED:custom] on search"
    )
    assert redactor.count("TENANT-1 TENANT-2") == {"custom": 2}


def test_invalid_extra_pattern_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid extra redaction pattern"):
        Redactor(extra_patterns=["(unclosed"])


def test_redact_messages_keeps_roles_and_other_keys(redactor: Redactor) -> None:
    messages = [
        {"role": "system", "content": "You rank causes."},
        {"role": "user", "content": "db at 10.0.3.7 down", "name": "analyst"},
        {"role": "assistant"},
    ]
    redacted = redactor.redact_messages(messages)
    assert redacted == [
        {"role": "system", "content": "You rank causes."},
        {"role": "user", "content": "db at [REDACTED:ipv4] down", "name": "analyst"},
        {"role": "assistant"},
    ]
    assert messages[1]["content"] == "db at 10.0.3.7 down"  # the input is not changed


# --- SpendGuard ----------------------------------------------------------------------------


def test_spend_rolls_off_after_an_hour() -> None:
    clock = FakeClock()
    guard = SpendGuard(1.0, clock=clock)
    guard.record(0.75)
    clock.advance(1800)
    guard.record(0.25)
    assert guard.spent_last_hour() == 1.0
    assert not guard.allows(0.01)
    clock.advance(1799.5)
    assert guard.spent_last_hour() == 1.0
    clock.advance(0.5)  # the first record is now exactly an hour old
    assert guard.spent_last_hour() == 0.25
    assert guard.allows(0.75)
    assert not guard.allows(0.76)


def test_spend_limit_boundary_is_inclusive() -> None:
    guard = SpendGuard(0.3, clock=FakeClock())
    guard.record(0.1)
    guard.record(0.1)
    assert guard.allows(0.1)  # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floats
    assert not guard.allows(0.1001)


def test_no_limit_allows_everything() -> None:
    guard = SpendGuard(None, clock=FakeClock())
    guard.record(1e6)
    assert guard.limit is None
    assert guard.allows(1e9)
    assert guard.spent_last_hour() == 1e6


def test_zero_limit_allows_only_free_calls() -> None:
    guard = SpendGuard(0.0, clock=FakeClock())
    assert guard.limit == 0.0
    assert guard.allows(0.0)
    assert not guard.allows(0.001)


@pytest.mark.parametrize("limit", [-0.01, float("nan")])
def test_spend_guard_rejects_a_bad_limit(limit: float) -> None:
    with pytest.raises(ValueError, match="limit_usd_per_hour"):
        SpendGuard(limit)


def test_spend_guard_rejects_negative_amounts() -> None:
    guard = SpendGuard(1.0, clock=FakeClock())
    with pytest.raises(ValueError, match="usd"):
        guard.record(-1.0)
    with pytest.raises(ValueError, match="estimated_usd"):
        guard.allows(-1.0)
    assert guard.spent_last_hour() == 0.0


# --- CircuitBreaker ------------------------------------------------------------------------


def _opened(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failures_to_open=3, cooldown_s=60.0, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    return breaker


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failures_to_open=3, cooldown_s=60.0, clock=FakeClock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # resets the run
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_lets_one_trial_through_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = _opened(clock)
    clock.advance(59.9)
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()
    clock.advance(600)
    assert not breaker.allow()  # still waiting on the trial
    assert breaker.state == "half_open"


def test_a_successful_trial_closes() -> None:
    clock = FakeClock()
    breaker = _opened(clock)
    clock.advance(60)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.allow()
    assert breaker.allow()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"  # the failure count restarted


def test_a_failed_trial_reopens_for_another_cooldown() -> None:
    clock = FakeClock()
    breaker = _opened(clock)
    clock.advance(60)
    assert breaker.allow()
    clock.advance(5)
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.advance(59)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_late_failure_while_open_does_not_extend_the_cooldown() -> None:
    clock = FakeClock()
    breaker = _opened(clock)
    clock.advance(30)
    breaker.failure()  # a call that began before the breaker opened
    clock.advance(30)
    assert breaker.state == "half_open"
    assert breaker.allow()


def test_zero_cooldown_still_allows_a_single_trial() -> None:
    breaker = CircuitBreaker(failures_to_open=1, cooldown_s=0.0, clock=FakeClock())
    breaker.failure()
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CircuitBreaker(failures_to_open=0), "failures_to_open"),
        (lambda: CircuitBreaker(cooldown_s=-1.0), "cooldown_s"),
        (lambda: CircuitBreaker(cooldown_s=float("nan")), "cooldown_s"),
    ],
)
def test_circuit_breaker_rejects_bad_arguments(
    build: Callable[[], CircuitBreaker], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()
