"""Outbound notifications: a JSON POST to a configured webhook when an incident needs a person
(it was handed over, or an action waits for approval).

``AIOPS_NOTIFY_WEBHOOK_URL`` turns it on. A notification that cannot be delivered (timeout,
connection refused, a non-2xx answer) is logged and recorded in the audit trail as
``notification.failed``; it never stops the loop. Delivered ones are recorded as
``notification.sent``. The body::

    {"kind": "needs_human" | "approval_requested", "incident_id": ..., "summary": ...,
     "services": [...], "severity": ..., "at": epoch seconds, "links": {"incident": URL}}
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from controlplane.domain import Incident
from controlplane.store import Store

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """Posts notifications to ``url``; ``console_url`` (the API's base URL) makes links."""

    def __init__(
        self,
        store: Store,
        url: str,
        *,
        timeout_s: float = 5.0,
        console_url: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.store, self.url, self.console_url = store, url, console_url
        self._client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def needs_human(self, incident: Incident, reason: str) -> bool:
        return self._send("needs_human", incident, reason)

    def approval_requested(self, incident: Incident, action: str) -> bool:
        return self._send("approval_requested", incident, f"waiting for approval: {action}")

    def _send(self, kind: str, incident: Incident, summary: str) -> bool:
        body: dict[str, Any] = {
            "kind": kind,
            "incident_id": incident.id,
            "summary": summary,
            "services": list(incident.services),
            "nodes": list(incident.nodes),
            "namespace": incident.namespace,
            "severity": str(incident.severity),
            "at": self.store.clock.now(),
        }
        if self.console_url:
            body["links"] = {"incident": f"{self.console_url.rstrip('/')}/#incident/{incident.id}"}
        try:
            response = self._client.post(self.url, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("notification to %s failed: %s", self.url, exc)
            self._audit("notification.failed", incident.id, {"kind": kind, "error": str(exc)})
            return False
        self._audit(
            "notification.sent", incident.id, {"kind": kind, "status": response.status_code}
        )
        return True

    def _audit(self, kind: str, incident_id: str, details: dict[str, Any]) -> None:
        with self.store.write() as tx:
            tx.audit.append(kind, incident_id, details)
