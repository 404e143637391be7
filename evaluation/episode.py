"""One evaluation episode: a scenario, a seed and a policy, in virtual time.

The real path, as in production: the testbed runs in this process and is served over HTTP on
127.0.0.1; the whole control loop (:func:`~controlplane.runtime.build_loop`, the policy under
test, default guardrails, a SQLite store of its own) sees it only through ``/metrics`` and the
Kubernetes API, in lockstep with the simulation (a tick every :data:`TICK_S`).

Warm-up is shared: a :class:`~evaluation.localization.Warmup` runs the application healthy
under the scenario's load and noise for :data:`WARM_S` (the detectors learn what normal looks
like) and keeps a checkpoint; every episode of that (application, load, noise, seed) forks the
cluster and the learned state there, so the policies are scored on the very same work.

The faults are injected at their onsets through the testbed's fault engine; a simulated operator
answers approvals; the harness reads the ground truth (SLOs from the testbed's own counters,
replicas, revisions) each tick into an :class:`~evaluation.scoring.EpisodeTrace`. An episode
ends when the time allowed is up or, with faults, once the right outcome cannot change any more
(SLOs held ``hold_s`` after an acceptable action, nothing unresolved). Time spent deciding is
charged to the virtual clock as the policy's modelled latency (:func:`modelled_latency` of each
model call: a fixed cost plus a cost per token per tier, fitted to this machine's measurements,
so an episode stays deterministic per seed; none for the model-free policies), the real time
recorded beside it.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions import batch_steps
from agents.analysis import Analysis
from agents.policies import Policy, PolicyContext, RulesPolicy
from controlplane.clock import ManualClock
from controlplane.domain import Candidate, Decision, Incident, ModelCall
from controlplane.runtime import LoopOptions, WarmState, build_loop
from controlplane.settings import Settings
from controlplane.store import ActionStatus, Store
from testbed.app import SLOSpec, load_app
from testbed.cluster import Cluster
from testbed.faults import FAULTS
from testbed.runner import TestbedServer
from testbed.slo import Snapshot, evaluate

from .embedded import simulated_operator
from .localization import PREFILL_S, TICK_S, Warmup, _eligible, _hosts, _strength, fork
from .scenario import DrawnScenario, Scenario
from .scoring import (
    ActionTrace,
    Choice,
    EpisodeScore,
    EpisodeTrace,
    FaultTruth,
    TickTrace,
    score,
)

__all__ = ["WARM_S", "EpisodeResult", "run_episode", "warm_key", "warmup"]

WARM_S = 3600.0
JUDGE_WINDOW_S = 60.0
"""A tick is good when every judged SLO was met over the trailing minute."""


def warm_key(scenario: Scenario, seed: int) -> str:
    noise = scenario.noise_config(seed)
    return "|".join(
        (scenario.app, scenario.load.key(), noise.model_dump_json() if noise else "-", str(seed))
    )


def warmup(scenario: Scenario, seed: int) -> Warmup:
    """The healthy run every episode of this (application, load, noise, seed) forks from."""
    return Warmup(
        scenario.app,
        seed,
        [WARM_S],
        noise=scenario.noise_config(seed),
        load=scenario.load.profile(scenario.app),
    ).run()


@dataclass
class EpisodeResult:
    trace: EpisodeTrace
    score: EpisodeScore
    lines: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The flat record the harness stores and reports."""
        trace = self.trace
        return {
            "scenario": trace.scenario,
            "seed": trace.seed,
            "policy": trace.policy,
            "outcome": trace.outcome,
            "control": not trace.faults and trace.outcome == "nothing",
            "fault": "+".join(f.name for f in trace.faults) or "none",
            "targets": [n for f in trace.faults for n in f.targets],
            "onset_s": min((f.onset_s for f in trace.faults), default=None),
            "duration_s": trace.duration_s,
            "model_calls": trace.model_calls,
            "tokens": trace.tokens,
            "cost_usd": trace.cost_usd,
            "decide_modelled_s": trace.decide_modelled_s,
            "decide_real_s": trace.decide_real_s,
            "wall_s": trace.wall_s,
            "action_list": [
                f"{a.at_s:.0f}s {a.kind} {a.target}: {a.status}" + (" (undo)" if a.inverse else "")
                for a in trace.actions
            ],
            **self.score.to_dict(),
        }


LATENCY_MODEL = {"local": (0.05, 0.0015, 0.03), "cloud": (0.8, 0.0005, 0.02)}
"""Per tier: seconds per call, per prompt token, per output token (the local tier: the embedded
135M model on 2 cores with its prefix cache; the cloud tier: a hosted API's round trip)."""


def modelled_latency(call: ModelCall) -> float:
    """The virtual seconds a model call is charged (a skipped call costs nothing)."""
    if call.outcome == "skipped":
        return 0.0
    base, per_in, per_out = LATENCY_MODEL.get(str(call.tier), LATENCY_MODEL["cloud"])
    return base + per_in * call.prompt_tokens + per_out * call.output_tokens


def _kinds(candidate: Candidate) -> list[str]:
    return [str(step.kind) for step in batch_steps(candidate.action)]


class _Recorded:
    """The policy under test, timed: its modelled latency is charged to the virtual clock, the
    real time recorded; the first analysis after the onset is kept for localization scores."""

    def __init__(self, inner: Policy, charge: Callable[[float], None]) -> None:
        self.inner, self.charge = inner, charge
        self.name = inner.name
        self.first: Analysis | None = None
        self.decisions: list[Decision] = []
        self.real_s = 0.0
        self.modelled_s = 0.0
        self.choices: list[Choice] = []

    def resume(self, incident_id: str, approved: bool) -> None:
        resume = getattr(self.inner, "resume", None)
        if resume is not None:
            resume(incident_id, approved)

    def decide(self, incident: Incident, analysis: Analysis, context: PolicyContext) -> Decision:
        started = time.perf_counter()
        decision = self.inner.decide(incident, analysis, context)
        self.real_s += time.perf_counter() - started
        if self.first is None:
            self.first = analysis
        self.decisions.append(decision)
        if decision.calls and decision.chosen is not None:
            # what the rules policy would have chosen on the same case, to judge the model by
            rules = RulesPolicy().decide(incident, analysis, context).chosen
            self.choices.append(
                Choice(
                    kinds=_kinds(decision.chosen),
                    rules_kinds=_kinds(rules) if rules is not None else [],
                    tier=str(decision.tier),
                    confidence=decision.confidence,
                    cloud=any(str(c.tier) == "cloud" for c in decision.calls),
                )
            )
        modelled = sum(modelled_latency(c) for c in decision.calls)
        if modelled:
            self.modelled_s += modelled
            self.charge(modelled)
        return decision


class _Judge:
    """The ground truth, tick by tick, from the testbed itself."""

    def __init__(self, cluster: Cluster, scenario: Scenario, start: float) -> None:
        self.cluster, self.start = cluster, start
        self.app = load_app(scenario.app)
        self.namespace = self.app.namespace
        self.slos = (
            tuple(SLOSpec(**s.model_dump()) for s in scenario.slos)
            if scenario.slos
            else self.app.effective_slos()
        )
        self.snapshots: deque[Snapshot] = deque(maxlen=round(JUDGE_WINDOW_S / TICK_S) + 1)
        self.snapshots.append(Snapshot.take(cluster))
        deployments = self._deployments()
        self.initial = {name: d.replicas for name, d in deployments.items()}
        self.available_at_start = {
            name for name, d in deployments.items() if self._available(d) >= d.replicas
        }
        self.ticks: list[TickTrace] = []

    def _deployments(self) -> dict[str, Any]:
        return {
            key[1]: d for key, d in self.cluster.deployments.items() if key[0] == self.namespace
        }

    @staticmethod
    def _available(deployment: Any) -> int:
        return int(deployment.status.get("availableReplicas") or 0)

    def record(self) -> TickTrace:
        self.snapshots.append(Snapshot.take(self.cluster))
        first, last = self.snapshots[0], self.snapshots[-1]
        met = all(
            evaluate(first, last, self.cluster.traffic, slo, self.namespace).met
            for slo in self.slos
        )
        deployments = self._deployments()
        tick = TickTrace(
            at_s=self.cluster.now - self.start,
            slo_met=met,
            replicas=sum(d.replicas for d in deployments.values()),
            zero=sorted(
                n for n, d in deployments.items() if d.replicas == 0 and self.initial.get(n)
            ),
            unavailable=sorted(
                n
                for n, d in deployments.items()
                if n in self.available_at_start and self._available(d) < d.replicas
            ),
        )
        self.ticks.append(tick)
        return tick

    def changed_back(self, touched: set[str]) -> bool:
        deployments = self._deployments()
        return all(
            name not in deployments or deployments[name].replicas == self.initial.get(name)
            for name in touched
        )


def _resolve_target(drawn: DrawnScenario, index: int, cluster: Cluster) -> dict[str, str]:
    fault = drawn.faults[index]
    if fault.target != "auto":
        return dict(fault.target)
    app = load_app(drawn.scenario.app)
    hosts = _hosts(cluster, drawn.scenario.app)
    options = _eligible(FAULTS[fault.fault], app, hosts)
    if FAULTS[fault.fault].target == "service" and fault.fault != "db-auth":
        # a fault on a service nobody calls and no SLO covers is not an incident: strike
        # services with callers
        options = [o for o in options if app.callers(o["service"])] or options
    return dict(drawn.rng.choice(options))


def run_episode(
    scenario: Scenario,
    seed: int,
    policy: str,
    *,
    warm: Warmup | None = None,
    settings: Settings | None = None,
    workdir: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> EpisodeResult:
    """Run one episode (see the module) and score it."""
    wall = time.perf_counter()
    drawn = scenario.draw(seed)
    warm = warm or warmup(scenario, seed)
    point = warm.checkpoints[WARM_S]
    cluster = fork(point.cluster)
    series, topology, events = copy.deepcopy((point.store, point.topology, point.events))
    state = WarmState(series, copy.deepcopy(point.monitor), topology, events)
    lines: list[str] = []
    app = load_app(scenario.app)

    def line(text: str) -> None:
        stamp = f"[{(cluster.now - start) / 60:6.1f} min] " if start is not None else ""
        lines.append(stamp + text)
        if say is not None:
            say(stamp + text)

    start: float | None = None
    owned = tempfile.TemporaryDirectory(prefix="aiops-episode-") if workdir is None else None
    folder = Path(owned.name) if owned is not None else workdir
    assert folder is not None
    charged = [0.0]

    def charge(seconds: float) -> None:
        cluster.advance(seconds)
        clock.advance(seconds)
        charged[0] += seconds

    try:
        with TestbedServer(cluster) as server:
            clock = ManualClock(cluster.now)
            base = settings or Settings()
            local = base.model_copy(
                update={
                    "testbed_url": server.url,
                    "kube_host": None,
                    "database_url": f"sqlite:///{folder / 'episode.db'}",
                }
            )
            loop = build_loop(
                local,
                clock,
                LoopOptions(policy=policy, tick_s=TICK_S, checkpoints=False),
                warm=state,
                say=line,
            )
            recorded = _Recorded(loop.policy, charge)
            loop.policy = recorded
            try:
                for _ in range(round(PREFILL_S / TICK_S)):  # fill the rate window
                    cluster.advance(TICK_S)
                    clock.advance(TICK_S)
                    loop.analyzer.observe(loop.collector.tick())
                start = cluster.now
                judge = _Judge(cluster, scenario, start)
                truths = _inject(drawn, cluster, app.namespace, line)
                trace = _run(
                    scenario, drawn, policy, loop, cluster, clock, judge, truths, charged, line
                )
                trace.decisions = len(recorded.decisions)
                trace.decide_real_s = recorded.real_s
                trace.decide_modelled_s = recorded.modelled_s
                for call in (c for d in recorded.decisions for c in d.calls):
                    if call.outcome == "skipped":
                        continue
                    tier = str(call.tier)
                    trace.model_calls[tier] = trace.model_calls.get(tier, 0) + 1
                    trace.tokens[tier] = (
                        trace.tokens.get(tier, 0) + call.prompt_tokens + call.output_tokens
                    )
                    trace.cost_usd[tier] = trace.cost_usd.get(tier, 0.0) + call.cost_usd
                trace.choices = recorded.choices
                if recorded.first is not None:
                    trace.hypotheses = [
                        {
                            "kind": str(h.target.kind),
                            "name": h.target.name,
                            "namespace": h.target.namespace or "",
                            "system_level": h.label.system_level.value,
                            "fault_type": h.label.fault_type.value,
                        }
                        for h in recorded.first.hypotheses[:3]
                    ]
            finally:
                loop.close()
    finally:
        if owned is not None:
            owned.cleanup()
    trace.wall_s = time.perf_counter() - wall
    result = score(trace)
    line(
        f"harness: {'SUCCESS' if result.success else 'FAILURE'} ({result.reason}); "
        f"{result.actions} action(s), {result.slo_violation_min:.1f} SLO-violation min"
    )
    return EpisodeResult(trace, result, lines)


def _inject(
    drawn: DrawnScenario, cluster: Cluster, namespace: str, line: Callable[[str], None]
) -> list[tuple[Any, dict[str, str]]]:
    out = []
    for i, fault in enumerate(drawn.faults):
        target = _resolve_target(drawn, i, cluster)
        strength = fault.strength
        if strength == "auto":
            strength = _strength(FAULTS[fault.fault], load_app(drawn.scenario.app), target)
        assert strength is None or isinstance(strength, float)
        active = cluster.fault_engine.inject(
            fault.fault,
            target,
            namespace=namespace,
            strength=strength,
            delay_s=fault.onset_s,
            duration_s=fault.duration_s,
        )
        out.append((active, target))
        where = ",".join(f"{k}={v}" for k, v in sorted(target.items())) or "the application"
        line(f"testbed: {fault.fault} on {where} at +{fault.onset_s:.0f} s (the loop is not told)")
    return out


def _truths(
    drawn: DrawnScenario, injected: list[tuple[Any, dict[str, str]]], start: float
) -> list[FaultTruth]:
    """The faults' ground truth, read at the end (a fault picks its victims at its onset)."""
    out = []
    for (active, target), fault in zip(injected, drawn.faults, strict=True):
        truth = active.truth()
        root = truth["root_cause"]
        targets = [target["service"]] if "service" in target else []
        if "destination" in target:
            targets = [target["source"], target["destination"]]
        ended = None
        if active.cleared_at is not None:
            ended = active.cleared_at - start
        elif active.duration is not None:
            ended = fault.onset_s + active.duration
        out.append(
            FaultTruth(
                name=fault.fault,
                onset_s=fault.onset_s,
                root_kind=str(root["kind"]),
                root_names=[n for n in str(root["name"]).split(",") if n],
                namespace=str(root["namespace"]),
                label=dict(truth["label"]),
                mitigations=list(truth["mitigations"]),
                targets=targets,
                ended_s=ended,
            )
        )
    if drawn.scenario.truth is not None and out:  # the scenario states the root cause itself
        stated = drawn.scenario.truth
        first = out[0]
        first.root_kind = stated.root_cause.get("kind", first.root_kind)
        first.root_names = [n for n in stated.root_cause.get("name", "").split(",") if n]
        first.label = dict(stated.label)
    return out


def _run(
    scenario: Scenario,
    drawn: DrawnScenario,
    policy: str,
    loop: Any,
    cluster: Cluster,
    clock: ManualClock,
    judge: _Judge,
    injected: list[tuple[Any, dict[str, str]]],
    charged: list[float],
    line: Callable[[str], None],
) -> EpisodeTrace:
    outcome = scenario.outcome
    signals_s: list[float] = []
    start = judge.start
    onset = min((f.onset_s for f in drawn.faults), default=None)
    acceptable = outcome.mitigations
    if acceptable is None:
        acceptable = sorted({m for f in drawn.faults for m in FAULTS[f.fault].mitigations})
    while cluster.now - start < scenario.time_allowed_s - 1e-6:
        step = max(0.0, TICK_S - charged[0])
        charged[0] = max(0.0, charged[0] - TICK_S)
        cluster.advance(step)
        clock.advance(step)
        report = loop.tick()
        if report.signals:
            signals_s.append(cluster.now - start)
        if scenario.operator is not None:
            simulated_operator(
                loop.store,
                cluster.now,
                scenario.operator.delay_s,
                line,
                approve=scenario.operator.approve,
            )
        judge.record()
        if (
            outcome.kind == "mitigate"
            and onset is not None
            and cluster.now - start > max(f.onset_s for f in drawn.faults)
            and _settled(loop.store, acceptable)
            and _held(judge.ticks, outcome.hold_s)
        ):
            break
    actions, escalated, incidents = _from_store(loop.store, start)
    touched = {
        a.target for a in actions if a.status == "succeeded" and a.target_kind == "deployment"
    }
    return EpisodeTrace(
        scenario=scenario.name,
        seed=drawn.seed,
        policy=policy,
        outcome=outcome.kind,
        hold_s=outcome.hold_s,
        cost_bound=outcome.cost_bound,
        duration_s=cluster.now - start,
        faults=_truths(drawn, injected, start),
        ticks=judge.ticks,
        actions=actions,
        initial_replicas=sum(judge.initial.values()),
        signals_s=signals_s,
        incidents_s=incidents,
        escalated_s=escalated,
        acceptable=acceptable,
        within_s=outcome.within_s,
        breach_at_s=outcome.breach_at_s,
        changed_back=judge.changed_back(touched),
        judge_window_s=JUDGE_WINDOW_S,
    )


def _settled(store: Store, acceptable: list[str]) -> bool:
    """An acceptable action succeeded and no incident is left unresolved."""
    with store.read() as tx:
        done = tx.actions.find(statuses={ActionStatus.SUCCEEDED})
        open_ = tx.incidents.unresolved()
    return not open_ and any(
        str(step.kind) in acceptable for r in done for step in batch_steps(r.request)
    )


def _held(ticks: list[TickTrace], hold_s: float) -> bool:
    if not ticks:
        return False
    end = ticks[-1].at_s
    recent = [t for t in ticks if t.at_s > end - hold_s - 1e-6]
    return end - recent[0].at_s >= hold_s - TICK_S - 1e-6 and all(t.slo_met for t in recent)


def _from_store(store: Store, start: float) -> tuple[list[ActionTrace], float | None, list[float]]:
    with store.read() as tx:
        records = tx.actions.find()
        incidents = tx.incidents.find()
    actions = []
    escalated = None
    for record in records:
        if str(record.request.kind) == "escalate":
            escalated = record.created_at - start if escalated is None else escalated
        for request in batch_steps(record.request):  # a batch is scored as its steps
            actions.append(
                ActionTrace(
                    at_s=(record.finished_at or record.created_at) - start,
                    kind=str(request.kind),
                    target_kind=str(request.target.kind),
                    target=request.target.name,
                    status=str(record.status),
                    desired=request.desired.model_dump(exclude={"type"}),
                    inverse=record.request.reason.startswith("undo "),
                )
            )
    for incident in incidents:
        if str(incident.state) == "needs_human" and escalated is None:
            escalated = incident.updated_at - start
    return actions, escalated, sorted(i.opened_at - start for i in incidents)
