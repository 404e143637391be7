"""The control plane's one exception tree.

Every error the control plane raises on purpose is an ``AIOpsError``; foreign exceptions are
wrapped at the boundary with their cause kept (``raise ActionFailed(...) from exc``)::

    AIOpsError
    ├── ConfigError
    ├── TelemetryError
    ├── ForecastError
    ├── StoreError
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
    "InvalidModelOutput",
    "LLMUnavailable",
    "PreconditionFailed",
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
