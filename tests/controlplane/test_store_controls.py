"""API tokens, operator controls and the signal inbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from controlplane.clock import ManualClock
from controlplane.correlation import Correlator
from controlplane.domain import Signal, SignalKind, TargetKind, TargetRef
from controlplane.exceptions import IllegalTransition, InvalidRecord, RecordNotFound, StoreError
from controlplane.store import (
    TOKEN_PREFIX,
    Control,
    ControlKind,
    ControlState,
    Role,
    Store,
    parse_target,
)

from ..databases import migrated_postgres

NS = "hotel"


def deployment(name: str, namespace: str = NS) -> TargetRef:
    return TargetRef(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=name)


def events(store: Store, prefix: str) -> list[tuple[str, str, str | None]]:
    """(kind, actor, subject) of the audit events whose kind starts with ``prefix``."""
    with store.read() as tx:
        return [
            (e.kind, e.actor, e.subject_id) for e in tx.audit.events() if e.kind.startswith(prefix)
        ]


def table_text(store: Store, table: str) -> str:
    """Every row of ``table`` as text (to look for what must not be there)."""
    with store.read() as tx:
        rows = tx.session.execute(text(f"SELECT * FROM {table}")).all()
    return repr(rows)


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_verifies_until_it_is_revoked(store: Store, clock: ManualClock) -> None:
    with store.write() as tx:
        plain, token = tx.tokens.create("ci", Role.OPERATOR, created_by="alice")
    assert plain.startswith(TOKEN_PREFIX) and len(plain) > 40
    assert token.role is Role.OPERATOR and token.created_by == "alice"
    assert token.last_used_at is None and token.active(clock.now())
    with store.write() as tx:
        seen = tx.tokens.verify(plain)
        assert tx.tokens.verify(plain + "x") is None
        assert tx.tokens.verify("aiops_unknown") is None
        assert tx.tokens.verify("not-even-prefixed") is None
    assert seen is not None and seen.id == token.id and seen.last_used_at == clock.now()
    with store.write() as tx:
        revoked = tx.tokens.revoke(token.id, "bob")
    assert revoked.revoked_at == clock.now()
    with store.write() as tx:
        assert tx.tokens.verify(plain) is None
        assert [t.id for t in tx.tokens.list()] == [token.id]
    with pytest.raises(IllegalTransition, match=token.id), store.write() as tx:
        tx.tokens.revoke(token.id, "bob")
    with pytest.raises(RecordNotFound, match="no token"), store.write() as tx:
        tx.tokens.revoke("nope", "bob")
    assert events(store, "token.") == [
        ("token.created", "alice", token.id),
        ("token.revoked", "bob", token.id),
    ]


def test_an_expired_token_is_refused(store: Store, clock: ManualClock) -> None:
    with store.write() as tx:
        plain, token = tx.tokens.create(
            "short", "viewer", created_by="alice", expires_at=clock.now() + 60
        )
    with store.write() as tx:
        assert tx.tokens.verify(plain) is not None
    clock.advance(60)
    with store.write() as tx:
        assert tx.tokens.verify(plain) is None
        assert tx.tokens.get(token.id) is not None


def test_last_use_is_written_at_most_once_a_minute(store: Store, clock: ManualClock) -> None:
    with store.write() as tx:
        plain, _ = tx.tokens.create("ui", Role.VIEWER, created_by="alice")
    first = clock.now()
    uses = []
    for step in (0, 30, 29, 1, 10):
        clock.advance(step)
        with store.write() as tx:
            token = tx.tokens.verify(plain)
        assert token is not None
        uses.append(token.last_used_at)
    assert uses == [first, first, first, first + 60, first + 60]


def test_only_the_digest_is_stored(store: Store) -> None:
    with store.write() as tx:
        plain, token = tx.tokens.create("ops", Role.ADMIN, created_by="alice")
        tx.tokens.verify(plain)
        tx.tokens.revoke(token.id, "alice")
    digest = hashlib.sha256(plain.encode()).hexdigest()
    tokens, audit = table_text(store, "api_tokens"), table_text(store, "audit_events")
    secret = plain.removeprefix(TOKEN_PREFIX)
    assert digest in tokens
    assert secret not in tokens and secret not in audit
    assert digest not in audit
    assert token.id in audit and "ops" in audit
    assert "digest" not in token.model_dump()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tx, now: tx.tokens.create("x", "root", created_by="a"), "role 'root'"),
        (lambda tx, now: tx.tokens.create(" ", "viewer", created_by="a"), "name"),
        (lambda tx, now: tx.tokens.create("x", "viewer", created_by=""), "created_by"),
        (
            lambda tx, now: tx.tokens.create("x", "viewer", created_by="a", expires_at=now),
            "expires_at",
        ),
    ],
)
def test_bad_token_input_writes_nothing(
    store: Store, clock: ManualClock, call: Callable[[Any, float], object], message: str
) -> None:
    with pytest.raises(InvalidRecord, match=message), store.write() as tx:
        call(tx, clock.now())
    with store.read() as tx:
        assert tx.tokens.list() == [] and tx.audit.events() == []


def test_roles_are_ordered_by_rank() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert sorted([Role.ADMIN, Role.VIEWER, Role.OPERATOR]) == [
        Role.VIEWER,
        Role.OPERATOR,
        Role.ADMIN,
    ]
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.OPERATOR)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)
    assert Role.ADMIN.allows("viewer")  # type: ignore[arg-type]
    assert isinstance(InvalidRecord("x"), ValueError) and issubclass(InvalidRecord, StoreError)


# --- controls -------------------------------------------------------------------------------


def test_a_pause_holds_in_its_window_until_resumed(store: Store, clock: ManualClock) -> None:
    now = clock.now()
    with store.write() as tx:
        everywhere = tx.controls.pause(None, by="alice", comment="change freeze")
        hotel = tx.controls.pause(NS, by="bob", comment="db migration", ends_at=now + 600)
    with store.read() as tx:
        state = tx.controls.state()
        later = tx.controls.state(now + 600)
    assert state.paused and state.paused_namespaces == [NS]
    assert state.first(ControlKind.PAUSE) == everywhere
    assert state.first(ControlKind.PAUSE, namespace=NS) == hotel
    assert later.paused and later.paused_namespaces == []  # the namespace pause ran out
    with store.write() as tx:
        lifted = tx.controls.resume(None, by="carol")
        assert tx.controls.resume("payments", by="carol") == []  # nothing paused there
    assert [c.id for c in lifted] == [everywhere.id] and lifted[0].lifted_by == "carol"
    with store.read() as tx:
        state = tx.controls.state()
        assert [c.id for c in tx.controls.list(active_only=True)] == [hotel.id]
        assert len(tx.controls.list()) == 2
    assert not state.paused and state.paused_namespaces == [NS]
    assert events(store, "control.") == [
        ("control.paused", "alice", everywhere.id),
        ("control.paused", "bob", hotel.id),
        ("control.resumed", "carol", everywhere.id),
    ]


def test_a_maintenance_window_holds_only_in_its_window(store: Store, clock: ManualClock) -> None:
    now = clock.now()
    with store.write() as tx:
        window = tx.controls.silence(
            "deployment/payments/*",
            by="alice",
            comment="card processor upgrade",
            starts_at=now + 3600,
            ends_at=now + 7200,
            maintenance=True,
        )
    assert window.maintenance and window.kind is ControlKind.SILENCE
    with store.read() as tx:
        before, during, after = (tx.controls.state(now + dt) for dt in (0, 3600, 7200))
    assert before.silences == [] and after.silences == []
    assert during.silences == [window]
    assert during.matching_silence(deployment("api", "payments")) == window
    assert during.matching_silence(deployment("api")) is None
    assert (
        during.matching_silence(TargetRef(kind=TargetKind.POD, namespace="payments", name="x"))
        is None
    )
    assert "maintenance window" in window.describe() and "card processor" in window.describe()
    (event,) = [e for e in _audit(store) if e.kind == "control.silenced"]
    assert event.actor == "alice" and event.details["maintenance"] is True
    assert event.details["target"] == "deployment/payments/*"


def test_a_silence_is_lifted_once(store: Store, clock: ManualClock) -> None:
    with store.write() as tx:
        silence = tx.controls.silence("node/gpu-*", by="alice", comment="reimaging")
    with store.read() as tx:
        state = tx.controls.state()
    node = TargetRef(kind=TargetKind.NODE, name="gpu-003")
    assert state.matching_silence(node) == silence
    assert state.matching_silence(TargetRef(kind=TargetKind.NODE, name="cpu-003")) is None
    clock.advance(10)
    with store.write() as tx:
        lifted = tx.controls.lift(silence.id, by="bob")
    assert lifted.lifted_at == clock.now() and lifted.lifted_by == "bob"
    with store.read() as tx:
        assert tx.controls.state().silences == []
        assert tx.controls.get(silence.id) == lifted
    lifted_again = f"control {silence.id}.*lifted by bob"
    with pytest.raises(IllegalTransition, match=lifted_again), store.write() as tx:
        tx.controls.lift(silence.id, by="bob")
    with pytest.raises(RecordNotFound, match="no control"), store.write() as tx:
        tx.controls.lift("nope", by="bob")
    assert events(store, "control.") == [
        ("control.silenced", "alice", silence.id),
        ("control.lifted", "bob", silence.id),
    ]


def test_opt_out_and_back_in(store: Store) -> None:
    target = "deployment/hotel/frontend"
    with store.write() as tx:
        out = tx.controls.opt_out(target, by="alice", comment="hand-tuned")
        tx.controls.opt_out("node/general-003", by="alice", comment="flaky disk")
    with store.read() as tx:
        state = tx.controls.state()
    assert state.opt_outs == [target, "node/general-003"]
    assert state.first(ControlKind.OPT_OUT, target=target) == out
    with store.write() as tx:
        (back,) = tx.controls.opt_in(target, by="bob")
        assert tx.controls.opt_in(target, by="bob") == []
    assert back.id == out.id
    with store.read() as tx:
        assert tx.controls.state().opt_outs == ["node/general-003"]
    assert [e[:2] for e in events(store, "control.opt")] == [
        ("control.opt_out", "alice"),
        ("control.opt_out", "alice"),
        ("control.opt_in", "bob"),
    ]


def test_dry_run_on_and_off(store: Store) -> None:
    with store.write() as tx:
        (on,) = tx.controls.set_dry_run(True, by="alice", comment="new policy on trial")
    with store.read() as tx:
        assert tx.controls.state().dry_run
    with store.write() as tx:
        (off,) = tx.controls.set_dry_run(False, by="bob")
        assert tx.controls.set_dry_run(False, by="bob") == []
    assert off.id == on.id and off.lifted_by == "bob"
    with store.read() as tx:
        assert not tx.controls.state().dry_run
    details = [(e.actor, e.details["on"]) for e in _audit(store) if e.kind == "control.dry_run"]
    assert details == [("alice", True), ("bob", False)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tx, now: tx.controls.pause("Hotel_1", by="a", comment=""), "namespace 'Hotel_1'"),
        (lambda tx, now: tx.controls.pause(None, by="", comment=""), "'by'"),
        (lambda tx, now: tx.controls.pause(None, by="a", comment="", ends_at=now), "ends_at"),
        (lambda tx, now: tx.controls.silence("frontend", by="a", comment=""), "kind/namespace"),
        (
            lambda tx, now: tx.controls.silence("deployment/frontend", by="a", comment=""),
            "kind/namespace/name",
        ),
        (lambda tx, now: tx.controls.silence("node/a/b", by="a", comment=""), "kind/name"),
        (lambda tx, now: tx.controls.silence("widget/a/b", by="a", comment=""), "unknown kind"),
        (lambda tx, now: tx.controls.silence("deployment/a/b?", by="a", comment=""), "bad part"),
        (lambda tx, now: tx.controls.silence("deployment//b", by="a", comment=""), "bad part"),
        (
            lambda tx, now: tx.controls.silence(
                "deployment/a/*", by="a", comment="", starts_at=now + 10, ends_at=now + 10
            ),
            "not after starts_at",
        ),
        (
            lambda tx, now: tx.controls.silence(
                "deployment/a/*", by="a", comment="", starts_at=now - 20, ends_at=now - 10
            ),
            "already past",
        ),
        (
            lambda tx, now: tx.controls.silence(
                "deployment/a/*", by="a", comment="", starts_at=now + 10, maintenance=True
            ),
            "ends_at is required",
        ),
        (lambda tx, now: tx.controls.opt_out("deployment/hotel/*", by="a", comment=""), "bad part"),
        (lambda tx, now: tx.controls.opt_in("hotel/frontend", by="a"), "unknown kind"),
    ],
)
def test_bad_control_input_writes_nothing(
    store: Store, clock: ManualClock, call: Callable[[Any, float], object], message: str
) -> None:
    with pytest.raises(InvalidRecord, match=message), store.write() as tx:
        call(tx, clock.now())
    with store.read() as tx:
        assert tx.controls.list() == [] and tx.audit.events() == []


def test_the_window_constraint_holds_in_the_database(store: Store, clock: ManualClock) -> None:
    with store.write() as tx:
        silence = tx.controls.silence("pod/hotel/*", by="a", comment="", ends_at=clock.now() + 5)
    with pytest.raises(StoreError, match=r"(?i)check"), store.write() as tx:
        tx.session.execute(
            text("UPDATE controls SET ends_at = starts_at WHERE id = :id"), {"id": silence.id}
        )


@pytest.mark.parametrize(
    ("pattern", "target", "hit"),
    [
        ("deployment/hotel/frontend", "deployment/hotel/frontend", True),
        ("deployment/hotel/*", "deployment/hotel/frontend", True),
        ("deployment/*/frontend", "deployment/payments/frontend", True),
        ("*/hotel/*", "pod/hotel/frontend-1", True),
        ("deployment/hotel/front*", "deployment/hotel/frontend", True),
        ("deployment/hotel/*", "deployment/hotelx/frontend", False),
        ("deployment/hotel/*", "pod/hotel/frontend-1", False),
        ("deployment/*", "deployment/hotel/frontend", False),  # a part never spans a '/'
        ("*", "deployment/hotel/frontend", False),
        ("node/*", "node/general-001", True),
        ("node/*", "deployment/hotel/frontend", False),
        ("*/general-001", "node/general-001", True),
    ],
)
def test_silence_patterns_match_part_by_part(pattern: str, target: str, hit: bool) -> None:
    silence = Control(
        id="s1", kind=ControlKind.SILENCE, target=pattern, starts_at=0, created_by="a", created_at=0
    )
    state = ControlState.of([silence], now=1.0)
    assert (state.matching_silence(target) is not None) is hit


@pytest.mark.parametrize(
    ("text", "pattern", "parts"),
    [
        ("deployment/hotel/frontend", False, ("deployment", "hotel", "frontend")),
        ("node/general-003", False, ("node", "general-003")),
        ("*/hotel/*", True, ("*", "hotel", "*")),
        ("*/gpu-*", True, ("*", "gpu-*")),
    ],
)
def test_targets_parse_into_their_parts(text: str, pattern: bool, parts: tuple[str, ...]) -> None:
    assert parse_target(text, pattern=pattern) == parts


def test_a_namespace_wide_silence_covers_its_namespace() -> None:
    controls = [
        Control(
            id=f"s{i}",
            kind=ControlKind.SILENCE,
            target=t,
            starts_at=0,
            created_by="a",
            created_at=0,
        )
        for i, t in enumerate(["deployment/hotel/frontend", "*/pay*/*"])
    ]
    state = ControlState.of(controls, now=1.0)
    assert state.namespace_silence("hotel") is None
    assert state.namespace_silence("payments") == controls[1]


# --- the inbox ------------------------------------------------------------------------------


def alert(name: str, start: float = 1_000_000.0) -> Signal:
    return Signal(
        detector="alertmanager",
        series=f"service/{NS}/{name}/alert",
        service=name,
        namespace=NS,
        score=0.9,
        start=start,
        kind=SignalKind.ALERT,
    )


def test_the_inbox_hands_each_signal_out_once_oldest_first(store: Store) -> None:
    first, second, third = alert("geo"), alert("search"), alert("rate")
    with store.write() as tx:
        assert tx.inbox.put([first, second], fingerprint="fp-1") == 2
        tx.inbox.put([third], status="resolved")
        assert tx.inbox.waiting() == 3
    with store.write() as tx:
        assert tx.inbox.take(limit=1) == [first]
    with store.write() as tx:
        taken = tx.inbox.take()
    assert taken == [second]  # the resolved notice is marked taken, not handed out
    with store.write() as tx:
        assert tx.inbox.take() == [] and tx.inbox.waiting() == 0
    with pytest.raises(InvalidRecord, match="status 'gone'"), store.write() as tx:
        tx.inbox.put([alert("x")], status="gone")
    with store.read() as tx:
        assert tx.inbox.waiting() == 0


def test_concurrent_takers_share_the_inbox_without_overlap(store: Store) -> None:
    signals = [alert(f"svc-{i}", start=1_000_000.0 + i) for i in range(120)]
    with store.write() as tx:
        tx.inbox.put(signals)
    taken: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def drain(mine: list[str]) -> None:
        try:
            while True:
                with store.write() as tx:
                    got = tx.inbox.take(limit=7)
                if not got:
                    return
                mine += [s.id for s in got]
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    every = [i for mine in taken for i in mine]
    assert len(every) == len(set(every)) == len(signals)
    assert set(every) == {s.id for s in signals}


def test_two_open_transactions_on_postgresql_never_take_the_same_row(tmp_path: Path) -> None:
    with migrated_postgres(tmp_path) as db:
        first, second = (Store(db.engine(), actor=f"leader-{i}") for i in range(2))
        try:
            signals = [alert(f"svc-{i}") for i in range(10)]
            with first.write() as tx:
                tx.inbox.put(signals)
            with first.write() as one:
                a = one.inbox.take(limit=4)
                with second.write() as two:  # the first still holds its rows
                    two.session.execute(text("SET LOCAL lock_timeout = '5s'"))
                    b = two.inbox.take()
            with second.write() as tx:
                assert tx.inbox.take() == []
        finally:
            first.close()
            second.close()
    assert [s.id for s in a] == [s.id for s in signals[:4]]
    assert [s.id for s in b] == [s.id for s in signals[4:]]


def test_the_correlator_takes_the_inbox_with_its_batch(store: Store, clock: ManualClock) -> None:
    outside = alert("geo", start=clock.now())
    with store.write() as tx:
        tx.inbox.put([outside], fingerprint="am-1")
    correlator = Correlator(store)
    result = correlator.ingest([], None, inbox=100)
    assert result.taken == [outside] and len(result.opened) == 1
    with store.read() as tx:
        assert tx.signals.get(outside.id) == outside
        (incident,) = tx.incidents.find()
        assert incident.services == ["geo"] and tx.inbox.waiting() == 0
    assert correlator.ingest([], None, inbox=100).taken == []


def _audit(store: Store) -> list[Any]:
    with store.read() as tx:
        return tx.audit.events()
