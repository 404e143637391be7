"""Scoring one episode against its scenario's right outcome.

An :class:`EpisodeTrace` is what the harness saw happen, from the testbed's own accounting (the
ground truth, never shown to the control plane) and the episode's store: the SLOs tick by tick,
the replicas, the actions the policy took, its first analysis, its decisions. :func:`score`
turns a trace into the metrics of the public benchmarks for operations agents (AIOpsLab,
ITBench): detection, localization, mitigation success and time, SLO-violation minutes, cost,
actions, model use, escalation. It is a pure function so that constructed traces test it.

**Mitigation success** is the right outcome reached, not "all pods running":

* ``mitigate``: an action of an acceptable kind succeeded, and the SLOs were met at every tick
  of the episode's final ``hold_s`` (restored and held) — the time to mitigate runs from the
  onset to whichever came later, that action or the restoration (the start of the window
  judged at the first tick of the final good stretch);
* ``nothing``: no action at all (an escalation is an action: it pages a person; a deliberate
  ``noop`` is not);
* ``undo_within``: no action, or every deployment the policy changed back as it was by the end
  (which the scenario places ``within_s`` after the fault ends), SLOs held;
* ``scale_before``: a scale-out succeeded no later than ``breach_at_s`` after the onset and the
  SLOs held at the end;
* ``escalate``: the incident was handed to a person, and no action outside the acceptable ones
  succeeded.

and, for every kind, **no collateral damage**: no serving deployment at zero replicas (at the
end, or scaled there by the policy), no innocent revision rolled back (a rollback of a
deployment no fault changed), no new fault (a deployment available at the start but short of
its replicas over the whole final two minutes, the fault's own targets aside), and replica-hours
within ``cost_bound`` times the starting replicas' over the episode.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ActionTrace",
    "Choice",
    "EpisodeScore",
    "EpisodeTrace",
    "FaultTruth",
    "TickTrace",
    "risk_coverage",
    "score",
    "summarize",
]

CHANGING = {
    "scale",
    "restart",
    "rollback",
    "delete_pod",
    "cordon",
    "uncordon",
    "drain",
    "move",
    "set_resources",
    "revert_port",
}
"""Action kinds that change the cluster (``escalate`` and ``noop`` do not)."""
REVISION_FAULTS = {"bad-release", "crash-loop", "node-selector", "cpu-limit"}
"""Faults that make a new revision of their target: rolling those back is not innocent."""
UNAVAILABLE_GRACE_S = 120.0


@dataclass
class FaultTruth:
    name: str
    onset_s: float
    """Seconds after the episode's start."""
    root_kind: str
    root_names: list[str]
    namespace: str
    label: dict[str, str]
    mitigations: list[str]
    targets: list[str] = field(default_factory=list)
    """Deployments the fault itself strikes (excused from the new-fault check)."""
    ended_s: float | None = None


@dataclass
class ActionTrace:
    at_s: float
    kind: str
    target_kind: str
    target: str
    """The target's name (a deployment, node or pod)."""
    status: str
    desired: dict[str, Any] = field(default_factory=dict)
    inverse: bool = False
    """Run by the verifier to undo an earlier action."""


@dataclass
class TickTrace:
    at_s: float
    slo_met: bool
    """Every judged SLO met over the trailing minute (the testbed's own accounting)."""
    replicas: int
    """Desired replicas over the application's deployments."""
    zero: list[str] = field(default_factory=list)
    """Deployments that served at the start and now want zero replicas."""
    unavailable: list[str] = field(default_factory=list)
    """Deployments available at the start, now short of their replicas."""


@dataclass
class Choice:
    """One model decision, with what the rules policy would have chosen on the same case."""

    kinds: list[str]
    """The chosen action's kinds (a batch: its steps')."""
    rules_kinds: list[str]
    tier: str
    confidence: float | None
    cloud: bool
    """Whether the cloud tier was asked."""


@dataclass
class EpisodeTrace:
    scenario: str
    seed: int
    policy: str
    outcome: str
    hold_s: float
    cost_bound: float
    duration_s: float
    faults: list[FaultTruth]
    ticks: list[TickTrace]
    actions: list[ActionTrace]
    initial_replicas: int
    signals_s: list[float] = field(default_factory=list)
    incidents_s: list[float] = field(default_factory=list)
    escalated_s: float | None = None
    hypotheses: list[dict[str, str]] = field(default_factory=list)
    """The first analysis after the onset: its top hypotheses (kind, name, namespace, labels)."""
    acceptable: list[str] | None = None
    within_s: float | None = None
    breach_at_s: float | None = None
    judge_window_s: float = 0.0
    """The trailing window each tick's SLO verdict covers: a tick good over it means the SLOs
    have been met since the window's start."""
    changed_back: bool = True
    """``undo_within``: every deployment the policy changed is back as it was at the end."""
    decisions: int = 0
    model_calls: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    cost_usd: dict[str, float] = field(default_factory=dict)
    decide_modelled_s: float = 0.0
    decide_real_s: float = 0.0
    wall_s: float = 0.0
    choices: list[Choice] = field(default_factory=list)


@dataclass
class EpisodeScore:
    success: bool
    reason: str
    detected: bool | None
    """``None`` on a no-fault control."""
    false_positive: bool
    """An incident opened on a control, or before the onset."""
    ttd_s: float | None
    acc1: bool | None
    acc3: bool | None
    label_ok: bool | None
    ttm_s: float | None
    slo_violation_min: float
    replica_hours: float
    actions: int
    changing_actions: int
    escalated: bool
    collateral: list[str]
    choices: list[dict[str, Any]] = field(default_factory=list)
    """Model decisions judged: ``right`` and ``rules_right`` (the rules policy's choice on the
    same case), ``tier``, ``confidence``, ``cloud``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hit(hypothesis: dict[str, str], fault: FaultTruth, *, label: bool) -> bool:
    kind, name = hypothesis.get("kind"), hypothesis.get("name", "")
    if hypothesis.get("namespace") not in (None, "", fault.namespace):
        return False
    if fault.root_kind == "node":
        found = kind == "node" and name in fault.root_names
    elif kind == "pod":
        found = name.rsplit("-", 2)[0] in fault.root_names
    else:
        found = kind in ("service", "deployment") and name in fault.root_names
    if not label or not found:
        return found
    return hypothesis.get("system_level") == fault.label.get("system_level") and hypothesis.get(
        "fault_type"
    ) == fault.label.get("fault_type")


def _collateral(trace: EpisodeTrace) -> list[str]:
    problems: list[str] = []
    done = [a for a in trace.actions if a.status == "succeeded"]
    for action in done:
        if action.kind == "scale" and action.desired.get("replicas") == 0:
            problems.append(f"scaled {action.target} to zero")
    zero_at_end = trace.ticks[-1].zero if trace.ticks else []
    problems += [f"{name} at zero replicas at the end" for name in zero_at_end]
    changed = {n for f in trace.faults if f.name in REVISION_FAULTS for n in f.targets}
    for action in done:
        if action.kind == "rollback" and not action.inverse and action.target not in changed:
            problems.append(f"rolled back an innocent revision of {action.target}")
    excused = {n for f in trace.faults for n in f.targets}
    end = trace.ticks[-1].at_s if trace.ticks else 0.0
    last = [t for t in trace.ticks if t.at_s >= end - UNAVAILABLE_GRACE_S]
    if last and trace.actions:
        short = set(last[0].unavailable)
        for tick in last[1:]:
            short &= set(tick.unavailable)
        problems += [f"{name} left short of replicas" for name in sorted(short - excused)]
    hours = _replica_hours(trace)
    bound = trace.cost_bound * trace.initial_replicas * trace.duration_s / 3600
    if trace.initial_replicas and hours > bound + 1e-9:
        problems.append(f"{hours:.1f} replica-hours, over the bound of {bound:.1f}")
    return problems


def _replica_hours(trace: EpisodeTrace) -> float:
    if not trace.ticks:
        return 0.0
    total, previous = 0.0, 0.0
    for tick in trace.ticks:
        total += tick.replicas * (tick.at_s - previous)
        previous = tick.at_s
    return total / 3600


def _final_good_start(trace: EpisodeTrace) -> float | None:
    """When the final stretch of ticks with every SLO met began (None: the last tick failed)."""
    start = None
    for tick in reversed(trace.ticks):
        if not tick.slo_met:
            break
        start = tick.at_s
    return start


def score(trace: EpisodeTrace) -> EpisodeScore:
    onset = min((f.onset_s for f in trace.faults), default=None)
    if onset is None and trace.outcome == "scale_before":
        onset = 0.0  # the load alone outgrows the application: counted from the start
    fault = trace.faults[0] if trace.faults else None
    actions = [a for a in trace.actions if not a.inverse and a.kind != "noop"]
    changing = [a for a in actions if a.kind in CHANGING]
    done = [a for a in changing if a.status == "succeeded"]
    escalated = trace.escalated_s is not None
    false_positive = bool(
        trace.incidents_s if onset is None else [t for t in trace.incidents_s if t < onset]
    )
    detected = ttd = None
    if onset is not None:
        after = [t for t in trace.signals_s if t >= onset]
        detected = bool(after)
        ttd = min(after) - onset if after else None
    acc1 = acc3 = label_ok = None
    if fault is not None:
        tops = trace.hypotheses
        acc1 = bool(tops) and _hit(tops[0], fault, label=True)
        acc3 = any(_hit(h, f, label=True) for h in tops[:3] for f in trace.faults)
        label_ok = bool(tops) and (
            tops[0].get("system_level") == fault.label.get("system_level")
            and tops[0].get("fault_type") == fault.label.get("fault_type")
        )
    bad_ticks = sum(1 for t in trace.ticks if not t.slo_met and (onset is None or t.at_s > onset))
    tick_s = trace.ticks[1].at_s - trace.ticks[0].at_s if len(trace.ticks) > 1 else 15.0
    collateral = _collateral(trace)
    good_from = _final_good_start(trace)
    end = trace.ticks[-1].at_s if trace.ticks else 0.0
    held = good_from is not None and end - good_from >= trace.hold_s
    acceptable = set(
        trace.acceptable
        if trace.acceptable is not None
        else [m for f in trace.faults for m in f.mitigations]
    )
    success, reason, ttm = False, "", None
    kind = trace.outcome
    if kind == "nothing":
        success = not actions
        reason = "no action" if success else f"{len(actions)} action(s) where none was right"
    elif kind == "mitigate":
        fixes = [a for a in done if a.kind in acceptable]
        if not fixes:
            reason = "no acceptable mitigation succeeded"
        elif not held:
            reason = f"SLOs not restored and held for {trace.hold_s:.0f} s"
        else:
            assert good_from is not None and onset is not None
            first_fix = min(a.at_s for a in fixes)
            success, reason = True, f"{fixes[0].kind} {fixes[0].target}; SLOs held"
            restored = good_from - max(0.0, trace.judge_window_s - tick_s)
            ttm = max(first_fix, restored) - onset
    elif kind == "undo_within":
        if not done:
            success, reason = held, "no action; SLOs held" if held else "SLOs not held"
        elif not trace.changed_back:
            reason = "changes not undone in time"
        else:
            success, reason = held, "changes undone; SLOs held" if held else "SLOs not held"
    elif kind == "scale_before":
        assert onset is not None
        outs = [
            a
            for a in done
            if a.kind == "scale"
            and (trace.breach_at_s is None or a.at_s - onset <= trace.breach_at_s)
        ]
        if not outs:
            reason = "no scale-out before the breach"
        elif not held:
            reason = "SLOs not held"
        else:
            success, reason = True, f"scaled {outs[0].target} before the breach"
            ttm = outs[0].at_s - onset
    elif kind == "escalate":
        wrong = [a for a in done if a.kind not in acceptable]
        if not escalated:
            reason = "never escalated"
        elif wrong:
            reason = f"escalated, but {wrong[0].kind} {wrong[0].target} was not acceptable"
        else:
            assert trace.escalated_s is not None
            success, reason = True, "escalated to a person"
            ttm = trace.escalated_s - onset if onset is not None else None
    if success and collateral:
        success, reason = False, "collateral: " + "; ".join(collateral)
    choices = [
        {
            "right": _right(c.kinds, kind, acceptable),
            "rules_right": _right(c.rules_kinds, kind, acceptable),
            "tier": c.tier,
            "confidence": c.confidence,
            "cloud": c.cloud,
        }
        for c in trace.choices
    ]
    return EpisodeScore(
        success=success,
        reason=reason,
        detected=detected,
        false_positive=false_positive,
        ttd_s=ttd,
        acc1=acc1,
        acc3=acc3,
        label_ok=label_ok,
        ttm_s=ttm,
        slo_violation_min=bad_ticks * tick_s / 60,
        replica_hours=_replica_hours(trace),
        actions=len(actions),
        changing_actions=len(changing),
        escalated=escalated,
        collateral=collateral,
        choices=choices,
    )


def _right(kinds: list[str], outcome: str, acceptable: set[str]) -> bool:
    """Whether a choice of these action kinds is right for the scenario's outcome.

    ``nothing`` and ``undo_within``: no action (a deliberate ``noop`` is none, as in
    :func:`score`); ``escalate``: an escalation alone; ``scale_before``: scale-outs only;
    ``mitigate``: every kind among the acceptable ones.
    """
    kinds = [k for k in kinds if k != "noop"]
    if not kinds:
        return outcome in ("nothing", "undo_within")
    if outcome == "escalate":
        return kinds == ["escalate"]
    if outcome == "scale_before":
        return set(kinds) == {"scale"}
    if outcome == "mitigate":
        return set(kinds) <= acceptable
    return False


def risk_coverage(choices: Sequence[dict[str, Any]], points: int = 10) -> list[dict[str, float]]:
    """The risk-coverage curve of the model decisions: keep the most confident first (the rest
    would go to a person), and at each cut give the accuracy of those kept against their share.

    ``coverage`` is the decisions kept over **all** decisions, those the router already sent to
    a person (tier ``human``) included; those are never kept, so with any of them the last
    coverage is under 1. ``accuracy`` is the share of the kept decisions that were right. Up to
    ``points`` cuts at evenly spaced shares of the model's own decisions, coverage increasing (a
    cut that keeps no more than the one before is left out: fewer decisions than ``points``
    give fewer points); a decision without a confidence ranks as confidence 0, ties in input
    order. Empty when the model kept no decision.
    """
    ranked = sorted(
        (c for c in choices if c["tier"] != "human"),
        key=lambda c: -(c["confidence"] if c["confidence"] is not None else 0.0),
    )
    if not ranked:
        return []
    total = len(choices)
    curve: list[dict[str, float]] = []
    previous = 0
    for i in range(1, points + 1):
        keep = max(1, round(len(ranked) * i / points))
        if keep == previous:
            continue
        previous = keep
        kept = ranked[:keep]
        curve.append(
            {
                "coverage": round(keep / total, 4),
                "accuracy": round(sum(c["right"] for c in kept) / keep, 4),
            }
        )
    return curve


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One policy's figures over its episodes (``rows``: :func:`score` dicts with ``control``,
    ``tags``, ``fault`` and the trace's model use)."""
    faults = [r for r in rows if not r["control"]]
    controls = [r for r in rows if r["control"]]
    ttms = [r["ttm_s"] for r in rows if r["success"] and r["ttm_s"] is not None]
    acc1 = [bool(r["acc1"]) for r in faults]
    return {
        "episodes": len(rows),
        "mitigation_success": _mean([float(r["success"]) for r in rows]),
        "fault_success": _mean([float(r["success"]) for r in faults]),
        "control_success": _mean([float(r["success"]) for r in controls]),
        "false_positive_actions": sum(r["actions"] for r in controls),
        "median_ttm_s": statistics.median(ttms) if ttms else None,
        "median_ttd_s": statistics.median([r["ttd_s"] for r in faults if r["ttd_s"] is not None])
        if any(r["ttd_s"] is not None for r in faults)
        else None,
        "detection_rate": _mean([float(bool(r["detected"])) for r in faults]),
        "localization_acc1": _mean([float(a) for a in acc1]),
        "localization_acc3": _mean([float(bool(r["acc3"])) for r in faults]),
        "label_acc": _mean([float(bool(r["label_ok"])) for r in faults]),
        "actions_per_episode": _mean([float(r["actions"]) for r in rows]),
        "escalation_rate": _mean([float(r["escalated"]) for r in rows]),
        "slo_violation_min": _mean([r["slo_violation_min"] for r in rows]),
        "replica_hours": _mean([r["replica_hours"] for r in rows]),
        "model_calls": sum(sum(r.get("model_calls", {}).values()) for r in rows),
        "tokens": sum(sum(r.get("tokens", {}).values()) for r in rows),
        "cost_usd": sum(sum(r.get("cost_usd", {}).values()) for r in rows),
        "decide_real_s": sum(r.get("decide_real_s", 0.0) for r in rows),
        **_choice_figures([c for r in rows for c in r.get("choices", [])]),
    }


def _choice_figures(choices: list[dict[str, Any]]) -> dict[str, Any]:
    """The model decisions' figures (empty for a model-free policy)."""
    if not choices:
        return {}
    wrong_rules = [c for c in choices if not c["rules_right"]]
    return {
        "decisions": len(choices),
        "choice_acc": _mean([float(c["right"]) for c in choices]),
        "rules_choice_acc": _mean([float(c["rules_right"]) for c in choices]),
        "acc_where_rules_wrong": _mean([float(c["right"]) for c in wrong_rules]),
        "cases_rules_wrong": len(wrong_rules),
        "cloud_rate": _mean([float(c["cloud"]) for c in choices]),
        "human_rate": _mean([float(c["tier"] == "human") for c in choices]),
        "risk_coverage": risk_coverage(choices),
    }
