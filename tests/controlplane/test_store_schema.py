"""The store's engine and schema: migrations, durable settings, errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import InvalidRequestError

from controlplane.domain import (
    ActionKind,
    ActionRequest,
    Incident,
    IncidentState,
    NoActionState,
    Severity,
    Signal,
    SignalKind,
    TargetKind,
    TargetRef,
)
from controlplane.exceptions import StoreError
from controlplane.store import (
    SQLITE_PRAGMAS,
    ActionStatus,
    AlertStatus,
    ApprovalDecision,
    ControlKind,
    Role,
    Store,
    VerdictKind,
    current_revision,
    describe_url,
    head_revision,
    make_engine,
    schema_diff,
    upgrade,
)
from controlplane.store.models import Base

from ..databases import Database

TABLES = {
    "incidents",
    "signals",
    "incident_signals",
    "timeline_entries",
    "decisions",
    "actions",
    "approvals",
    "audit_events",
    "fencing",
    "leases",
    "eval_runs",
    "eval_episodes",
    "api_tokens",
    "controls",
    "signal_inbox",
}


def test_migrations_reach_head_on_an_empty_database(database: Database) -> None:
    engine = database.engine()
    try:
        assert current_revision(engine) is None
        report = upgrade(engine)
        assert report.before is None
        assert report.after == head_revision()
        assert report.applied == ("0001", "0002", "0003", "0004", "0005", "0006")
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert current_revision(engine) == head_revision()
        again = upgrade(engine)
        assert not again.changed
        assert again.before == again.after == head_revision()
    finally:
        engine.dispose()


def test_models_match_the_migrations(database: Database) -> None:
    engine = database.engine()
    try:
        upgrade(engine)
        assert schema_diff(engine) == []
        assert set(Base.metadata.tables) == TABLES
    finally:
        engine.dispose()


def test_schema_diff_notices_a_missing_column(database: Database) -> None:
    engine = database.engine()
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE fencing ADD COLUMN extra INTEGER"))
        diff = schema_diff(engine)
        assert any("extra" in repr(item) for item in diff)
    finally:
        engine.dispose()


CHECKED = [
    ("incidents", "state", IncidentState),
    ("incidents", "severity", Severity),
    ("signals", "kind", SignalKind),
    ("actions", "status", ActionStatus),
    ("actions", "verdict", VerdictKind),
    ("approvals", "decision", ApprovalDecision),
    ("api_tokens", "role", Role),
    ("controls", "kind", ControlKind),
    ("signal_inbox", "status", AlertStatus),
]


@pytest.mark.parametrize(("table", "column", "values"), CHECKED, ids=[c[1] for c in CHECKED])
def test_check_constraints_accept_every_value_and_nothing_else(
    store: Store, table: str, column: str, values: type[StrEnum]
) -> None:
    """The migration's CHECK constraints (which the schema comparison cannot see) agree with
    the enumerations."""
    request = ActionRequest(
        kind=ActionKind.NOOP,
        target=TargetRef(kind=TargetKind.SERVICE, name="geo"),
        desired=NoActionState(),
        reason="r",
        decided_by="d",
        created_at=1.0,
    )
    signal = Signal(detector="d", series="s", score=1.0, start=1.0)
    with store.write() as tx:
        tx.signals.add(signal)
        tx.incidents.add(Incident(opened_at=1.0))
        action_id = tx.actions.claim("k", request, None).record.id
        tx.approvals.request(action_id, expires_at=store.clock.now() + 60)
        tx.tokens.create("t", Role.VIEWER, created_by="test")
        tx.controls.pause(None, by="test", comment="")
        tx.inbox.put([signal.model_copy(update={"id": "s2"})])
    update = text(f"UPDATE {table} SET {column} = :value")
    for value in values:
        with store.write() as tx:
            tx.session.execute(update, {"value": str(value)})
    with pytest.raises(StoreError, match=r"(?i)check"), store.write() as tx:
        tx.session.execute(update, {"value": "bogus"})


def test_audit_events_are_append_only_in_the_database(store: Store) -> None:
    with store.write() as tx:
        event = tx.audit.append("note", "x1", {"n": 1})
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(StoreError, match="append-only"), store.write() as tx:
            tx.session.execute(text(statement))
    with store.read() as tx:
        assert tx.audit.events() == [event]


def test_sqlite_runs_with_durable_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        with engine.connect() as conn:
            values = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SQLITE_PRAGMAS
            }
    finally:
        engine.dispose()
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 10000,
    }


def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        with store.write():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        with store.read():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # a reader leaves the write lock free
            other.execute("ROLLBACK")
            other.close()
    finally:
        store.close()


def test_a_transaction_cannot_be_used_after_its_block(store: Store) -> None:
    with store.write() as tx:
        tx.fencing.advance()
    with pytest.raises(InvalidRequestError):
        tx.fencing.current()
    assert store.current_epoch() == 1


def test_default_sqlite_file_gets_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "aiops.db"
    store = Store.open(f"sqlite:///{path}")
    store.close()
    assert path.is_file()


def test_unreachable_postgres_is_a_store_error_naming_the_url_without_password() -> None:
    engine = make_engine(
        "postgresql+psycopg://aiops:s3cret@127.0.0.1:1/nowhere", connect_args={"connect_timeout": 2}
    )
    with pytest.raises(StoreError) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert "cannot reach database" in message
    assert "127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message
    assert caught.value.__cause__ is not None


def test_unopenable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create its folder"):
        make_engine(f"sqlite:///{blocker / 'sub' / 'aiops.db'}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://root@localhost/db", "unsupported database 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "psycopg"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        make_engine(url)


def test_plain_postgresql_url_uses_psycopg() -> None:
    engine = make_engine("postgresql://u:pw@localhost/db")
    assert engine.url.drivername == "postgresql+psycopg"
    assert describe_url(engine.url) == "postgresql+psycopg://u:***@localhost/db"
