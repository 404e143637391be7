"""The control plane's one exception tree.

Every error the control plane raises on purpose is an ``AIOpsError``; foreign exceptions are
wrapped at the boundary with their cause kept (``raise ActionFailed(...) from exc``)::

    AIOpsError
    ├── ConfigError
    ├── TelemetryError
    ├── ForecastError
    ├── StoreError
    │   ├── RecordNotFound
    │   ├── IllegalTransition
    │   ├── StaleEpoch
    │   └── InvalidRecord (also a ValueError)
    ├── AgentError
    │   ├── LLMUnavailable
    │   └── InvalidModelOutput
    └── ActionError
        ├── ActionRejected
        ├── PreconditionFailed
        └── ActionFailed
"""

from __future__ import annotations

__all__ = [
    "AIOpsError",
    "ActionError",
    "ActionFailed",
    "ActionRejected",
    "AgentError",
    "ConfigError",
    "ForecastError",
    "IllegalTransition",
    "InvalidModelOutput",
    "InvalidRecord",
    "LLMUnavailable",
    "PreconditionFailed",
    "RecordNotFound",
    "StaleEpoch",
    "StoreError",
    "TelemetryError",
]


class AIOpsError(Exception):
    """Base class of every error the control plane raises on purpose."""


class ConfigError(AIOpsError):
    """The settings are invalid or incomplete; the message names the environment variable."""


class TelemetryError(AIOpsError):
    """A telemetry source could not be read or returned data that could not be parsed.

    ``source`` names the source (a URL or a source name) and ``reason`` says what went wrong.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ForecastError(AIOpsError):
    """A detector or forecaster could not produce a result (too little data, a bad fit)."""


class StoreError(AIOpsError):
    """The persistence layer failed to read or write (database unreachable, conflict)."""


class RecordNotFound(StoreError):
    """No stored record has this id; ``kind`` names the table (incident, action, approval)."""

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"no {kind} with id {record_id!r}")
        self.kind = kind
        self.record_id = record_id


class IllegalTransition(StoreError):
    """A stored record may not move from its current state to the requested one.

    ``subject`` names the record (``incident 1f3a...``), ``current`` and ``target`` the states.
    """

    def __init__(self, subject: str, current: str, target: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "nothing (final state)"
        super().__init__(
            f"{subject}: illegal transition {current} -> {target} (allowed from {current}: "
            f"{allowed_text})"
        )
        self.subject = subject
        self.current = current
        self.target = target


class StaleEpoch(StoreError):
    """A write carried a leader epoch older than the newest one issued for its lease (fencing)."""

    def __init__(self, lease: str, epoch: int, current: int) -> None:
        super().__init__(
            f"stale epoch {epoch} for lease {lease!r}: epoch {current} has been issued since; "
            "this process is no longer the leader"
        )
        self.lease = lease
        self.epoch = epoch
        self.current = current


class InvalidRecord(StoreError, ValueError):
    """A record was refused before anything was written: a value is malformed or inconsistent
    (a target pattern that is not ``kind/namespace/name``, an end before its start). The message
    names the field; callers that take input from people report it as their mistake."""


class AgentError(AIOpsError):
    """An agent could not reach a decision."""


class LLMUnavailable(AgentError):
    """No language-model endpoint of the requested tier answered in time."""


class InvalidModelOutput(AgentError):
    """A model answered, but its output did not parse or did not fit the offered candidates."""


class ActionError(AIOpsError):
    """An action could not be carried out."""


class ActionRejected(ActionError):
    """A guardrail refused the action before it ran; ``rule`` names the guardrail."""

    def __init__(self, rule: str, message: str | None = None) -> None:
        super().__init__(f"rejected by {rule}" + (f": {message}" if message else ""))
        self.rule = rule


class PreconditionFailed(ActionError):
    """The target changed since the action was decided (its ``resourceVersion`` moved on)."""


class ActionFailed(ActionError):
    """The backend was asked to act and failed; the backend's exception is the cause."""
