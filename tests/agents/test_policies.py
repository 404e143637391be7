"""The model-free policies and the verifier, on hand-built incidents, views and SLO statuses."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from agents.analysis import Analysis
from agents.policies import PolicyContext, make_policy, tried_key
from agents.verify import Outcome, Verifier
from controlplane.domain import (
    ActionKind,
    ActionRequest,
    Candidate,
    EscalationState,
    Incident,
    ReplicasState,
    SLOStatus,
    TargetKind,
    TargetRef,
)
from controlplane.exceptions import ConfigError
from telemetry import ClusterView, ServiceView

T0 = 1_700_000_000.0
NS = "shop"


def incident(*services: str) -> Incident:
    return Incident(services=list(services), namespace=NS, opened_at=T0)


def view(**services: ServiceView) -> ClusterView:
    return ClusterView(time=T0, services={f"{NS}/{k}": v for k, v in services.items()})


def request(kind: ActionKind, name: str, desired: object) -> ActionRequest:
    return ActionRequest(
        kind=kind,
        target=TargetRef(kind=TargetKind.DEPLOYMENT, namespace=NS, name=name),
        desired=desired,
        reason="test",
        decided_by="test",
        incident_id="inc",
        created_at=T0,
    )


def test_threshold_scales_hot_services_the_hpa_way_and_restarts_crashing_ones() -> None:
    hot = ServiceView(namespace=NS, name="cart", cpu_ratio=0.9, replicas=2)
    crashing = ServiceView(namespace=NS, name="pay", restarts=3, replicas=1)
    policy = make_policy("threshold")
    inc = incident("cart", "pay")
    decision = policy.decide(
        inc,
        Analysis(at=T0, onset=T0),
        PolicyContext(view=view(cart=hot, pay=crashing), now=T0),
    )
    kinds = [c.action.kind for c in decision.candidates]
    assert kinds == [ActionKind.SCALE, ActionKind.RESTART] and decision.choice == 0
    desired = decision.candidates[0].action.desired
    assert isinstance(desired, ReplicasState) and desired.replicas == 3  # ceil(2 * 0.9 / 0.6)
    tried = frozenset({decision.candidates[0].action.idempotency_key})
    tried |= {tried_key(decision.candidates[1].action)}
    again = policy.decide(
        inc,
        Analysis(at=T0, onset=T0),
        PolicyContext(view=view(cart=hot, pay=crashing), now=T0 + 60, tried=tried),
    )
    assert again.choice is None and again.candidates == []


def test_rules_takes_the_first_untried_candidate_and_escalates_last() -> None:
    scale = request(ActionKind.SCALE, "cart", ReplicasState(replicas=3))
    escalate = request(ActionKind.ESCALATE, "cart", EscalationState(reason="no idea"))
    analysis = Analysis(
        at=T0,
        onset=T0,
        candidates=[
            Candidate(action=scale, expected_effect="more room", risk=0.1),
            Candidate(action=escalate, expected_effect="a person looks", risk=0.0),
        ],
    )
    policy = make_policy("rules")
    ctx = PolicyContext(view=view(), now=T0)
    assert policy.decide(incident("cart"), analysis, ctx).choice == 0
    tried = PolicyContext(view=view(), now=T0, tried=frozenset({scale.idempotency_key}))
    assert policy.decide(incident("cart"), analysis, tried).choice == 1
    assert make_policy("noop").decide(incident("cart"), analysis, ctx).choice is None


def test_an_unknown_policy_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown policy 'magic'"):
        make_policy("magic")


class Reader:
    def __init__(self) -> None:
        self.now: dict[str, SLOStatus] = {}

    def set(self, met: bool, burn: float, at: float) -> None:
        self.now = {
            f"{NS}/front": SLOStatus(service="front", namespace=NS, met=met, burn_rate=burn, at=at)
        }

    def status(self) -> Mapping[str, SLOStatus]:
        return self.now


def test_the_verifier_needs_the_slos_held_and_catches_regressions_and_timeouts() -> None:
    reader = Reader()
    verifier = Verifier(reader, hold_s=120, deadline_s=600, grace_s=60)
    action = request(ActionKind.SCALE, "cart", ReplicasState(replicas=3))
    reader.set(False, 4.0, T0)
    keys = verifier.watched(["cart"], NS)
    assert keys == [f"{NS}/front"]  # no SLO of its own: the namespace's (the entry's)
    watch = verifier.start("inc", "a1", action, None, keys, T0)
    reader.set(True, 0.0, T0 + 30)
    assert verifier.check(watch, T0 + 30) is Outcome.PENDING
    assert verifier.check(watch, T0 + 149) is Outcome.PENDING
    assert verifier.check(watch, T0 + 150) is Outcome.RECOVERED
    worse = verifier.start("inc", "a2", action, None, keys, T0)
    reader.set(False, 9.0, T0 + 90)
    assert verifier.check(worse, T0 + 90) is Outcome.REGRESSED
    stuck = verifier.start("inc", "a3", action, None, keys, T0)
    reader.set(False, 4.0, T0 + 600)
    assert verifier.check(stuck, T0 + 300) is Outcome.PENDING
    assert verifier.check(stuck, T0 + 600) is Outcome.NOT_RECOVERED
