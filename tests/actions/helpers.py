"""Helpers for the action tests: targets, requests, a clock that moves the simulated cluster, and
a guarded run (observe → validate → guardrails → apply) standing in for the executor."""

from __future__ import annotations

from typing import Any

from actions import (
    CATALOGUE,
    ActionHistory,
    ActionResult,
    Guardrails,
    InMemoryActionHistory,
    KubernetesBackend,
    Observed,
    Verdict,
)
from actions.observed import PodOnNode, WorkloadState
from controlplane import ActionKind, ActionRequest, TargetKind, TargetRef
from testbed.cluster import Cluster
from tests.testbed.api_helpers import NS

NOW = 1_800_000_000.0


def deployment(name: str, namespace: str = NS) -> TargetRef:
    return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=name)


def pod(name: str, namespace: str = NS) -> TargetRef:
    return TargetRef(kind=TargetKind.POD, namespace=namespace, name=name)


def service(name: str, namespace: str = NS) -> TargetRef:
    return TargetRef(kind=TargetKind.SERVICE, namespace=namespace, name=name)


def node(name: str) -> TargetRef:
    return TargetRef(kind=TargetKind.NODE, name=name)


def request(
    kind: ActionKind | str,
    target: TargetRef,
    desired: dict[str, Any],
    observed: Observed | None = None,
    **extra: Any,
) -> ActionRequest:
    """A request decided on ``observed`` (its resourceVersion is the precondition)."""
    fields: dict[str, Any] = {
        "kind": kind,
        "target": target,
        "desired": desired,
        "reason": "test",
        "decided_by": "tests",
        "created_at": NOW,
    }
    if observed is not None:
        fields["precondition_resource_version"] = observed.resource_version
    return ActionRequest.model_validate(fields | extra)


class ClusterClock:
    """A clock on the simulated cluster: sleeping advances it (and is recorded)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.slept: list[float] = []

    def now(self) -> float:
        return self.cluster.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.cluster.advance(seconds)


def workload_of(backend: KubernetesBackend, target: TargetRef) -> WorkloadState:
    observed = backend.observe(target)
    assert observed.workload is not None, f"{target} has no workload state"
    return observed.workload


def pods_of(observed: Observed) -> list[PodOnNode]:
    assert observed.node is not None, f"{observed.target} has no node state"
    return observed.node.pods


def guarded(
    backend: KubernetesBackend,
    guardrails: Guardrails,
    req: ActionRequest,
    history: ActionHistory | None = None,
    now: float = NOW,
) -> tuple[Verdict, ActionResult | None]:
    """What the executor does, without persistence: apply only what the guardrails allow."""
    history = history if history is not None else InMemoryActionHistory()
    observed = backend.observe(req.target)
    spec = CATALOGUE[req.kind]
    if not spec.is_satisfied(req, observed):
        spec.validate(req, observed)
    verdict = guardrails.evaluate(req, observed, history, now)
    if not verdict.allowed:
        return verdict, None
    return verdict, backend.apply(req, observed)
