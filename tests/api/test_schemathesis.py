"""The API against its own OpenAPI document: schemathesis generates requests for every operation
(valid ones and ones that break the schema) and checks that none is answered with a 5xx and that
every answer matches what the document says of it (status code, content type, headers, body).

The app is the real one (:func:`api.create_app`) over a migrated SQLite store seeded with
incidents in several states, actions awaiting approval and controls in force, with an executor on
a testbed served over HTTP (so ``/actions`` and ``/actions/dry-run`` reach a cluster) and a chat
agent on a scripted model tier (so ``/chat`` answers): no route has a reason to answer 503, and
none may. Requests go through schemathesis's in-process ASGI transport with an admin token (a
second, smaller run with a viewer token); the runs are derandomized, so CI sends the same
requests every time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import CheckFunction, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi

from actions import Executor
from agents.chat import ChatAgent
from api import create_app
from controlplane import (
    ActionKind,
    ActionRequest,
    Incident,
    IncidentState,
    ReplicasState,
    Severity,
    Tier,
    TimelineEntry,
)
from controlplane.settings import Settings
from controlplane.store import Store, VerdictKind
from tests.agents.chat.conftest import router_of
from tests.agents.chat.factories import NS, deployment, seed
from tests.agents.factories import ScriptedTier

from .conftest import Tokens

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ADMIN_EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 20}
VIEWER_EXAMPLES = {GenerationMode.POSITIVE: 8}
MIN_REQUESTS = 1000
UNDOCUMENTED_ERRORS: set[str] = set()
"""Operations whose error status codes the document does not name (none now): their status
codes would not be checked against it, their bodies and content types would."""

DEPLOYMENTS = ("frontend", "geo", "search", "profile", "rate", "reservation", "nosuch")
NODES = ("general-000", "general-001", "nosuch")
TARGETS = ("deployment/hotel/geo", "service/hotel/search", "node/general-001", "pod/hotel/x-1")


@dataclass
class Seeded:
    """What the seeded store holds that a generated request may name."""

    now: float
    ids: dict[str, list[str]]
    """Record ids by path parameter."""
    reserved: dict[str, dict[str, list[str]]]
    """Ids by operation label and path parameter, for that operation alone (so approving does
    not decide every approval before rejecting gets its turn)."""

    def for_parameter(self, label: str, name: str) -> list[str]:
        return self.reserved.get(label, {}).get(name) or self.ids[name]


@dataclass
class Run:
    """What one pass over the operations sent and got back."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def _awaiting(store: Store, request: ActionRequest) -> tuple[str, str]:
    """Claim ``request`` and have it wait for a person: (action id, approval id)."""
    with store.write() as tx:
        claim = tx.actions.claim(request.idempotency_key, request, None)
        tx.actions.set_verdict(
            claim.record.id, VerdictKind.NEEDS_APPROVAL, rule="approval", reason="seeded"
        )
        approval = tx.approvals.request(claim.record.id, store.clock.now() + 900)
    return claim.record.id, approval.id


def _seed(store: Store) -> Seeded:
    """A diagnosed incident with its signal, decision and the action it ran; one that needs a
    person, with four actions awaiting approval; one resolved; a namespace pause and a
    silence in force."""
    rich = seed(store)
    now = store.clock.now()
    incidents = [rich.incident.id]
    for state, service in ((IncidentState.NEEDS_HUMAN, "search"), (IncidentState.OPEN, "rate")):
        incident = Incident(
            opened_at=now - 50,
            services=[service],
            namespace=NS,
            severity=Severity.MEDIUM,
            state=state,
            timeline=[TimelineEntry(at=now - 50, kind="created", summary="seeded")],
        )
        with store.write() as tx:
            incidents.append(tx.incidents.add(incident).id)
    with store.write() as tx:
        tx.incidents.move(incidents[2], IncidentState.RESOLVED, "seeded", now)
    waiting = [
        _awaiting(
            store,
            ActionRequest(
                kind=ActionKind.SCALE,
                target=deployment(name),
                desired=ReplicasState(replicas=3),
                reason=f"{name} saturated",
                decided_by="rules",
                incident_id=incidents[1],
                created_at=now - 40,
            ),
        )
        for name in ("search", "geo", "frontend", "profile")
    ]
    with store.write() as tx:
        paused = tx.controls.pause("payments", by="seed", comment="freeze")
        silenced = tx.controls.silence(
            "deployment/hotel/*", by="seed", comment="known", ends_at=now + 3600
        )
    approvals = [approval for _, approval in waiting]
    return Seeded(
        now=now,
        ids={
            "incident_id": incidents,
            "action_id": [rich.action.id] + [action for action, _ in waiting],
            "approval_id": approvals,
            "control_id": [paused.id, silenced.id],
        },
        reserved={
            "POST /approvals/{approval_id}/approve": {"approval_id": approvals[:2]},
            "POST /approvals/{approval_id}/reject": {"approval_id": approvals[2:]},
        },
    )


def _orders(seeded: Seeded) -> st.SearchStrategy[dict[str, Any]]:
    """Action orders the catalogue parses (the document types ``desired`` as any object)."""
    workload = st.builds(
        lambda name: {"kind": "deployment", "namespace": NS, "name": name},
        st.sampled_from(DEPLOYMENTS),
    )
    node = st.builds(lambda name: {"kind": "node", "name": name}, st.sampled_from(NODES))
    order = st.one_of(
        st.tuples(
            st.just("scale"),
            workload,
            st.builds(lambda n: {"type": "replicas", "replicas": n}, st.integers(0, 25)),
        ),
        st.tuples(
            st.just("restart"),
            workload,
            st.just({"type": "restart", "restarted_at": "2023-11-14T22:13:20Z"}),
        ),
        st.tuples(
            st.just("rollback"),
            workload,
            st.builds(lambda r: {"type": "revision", "revision": r}, st.integers(1, 3)),
        ),
        st.tuples(
            st.sampled_from(["cordon", "uncordon"]),
            node,
            st.builds(lambda u: {"type": "schedulable", "unschedulable": u}, st.booleans()),
        ),
        st.tuples(st.just("noop"), workload, st.just({"type": "none"})),
    )
    return st.builds(
        lambda kind_target_desired, incident: {
            "kind": kind_target_desired[0],
            "target": kind_target_desired[1],
            "desired": kind_target_desired[2],
            "reason": "fuzzed",
            "incident_id": incident,
        },
        order,
        st.none() | st.sampled_from(seeded.ids["incident_id"]),
    )


def _silences(seeded: Seeded) -> st.SearchStrategy[dict[str, Any]]:
    """Silences the store takes (the document's target pattern admits any kind)."""
    return st.builds(
        lambda target, lasts, maintenance: {
            "target": target,
            "ends_at": seeded.now + lasts,
            "comment": "fuzzed",
            "maintenance": maintenance,
        },
        st.sampled_from((*TARGETS, "deployment/hotel/*", "node/*")),
        st.floats(1, 1e6),
        st.booleans(),
    )


def _opt_outs(seeded: Seeded) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda target: {"target": target}, st.sampled_from(TARGETS))


BODIES: dict[str, Callable[[Seeded], st.SearchStrategy[dict[str, Any]]]] = {
    "POST /actions": _orders,
    "POST /actions/dry-run": _orders,
    "POST /controls/silences": _silences,
    "POST /controls/opt-outs": _opt_outs,
}
"""Valid bodies the document cannot describe, mixed in with the generated ones."""


def _strategy(
    operation: schemathesis.APIOperation, mode: GenerationMode, seeded: Seeded
) -> st.SearchStrategy[schemathesis.Case]:
    """Schemathesis's own cases for ``operation``; in positive mode also cases naming the
    seeded records (generated ids are almost never real ones) and valid bodies."""
    generated = operation.as_strategy(generation_mode=mode)
    if mode is not GenerationMode.POSITIVE:
        return generated
    names = [p.name for p in operation.path_parameters]
    if names:
        known = st.fixed_dictionaries(
            {n: st.sampled_from(seeded.for_parameter(operation.label, n)) for n in names}
        )
        real = known.flatmap(lambda ids: operation.as_strategy(path_parameters=ids))
        return st.one_of(generated, real)
    if operation.label in BODIES:
        bodies = BODIES[operation.label](seeded)
        return st.one_of(generated, bodies.flatmap(lambda b: operation.as_strategy(body=b)))
    return generated


Expect = Callable[[schemathesis.Case, int], str | None]


def _nothing_more(case: schemathesis.Case, status: int) -> str | None:
    return None


def _fuzz(
    app: FastAPI,
    token: str,
    examples: dict[GenerationMode, int],
    seeded: Seeded,
    checks: list[CheckFunction],
    expect: Expect = _nothing_more,
) -> Run:
    """Send up to ``examples`` generated requests per operation and mode with ``token``; the
    checks' failures (and ``expect``'s complaints) are collected, one per operation and mode."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    run = Run()
    operations = [operation for path in schema for operation in schema[path].values()]
    with asgi.get_client(schema.app) as client:
        for operation in operations:
            chosen = checks
            if operation.label in UNDOCUMENTED_ERRORS:
                chosen = [c for c in checks if c is not status_code_conformance]
            for mode, count in examples.items():
                if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                    continue  # nothing to break: /healthz and /readyz take no input
                exchange = _exchange(operation, mode, count, seeded, token, client, chosen, expect)
                try:
                    exchange(run)
                except (Exception, FailureGroup) as exc:  # collected, all reported at the end
                    run.failures.append(f"{operation.label} ({mode.value}): {exc}")
    return run


def _has_inputs(operation: schemathesis.APIOperation) -> bool:
    return any(True for _ in operation.iter_parameters()) or len(operation.body) > 0


def _exchange(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    count: int,
    seeded: Seeded,
    token: str,
    client: Any,
    checks: list[CheckFunction],
    expect: Expect,
) -> Callable[[Run], None]:
    """A Hypothesis test sending ``operation``'s cases, each checked as it is answered."""

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, seeded))
    def exchange(run: Run, case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"}, session=client)
        run.statuses[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=checks)
        complaint = expect(case, response.status_code)
        assert complaint is None, complaint

    return exchange


@pytest.fixture
def fuzz_app(settings: Settings, store: Store, executor: Executor) -> FastAPI:
    chat = ChatAgent(store, router_of(ScriptedTier(Tier.LOCAL)), executor=executor)
    return create_app(settings, store=store, executor=executor, chat=chat)


@pytest.mark.slow
def test_generated_requests_get_no_5xx_and_answers_match_the_document(
    fuzz_app: FastAPI, store: Store, tokens: Tokens
) -> None:
    seeded = _seed(store)
    run = _fuzz(fuzz_app, tokens.admin, ADMIN_EXAMPLES, seeded, CHECKS)
    assert not run.failures, "\n\n".join(run.failures)
    assert not [key for key in run.statuses if key[1] >= 500]
    assert run.requests >= MIN_REQUESTS, run.requests
    labels = {label for label, _ in run.statuses}
    ok = {label for label, status in run.statuses if 200 <= status < 300}
    assert labels == ok, sorted(labels - ok)  # every operation was reached, and succeeded


def test_a_viewer_token_reads_but_changes_nothing(
    fuzz_app: FastAPI, store: Store, tokens: Tokens
) -> None:
    seeded = _seed(store)
    with store.read() as tx:
        before = len(tx.audit.events())

    def refused_unless_read(case: schemathesis.Case, status: int) -> str | None:
        if case.method.upper() == "GET" or case.path == "/chat" or status == 403:
            return None  # reads and chat are a viewer's; the rest needs operator or admin
        return f"{case.method} {case.formatted_path} answered {status} to a viewer"

    run = _fuzz(fuzz_app, tokens.viewer, VIEWER_EXAMPLES, seeded, CHECKS, refused_unless_read)
    assert not run.failures, "\n\n".join(run.failures)
    assert any(status == 403 for _, status in run.statuses)
    assert any(status == 200 for _, status in run.statuses)
    with store.read() as tx:
        assert len(tx.audit.events()) == before
