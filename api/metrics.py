"""``/metrics``: the control plane's own figures, in Prometheus' text format.

Two kinds. What the database knows is read at scrape time (so any API process tells the same
story, whichever process leads the loop): incidents by state, actions by status, the model
calls, tokens and escalations recorded with decisions. What only a running loop knows (ticks,
detection latency, the model calls made in this process) comes from the process's default
registry, where :mod:`controlplane.loop_metrics` and :class:`agents.llm.LLMMetrics` count.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from controlplane.domain import IncidentState
from controlplane.store import ActionStatus, Store
from controlplane.store.models import ActionRow, DecisionRow, IncidentRow

__all__ = ["StoreCollector", "render"]

_RULE_REASONS = frozenset({"verification_failed", "guardrail", "spend_limit", "circuit_open"})


class StoreCollector(Collector):
    """Gauges computed from the database, cached for ``ttl_s`` (a scrape every few seconds
    must not rescan the decisions table each time)."""

    def __init__(self, store: Store, ttl_s: float = 5.0) -> None:
        self.store, self.ttl_s = store, ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl_s:
                self._cached = (now, self._read())
            yield from self._cached[1]

    def _read(self) -> list[Metric]:
        with self.store.read() as tx:
            states = dict(
                tx.session.execute(
                    select(IncidentRow.state, func.count()).group_by(IncidentRow.state)
                ).all()
            )
            statuses = dict(
                tx.session.execute(
                    select(ActionRow.status, func.count()).group_by(ActionRow.status)
                ).all()
            )
            calls = tx.session.scalars(select(DecisionRow.calls)).all()
        incidents = GaugeMetricFamily("aiops_incidents", "Incidents by state.", labels=["state"])
        for state in IncidentState:
            incidents.add_metric([str(state)], states.get(str(state), 0))
        actions = GaugeMetricFamily("aiops_actions", "Actions by status.", labels=["status"])
        for status in ActionStatus:
            actions.add_metric([str(status)], statuses.get(str(status), 0))
        by_call: Counter[tuple[str, str]] = Counter()
        tokens: Counter[tuple[str, str]] = Counter()
        escalations: Counter[tuple[str, str]] = Counter()
        for decision_calls in calls:
            for call in decision_calls or []:
                tier = str(call.get("tier", "none"))
                by_call[tier, str(call.get("outcome", "ok"))] += 1
                tokens[tier, "prompt"] += int(call.get("prompt_tokens") or 0)
                tokens[tier, "output"] += int(call.get("output_tokens") or 0)
                reason = call.get("escalation_reason")
                if reason:
                    cause = "rule" if reason in _RULE_REASONS else "model"
                    escalations[str(reason), cause] += 1
        model_calls = GaugeMetricFamily(
            "aiops_recorded_model_calls",
            "Model calls recorded with decisions, by tier and outcome.",
            labels=["tier", "outcome"],
        )
        for (tier, outcome), n in sorted(by_call.items()):
            model_calls.add_metric([tier, outcome], n)
        model_tokens = GaugeMetricFamily(
            "aiops_recorded_model_tokens",
            "Tokens of the model calls recorded with decisions, by tier and direction.",
            labels=["tier", "direction"],
        )
        for (tier, direction), n in sorted(tokens.items()):
            model_tokens.add_metric([tier, direction], n)
        escalated = GaugeMetricFamily(
            "aiops_recorded_escalations",
            "Escalations recorded with decisions, by reason and cause (model confidence or rule).",
            labels=["reason", "cause"],
        )
        for (reason, cause), n in sorted(escalations.items()):
            escalated.add_metric([reason, cause], n)
        return [incidents, actions, model_calls, model_tokens, escalated]


def render(collector: StoreCollector) -> bytes:
    """The process's registry followed by the database's gauges."""
    own = CollectorRegistry(auto_describe=False)
    own.register(collector)
    return generate_latest(REGISTRY) + generate_latest(own)
