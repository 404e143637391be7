"""Leader election: one leader at a time, takeover of an expired lease, fencing of the old one.

On SQLite and PostgreSQL; the thread race and the two-process test need PostgreSQL's row locks
to be the thing that decides (on SQLite ``BEGIN IMMEDIATE`` serializes every tick anyway).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path

import pytest

from controlplane.clock import ManualClock, SystemClock
from controlplane.exceptions import StaleEpoch, StoreError
from controlplane.leader import (
    DEFAULT_TTL_S,
    DEPOSITION_MARGIN,
    LeaderElection,
    process_holder,
    takeover_bound_s,
    ttl_for_tick,
)
from controlplane.store import DEFAULT_LEASE, AuditEvent, Lease, Store, make_engine, upgrade

from ..databases import Database, fresh_database
from .test_store_actions import claimed, make_request

ROOT = Path(__file__).resolve().parents[2]
TTL = 10.0


def lease(store: Store, name: str = DEFAULT_LEASE) -> Lease:
    with store.read() as tx:
        found = tx.leases.get(name)
    assert found is not None
    return found


def events(store: Store, kind: str | None = None) -> list[AuditEvent]:
    with store.read() as tx:
        return [e for e in tx.audit.events(subject_id=DEFAULT_LEASE) if kind in (None, e.kind)]


# --- one elector ------------------------------------------------------------------------------


def test_one_elector_acquires_renews_and_releases(store: Store, clock: ManualClock) -> None:
    start = clock.now()
    a = LeaderElection(store, "a", ttl_s=TTL)
    assert not a.is_leader and a.epoch is None
    assert a.tick() == 1 and a.is_leader and a.epoch == 1
    assert lease(store) == Lease(
        name=DEFAULT_LEASE,
        holder="a",
        epoch=1,
        acquired_at=start,
        renewed_at=start,
        expires_at=start + TTL,
    )
    assert store.current_epoch() == 1

    clock.advance(5)
    assert a.tick() == 1  # renewed, same epoch
    assert (lease(store).renewed_at, lease(store).expires_at) == (start + 5, start + 5 + TTL)
    assert a.leader_until == pytest.approx(start + 5 + TTL * (1 - DEPOSITION_MARGIN))

    clock.advance(TTL * (1 - DEPOSITION_MARGIN) - 0.01)
    assert a.is_leader
    clock.advance(0.02)  # past the margin: not leader by its own clock, though the lease holds
    assert not a.is_leader and a.epoch is None
    assert a.tick() == 1 and a.is_leader  # still its lease: renewed, same epoch

    assert a.release()
    assert not a.is_leader and a.epoch is None
    assert lease(store).expired(clock.now())
    assert not a.release()  # nothing left to give up
    assert [e.kind for e in events(store)] == ["lease.acquired", "lease.released"]
    assert all(e.actor == "a" for e in events(store))

    b = LeaderElection(store, "b", ttl_s=TTL)
    assert b.tick() == 2  # at once: a released it
    acquired = events(store, "lease.acquired")[-1]
    assert acquired.actor == "b"
    assert acquired.details == {
        "epoch": 2,
        "ttl_s": TTL,
        "previous_holder": "a",
        "previous_epoch": 1,
    }


def test_arguments_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        LeaderElection(store, "a", ttl_s=0)
    with pytest.raises(ValueError, match="margin"):
        LeaderElection(store, "a", margin=1.0)
    with pytest.raises(ValueError, match="holder"):
        LeaderElection(store, "")
    assert process_holder() != process_holder()
    assert ttl_for_tick(15.0) == 45.0 and ttl_for_tick(1.0) == DEFAULT_TTL_S
    assert takeover_bound_s(45.0, 15.0) == 60.0


# --- two electors on a manual clock -----------------------------------------------------------


def test_an_expired_lease_is_taken_over_with_a_higher_epoch(
    store: Store, clock: ManualClock
) -> None:
    a, b = LeaderElection(store, "a", ttl_s=TTL), LeaderElection(store, "b", ttl_s=TTL)
    assert a.tick() == 1
    assert b.tick() is None and not b.is_leader
    clock.advance(TTL - 0.01)
    assert b.tick() is None  # not yet expired
    assert not a.is_leader  # but a already stopped counting itself leader
    clock.advance(0.01)
    assert b.tick() == 2 and b.is_leader
    assert lease(store).holder == "b" and lease(store).epoch == 2
    assert a.tick() is None and not a.is_leader
    (taken,) = events(store, "lease.taken_over")
    assert taken.actor == "b"
    assert taken.details == {
        "epoch": 2,
        "ttl_s": TTL,
        "previous_holder": "a",
        "previous_epoch": 1,
        "expired_at": clock.now(),
    }


def test_a_stale_leaders_fenced_writes_are_refused(store: Store, clock: ManualClock) -> None:
    a, b = LeaderElection(store, "a", ttl_s=TTL), LeaderElection(store, "b", ttl_s=TTL)
    old = a.tick()
    assert old is not None
    action_id = claimed(store, epoch=old)
    clock.advance(TTL)
    new = b.tick()
    assert new == old + 1
    with pytest.raises(StaleEpoch):
        store.mark_running(action_id, old)
    with pytest.raises(StaleEpoch):
        store.claim_action("another", make_request(7), old)
    with pytest.raises(StaleEpoch), store.write() as tx:
        tx.fencing.check(old)
    assert store.mark_running(action_id, new).epoch == new


def test_a_holder_whose_epoch_was_superseded_gives_the_lease_up(
    store: Store, clock: ManualClock
) -> None:
    a = LeaderElection(store, "a", ttl_s=TTL)
    assert a.tick() == 1
    assert store.advance_epoch() == 2  # fenced from outside the election
    clock.advance(1)
    assert a.tick() is None and not a.is_leader
    assert lease(store).expired(clock.now())
    assert [e.kind for e in events(store)][-1] == "lease.fenced"
    assert a.tick() == 3  # free again: taken with a new epoch


def test_a_leader_that_cannot_renew_stops_at_the_margin(store: Store, clock: ManualClock) -> None:
    a = LeaderElection(store, "a", ttl_s=TTL)
    assert a.tick() == 1
    a.store = Store(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"), clock=clock)
    clock.advance(1)
    with pytest.raises(StoreError):
        a.tick()
    assert a.epoch == 1  # the lease it renewed a second ago still holds
    clock.advance(TTL * (1 - DEPOSITION_MARGIN) - 1)
    assert not a.is_leader and a.epoch is None
    a.store.close()


@pytest.mark.parametrize("seed", range(3))
def test_two_electors_never_lead_at_once(store: Store, clock: ManualClock, seed: int) -> None:
    """Many interleaved ticks with random gaps (a leader that stalls past its TTL included)."""
    rng = random.Random(seed)
    electors = [LeaderElection(store, name, ttl_s=3.0) for name in ("a", "b")]
    epochs: list[tuple[str, int]] = []
    for _ in range(250):
        rng.choice(electors).tick()
        clock.advance(rng.choice([0.1, 0.5, 1.0, 1.5, 3.5]))
        leaders = [e for e in electors if e.is_leader]
        assert len(leaders) <= 1
        for elector in leaders:
            assert elector.epoch == store.current_epoch()  # the leader's epoch is the newest
            if not epochs or epochs[-1] != (elector.holder, elector.epoch):
                epochs.append((elector.holder, elector.epoch))
    assert {holder for holder, _ in epochs} == {"a", "b"}  # the lead changed hands
    numbers = [epoch for _, epoch in epochs]
    assert numbers == sorted(set(numbers))  # each leadership has its own, higher epoch


# --- concurrency --------------------------------------------------------------------------------


def _race(database: Database, holders: list[str], clock: ManualClock) -> list[int | None]:
    """Each holder ticks once, all at the same moment, each with its own engine."""
    stores = [Store(database.engine(), clock=clock) for _ in holders]
    barrier = threading.Barrier(len(holders))

    def tick(pair: tuple[Store, str]) -> int | None:
        election = LeaderElection(pair[0], pair[1], ttl_s=TTL)
        barrier.wait()
        return election.tick()

    try:
        with ThreadPoolExecutor(len(holders)) as pool:
            return list(pool.map(tick, zip(stores, holders, strict=True)))
    finally:
        for s in stores:
            s.close()


def test_racing_ticks_make_one_leader(database: Database, clock: ManualClock) -> None:
    """Four processes tick at once on a free lease, then on an expired one, twice."""
    engine = database.engine()
    upgrade(engine)
    check = Store(engine, clock=clock)
    try:
        for round_ in range(3):
            holders = [f"r{round_}-{i}" for i in range(4)]
            epochs = _race(database, holders, clock)
            winners = [e for e in epochs if e is not None]
            assert winners == [round_ + 1], epochs
            assert check.current_epoch() == round_ + 1
            assert lease(check).holder == holders[epochs.index(round_ + 1)]
            clock.advance(TTL)  # the lease expires: the next round races to take it over
        kinds = [e.kind for e in events(check)]
        assert kinds == ["lease.acquired", "lease.taken_over", "lease.taken_over"]
    finally:
        check.close()


# --- two processes on one PostgreSQL database ---------------------------------------------------

PROCESS_TTL, PROCESS_TICK = 1.5, 0.2


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Database]:
    with fresh_database("postgresql", tmp_path) as db:
        engine = db.engine()
        upgrade(engine)
        engine.dispose()
        yield db


def _lines(path: Path) -> list[tuple[int, str, float]]:
    lines = [line.split() for line in path.read_text().splitlines() if line.count(" ") == 2]
    return [(int(epoch), holder, float(at)) for epoch, holder, at in lines]


def _wait_for(condition: Callable[[], object], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(0.02)


def test_killing_the_leader_process_hands_over(postgres: Database, tmp_path: Path) -> None:
    """Two OS processes tick every 0.2 s with a 1.5 s TTL; SIGKILL the leader."""
    out = {h: tmp_path / f"{h}.out" for h in ("a", "b")}
    with ExitStack() as stack:
        procs = {}
        for holder in ("a", "b"):
            stdout = stack.enter_context(out[holder].open("w"))
            stderr = stack.enter_context((tmp_path / f"{holder}.err").open("w"))
            command = [
                sys.executable,
                "-m",
                "tests.controlplane.leader_worker",
                *("--url", postgres.full_url, "--holder", holder),
                *("--ttl", str(PROCESS_TTL), "--interval", str(PROCESS_TICK), "--duration", "25"),
            ]
            procs[holder] = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr)
            stack.callback(procs[holder].kill)

        def all_lines() -> list[tuple[int, str, float]]:
            return sorted((line for h in out for line in _lines(out[h])), key=lambda x: x[2])

        _wait_for(all_lines, timeout=15)
        time.sleep(2.0)  # both running: one leads and renews, the other waits
        first_epoch, leader, _ = all_lines()[-1]
        survivor = "b" if leader == "a" else "a"
        assert not _lines(out[survivor]), "both processes led at once"

        procs[leader].send_signal(signal.SIGKILL)
        killed_at = time.time()
        procs[leader].wait(timeout=5)
        _wait_for(lambda: _lines(out[survivor]), timeout=PROCESS_TTL + 5)
        new_epoch, _, took_over_at = _lines(out[survivor])[0]
        takeover_s = took_over_at - killed_at
        time.sleep(0.5)  # the new leader renews a few times
        procs[survivor].send_signal(signal.SIGTERM)  # releases the lease and exits
        assert procs[survivor].wait(timeout=10) == 0, (tmp_path / f"{survivor}.err").read_text()

    assert new_epoch > first_epoch
    bound = takeover_bound_s(PROCESS_TTL, PROCESS_TICK) + PROCESS_TICK  # + scheduling slack
    assert takeover_s <= bound, f"takeover took {takeover_s:.2f} s"
    # No two leaderships overlap in time: each epoch's lines come from one holder and end
    # before the next epoch's begin.
    spans: dict[int, list[tuple[str, float]]] = {}
    for epoch, holder, at in all_lines():
        spans.setdefault(epoch, []).append((holder, at))
    ordered = sorted(spans)
    for epoch in ordered:
        assert len({holder for holder, _ in spans[epoch]}) == 1
    for earlier, later in pairwise(ordered):
        assert max(at for _, at in spans[earlier]) < min(at for _, at in spans[later])

    store = Store(postgres.engine(), clock=SystemClock())
    try:
        kinds = [(e.kind, e.actor) for e in events(store)]
        assert kinds[-2:] == [("lease.taken_over", survivor), ("lease.released", survivor)]
        assert events(store, "lease.taken_over")[-1].details["previous_holder"] == leader
        assert store.current_epoch() == new_epoch
    finally:
        store.close()
