"""The specialists' graph as a policy: routing between specialists, the router's escalations,
the guard rule, approval through interrupt (resumed by another process from the checkpoint),
and the embedded model deciding for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agents.llm import LLMMetrics, Router, TierSlot
from agents.policies import PolicyContext
from agents.policies.agent import AgentPolicy
from agents.specialists import checkpointer_for
from controlplane import ActionKind, Decision, InvalidModelOutput, LLMUnavailable, Tier
from telemetry import ClusterView
from tests.agents.factories import (
    T0,
    ScriptedTier,
    bad_release,
    failing_node,
    incident,
    saturated,
)
from tests.databases import BACKENDS, fresh_database


def context(tried: frozenset[str] = frozenset()) -> PolicyContext:
    return PolicyContext(view=ClusterView(time=T0), now=T0, tried=tried)


def router(
    *tiers: ScriptedTier,
    min_margin: float = 1.0,
    prior_weight: float = 0.0,
    registry: CollectorRegistry | None = None,
) -> Router:
    return Router(
        [TierSlot(t) for t in tiers],
        min_margin=min_margin,
        prior_weight=prior_weight,
        metrics=LLMMetrics(registry or CollectorRegistry()),
    )


def chosen(decision: Decision) -> tuple[str, str]:
    assert decision.chosen is not None
    return str(decision.chosen.action.kind), decision.chosen.action.target.name


def test_a_confident_local_tier_decides_alone() -> None:
    local = ScriptedTier(Tier.LOCAL, prefer="rollback")
    cloud = ScriptedTier(Tier.CLOUD)
    policy = AgentPolicy("hybrid", router(local, cloud))
    decision = policy.decide(incident(), bad_release(), context())
    assert chosen(decision) == ("rollback", "search")
    assert decision.tier is Tier.LOCAL and decision.escalation_reason is None
    assert [c.tier for c in decision.calls] == [Tier.LOCAL]
    assert decision.agent == "remediation"
    assert cloud.seen == []
    assert policy.trace(decision.incident_id)[-1] == "supervisor: done"


def test_low_confidence_escalates_to_the_cloud_and_is_counted_as_the_models() -> None:
    registry = CollectorRegistry()
    local = ScriptedTier(Tier.LOCAL)  # uniform: no margin
    cloud = ScriptedTier(Tier.CLOUD, prefer="rollback")
    policy = AgentPolicy("hybrid", router(local, cloud, registry=registry))
    decision = policy.decide(incident(), bad_release(), context())
    assert chosen(decision) == ("rollback", "search")
    assert decision.tier is Tier.CLOUD
    assert decision.escalation_reason == "low_confidence"
    assert [(c.tier, c.outcome) for c in decision.calls] == [
        (Tier.LOCAL, "low_confidence"),
        (Tier.CLOUD, "ok"),
    ]
    assert decision.cost_usd > 0
    assert decision.cost_usd == pytest.approx(sum(c.cost_usd for c in decision.calls))
    got = registry.get_sample_value
    assert got("aiops_escalations_total", {"reason": "low_confidence", "kind": "model"}) == 1
    assert (
        got("aiops_model_calls_total", {"tier": "cloud", "model": "scripted", "outcome": "ok"}) == 1
    )


@pytest.mark.parametrize("failure", [LLMUnavailable, InvalidModelOutput])
def test_with_no_tier_left_the_incident_goes_to_a_person(failure: type[Exception]) -> None:
    local = ScriptedTier(Tier.LOCAL, fail=failure)
    cloud = ScriptedTier(Tier.CLOUD, fail=failure)
    decision = AgentPolicy("hybrid", router(local, cloud)).decide(
        incident(), bad_release(), context()
    )
    assert decision.chosen is not None
    assert decision.chosen.action.kind is ActionKind.ESCALATE
    assert decision.tier is Tier.HUMAN
    assert {c.outcome for c in decision.calls} == {
        "unavailable" if failure is LLMUnavailable else "invalid"
    }


def test_a_failed_verification_starts_at_the_cloud_tier_as_a_rule() -> None:
    registry = CollectorRegistry()
    local = ScriptedTier(Tier.LOCAL, prefer="rollback")
    cloud = ScriptedTier(Tier.CLOUD, prefer="restart search")
    analysis = bad_release()
    tried = frozenset({analysis.candidates[0].action.idempotency_key})
    policy = AgentPolicy("hybrid", router(local, cloud, registry=registry))
    decision = policy.decide(incident(), analysis, context(tried))
    assert local.seen == []
    assert decision.tier is Tier.CLOUD and decision.escalation_reason == "verification_failed"
    assert chosen(decision) == ("restart", "search")
    assert all("rollback" not in c.action.kind for c in decision.candidates)  # tried: not shown
    assert (
        registry.get_sample_value(
            "aiops_escalations_total", {"reason": "verification_failed", "kind": "rule"}
        )
        == 1
    )


def test_a_risky_local_choice_is_put_to_the_next_tier() -> None:
    local = ScriptedTier(Tier.LOCAL, prefer="rollback")
    cloud = ScriptedTier(Tier.CLOUD, prefer="rollback")
    decision = AgentPolicy("hybrid", router(local, cloud)).decide(
        incident(), bad_release(rollback_risk=0.8), context()
    )
    assert chosen(decision) == ("rollback", "search")
    assert decision.tier is Tier.CLOUD and decision.escalation_reason == "guardrail"
    assert len(cloud.seen) == 1


@pytest.mark.parametrize(
    ("analysis", "agent"),
    [(bad_release(), "remediation"), (saturated(), "capacity"), (failing_node(), "placement")],
)
def test_triage_routes_each_kind_of_incident_to_its_specialist(analysis, agent) -> None:
    local = ScriptedTier(Tier.LOCAL, prefer=".")
    decision = AgentPolicy("local", router(local, min_margin=0)).decide(
        incident(), analysis, context()
    )
    assert decision.agent == agent
    assert {p.agent for p in local.seen} == {agent}


def test_close_hypotheses_go_to_the_diagnosis_agent_first() -> None:
    local = ScriptedTier(Tier.LOCAL, by_position={"diagnosis": [0.0, 5.0]}, prefer=None)
    policy = AgentPolicy("local", router(local, min_margin=0))
    decision = policy.decide(
        incident("search", "frontend"), bad_release(second_score=0.88), context()
    )
    assert [p.agent for p in local.seen] == ["diagnosis", "remediation"]
    # the diagnosis agent chose the second cause: its remedy is the one offered
    assert {c.action.target.name for c in decision.candidates} <= {"frontend", "search"}
    assert any(c.action.target.name == "frontend" for c in decision.candidates)
    assert all(
        c.action.target.name != "search" or c.action.kind is ActionKind.ESCALATE
        for c in decision.candidates
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_action_needing_approval_pauses_and_another_process_resumes_it(
    tmp_path: Path, backend: str
) -> None:
    with fresh_database(backend, tmp_path) as database:
        _pause_and_resume(database.full_url)


def _pause_and_resume(url: str) -> None:
    local = ScriptedTier(Tier.LOCAL, prefer="rollback")
    needs = lambda kind: kind is ActionKind.ROLLBACK  # noqa: E731
    first = AgentPolicy(
        "local", router(local, min_margin=0), needs_person=needs, checkpointer=checkpointer_for(url)
    )
    decision = first.decide(incident(), bad_release(), context())
    assert chosen(decision) == ("rollback", "search")
    config = first._config(decision.incident_id)
    assert first.graph.get_state(config).next == ("approval",)
    # a new leader: another policy object on the same checkpoint database
    second = AgentPolicy(
        "local", router(local, min_margin=0), needs_person=needs, checkpointer=checkpointer_for(url)
    )
    try:
        trace = second.resume(decision.incident_id, approved=False)
        assert trace[-2:] == ["approval: rejected", "supervisor: handed to a person"]
        assert second.graph.get_state(config).next == ()
        assert second.resume(decision.incident_id, approved=True) == []  # nothing paused now
    finally:
        first.close()
        second.close()


def test_the_order_shown_is_shuffled_per_seed_but_repeatable() -> None:
    orders = set()
    case = incident()
    for seed in range(6):
        local = ScriptedTier(Tier.LOCAL, prefer="rollback")
        policy = AgentPolicy("local", router(local, min_margin=0), seed=seed)
        d = policy.decide(case, bad_release(), context())
        again = AgentPolicy(
            "local", router(ScriptedTier(Tier.LOCAL, prefer="rollback"), min_margin=0), seed=seed
        )
        assert [c.action.kind for c in again.decide(case, bad_release(), context()).candidates] == [
            c.action.kind for c in d.candidates
        ]
        orders.add(tuple(str(c.action.kind) for c in d.candidates))
        assert chosen(d) == ("rollback", "search")
    assert len(orders) > 1


@pytest.mark.llm
def test_the_embedded_model_really_decides() -> None:
    from agents.llm import EmbeddedModel

    model = EmbeddedModel()
    policy = AgentPolicy(
        "local", Router([TierSlot(model)], min_margin=0, metrics=LLMMetrics(CollectorRegistry()))
    )
    analysis = bad_release()
    decision = policy.decide(incident(), analysis, context())
    assert decision.tier is Tier.LOCAL and decision.model == model.model
    assert decision.chosen is not None
    assert decision.chosen in analysis.candidates
    (call,) = decision.calls
    assert call.prompt_tokens > 50 and call.output_tokens == 1 and call.latency_s > 0
    assert call.margin is not None and call.margin >= 0
    # the same case decides the same way
    assert policy.decide(incident(), analysis, context()).chosen == decision.chosen
