"""Severity from SLO impact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controlplane.domain import SLO, Severity, SLOStatus

__all__ = ["DEFAULT_FAST_BURN", "severity_for"]

DEFAULT_FAST_BURN: float = SLO.model_fields["burn_rate_fast"].default
"""The fast-burn threshold of a service without a known SLO (the SLO default, 14.4)."""


def severity_for(
    services: Iterable[str],
    capacity_only: bool,
    statuses: Mapping[str, SLOStatus],
    slos: Mapping[str, SLO] | None = None,
) -> Severity:
    """The severity the SLO impact on ``services`` calls for.

    ``critical`` when a service burns its error budget faster than its SLO's fast-burn
    threshold, ``high`` when its SLO is violated, ``medium`` otherwise, ``low`` for an incident of
    capacity warnings only.
    """
    severity = Severity.LOW if capacity_only else Severity.MEDIUM
    for service in services:
        status = statuses.get(service)
        if status is None:
            continue
        slo = (slos or {}).get(service)
        fast = slo.burn_rate_fast if slo is not None else DEFAULT_FAST_BURN
        if status.burn_rate > fast:
            return Severity.CRITICAL
        if not status.met:
            severity = Severity.HIGH
    return severity
