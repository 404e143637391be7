"""The tables, as SQLAlchemy 2 typed ORM models.

Times are epoch seconds (``DOUBLE PRECISION``), as in the domain types. Enumerations are stored
as short strings with a CHECK constraint, so adding a value is a migration of one constraint, not
of a native enum type. Documents that only travel whole (an action request, a decision's
candidates, evidence, details) are JSON. Constraint names follow :data:`NAMING`, so the models and
the migrations name them alike on every backend.

Migrations live in ``controlplane/store/migrations``; a test checks that these models and the
migrated schema agree (Alembic's autogenerate comparison finds no difference).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from controlplane.domain import IncidentState, Severity, SignalKind
from controlplane.store.records import (
    ActionStatus,
    AlertStatus,
    ApprovalDecision,
    ControlKind,
    Role,
    VerdictKind,
)

__all__ = [
    "NAMING",
    "ActionRow",
    "ApiTokenRow",
    "ApprovalRow",
    "AuditRow",
    "Base",
    "ControlRow",
    "DecisionRow",
    "EvalEpisodeRow",
    "EvalRunRow",
    "FencingRow",
    "InboxRow",
    "IncidentRow",
    "IncidentSignalRow",
    "LeaseRow",
    "SignalRow",
    "TimelineRow",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)
NAME = String(255)
SERIAL = BigInteger().with_variant(Integer(), "sqlite")
"""A growing row number: BIGINT, except on SQLite where only INTEGER aliases the rowid."""


def _one_of(column: str, values: type[Any]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, float: Double}


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_one_of("state", IncidentState), name="state"),
        CheckConstraint(_one_of("severity", Severity), name="severity"),
        Index(None, "state", "last_signal_at"),
        Index(None, "resolved_at"),
        Index(None, "state", "opened_at", "id"),  # the API's pages, filtered by state
        Index(None, "opened_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str | None] = mapped_column(NAME)
    services: Mapped[list[Any]]
    nodes: Mapped[list[Any]]
    opened_at: Mapped[float]
    updated_at: Mapped[float]
    resolved_at: Mapped[float | None]
    last_signal_at: Mapped[float | None]
    """Start of the newest signal that joined: the correlation window counts from here."""
    capacity_only: Mapped[bool] = mapped_column(default=True)
    """No signal but capacity warnings so far (severity ``low`` without SLO impact)."""
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"))

    timeline: Mapped[list[TimelineRow]] = relationship(
        order_by="TimelineRow.id", cascade="all, delete-orphan", lazy="raise"
    )
    links: Mapped[list[IncidentSignalRow]] = relationship(
        order_by="IncidentSignalRow.id", cascade="all, delete-orphan", lazy="raise"
    )


class SignalRow(Base):
    __tablename__ = "signals"
    __table_args__ = (CheckConstraint(_one_of("kind", SignalKind), name="kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    detector: Mapped[str] = mapped_column(NAME)
    series: Mapped[str] = mapped_column(String(512), index=True)
    service: Mapped[str | None] = mapped_column(NAME)
    node: Mapped[str | None] = mapped_column(NAME)
    namespace: Mapped[str | None] = mapped_column(NAME)
    score: Mapped[float]
    start: Mapped[float]
    kind: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[list[Any]]
    count: Mapped[int] = mapped_column(default=1)
    """How many times this signal was seen (duplicates merge into the first)."""
    last_seen: Mapped[float]


class IncidentSignalRow(Base):
    __tablename__ = "incident_signals"
    __table_args__ = (UniqueConstraint("incident_id", "signal_id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    signal_id: Mapped[str] = mapped_column(ForeignKey("signals.id"), index=True)
    linked_at: Mapped[float]


class TimelineRow(Base):
    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[float]
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    ref_id: Mapped[str | None] = mapped_column(String(64))


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    agent: Mapped[str] = mapped_column(NAME)
    policy: Mapped[str] = mapped_column(NAME)
    tier: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(NAME)
    candidates: Mapped[list[Any]]
    choice: Mapped[int | None]
    confidence: Mapped[float | None]
    prompt_tokens: Mapped[int]
    output_tokens: Mapped[int]
    latency_s: Mapped[float]
    cost_usd: Mapped[float]
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    calls: Mapped[list[Any]] = mapped_column(server_default="[]")
    at: Mapped[float]


class ActionRow(Base):
    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(_one_of("status", ActionStatus), name="status"),
        CheckConstraint(f"verdict IS NULL OR {_one_of('verdict', VerdictKind)}", name="verdict"),
        Index(None, "status"),
        Index(None, "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    incident_id: Mapped[str | None] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(600))
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(24))
    verdict: Mapped[str | None] = mapped_column(String(24))
    refused_by: Mapped[str | None] = mapped_column(NAME)
    """The guardrail rule that refused the action."""
    verdict_reason: Mapped[str | None] = mapped_column(Text)
    epoch: Mapped[int | None] = mapped_column(BigInteger)
    """The leader epoch of the last process that claimed or ran it."""
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float]
    updated_at: Mapped[float]
    started_at: Mapped[float | None]
    finished_at: Mapped[float | None]


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            f"decision IS NULL OR {_one_of('decision', ApprovalDecision)}", name="decision"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    action_id: Mapped[str] = mapped_column(ForeignKey("actions.id"), index=True)
    requested_at: Mapped[float]
    expires_at: Mapped[float]
    decided_at: Mapped[float | None]
    decided_by: Mapped[str | None] = mapped_column(NAME)
    decision: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]]


class FencingRow(Base):
    """One row per lease: the newest epoch issued for it (monotonic)."""

    __tablename__ = "fencing"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float]


class LeaseRow(Base):
    """One row per lease: who holds it, under which fencing epoch, and until when.

    Free when ``expires_at`` is past; a holder that released it set ``expires_at`` to
    ``renewed_at`` (a renewal always leaves them ``ttl`` apart).
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    holder: Mapped[str] = mapped_column(NAME)
    """The process that holds (or last held) the lease."""
    epoch: Mapped[int] = mapped_column(BigInteger)
    """The fencing epoch issued when this holder took the lease."""
    acquired_at: Mapped[float]
    renewed_at: Mapped[float]
    expires_at: Mapped[float]


class EvalRunRow(Base):
    """One evaluation run: which suite, policies and seeds, and its summary per policy."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    suite: Mapped[str] = mapped_column(NAME)
    policies: Mapped[list[Any]]
    seeds: Mapped[list[Any]]
    started_at: Mapped[float]
    finished_at: Mapped[float | None]
    wall_s: Mapped[float | None]
    summary: Mapped[dict[str, Any]]


class EvalEpisodeRow(Base):
    """One scored episode of a run (the whole record as JSON, its keys as columns)."""

    __tablename__ = "eval_episodes"
    __table_args__ = (UniqueConstraint("run_id", "scenario", "seed", "policy"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    scenario: Mapped[str] = mapped_column(NAME)
    seed: Mapped[int] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(NAME)
    success: Mapped[bool]
    record: Mapped[dict[str, Any]]


class ApiTokenRow(Base):
    """An API token: its SHA-256 digest (hex), never the token itself."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_one_of("role", Role), name="role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(NAME)
    expires_at: Mapped[float | None]
    revoked_at: Mapped[float | None]
    last_used_at: Mapped[float | None]
    """Updated at most once a minute (a verification is a read otherwise)."""


class ControlRow(Base):
    """An operator control (pause, silence, opt-out, dry run); a maintenance window is a
    silence with ``maintenance`` set. Lifted controls stay, for the record."""

    __tablename__ = "controls"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ControlKind), name="kind"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window"),
        Index(None, "lifted_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str | None] = mapped_column(NAME)
    """A pause's namespace; ``NULL``: the whole control plane."""
    target: Mapped[str | None] = mapped_column(String(600))
    """An opt-out's ``kind/namespace/name``, or a silence's pattern (``*`` globs)."""
    maintenance: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[float]
    ends_at: Mapped[float | None]
    """``NULL``: until lifted."""
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[float]
    lifted_at: Mapped[float | None]
    lifted_by: Mapped[str | None] = mapped_column(NAME)


class InboxRow(Base):
    """A signal from outside (an Alertmanager alert) waiting for the leader to take it."""

    __tablename__ = "signal_inbox"
    __table_args__ = (CheckConstraint(_one_of("status", AlertStatus), name="status"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    received_at: Mapped[float]
    signal: Mapped[dict[str, Any]]
    """A serialized :class:`~controlplane.domain.Signal`."""
    fingerprint: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[float | None] = mapped_column(index=True)
