"""``/alerts/alertmanager``: Alertmanager's webhook (``webhook_configs`` with a bearer token of
role ``operator``). Each firing alert about a service or a node becomes a signal of kind
``alert`` in the inbox; the leading loop correlates it on its next tick, like its own
detectors' signals. Resolved alerts and alerts naming neither are counted as ignored: whether
an incident is over is the verifier's call, on the SLOs.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth import Caller, operator
from api.schemas import ERRORS, Alert, AlertmanagerPayload, AlertsAccepted
from controlplane.domain import Evidence, Signal, SignalKind
from controlplane.store import Store

__all__ = ["router", "to_signal"]

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERRORS)

SEVERITY_SCORE = {"critical": 1.0, "page": 1.0, "error": 0.9, "warning": 0.7, "info": 0.4}
SERVICE_LABELS = ("service", "app", "deployment", "job")
NODE_LABELS = ("node", "kubernetes_node", "nodename")


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)


def _start(value: str | None, now: float) -> float:
    """``startsAt`` (RFC 3339) as epoch seconds; now when absent, unparseable or in the
    future (a clock-skewed sender must not date an incident ahead of time)."""
    if not value:
        return now
    try:
        started = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return now
    return min(started, now) if started > 0 else now


def to_signal(alert: Alert, now: float) -> Signal | None:
    """The signal a firing alert stands for, or ``None`` (resolved, or about nothing known)."""
    if alert.status != "firing":
        return None
    labels = alert.labels
    service, node = _first(labels, SERVICE_LABELS), _first(labels, NODE_LABELS)
    if service is None and node is None:
        return None
    name = labels.get("alertname", "alert")
    severity = labels.get("severity", "warning").lower()
    evidence = [Evidence(name="alertname", value=name), Evidence(name="severity", value=severity)]
    summary = alert.annotations.get("summary")
    if summary:
        evidence.append(Evidence(name="summary", value=summary[:500]))
    key = alert.fingerprint or hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()
    return Signal(
        detector="alertmanager",
        series=f"alert/{name}/{service or node}"[:500],
        service=service,
        node=None if service else node,
        namespace=labels.get("namespace"),
        score=SEVERITY_SCORE.get(severity, 0.7),
        start=_start(alert.startsAt, now),
        kind=SignalKind.ALERT,
        evidence=evidence,
        id=hashlib.sha256(f"{key}@{alert.startsAt}".encode()).hexdigest()[:32],
    )


@router.post("/alertmanager", status_code=202, summary="Alertmanager's webhook.")
def alertmanager(
    request: Request, body: AlertmanagerPayload, caller: Annotated[Caller, Depends(operator)]
) -> AlertsAccepted:
    store: Store = request.app.state.ctx.store
    now = store.clock.now()
    signals = [s for s in (to_signal(a, now) for a in body.alerts) if s is not None]
    if signals:
        with store.write() as tx:
            tx.inbox.put(signals)
            tx.audit.append("alerts.received", None, {"signals": len(signals)}, actor=caller.name)
    return AlertsAccepted(accepted=len(signals), ignored=len(body.alerts) - len(signals))
