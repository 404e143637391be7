"""Actions, approvals, fencing and the audit trail: the executor's exactly-once footing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from controlplane.clock import ManualClock
from controlplane.domain import (
    ActionKind,
    ActionRequest,
    ReplicasState,
    TargetKind,
    TargetRef,
)
from controlplane.exceptions import IllegalTransition, RecordNotFound, StaleEpoch, StoreError
from controlplane.store import (
    ACTION_TRANSITIONS,
    ActionStatus,
    ApprovalDecision,
    Store,
    VerdictKind,
    upgrade,
)

from ..databases import Database

A = ActionStatus


def make_request(replicas: int = 4, **overrides: Any) -> ActionRequest:
    values: dict[str, Any] = {
        "kind": ActionKind.SCALE,
        "target": TargetRef(kind=TargetKind.DEPLOYMENT, name="geo", namespace="hotel"),
        "desired": ReplicasState(replicas=replicas),
        "precondition_resource_version": "1234",
        "reason": "p99 over the SLO",
        "decided_by": "rules",
        "incident_id": "inc-1",
        "created_at": 1_000_000.0,
    }
    values.update(overrides)
    return ActionRequest.model_validate(values)


def claimed(store: Store, request: ActionRequest | None = None, epoch: int | None = None) -> str:
    request = request or make_request()
    return store.claim_action(request.idempotency_key, request, epoch).record.id


def test_claim_round_trip(store: Store, clock: ManualClock) -> None:
    request = make_request()
    claim = store.claim_action(request.idempotency_key, request, None)
    assert claim.created
    record = claim.record
    assert record.request == request
    assert record.id == request.id
    assert record.idempotency_key == request.idempotency_key
    assert record.status is A.PENDING
    assert record.created_at == record.updated_at == clock.now()
    with store.read() as tx:
        assert tx.actions.get(request.id) == record
        assert tx.actions.by_key(request.idempotency_key) == record
        assert tx.actions.find(incident_id="inc-1") == [record]
        (event,) = tx.audit.events(subject_id=record.id)
    assert event.kind == "action.claimed"
    assert event.details["key"] == request.idempotency_key


def test_same_key_twice_gives_one_row(store: Store) -> None:
    first = make_request()
    replay = make_request()  # same content, new id: same derived idempotency key
    assert first.id != replay.id and first.idempotency_key == replay.idempotency_key
    one = store.claim_action(first.idempotency_key, first, None)
    two = store.claim_action(replay.idempotency_key, replay, None)
    assert one.created and not two.created
    assert two.record == one.record
    with store.read() as tx:
        assert len(tx.actions.find()) == 1
        assert len(tx.audit.events(kind="action.claimed")) == 1


def test_empty_key_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="idempotency key"):
        store.claim_action("", make_request(), None)


def test_run_to_success_with_result_and_audit(store: Store, clock: ManualClock) -> None:
    epoch = store.advance_epoch()
    action_id = claimed(store, epoch=epoch)
    store.set_verdict(action_id, VerdictKind.ALLOWED, epoch=epoch)
    clock.advance(1)
    running = store.mark_running(action_id, epoch)
    assert running.status is A.RUNNING and running.started_at == clock.now()
    clock.advance(2)
    done = store.record_result(action_id, A.SUCCEEDED, {"replicas": 4, "rv": "1240"}, epoch=epoch)
    assert done.status is A.SUCCEEDED
    assert done.result == {"replicas": 4, "rv": "1240"}
    assert done.finished_at == clock.now() and done.epoch == epoch
    assert store.list_unfinished() == []
    with store.read() as tx:
        kinds = [e.kind for e in tx.audit.events(subject_id=action_id)]
    assert kinds == ["action.claimed", "action.approved", "action.running", "action.succeeded"]


def test_failure_keeps_the_error(store: Store) -> None:
    action_id = claimed(store)
    store.mark_running(action_id, None)
    failed = store.record_result(action_id, A.FAILED, error="precondition: rv 1234 != 1250")
    assert failed.status is A.FAILED and failed.error == "precondition: rv 1234 != 1250"


def test_dry_run_finishes_without_running(store: Store) -> None:
    action_id = claimed(store)
    record = store.record_result(action_id, A.DRY_RUN, {"would": "scale geo to 4"})
    assert record.status is A.DRY_RUN and record.started_at is None


def test_refusal_records_the_rule(store: Store) -> None:
    action_id = claimed(store)
    refused = store.set_verdict(
        action_id, VerdictKind.REFUSED, rule="replica_bounds", reason="max 3 replicas for geo"
    )
    assert refused.status is A.REFUSED
    assert refused.verdict is VerdictKind.REFUSED
    assert refused.refused_by == "replica_bounds"
    assert refused.verdict_reason == "max 3 replicas for geo"
    with store.read() as tx:
        (event,) = tx.audit.events(kind="action.refused")
    assert event.details["rule"] == "replica_bounds"
    with pytest.raises(StoreError, match="name the rule"):
        store.set_verdict(claimed(store, make_request(5)), VerdictKind.REFUSED)


def test_dry_run_verdict_is_final(store: Store, clock: ManualClock) -> None:
    action_id = claimed(store)
    record = store.set_verdict(action_id, VerdictKind.DRY_RUN, rule="dry_run", reason="global")
    assert record.status is A.DRY_RUN and record.verdict is VerdictKind.DRY_RUN
    assert record.refused_by is None and record.finished_at == clock.now()
    with store.read() as tx:
        (event,) = tx.audit.events(kind="action.dry_run")
    assert event.details["rule"] == "dry_run"


def test_unfinished_lists_what_to_reconcile(store: Store, clock: ManualClock) -> None:
    pending = claimed(store, make_request(2))
    clock.advance(1)
    approved = claimed(store, make_request(3))
    store.set_verdict(approved, VerdictKind.ALLOWED)
    clock.advance(1)
    running = claimed(store, make_request(4))
    store.mark_running(running, None)
    clock.advance(1)
    done = claimed(store, make_request(5))
    store.record_result(done, A.DRY_RUN)
    clock.advance(1)
    waiting = claimed(store, make_request(6))
    store.set_verdict(waiting, VerdictKind.NEEDS_APPROVAL)
    assert [r.id for r in store.list_unfinished()] == [pending, approved, running]


ILLEGAL_ACTION_MOVES = [
    (a, b) for a in A for b in A if b not in ACTION_TRANSITIONS[a] and a is not A.PENDING
]


def _drive_to(store: Store, status: ActionStatus) -> str:
    action_id = claimed(store)
    steps: dict[ActionStatus, list[Callable[[], object]]] = {
        A.PENDING: [],
        A.AWAITING_APPROVAL: [lambda: store.set_verdict(action_id, VerdictKind.NEEDS_APPROVAL)],
        A.APPROVED: [lambda: store.set_verdict(action_id, VerdictKind.ALLOWED)],
        A.REFUSED: [lambda: store.set_verdict(action_id, VerdictKind.REFUSED, rule="r")],
        A.RUNNING: [lambda: store.mark_running(action_id, None)],
        A.SUCCEEDED: [
            lambda: store.mark_running(action_id, None),
            lambda: store.record_result(action_id, A.SUCCEEDED),
        ],
        A.FAILED: [
            lambda: store.mark_running(action_id, None),
            lambda: store.record_result(action_id, A.FAILED),
        ],
        A.DRY_RUN: [lambda: store.record_result(action_id, A.DRY_RUN)],
    }
    for step in steps[status]:
        step()
    return action_id


@pytest.mark.parametrize("status", [A.RUNNING, A.SUCCEEDED, A.REFUSED, A.AWAITING_APPROVAL])
def test_illegal_action_moves_are_refused(store: Store, status: ActionStatus) -> None:
    action_id = _drive_to(store, status)
    with pytest.raises(IllegalTransition) as caught:
        store.mark_running(action_id, None)
    assert caught.value.current == status
    with store.read() as tx:
        record = tx.actions.get(action_id)
    assert record is not None and record.status is status


def test_result_statuses_are_checked(store: Store) -> None:
    action_id = claimed(store)
    with pytest.raises(StoreError, match="succeeded, failed or dry_run"):
        store.record_result(action_id, A.RUNNING)
    with pytest.raises(IllegalTransition, match="pending -> succeeded"):
        store.record_result(action_id, A.SUCCEEDED)
    with pytest.raises(RecordNotFound):
        store.mark_running("ghost", None)


# --- fencing ----------------------------------------------------------------------------------


def test_epochs_are_monotonic_per_lease(store: Store) -> None:
    assert store.current_epoch() == 0
    assert [store.advance_epoch() for _ in range(3)] == [1, 2, 3]
    assert store.advance_epoch("other") == 1
    assert store.current_epoch() == 3 and store.current_epoch("other") == 1


def test_stale_epoch_is_refused_with_a_clear_error(store: Store) -> None:
    old = store.advance_epoch()
    action_id = claimed(store, epoch=old)
    new = store.advance_epoch()
    with pytest.raises(StaleEpoch) as caught:
        store.mark_running(action_id, old)
    assert (caught.value.epoch, caught.value.current) == (old, new)
    assert "stale epoch 1" in str(caught.value) and "no longer the leader" in str(caught.value)
    with pytest.raises(StaleEpoch):
        store.claim_action("other-key", make_request(9), old)
    with store.read() as tx:
        record = tx.actions.get(action_id)
        assert tx.actions.by_key("other-key") is None
    assert record is not None and record.status is A.PENDING
    assert store.mark_running(action_id, new).epoch == new


def test_an_epoch_never_issued_is_refused(store: Store) -> None:
    store.advance_epoch()
    with pytest.raises(StoreError, match="never issued"):
        store.claim_action("k", make_request(), 7)


# --- approvals --------------------------------------------------------------------------------


def test_approval_granted_clears_the_action(store: Store, clock: ManualClock) -> None:
    action_id = claimed(store)
    with store.write() as tx:
        approval = tx.approvals.request(action_id, expires_at=clock.now() + 600)
    with store.read() as tx:
        awaiting = tx.actions.get(action_id)
        assert tx.approvals.pending() == [approval]
    assert awaiting is not None and awaiting.status is A.AWAITING_APPROVAL
    clock.advance(60)
    with store.write() as tx:
        decided = tx.approvals.decide(approval.id, "alice", approve=True, reason="looks right")
    assert decided.decision is ApprovalDecision.APPROVED
    assert decided.decided_by == "alice" and decided.decided_at == clock.now()
    with store.read() as tx:
        record = tx.actions.get(action_id)
        assert tx.approvals.get(approval.id) == decided
        assert tx.approvals.for_action(action_id) == [decided]
        assert tx.approvals.pending() == []
        (event,) = tx.audit.events(kind="approval.approved")
    assert record is not None and record.status is A.APPROVED
    assert event.actor == "alice"
    with pytest.raises(StoreError, match="already decided"), store.write() as tx:
        tx.approvals.decide(approval.id, "bob", approve=False)


def test_approval_rejected_refuses_the_action(store: Store, clock: ManualClock) -> None:
    action_id = claimed(store)
    with store.write() as tx:
        approval = tx.approvals.request(action_id, expires_at=clock.now() + 600)
        tx.approvals.decide(approval.id, "bob", approve=False, reason="not at peak")
    with store.read() as tx:
        record = tx.actions.get(action_id)
    assert record is not None and record.status is A.REFUSED and record.refused_by == "approval"


def test_expired_approval_cannot_be_granted(store: Store, clock: ManualClock) -> None:
    action_id = claimed(store)
    with store.write() as tx:
        approval = tx.approvals.request(action_id, expires_at=clock.now() + 60)
    clock.advance(61)
    with pytest.raises(StoreError, match="expired"), store.write() as tx:
        tx.approvals.decide(approval.id, "alice", approve=True)
    with store.write() as tx:
        (expired,) = tx.approvals.expire_due()
    assert expired.decision is ApprovalDecision.EXPIRED
    with store.read() as tx:
        record = tx.actions.get(action_id)
    assert record is not None and record.status is A.REFUSED
    assert record.refused_by == "approval_expired"


def test_approval_requests_are_checked(store: Store, clock: ManualClock) -> None:
    with pytest.raises(RecordNotFound), store.write() as tx:
        tx.approvals.request("ghost", expires_at=clock.now() + 60)
    action_id = claimed(store)
    with pytest.raises(StoreError, match="is past"), store.write() as tx:
        tx.approvals.request(action_id, expires_at=clock.now())
    store.mark_running(action_id, None)
    with pytest.raises(StoreError, match="cannot await approval"), store.write() as tx:
        tx.approvals.request(action_id, expires_at=clock.now() + 60)


# --- concurrency ------------------------------------------------------------------------------


def _race(database: Database, workers: int, work: Callable[[Store], Any]) -> list[Any]:
    """Run ``work`` in ``workers`` threads at once, each with its own engine (a process each)."""
    stores = [Store(database.engine()) for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def run(store: Store) -> Any:
        barrier.wait()
        try:
            return work(store)
        except StoreError as exc:
            return exc

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, stores))
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize("round_", range(3))
def test_racing_claims_make_one_row_and_one_winner(database: Database, round_: int) -> None:
    setup = Store(database.engine())
    upgrade(setup.engine)
    epoch = setup.advance_epoch()
    setup.close()
    request = make_request(replicas=round_ + 2)
    claims = _race(
        database,
        4,
        lambda s: s.claim_action(request.idempotency_key, make_request(round_ + 2), epoch),
    )
    assert not [c for c in claims if isinstance(c, Exception)], claims
    assert sum(c.created for c in claims) == 1
    assert len({c.record.id for c in claims}) == 1
    check = Store(database.engine())
    try:
        with check.read() as tx:
            assert len(tx.actions.find()) == 1
            assert len(tx.audit.events(kind="action.claimed")) == 1
    finally:
        check.close()


def test_racing_executors_run_an_action_once(database: Database) -> None:
    engine = database.engine()
    upgrade(engine)
    setup = Store(engine)
    epoch = setup.advance_epoch()
    action_id = claimed(setup, epoch=epoch)
    setup.close()
    outcomes = _race(database, 4, lambda s: s.mark_running(action_id, epoch))
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and winners[0].status is A.RUNNING
    assert len(losers) == 3 and all(isinstance(e, IllegalTransition) for e in losers)


def test_an_epoch_check_holds_off_a_new_leader_until_commit(database: Database) -> None:
    engine = database.engine()
    upgrade(engine)
    old_leader, new_leader = Store(engine), Store(database.engine())
    try:
        old = old_leader.advance_epoch()
        action_id = claimed(old_leader, epoch=old)
        with ThreadPoolExecutor(1) as pool, old_leader.write() as tx:
            tx.actions.mark_running(action_id, old)  # epoch checked, row changed, not committed
            advancing = pool.submit(new_leader.advance_epoch)
            with pytest.raises(TimeoutError):
                advancing.result(timeout=0.3)  # the new leader waits for the old one's commit
        assert advancing.result(timeout=10) == old + 1
        with pytest.raises(StaleEpoch):
            old_leader.record_result(action_id, A.SUCCEEDED, epoch=old)
        assert new_leader.record_result(action_id, A.SUCCEEDED, epoch=old + 1).epoch == old
    finally:
        old_leader.close()
        new_leader.close()
