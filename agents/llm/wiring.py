"""Routers from settings: ``local`` (the local tier alone), ``cloud`` (the cloud tier alone),
``hybrid`` (local first, cloud on escalation). One embedded model per process."""

from __future__ import annotations

import threading
from typing import Literal

from controlplane import ConfigError, Tier
from controlplane.settings import Settings

from .egress import CircuitBreaker, SpendGuard
from .embedded import EmbeddedModel
from .endpoint import OpenAIEndpoint
from .router import Router, TierSlot
from .tier import ModelTier

__all__ = ["build_router", "local_tier"]

_LOCK = threading.Lock()
_EMBEDDED: dict[tuple[str, int], EmbeddedModel] = {}


def local_tier(settings: Settings) -> ModelTier:
    """The local tier: a configured OpenAI-compatible server, else the embedded model."""
    if settings.llm_local_url:
        return OpenAIEndpoint(
            settings.llm_local_url,
            settings.llm_local_model,
            tier=Tier.LOCAL,
            timeout_s=settings.llm_timeout_seconds,
            egress=False,
        )
    key = (str(settings.llm_local_model_path or ""), settings.llm_threads)
    with _LOCK:
        if key not in _EMBEDDED:
            _EMBEDDED[key] = EmbeddedModel(
                settings.llm_local_model_path, n_threads=settings.llm_threads
            )
        return _EMBEDDED[key]


def _cloud(settings: Settings) -> TierSlot:
    if not settings.llm_cloud_url:
        raise ConfigError("the cloud tier needs AIOPS_LLM_CLOUD_URL (an OpenAI-compatible /v1)")
    key = settings.llm_cloud_api_key
    endpoint = OpenAIEndpoint(
        settings.llm_cloud_url,
        settings.llm_cloud_model,
        tier=Tier.CLOUD,
        api_key=key.get_secret_value() if key else None,
        timeout_s=settings.llm_timeout_seconds,
        price_prompt_per_mtok=settings.llm_cloud_price_prompt_per_mtok,
        price_output_per_mtok=settings.llm_cloud_price_output_per_mtok,
        response_format=settings.llm_cloud_response_format,
    )
    return TierSlot(
        endpoint,
        CircuitBreaker(),
        SpendGuard(settings.llm_cloud_spend_limit_usd_per_hour),
    )


def build_router(kind: Literal["local", "hybrid", "cloud"], settings: Settings) -> Router:
    """A router for the policy ``kind``. A single-tier router takes its tier's valid answer
    whatever its margin (it measures the tier); ``hybrid`` escalates below ``llm_min_margin``."""
    if kind == "local":
        return Router(
            [TierSlot(local_tier(settings))], min_margin=0.0, prior_weight=settings.llm_prior_weight
        )
    if kind == "cloud":
        return Router([_cloud(settings)], min_margin=0.0, prior_weight=settings.llm_prior_weight)
    return Router(
        [TierSlot(local_tier(settings)), _cloud(settings)],
        min_margin=settings.llm_min_margin,
        prior_weight=settings.llm_prior_weight,
    )
