"""The OpenAI-compatible tiers against a real server on loopback (llama-cpp-python's server with
the bundled SmolLM2), behind a proxy that injects the faults a cloud API has: normal answers,
timeouts, 5xx, garbage output, and the spend limit. Each ends in a valid decision, an escalation
or the human queue; never in an action the model's output was not validated into."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from agents.llm import (
    CircuitBreaker,
    LLMMetrics,
    OpenAIEndpoint,
    Router,
    SpendGuard,
    TierSlot,
)
from agents.policies import PolicyContext
from agents.policies.agent import AgentPolicy
from agents.specialists import option_prompt
from controlplane import ActionKind, InvalidModelOutput, LLMUnavailable, Tier
from telemetry import ClusterView
from tests.agents.factories import T0, ScriptedTier, bad_release, incident

from .servers import Proxy, fault_proxy, llama_server

pytestmark = [pytest.mark.llm, pytest.mark.xdist_group("llama-server")]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with llama_server() as base:
        yield base


@pytest.fixture
def proxy(server: str) -> Iterator[Proxy]:
    with fault_proxy(server) as p:
        yield p


def cloud(url: str, **kwargs: object) -> OpenAIEndpoint:
    return OpenAIEndpoint(url, "smollm2-loopback", tier=Tier.CLOUD, timeout_s=30.0, **kwargs)


def prompt():  # type: ignore[no-untyped-def]
    analysis = bad_release()
    return option_prompt("remediation", ["search"], analysis.hypotheses, analysis.candidates)


def context() -> PolicyContext:
    return PolicyContext(view=ClusterView(time=T0), now=T0)


def router(*slots: TierSlot, min_margin: float = 0.0) -> Router:
    return Router(list(slots), min_margin=min_margin, metrics=LLMMetrics(CollectorRegistry()))


def test_a_normal_answer_is_a_validated_letter_with_log_probabilities(server: str) -> None:
    answer = cloud(server).answer(prompt())
    assert answer.letter in prompt().options
    assert answer.logprobs and answer.letter in answer.logprobs
    assert sum(pow(2.718281828, v) for v in answer.logprobs.values()) == pytest.approx(1, 1e-3)
    assert answer.prompt_tokens > 50 and answer.output_tokens >= 1


def test_a_timeout_is_unavailable_and_ends_in_the_human_queue(proxy: Proxy) -> None:
    proxy.mode = "slow"
    endpoint = OpenAIEndpoint(proxy.url, "smollm2-loopback", timeout_s=0.3)
    with pytest.raises(LLMUnavailable, match="timed out"):
        endpoint.answer(prompt())
    routed = router(TierSlot(endpoint)).choose(prompt())
    assert routed.to_human and routed.tier is Tier.HUMAN
    assert [c.outcome for c in routed.calls] == ["unavailable"]


def test_5xx_answers_open_the_circuit(proxy: Proxy) -> None:
    proxy.mode = "500"
    slot = TierSlot(cloud(proxy.url), CircuitBreaker(failures_to_open=2, cooldown_s=600))
    r = router(slot)
    outcomes = [r.choose(prompt()).calls[0].outcome for _ in range(3)]
    assert outcomes == ["unavailable", "unavailable", "skipped"]
    assert len(proxy.bodies) == 2  # the open circuit made no third request
    assert slot.breaker.state == "open"


@pytest.mark.parametrize(
    "garbage",
    [
        "Sure! I would delete all deployments.",
        '{"choice": "Z"}',
        '{"action": "delete", "target": "everything"}',
        '{"choice": "A", "kind": "delete_namespace"}extra',
    ],
)
def test_garbage_output_is_invalid_and_never_becomes_an_action(proxy: Proxy, garbage: str) -> None:
    proxy.mode = f"garbage:{garbage}"
    with pytest.raises(InvalidModelOutput):
        cloud(proxy.url).answer(prompt())
    # hybrid: an unsure local tier, then the garbage cloud: a person decides
    local = ScriptedTier(Tier.LOCAL)
    policy = AgentPolicy(
        "hybrid", router(TierSlot(local), TierSlot(cloud(proxy.url)), min_margin=1.0)
    )
    decision = policy.decide(incident(), bad_release(), context())
    assert decision.tier is Tier.HUMAN
    assert decision.chosen is not None and decision.chosen.action.kind is ActionKind.ESCALATE
    assert [c.outcome for c in decision.calls] == ["low_confidence", "invalid"]


def test_the_spend_limit_stops_escalations_before_the_request(proxy: Proxy) -> None:
    expensive = cloud(proxy.url, price_prompt_per_mtok=1000.0, price_output_per_mtok=1000.0)
    per_call = expensive.cost(expensive.estimate_tokens(prompt()), 16)
    slot = TierSlot(expensive, spend=SpendGuard(limit_usd_per_hour=per_call * 1.5))
    r = router(slot)
    first, second = r.choose(prompt()), r.choose(prompt())
    assert first.letter is not None and first.calls[0].cost_usd > 0
    assert second.to_human
    assert second.calls[0].outcome == "skipped" and second.escalation_reason == "spend_limit"
    assert len(proxy.bodies) == 1


def test_secrets_and_addresses_never_reach_the_cloud(proxy: Proxy) -> None:
    base = prompt()
    leaky = type(base)(
        base.system,
        base.user + "\nnote: db at 10.0.3.7:5432 password=hunter2 token=ab12cd34ef56ab78cd90",
        base.options,
        base.agent,
    )
    router(TierSlot(cloud(proxy.url))).choose(leaky)
    sent = str(proxy.bodies[-1])
    assert "10.0.3.7" not in sent and "hunter2" not in sent and "ab12cd34ef56" not in sent
    assert "[REDACTED" in sent and "search" in sent
