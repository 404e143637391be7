"""Chaos Toolkit probes: a service's SLO, measured the way an operator's Prometheus measures it.

Both probes scrape the testbed's public ``/metrics`` twice, ``window_s`` wall seconds apart, and
evaluate the objective on the Istio counters of the requests into ``service`` (all callers
together): the share of requests answered with anything but 200, and a latency quantile from
``istio_request_duration_milliseconds`` (``histogram_quantile``). They read nothing else: not
the ground truth, not the Chaos Mesh objects.

The scrape URL is ``configuration["metrics_url"]`` if set, else ``testbed_url`` + ``/metrics``.
"""

import math
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration
from pydantic import ValidationError

from ..app import SLOSpec
from ..slo import evaluate_exposition, snapshot_from_exposition
from .client import get_text, testbed_url

__all__ = ["slo_met", "slo_report"]


def _metrics_url(configuration: Configuration) -> str:
    url = (configuration or {}).get("metrics_url")
    return str(url) if url else f"{testbed_url(configuration)}/metrics"


def slo_report(
    service: str,
    namespace: str,
    window_s: float = 3.0,
    latency_quantile: float = 0.99,
    latency_ms: float | None = 500.0,
    error_ratio: float | None = 0.01,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """The SLO of ``service`` over the next ``window_s`` seconds: what was measured, and if met.

    Returns ``requests``, ``error_ratio``, ``latency_ms`` (the ``latency_quantile``; ``None``
    without requests), the objective and ``met``. A ``None`` objective is not checked.
    """
    try:
        slo = SLOSpec(
            service=service,
            latency_quantile=float(latency_quantile),
            latency_ms=None if latency_ms in (None, "") else float(latency_ms),
            error_ratio=None if error_ratio in (None, "") else float(error_ratio),
            window_s=float(window_s),
        )
    except (ValidationError, TypeError, ValueError) as exc:
        raise ActivityFailed(f"invalid service level objective: {exc}") from None
    url = _metrics_url(configuration)
    before = snapshot_from_exposition(get_text(url), time.time())
    time.sleep(slo.window_s)
    after = snapshot_from_exposition(get_text(url), time.time())
    if not any(edge[2:] == (namespace, service) for edge in after.edges):
        raise ActivityFailed(
            f"{url} has no Istio requests into {namespace}/{service}: "
            "is the service name right, and does it receive traffic?"
        )
    result = evaluate_exposition(before, after, slo, namespace)
    return {
        "service": service,
        "namespace": namespace,
        "window_s": round(result.end - result.start, 3),
        "requests": result.requests,
        "error_ratio": result.error_ratio,
        "latency_quantile": slo.latency_quantile,
        "latency_ms": None if math.isnan(result.latency_ms) else result.latency_ms,
        "objective": {"latency_ms": slo.latency_ms, "error_ratio": slo.error_ratio},
        "met": result.met,
    }


def slo_met(
    service: str,
    namespace: str,
    window_s: float = 3.0,
    latency_quantile: float = 0.99,
    latency_ms: float | None = 500.0,
    error_ratio: float | None = 0.01,
    configuration: Configuration = None,
) -> bool:
    """True when ``service`` meets its SLO over the next ``window_s`` seconds (see
    :func:`slo_report`); the steady-state probe of every experiment."""
    report = slo_report(
        service, namespace, window_s, latency_quantile, latency_ms, error_ratio, configuration
    )
    return bool(report["met"])
