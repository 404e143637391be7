"""The autonomous loop: collect → detect → correlate → analyse → decide → guard → act → verify.

One :meth:`ControlLoop.tick` does all of it once. Every instance collects, detects and analyses
(so a standby is warm); only the leader (:class:`~controlplane.leader.LeaderElection`, when
one is given) correlates, decides and acts, carrying its epoch into every fenced write.

Incidents move through the kernel's state machine:

* ``open``/``diagnosing``: once an incident is ``decide_after_s`` old (a rate window: the first
  symptoms are often its callers', and half of their window predates the fault), or earlier
  when its top hypothesis scores ``sure_score``, analyse its signals, ask the
  policy (an incident the policy chose nothing for is analysed again when its signals or
  tried actions change, or ``reanalyse_s`` later, not every tick; an incident whose signals are
  all latency below ``act_latency_ms`` is watched, not acted on); the chosen action
  goes to the executor. Succeeded → ``mitigating`` → ``verifying`` (a :class:`Watch` starts);
  awaiting approval → ``mitigating`` (the executor runs it once approved; rejected by a person →
  escalated to ``needs_human``, never worked around with another action); refused or failed →
  remembered as tried, the next tick decides again; escalation, or nothing left → ``needs_human``.
  A policy that chooses nothing leaves the incident as it is.
* ``verifying``: the verifier's outcome: recovered → ``resolved``; regressed → the action's
  inverse runs and the incident goes back to ``diagnosing``; not recovered → ``diagnosing``
  (the next candidate).

The leader also takes the signals waiting in the store's inbox (alerts posted to the API's
webhook) and correlates them with its own, so an outside alert opens or joins an incident.

After a restart the loop rebuilds what it kept in memory from the store: actions already tried
for each incident, and a watch for incidents found in ``verifying`` (from the newest succeeded
action). Every step is narrated through ``say`` (one readable line each).
"""

from __future__ import annotations

import logging
import math
import signal as os_signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from actions import Executor
from agents.analysis import Analysis, Analyzer
from agents.policies import Policy, PolicyContext, tried_key
from agents.verify import Outcome, Verifier, Watch
from controlplane.clock import Clock
from controlplane.correlation import Correlator
from controlplane.domain import (
    SLO,
    ActionKind,
    ActionRequest,
    Decision,
    EscalationState,
    Incident,
    IncidentState,
    Signal,
)
from controlplane.exceptions import AIOpsError, StaleEpoch
from controlplane.loop_metrics import LoopMetrics
from controlplane.store import TAKE_LIMIT, ActionRecord, ActionStatus, Store
from forecasting.monitor import AnomalyMonitor, CapacityMonitor, describe
from telemetry import ClusterView, Collector, ViewSLOReader

if TYPE_CHECKING:
    from controlplane.leader import LeaderElection
    from controlplane.notify import Notifier

__all__ = ["DEFAULT_ENTRY_SLO", "ControlLoop", "TickReport"]

log = logging.getLogger(__name__)

DEFAULT_ENTRY_SLO = {"latency_quantile": 0.99, "latency_ms": 500.0, "error_ratio": 0.01}
"""The SLO every entry service (one the ingress gateway calls) gets when none is configured."""
INGRESS = "istio-ingressgateway"
_ACTIVE = (IncidentState.OPEN, IncidentState.DIAGNOSING)
_KEYED_PER_TARGET = (ActionKind.RESTART, ActionKind.DELETE_POD, ActionKind.BATCH)
"""Kinds whose requests carry a fresh stamp each time: tried once per kind and target."""


@dataclass
class TickReport:
    """What one tick did (for tests and the evaluation harness)."""

    at: float
    leader: bool
    signals: list[Signal] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


class ControlLoop:
    """The control plane's loop over one cluster; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        collector: Collector,
        slo_reader: ViewSLOReader,
        monitor: AnomalyMonitor,
        analyzer: Analyzer,
        correlator: Correlator,
        policy: Policy,
        executor: Executor,
        verifier: Verifier,
        clock: Clock,
        leader: LeaderElection | None = None,
        capacity: CapacityMonitor | None = None,
        learn_entry_slos: bool = True,
        reanalyse_s: float = 60.0,
        decide_after_s: float = 60.0,
        act_latency_ms: float = 100.0,
        sure_score: float = 0.85,
        say: Callable[[str], None] | None = None,
        notifier: Notifier | None = None,
        metrics: LoopMetrics | None = None,
    ) -> None:
        self.store, self.collector, self.slo_reader = store, collector, slo_reader
        self.monitor, self.capacity, self.analyzer = monitor, capacity, analyzer
        self.correlator, self.policy, self.executor = correlator, policy, executor
        self.verifier, self.clock, self.leader = verifier, clock, leader
        self.learn_entry_slos = learn_entry_slos
        self.say = say or (lambda line: log.info("%s", line))
        self.notifier = notifier
        """Told when an incident needs a person (handed over, or an action awaits approval)."""
        self.metrics = metrics or LoopMetrics.default()
        self.watches: dict[str, Watch] = {}
        self.tried: dict[str, set[str]] = {}
        self.reanalyse_s = reanalyse_s
        self.decide_after_s = decide_after_s
        self.act_latency_ms = act_latency_ms
        self.sure_score = sure_score
        """A hypothesis this strong is acted on before ``decide_after_s``."""
        """A latency-only incident is acted on once a signalled latency reaches this."""
        """An incident is first analysed this long after it opened: one rate window, so the
        symptoms describe the fault alone, and the callee's symptoms have joined the callers'."""
        self._idle: dict[str, tuple[tuple[int, int], float]] = {}
        """Incidents the policy chose nothing for: (signals, tried) then, and when."""
        self._stop = threading.Event()
        self._restored = False
        self.closers: list[Callable[[], object]] = []
        """Called by :meth:`close` (the HTTP clients :func:`~controlplane.runtime.build_loop`
        opened), before the store is closed."""

    # --- running ------------------------------------------------------------------------------

    def run(self, ticks: int | None = None, interval_s: float | None = None) -> None:
        """Tick every ``interval_s`` (real seconds) until stopped, ``ticks`` ran, or a signal.

        SIGINT and SIGTERM stop it after the current tick; the lease is then released so a
        standby takes over at once.
        """
        previous = self._install_signal_handlers()
        done = 0
        try:
            while not self._stop.is_set() and (ticks is None or done < ticks):
                started = self.clock.now()
                try:
                    self.tick()
                except AIOpsError as exc:  # one bad tick must not stop the control plane
                    self.say(f"tick failed: {exc}")
                    log.exception("tick failed")
                done += 1
                if interval_s:
                    self._stop.wait(max(0.0, interval_s - (self.clock.now() - started)))
        finally:
            self._restore_signal_handlers(previous)
            if self.leader is not None:
                self.leader.release()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Close the clients and the store (after :meth:`run` or the last :meth:`tick`)."""
        for close in self.closers:
            close()
        self.store.close()

    def _install_signal_handlers(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        handler = lambda signum, frame: self.stop()  # noqa: E731
        return {s: os_signal.signal(s, handler) for s in (os_signal.SIGINT, os_signal.SIGTERM)}

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            os_signal.signal(signum, handler)  # type: ignore[arg-type]

    # --- one tick -----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        started = time.perf_counter()
        report = self._tick()
        self.metrics.ticks.labels(leader="yes" if report.leader else "no").inc()
        self.metrics.tick_seconds.observe(time.perf_counter() - started)
        return report

    def _tick(self) -> TickReport:
        now = self.clock.now()
        view = self.collector.tick()
        self.analyzer.observe(view)
        if self.learn_entry_slos:
            self._learn_slos(view)
        signals = self.monitor.update(view)
        if self.capacity is not None:
            signals += self.capacity.update(view)
        epoch = self.leader.tick() if self.leader is not None else None
        leading = self.leader is None or epoch is not None
        report = TickReport(at=now, leader=leading, signals=signals)
        for signal in signals:
            self.say(f"signal: {describe(signal)}")
        if not leading:
            return report
        try:
            self._lead(view, signals, epoch, report)
        except StaleEpoch as exc:
            self.say(f"lost the lead ({exc}); standing by")
        return report

    def _lead(
        self, view: ClusterView, signals: list[Signal], epoch: int | None, report: TickReport
    ) -> None:
        if not self._restored:
            self._restore()
        for record in self.executor.reconcile(epoch):
            self.say(f"action {_action(record)}: {record.status} (reconciled)")
        status = self.slo_reader.status()
        # alerts from outside (the API's webhook) join the tick's signals, taken in the same
        # transaction that stores them with their incidents
        result = self.correlator.ingest(signals, status, inbox=TAKE_LIMIT)
        for signal in result.taken:
            self.say(f"signal from outside: {_outside(signal)}")
        report.signals.extend(result.taken)
        for incident_id in result.opened:
            self.say(f"incident {incident_id[:8]} opened")
            self._detected(incident_id)
        for incident_id in result.reopened:
            self.say(f"incident {incident_id[:8]} reopened")
        with self.store.read() as tx:
            incidents = tx.incidents.unresolved()
        for incident in incidents:
            if incident.state in _ACTIVE:
                self._decide(incident, view, epoch, report)
            elif incident.state is IncidentState.VERIFYING:
                self._verify(incident, epoch, report)
            elif incident.state is IncidentState.MITIGATING:
                self._await_approval(incident, epoch, report)

    # --- the incident's steps -----------------------------------------------------------------

    def _decide(
        self, incident: Incident, view: ClusterView, epoch: int | None, report: TickReport
    ) -> None:
        now = self.clock.now()
        with self.store.read() as tx:
            signals = tx.signals.for_incident(incident.id)
        tried = self.tried.setdefault(incident.id, set())
        if not tried and not self._material(signals, view):
            return  # a mild slowdown well inside every SLO: watched, not acted on
        evidence = (len(signals), len(tried))
        last = self._idle.get(incident.id)
        if (
            incident.state is IncidentState.DIAGNOSING
            and last is not None
            and last[0] == evidence
            and now - last[1] < self.reanalyse_s
        ):
            return  # the policy chose nothing on this evidence a moment ago
        analysis = self.analyzer.analyse(signals, incident.id)
        young = (
            incident.state is IncidentState.OPEN and now - incident.opened_at < self.decide_after_s
        )
        if young and (analysis.top is None or analysis.top.score < self.sure_score):
            return  # let the evidence gather: the first symptoms are often the callers'
        context = PolicyContext(view=view, now=now, tried=frozenset(tried))
        decision = self.policy.decide(incident, analysis, context)
        chosen = decision.chosen
        if chosen is None:
            self._idle[incident.id] = (evidence, now)
        if chosen is None and incident.state is IncidentState.DIAGNOSING:
            return  # nothing new to try; wait for more evidence
        with self.store.write() as tx:
            if incident.state is IncidentState.OPEN:
                tx.incidents.transition(incident.id, IncidentState.DIAGNOSING, _summary(analysis))
            tx.decisions.add(decision)
            for h in analysis.hypotheses[:3]:
                tx.incidents.append_timeline(
                    incident.id,
                    "hypothesis",
                    f"{h.target}: {h.label.system_level}/{h.label.fault_type}, score {h.score:.2f}",
                    ref_id=decision.id,
                )
        report.decisions.append(decision)
        who = f"incident {incident.id[:8]} ({', '.join(incident.services or incident.nodes)})"
        if analysis.top is not None:
            top = analysis.top
            self.say(
                f"{who}: most likely {top.target} ({top.label.system_level}/"
                f"{top.label.fault_type}), score {top.score:.2f}"
            )
        if chosen is None:
            self.say(f"{who}: policy {self.policy.name} chose no action")
            return
        request = chosen.action
        self.say(
            f"{who}: {self.policy.name} decided {_request(request)}: {chosen.expected_effect}"
            + _by_model(decision)
        )
        if request.kind is ActionKind.ESCALATE:
            self.executor.submit(request, epoch)
            self._move(incident, (IncidentState.NEEDS_HUMAN, "escalated: nothing left to try"))
            return
        record = self.executor.submit(request, epoch)
        report.actions.append(record)
        self.say(f"action {_action(record)}: {record.status}" + _why(record))
        self._after_action(incident, record, epoch)

    def _material(self, signals: list[Signal], view: ClusterView) -> bool:
        """Whether an incident is worth acting on: anything but latency, or a latency that
        reached ``act_latency_ms`` (an internal call gone from 20 to 40 ms is worth watching,
        not a restart)."""
        latency = ("/p99_ms", "/p50_ms")
        if not signals or any(not s.series.endswith(latency) for s in signals):
            return True
        values = view.series()
        return any(
            not math.isfinite(values.get(s.series, math.nan))
            or values[s.series] >= self.act_latency_ms
            for s in signals
        )

    def _after_action(self, incident: Incident, record: ActionRecord, epoch: int | None) -> None:
        if record.status is ActionStatus.SUCCEEDED:
            self._move(
                incident,
                (IncidentState.MITIGATING, f"{_request(record.request)} done"),
                (IncidentState.VERIFYING, "watching the SLOs"),
            )
            self._watch(incident, record)
        elif record.status is ActionStatus.AWAITING_APPROVAL:
            self._move(incident, (IncidentState.MITIGATING, "waiting for a person's approval"))
            if self.notifier is not None:
                self.notifier.approval_requested(incident, _request(record.request))
        else:  # refused, failed, dry run: try something else next tick
            self._tried(incident.id, record.request)

    def _tried(self, incident_id: str, request: ActionRequest) -> None:
        tried = self.tried.setdefault(incident_id, set())
        tried.add(request.idempotency_key)
        if request.kind in _KEYED_PER_TARGET:
            tried.add(tried_key(request))

    def _watch(self, incident: Incident, record: ActionRecord) -> None:
        stored = (record.result or {}).get("inverse")
        inverse = None if stored is None else ActionRequest.model_validate(stored)
        keys = self.verifier.watched(incident.services, incident.namespace)
        self.watches[incident.id] = self.verifier.start(
            incident.id, record.id, record.request, inverse, keys, self.clock.now()
        )

    def _verify(self, incident: Incident, epoch: int | None, report: TickReport) -> None:
        watch = self.watches.get(incident.id)
        if watch is None:
            return
        outcome = self.verifier.check(watch, self.clock.now())
        who = f"incident {incident.id[:8]}"
        if outcome is Outcome.RECOVERED:
            self._move(incident, (IncidentState.RESOLVED, "SLOs met and held"))
            self.say(f"{who}: SLOs met for {self.verifier.hold_s:.0f} s: resolved")
            report.resolved.append(incident.id)
            del self.watches[incident.id]
        elif outcome is Outcome.REGRESSED:
            self._tried(incident.id, watch.request)
            del self.watches[incident.id]
            self.say(f"{who}: SLOs got worse after {_request(watch.request)}: undoing it")
            if watch.inverse is not None:
                undo = self.executor.submit(watch.inverse, epoch)
                self.say(f"action {_action(undo)}: {undo.status}" + _why(undo))
            self._move(incident, (IncidentState.DIAGNOSING, "the action made things worse"))
        elif outcome is Outcome.NOT_RECOVERED:
            self._tried(incident.id, watch.request)
            del self.watches[incident.id]
            self.say(f"{who}: no recovery after {_request(watch.request)}: trying the next one")
            self._move(incident, (IncidentState.DIAGNOSING, "SLOs did not recover"))

    def _await_approval(self, incident: Incident, epoch: int | None, report: TickReport) -> None:
        with self.store.read() as tx:
            records = tx.actions.find(incident_id=incident.id)
        if not records:
            return
        newest = records[-1]
        if newest.status is ActionStatus.SUCCEEDED and incident.id not in self.watches:
            self._resume(incident, approved=True)
            self._move(incident, (IncidentState.VERIFYING, "approved action done"))
            self._watch(incident, newest)
        elif newest.status is ActionStatus.REFUSED and self._rejected(newest):
            self._resume(incident, approved=False)
            # a person said no: going around them with another action is not the loop's call
            request = ActionRequest(
                kind=ActionKind.ESCALATE,
                target=newest.request.target,
                desired=EscalationState(
                    reason=f"a person rejected {_request(newest.request)}: "
                    f"{newest.verdict_reason or 'no reason given'}"
                ),
                reason="the operator rejected the proposed action",
                decided_by=f"loop/{self.policy.name}",
                incident_id=incident.id,
                created_at=self.clock.now(),
            )
            self.executor.submit(request, epoch)
            self.say(
                f"incident {incident.id[:8]}: a person rejected {_request(newest.request)}; "
                "handed to a person"
            )
            self._move(incident, (IncidentState.NEEDS_HUMAN, "the proposed action was rejected"))
        elif newest.status in (ActionStatus.REFUSED, ActionStatus.FAILED):
            self._tried(incident.id, newest.request)
            self._move(incident, (IncidentState.DIAGNOSING, f"action {newest.status}"))

    def _resume(self, incident: Incident, *, approved: bool) -> None:
        """Tell a policy that paused for this approval (the model policies' graph) the answer."""
        resume = getattr(self.policy, "resume", None)
        if resume is not None:
            resume(incident.id, approved)

    def _rejected(self, record: ActionRecord) -> bool:
        """Whether a person rejected ``record`` (not the guardrails, not an expired request)."""
        with self.store.read() as tx:
            approvals = tx.approvals.for_action(record.id)
        return any(str(a.decision) == "rejected" for a in approvals)

    # --- bookkeeping --------------------------------------------------------------------------

    def _move(self, incident: Incident, *steps: tuple[IncidentState, str]) -> None:
        """Move the incident through ``steps`` (state, reason) in one transaction."""
        with self.store.write() as tx:
            for to, reason in steps:
                tx.incidents.transition(incident.id, to, reason)
        handed = [reason for to, reason in steps if to is IncidentState.NEEDS_HUMAN]
        if handed and self.notifier is not None:
            self.notifier.needs_human(incident, handed[-1])

    def _detected(self, incident_id: str) -> None:
        """Detection latency: from the earliest signal's start to now."""
        with self.store.read() as tx:
            starts = [s.start for s in tx.signals.for_incident(incident_id)]
        if starts:
            self.metrics.detection_latency.observe(max(0.0, self.clock.now() - min(starts)))

    def _restore(self) -> None:
        """Rebuild tried actions and watches from the store (after a restart or takeover)."""
        with self.store.read() as tx:
            incidents = tx.incidents.unresolved()
            for incident in incidents:
                records = tx.actions.find(incident_id=incident.id)
                tried = self.tried.setdefault(incident.id, set())
                for record in records:
                    if record.status in (ActionStatus.REFUSED, ActionStatus.FAILED):
                        tried.add(record.idempotency_key)
                    if record.request.kind in _KEYED_PER_TARGET:
                        tried.add(tried_key(record.request))
                done = [r for r in records if r.status is ActionStatus.SUCCEEDED]
                if (
                    incident.state is IncidentState.VERIFYING
                    and done
                    and incident.id not in (self.watches)
                ):
                    self._watch(incident, done[-1])
        self._restored = True

    def _learn_slos(self, view: ClusterView) -> None:
        have = {(s.namespace, s.service) for s in self.slo_reader.slos}
        for edge in view.edges.values():
            if edge.source == INGRESS and (edge.namespace, edge.destination) not in have:
                slo = SLO(service=edge.destination, namespace=edge.namespace, **DEFAULT_ENTRY_SLO)
                self.slo_reader.slos.append(slo)
                have.add((edge.namespace, edge.destination))
                self.say(
                    f"SLO for entry service {edge.namespace}/{edge.destination}: p99 <= "
                    f"{slo.latency_ms:g} ms, errors <= {slo.error_ratio:.0%} over "
                    f"{slo.window_s:g} s"
                )


def _by_model(decision: Decision) -> str:
    """How a model decided: tier, model, confidence, calls and why it escalated."""
    if not decision.calls:
        return ""
    confidence = "" if decision.confidence is None else f", confidence {decision.confidence:.2f}"
    escalated = f", escalated: {decision.escalation_reason}" if decision.escalation_reason else ""
    return (
        f" [{decision.agent} agent, {decision.tier} tier ({decision.model or 'no model'})"
        f"{confidence}, {len(decision.calls)} model call(s), {decision.latency_s:.2f} s{escalated}]"
    )


def _request(request: ActionRequest) -> str:
    desired = request.desired.model_dump(exclude={"type"})
    shown = ", ".join(f"{k}={v}" for k, v in desired.items())
    return f"{request.kind} {request.target}" + (f" ({shown})" if shown else "")


def _action(record: ActionRecord) -> str:
    return f"{record.id[:8]} {_request(record.request)}"


def _why(record: ActionRecord) -> str:
    if record.status is ActionStatus.REFUSED:
        return f" by {record.refused_by}: {record.verdict_reason}"
    if record.error:
        return f": {record.error}"
    return ""


def _outside(signal: Signal) -> str:
    """One line for a signal from outside (its series need not follow the detectors' names)."""
    where = signal.service or signal.node or "-"
    if signal.namespace and signal.service:
        where = f"{signal.namespace}/{signal.service}"
    return f"{signal.detector} {signal.series} on {where}, score {signal.score:.2f}"


def _summary(analysis: Analysis) -> str:
    top = analysis.top
    if top is None:
        return "analysed: no hypothesis"
    return f"analysed: most likely {top.target} ({top.label.fault_type})"
