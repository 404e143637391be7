"""The executor against a running testbed and a real store (SQLite and PostgreSQL).

Covers the path validate → guardrails → intent → execute → result with its audit trail; replay;
refusals that leave the cluster unchanged; approvals; bad input; fencing; two executors racing on
one PostgreSQL database; and an executor process killed with SIGKILL at random moments, restarted
until its plan is done, with no action lost or run twice.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from actions import KubernetesBackend, api_client
from actions.executor import MISSING_TARGET_RULE, PRECONDITION_RULE, Executor
from actions.guardrails import GuardrailConfig, Guardrails, ReplicaBounds
from controlplane.clock import ManualClock
from controlplane.domain import (
    ActionKind,
    ActionRequest,
    ReplicasState,
    RevisionState,
    TargetKind,
    TargetRef,
)
from controlplane.exceptions import ActionRejected, StaleEpoch
from controlplane.store import ActionStatus, Store
from testbed.cluster import Cluster
from testbed.runner import free_port
from testbed.server import create_app

from ..databases import migrated_postgres
from .conftest import settled_cluster
from .crash_worker import NS, SERVICES, STEPS, plan, replicas_at

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_000_000.0


def deployment(name: str) -> TargetRef:
    return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=NS, name=name)


def scale(name: str, replicas: int, **extra: Any) -> ActionRequest:
    fields: dict[str, Any] = {"incident_id": "inc-1", **extra}
    return ActionRequest(
        kind=ActionKind.SCALE,
        target=deployment(name),
        desired=ReplicasState(replicas=replicas),
        reason="test",
        decided_by="test",
        created_at=T0,
        **fields,
    )


def replicas(cluster: Cluster, name: str) -> int:
    return int(cluster.deployments[(NS, name)].replicas)


class Writes(BaseHTTPMiddleware):
    """Records every request that changed something and succeeded: (method, path)."""

    def __init__(self, app: Any, log: list[tuple[str, str]]) -> None:
        super().__init__(app)
        self.log = log

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if request.method in {"POST", "PUT", "PATCH", "DELETE"} and response.status_code < 300:
            self.log.append((request.method, request.url.path))
        return response


class ServedTestbed:
    """A settled hotel testbed served over HTTP with a log of the writes it accepted."""

    def __init__(self) -> None:
        self.cluster = settled_cluster()
        self.writes: list[tuple[str, str]] = []
        app = create_app(self.cluster)
        app.add_middleware(Writes, log=self.writes)
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedTestbed:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "testbed server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def deployment_writes(self, name: str) -> int:
        paths = (f"/deployments/{name}", f"/deployments/{name}/scale")
        return sum(1 for _, path in self.writes if path.endswith(paths))


@pytest.fixture
def testbed() -> Iterator[ServedTestbed]:
    with ServedTestbed() as tb:
        yield tb


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
def backend(testbed: ServedTestbed) -> Iterator[KubernetesBackend]:
    backend = KubernetesBackend(api_client(host=testbed.url), timeout_s=10)
    yield backend
    backend.close()


def executor(store: Store, backend: KubernetesBackend, **config: Any) -> Executor:
    return Executor(store, backend, Guardrails(GuardrailConfig(**config)), clock=store.clock)


def audit_kinds(store: Store, subject: str) -> list[str]:
    with store.read() as tx:
        return [e.kind for e in tx.audit.events(subject_id=subject)]


# --- the path -------------------------------------------------------------------------------


def test_an_allowed_action_runs_once_with_its_intent_first(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed
) -> None:
    record = executor(store, backend).submit(scale("search", 3))
    assert record.status is ActionStatus.SUCCEEDED, record
    assert replicas(testbed.cluster, "search") == 3
    assert record.result is not None and record.result["status"] == "applied"
    inverse = record.result["inverse"]  # the undo, from the state before: back to 2 replicas
    assert inverse["kind"] == "scale" and inverse["desired"]["replicas"] == 2
    assert audit_kinds(store, record.id) == [
        "action.claimed",
        "action.approved",
        "action.running",
        "action.succeeded",
    ]
    writes = testbed.deployment_writes("search")
    again = executor(store, backend).submit(scale("search", 3))  # a replay
    assert again.id == record.id and again.status is ActionStatus.SUCCEEDED
    assert testbed.deployment_writes("search") == writes == 1


def test_a_refused_action_names_its_rule_and_leaves_the_cluster_alone(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed
) -> None:
    version = testbed.cluster.rv
    bounds = ReplicaBounds.model_validate({"default": {"min": 1, "max": 4}})
    record = executor(store, backend, replicas=bounds).submit(scale("search", 9))
    assert record.status is ActionStatus.REFUSED
    assert record.refused_by == "replica_bounds" and "4" in (record.verdict_reason or "")
    assert testbed.cluster.rv == version and not testbed.writes
    assert audit_kinds(store, record.id)[-1] == "action.refused"


def test_an_action_that_needs_a_person_waits_and_runs_once_approved(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed, clock: ManualClock
) -> None:
    request = ActionRequest(
        kind=ActionKind.ROLLBACK,
        target=deployment("profile"),
        desired=RevisionState(revision=1),
        reason="test",
        decided_by="test",
        created_at=T0,
    )
    run = executor(store, backend, cooldown_seconds=0)
    record = run.submit(request)
    # revision 1 is the current one: nothing to do, nothing sent
    assert record.status is ActionStatus.SUCCEEDED and record.result is not None
    assert record.result["status"] == "already_satisfied" and not testbed.writes
    record = run.submit(scale("profile", 2))
    assert record.status is ActionStatus.SUCCEEDED  # scale is safe unattended
    config = GuardrailConfig.model_validate(
        {"cooldown_seconds": 0, "approval": {"unattended": [], "needs_approval": ["scale"]}}
    )
    guarded = Executor(store, backend, Guardrails(config), clock=clock)
    waiting = guarded.submit(scale("profile", 3))
    assert waiting.status is ActionStatus.AWAITING_APPROVAL
    assert replicas(testbed.cluster, "profile") == 2
    with store.write() as tx:
        (approval,) = tx.approvals.for_action(waiting.id)
        tx.approvals.decide(approval.id, "alice", approve=True, reason="looks right")
    (done,) = [r for r in guarded.reconcile() if r.id == waiting.id]
    assert done.status is ActionStatus.SUCCEEDED
    assert replicas(testbed.cluster, "profile") == 3


def test_an_approval_left_too_long_expires_and_nothing_runs(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed, clock: ManualClock
) -> None:
    config = GuardrailConfig.model_validate(
        {"approval": {"unattended": [], "needs_approval": ["scale"]}}
    )
    guarded = Executor(store, backend, Guardrails(config), clock=clock, approval_ttl_s=60)
    waiting = guarded.submit(scale("geo", 3))
    assert waiting.status is ActionStatus.AWAITING_APPROVAL
    clock.advance(61)
    guarded.reconcile()
    with store.read() as tx:
        record = tx.actions.get(waiting.id)
    assert record is not None and record.status is ActionStatus.REFUSED
    assert replicas(testbed.cluster, "geo") == 1 and not testbed.writes


def test_dry_run_records_what_it_would_do(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed
) -> None:
    run = Executor(store, backend, clock=store.clock, dry_run=True)
    record = run.submit(scale("rate", 3))
    assert record.status is ActionStatus.DRY_RUN and not testbed.writes


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "scale", "desired": {"type": "replicas", "replicas": -2}}, "replicas"),
        (
            {
                "kind": "revert_port",
                "desired": {"type": "service_port", "port": 70000, "target_port": 1},
            },
            "port",
        ),
    ],
)
def test_invalid_payloads_are_rejected_recorded_and_not_run(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed, payload: dict, message: str
) -> None:
    body = {
        "target": {"kind": "deployment", "namespace": NS, "name": "search"},
        "reason": "test",
        "decided_by": "test",
        "created_at": T0,
        **payload,
    }
    with pytest.raises(ActionRejected, match=message):
        executor(store, backend).submit_payload(body)
    with store.read() as tx:
        (event,) = [e for e in tx.audit.events() if e.kind == "action.rejected"]
        assert tx.actions.find() == []
    assert event.details["rule"] == "validation" and message in event.details["reason"]
    assert not testbed.writes


def test_a_missing_target_and_a_stale_precondition_are_refused(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed
) -> None:
    run = executor(store, backend)
    missing = run.submit(scale("no-such-service", 2))
    assert missing.status is ActionStatus.REFUSED and missing.refused_by == MISSING_TARGET_RULE
    stale = run.submit(scale("search", 5, precondition_resource_version="1"))
    assert stale.status is ActionStatus.REFUSED and stale.refused_by == PRECONDITION_RULE
    assert "changed since" in (stale.verdict_reason or "")
    assert not testbed.writes


def test_an_executor_with_a_stale_epoch_is_refused(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed
) -> None:
    old = store.advance_epoch()
    new = store.advance_epoch()
    with pytest.raises(StaleEpoch):
        executor(store, backend).submit(scale("search", 3), epoch=old)
    assert not testbed.writes
    assert executor(store, backend).submit(scale("search", 3), epoch=new).status is (
        ActionStatus.SUCCEEDED
    )


# --- concurrency and crashes ----------------------------------------------------------------


def test_two_executors_on_postgresql_race_and_the_action_runs_once(
    tmp_path: Path, testbed: ServedTestbed
) -> None:
    with migrated_postgres(tmp_path) as db:
        for attempt in range(5):  # several races, each on a fresh action
            stores = [Store(db.engine(), actor=f"executor-{i}") for i in range(2)]
            backends = [KubernetesBackend(api_client(host=testbed.url)) for _ in stores]
            guardrails = Guardrails(GuardrailConfig(cooldown_seconds=0))
            runs = [Executor(s, b, guardrails) for s, b in zip(stores, backends, strict=True)]
            request = scale("search", [3, 4, 5, 6, 7][attempt])
            results = race(runs, request)
            with stores[0].read() as tx:
                rows = [r for r in tx.actions.find() if r.request.id == request.id]
                running = [
                    e for e in tx.audit.events(subject_id=request.id) if e.kind == "action.running"
                ]
            assert len(rows) == 1 and len(running) == 1, (results, rows)
            assert replicas(testbed.cluster, "search") == [3, 4, 5, 6, 7][attempt]
            for s, b in zip(stores, backends, strict=True):
                b.close()
                s.close()
        assert testbed.deployment_writes("search") == 5


def race(runs: list[Executor], request: ActionRequest) -> list[Any]:
    """Submit ``request`` from every executor at once (threads released together)."""
    barrier = threading.Barrier(len(runs))
    results: list[Any] = [None] * len(runs)

    def submit(i: int) -> None:
        barrier.wait()
        try:
            results[i] = runs[i].submit(request)
        except Exception as exc:  # the loser may find the action mid-flight
            results[i] = exc

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


CRASH_RUNS = 24


def test_an_executor_killed_at_random_moments_loses_and_repeats_nothing(
    tmp_path: Path, testbed: ServedTestbed
) -> None:
    url = f"sqlite:///{tmp_path / 'aiops.db'}"
    rng = random.Random(1234)
    command = [sys.executable, "-m", "tests.actions.crash_worker", url, testbed.url]
    kills = interrupted = 0
    for _ in range(CRASH_RUNS + 40):
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as worker:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.4))
            if worker.poll() is None:
                worker.kill()  # SIGKILL
                kills += 1
                interrupted += worker.stdout.read() == ""  # killed before "done"
            worker.wait(30)
        if kills >= CRASH_RUNS:
            break
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["ready", "done"]
    assert kills >= CRASH_RUNS
    store = Store.open(url)
    with store.read() as tx:
        records = tx.actions.find()
    store.close()
    planned = {r.id for r in plan()}
    assert sorted(r.request.id for r in records) == sorted(planned)  # none lost, none twice
    assert all(r.status is ActionStatus.SUCCEEDED for r in records), [
        (r.request.id, r.status, r.error) for r in records
    ]
    for service in SERVICES:  # each of its scale actions reached the cluster exactly once
        assert replicas(testbed.cluster, service) == replicas_at(STEPS - 1)
        assert testbed.deployment_writes(service) == STEPS, (service, testbed.writes)
    assert interrupted >= CRASH_RUNS // 2, "most kills must land while the plan is running"


def test_cooldown_and_rate_limit_read_the_stored_history(
    store: Store, backend: KubernetesBackend, testbed: ServedTestbed, clock: ManualClock
) -> None:
    first = executor(store, backend).submit(scale("geo", 2))
    assert first.status is ActionStatus.SUCCEEDED
    # another executor process on the same database sees that geo was just acted on
    other = Executor(store, backend, Guardrails(), clock=clock)
    again = other.submit(scale("geo", 3))
    assert again.status is ActionStatus.REFUSED and again.refused_by == "cooldown"
    assert other.submit(scale("geo", 3)).id == again.id  # the same decision replayed: refused
    clock.advance(301)
    retry = scale("geo", 3, incident_id="inc-2")  # a new decision, after the cooldown
    assert other.submit(retry).status is ActionStatus.SUCCEEDED
    limited = Executor(
        store,
        backend,
        Guardrails(GuardrailConfig.model_validate({"rate_limit": {"max_actions": 2}})),
        clock=clock,
    )
    refused = limited.submit(scale("rate", 3))
    assert refused.status is ActionStatus.REFUSED and refused.refused_by == "rate_limit"
    assert replicas(testbed.cluster, "geo") == 3 and replicas(testbed.cluster, "rate") == 2
