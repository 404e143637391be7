"""Localization on the live testbed: every fault of the library, on both applications.

Each application runs healthy under constant load with every kind of benign noise, served over
HTTP, collected every 15 s (``/metrics`` scrape and Kubernetes events), watched by the anomaly
monitor and learned by the analyzer (:mod:`evaluation.localization`). The fault runs fork that
run at :data:`CHECKPOINT_S` (the testbed is deterministic per seed: rebuild, advance without
scraping, refill the collector), inject the fault on the target the fault-library tests choose
(``tests.testbed.test_faults.choose_target``), and analyse one minute after the first signal,
reading pod logs and the cluster's objects through the Kubernetes API. The ground truth is read
only to check: the root cause must be the top hypothesis with the fault's label, and the first
candidate action for it one of the fault's documented mitigations.

``demand-growth`` runs at 8x the profile per hour (capacity runs out within a quarter of an hour;
at the default 1x it takes hours, the capacity monitor's case).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from actions import batch_steps
from agents.analysis import Analysis
from evaluation.localization import (
    Outcome,
    Scenario,
    Warmup,
    build_cluster,
    fork,
    run_scenario,
)
from evaluation.mitigation import Mitigation, mitigate_with_rules
from testbed.app import load_app
from testbed.faults import FAULTS
from testbed.metrics import render
from tests.testbed.test_faults import (
    APPS,
    choose_strength,
    choose_target,
    single_replica_with_callers,
)

SEED = 11
CHECKPOINT_S = 2700.0
GROWTH_PER_HOUR = 8.0
APP_PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(f"analysis-{a}")) for a in APPS]


@functools.cache
def warmup(app_name: str) -> Warmup:
    return Warmup(app_name, SEED, [CHECKPOINT_S]).run()


def scenario(app_name: str, fault: str) -> Scenario:
    app = load_app(app_name)
    definition = FAULTS[fault]
    cluster = build_cluster(app, SEED, noise=None)
    target = choose_target(definition, app, cluster)
    if definition.target == "node":  # where the service's pod is at the checkpoint
        service = single_replica_with_callers(app)
        hosts = warmup(app_name).hosts[CHECKPOINT_S]
        target = {"node": next(n for n, names in hosts.items() if service in names)}
    strength = choose_strength(definition, app, target)
    if fault == "demand-growth":
        strength = GROWTH_PER_HOUR
    return Scenario(app_name, SEED, fault, target, CHECKPOINT_S, delay_s=7.0, strength=strength)


def first_kinds(analysis: Analysis) -> set[str]:
    """The kinds the top hypothesis's first candidate carries out (a batch: its steps')."""
    first = next((c for c in analysis.candidates if c.hypothesis_index == 0), None)
    return {str(step.kind) for step in batch_steps(first.action)} if first else set()


def describe(outcome: Outcome) -> str:
    analysis = outcome.analysis
    lines = [outcome.scenario.describe(), f"truth: {outcome.truth['root_cause']}"]
    for h in analysis.hypotheses[:5] if analysis else []:
        lines.append(f"  {h.score:.2f} {h.target} {h.label.fault_type}: {h.summary}")
    return "\n".join(lines)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("app_name", APP_PARAMS)
def test_the_root_cause_is_found_and_its_remedy_offered(app_name: str, fault: str) -> None:
    outcome = run_scenario(scenario(app_name, fault), warmup(app_name))
    assert outcome.detected, f"{fault}: no signal"
    assert outcome.rank == 0, describe(outcome)
    assert outcome.analysis is not None
    kinds = first_kinds(outcome.analysis)
    assert kinds and kinds <= set(outcome.truth["mitigations"]), (kinds, outcome.truth)
    last = outcome.analysis.candidates[-1]
    assert last.action.kind == "escalate"


@pytest.mark.parametrize("app_name", APP_PARAMS)
def test_the_healthy_run_raises_no_signal(app_name: str) -> None:
    assert warmup(app_name).signals == []


def test_a_forked_cluster_continues_as_a_rebuilt_one() -> None:
    app = load_app(APPS[1])
    original = build_cluster(app, SEED)
    original.advance(300)
    copy = fork(original)
    rebuilt = build_cluster(app, SEED)
    rebuilt.advance(300)
    for cluster in (original, copy, rebuilt):
        cluster.advance(60)
    assert render(copy) == render(rebuilt) == render(original)


# The rules policy's first choice, through the executor with the default guardrails, must heal
# every fault: the application's SLOs met over a whole window within 15 minutes of the action
# (evaluation.mitigation). Where several workloads need the same fix (every client of a rotated
# database, every saturated service of a surge) the first choice is one batch of them; where a
# restart would not outlast a memory leak, a memory limit sized to last it (approved by the
# simulated operator).
HEAL_CASES = [
    pytest.param(a, f, marks=pytest.mark.xdist_group(f"analysis-{a}"), id=f"{f}@{a}")
    for a in APPS
    for f in FAULTS
]


@pytest.mark.parametrize(("app_name", "fault"), HEAL_CASES)
def test_the_rules_policys_first_choice_heals_within_policy(
    app_name: str, fault: str, tmp_path: Path
) -> None:
    after = mitigate_with_rules(tmp_path / "aiops.db", app_name)
    outcome = run_scenario(scenario(app_name, fault), warmup(app_name), after=after)
    result = outcome.after
    assert isinstance(result, Mitigation), describe(outcome)
    assert result.status == "succeeded", (result.action, result.status, result.rule)
    assert result.recovered_after_s is not None, f"{result.action}: SLOs not back in 15 min"
