"""The ``batch`` action: several Deployments of one namespace scaled or restarted by one
decision, each step guarded as the action it stands for, applied and recorded as one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions import Executor, Guardrails, KubernetesBackend, batch_steps, parse_request
from actions.guardrails import Bounds, GuardrailConfig, ReplicaBounds
from controlplane import ActionKind, ActionRejected, ManualClock, ReplicasState
from controlplane.store import ActionStatus, Store
from tests.testbed.api_helpers import NS

from .helpers import NOW, deployment, request, workload_of


def batch(*steps: dict[str, Any], namespace: str = NS) -> dict[str, Any]:
    return {
        "kind": "batch",
        "target": {"kind": "namespace", "name": namespace},
        "desired": {"type": "batch", "steps": list(steps)},
        "reason": "test",
        "decided_by": "tests",
        "created_at": NOW,
    }


def scale_step(name: str, replicas: int) -> dict[str, Any]:
    return {"name": name, "desired": {"type": "replicas", "replicas": replicas}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'aiops.db'}", clock=ManualClock(NOW))
    yield store
    store.close()


@pytest.mark.parametrize(
    "payload",
    [
        batch(),
        batch(scale_step("geo", 2), scale_step("geo", 3)),
        batch({"name": "geo", "desired": {"type": "drain"}}),
        batch(scale_step("geo", -1)),
        {**batch(scale_step("geo", 2)), "target": {"kind": "deployment", "name": "geo"}},
    ],
    ids=["empty", "twice", "not-scale-or-restart", "negative", "not-a-namespace"],
)
def test_a_malformed_batch_never_becomes_a_request(payload: dict[str, Any]) -> None:
    with pytest.raises(ActionRejected):
        parse_request(payload)


def test_its_steps_are_the_single_requests_it_stands_for() -> None:
    parsed = parse_request(batch(scale_step("geo", 2), {"name": "rate", "desired": {
        "type": "restart", "restarted_at": "t"}}))  # fmt: skip
    steps = batch_steps(parsed)
    assert [(s.kind, s.target) for s in steps] == [
        (ActionKind.SCALE, deployment("geo")),
        (ActionKind.RESTART, deployment("rate")),
    ]
    assert len({s.idempotency_key for s in steps} | {parsed.idempotency_key}) == 3


def test_the_executor_runs_every_step_and_records_one_undoable_action(
    backend: KubernetesBackend, store: Store
) -> None:
    before = {name: workload_of(backend, deployment(name)).replicas for name in ("geo", "rate")}
    req = parse_request(batch(scale_step("geo", before["geo"] + 1), scale_step("rate", 3)))
    record = Executor(store, backend, Guardrails()).submit(req)
    assert record.status is ActionStatus.SUCCEEDED, (record.error, record.verdict_reason)
    assert workload_of(backend, deployment("geo")).replicas == before["geo"] + 1
    assert workload_of(backend, deployment("rate")).replicas == 3
    inverse = parse_request((record.result or {})["inverse"])
    assert [(s.target.name, s.desired) for s in batch_steps(inverse)] == [
        (name, ReplicasState(replicas=n)) for name, n in before.items()
    ]
    # the batch counts as an action on each of its Deployments
    again = request(ActionKind.SCALE, deployment("geo"), {"type": "replicas", "replicas": 5})
    refused = Executor(store, backend, Guardrails()).submit(again)
    assert (refused.status, refused.refused_by) == (ActionStatus.REFUSED, "cooldown")


def test_one_refused_step_refuses_the_batch_and_nothing_is_written(
    backend: KubernetesBackend, store: Store
) -> None:
    bounds = ReplicaBounds(services={f"{NS}/rate": Bounds(min=1, max=2)})
    guardrails = Guardrails(GuardrailConfig(replicas=bounds))
    before = workload_of(backend, deployment("geo")).replicas
    req = parse_request(batch(scale_step("geo", before + 1), scale_step("rate", 3)))
    record = Executor(store, backend, guardrails).submit(req)
    assert (record.status, record.refused_by) == (ActionStatus.REFUSED, "replica_bounds")
    assert "deployment/hotel/rate" in (record.verdict_reason or "")
    assert workload_of(backend, deployment("geo")).replicas == before
