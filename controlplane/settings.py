"""Settings: the only reader of the environment (variables prefixed ``AIOPS_``).

Nothing is read at import time; call :func:`load_settings` at the entry point and pass the result
down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from controlplane.exceptions import ConfigError

__all__ = ["ENV_PREFIX", "LogLevel", "Settings", "load_settings"]

ENV_PREFIX = "AIOPS_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Process settings, from ``AIOPS_*`` environment variables (no ``.env`` file)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=None,
        extra="ignore",
        frozen=True,
    )

    database_url: str = "sqlite:///.aiops/aiops.db"
    testbed_url: str = "http://127.0.0.1:8080"
    kube_host: str | None = None
    kubeconfig: str | None = None
    tick_seconds: float = Field(default=5.0, gt=0)
    policy: str = "rules"
    log_level: LogLevel = "INFO"
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    data_dir: Path = Path(".aiops")
    guardrails_file: Path | None = None
    """The guardrails' YAML config (``actions/guardrails.example.yaml``); built-in defaults if
    unset."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        parts.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment; keyword ``overrides`` win over it.

    Raises :class:`ConfigError` naming the offending variable when a value is invalid.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc
    except SettingsError as exc:  # a value pydantic-settings could not even parse
        raise ConfigError(str(exc)) from exc
