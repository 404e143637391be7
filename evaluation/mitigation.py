"""Does the ``rules`` policy's first choice fix the fault, within policy?

Used as the ``after`` hook of :func:`evaluation.localization.run_scenario`: with the analysis of
the fault's signals in hand and the testbed still served, the ``rules`` policy decides, and its
chosen action goes through the real :class:`~actions.Executor` (default guardrails, a SQLite
store, the Kubernetes API over HTTP). An action the guardrails send to a person is approved by a
simulated operator after ``approve_after_s`` (within policy: the policy allows it with a
person's approval); a refused one is not retried. Then the simulation runs on and the
application's SLOs (the testbed's own accounting, the ground truth the harness may read) must be
met over a whole SLO window within ``recover_within_s`` of the action.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actions import Executor, Guardrails, KubernetesBackend, api_client
from agents.analysis import Analysis
from agents.policies import PolicyContext, make_policy
from controlplane.domain import Incident, Signal
from controlplane.store import ActionStatus, Store
from testbed.app import load_app
from testbed.slo import Snapshot, evaluate

from .localization import TICK_S, After, _Watch

__all__ = ["Mitigation", "mitigate_with_rules"]


@dataclass
class Mitigation:
    action: str | None
    status: str | None
    rule: str | None
    recovered_after_s: float | None
    """Seconds from the action to the end of the first SLO window met in full (None: never)."""

    @property
    def healed(self) -> bool:
        return self.status == ActionStatus.SUCCEEDED and self.recovered_after_s is not None


def mitigate_with_rules(
    database: Path,
    app_name: str,
    *,
    approve_after_s: float = 60.0,
    recover_within_s: float = 900.0,
    step_s: float = 60.0,
) -> After:
    """An ``after`` hook for :func:`~evaluation.localization.run_scenario` (see the module)."""

    def after(watch: _Watch, analysis: Analysis, signals: list[Signal]) -> Mitigation:
        cluster, clock = watch.cluster, watch.clock
        app = load_app(app_name)
        services = sorted({s.service for s in signals if s.service})
        nodes = sorted({s.node for s in signals if s.node})
        incident = Incident(
            services=services, nodes=nodes, namespace=app.namespace, opened_at=clock.now()
        )
        view = watch.collector.view
        assert view is not None
        decision = make_policy("rules").decide(
            incident, analysis, PolicyContext(view=view, now=clock.now())
        )
        chosen = decision.chosen
        if chosen is None:
            return Mitigation(None, None, None, None)
        store = Store.open(f"sqlite:///{database}", clock=clock, actor="harness")
        api = api_client(host=watch.url)
        executor = Executor(store, KubernetesBackend(api), Guardrails(), clock=clock)
        what = f"{chosen.action.kind} {chosen.action.target}"
        try:
            record = executor.submit(chosen.action)
            if record.status is ActionStatus.AWAITING_APPROVAL:
                for _ in range(round(approve_after_s / TICK_S)):
                    watch.tick(None)
                with store.write() as tx:
                    (approval,) = tx.approvals.for_action(record.id)
                    tx.approvals.decide(approval.id, "operator (simulated)", True)
                record = next(r for r in executor.reconcile() if r.id == record.id)
            if record.status is not ActionStatus.SUCCEEDED:
                rule = record.error
                if record.refused_by:
                    rule = f"{record.refused_by}: {record.verdict_reason}"
                return Mitigation(what, str(record.status), rule, None)
            acted = cluster.now
            marks = [Snapshot.take(cluster)]
            window = max(slo.window_s for slo in app.effective_slos())
            while cluster.now - acted < recover_within_s:
                for _ in range(round(step_s / TICK_S)):
                    watch.tick(None)
                marks.append(Snapshot.take(cluster))
                k = round(window / step_s)
                if len(marks) > k and all(
                    evaluate(marks[-1 - k], marks[-1], cluster.traffic, slo, app.namespace).met
                    for slo in app.effective_slos()
                ):
                    return Mitigation(what, str(record.status), None, cluster.now - acted)
            return Mitigation(what, str(record.status), None, None)
        finally:
            api.close()
            store.close()

    return after
