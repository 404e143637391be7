"""The initial schema: incidents, signals, timeline, decisions, actions, approvals, audit, fencing.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32)
NAME = sa.String(length=255)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

APPEND_ONLY = "audit_events is append-only"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    for verb in ("UPDATE", "DELETE")
]
POSTGRES_TRIGGERS = [
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
]


def _time(name: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("namespace", NAME, nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        _time("opened_at"),
        _time("updated_at"),
        _time("resolved_at", nullable=True),
        _time("last_signal_at", nullable=True),
        sa.Column("capacity_only", sa.Boolean(), nullable=False),
        sa.Column("merged_into", ID, nullable=True),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')",
            name=op.f("ck_incidents_severity"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'diagnosing', 'mitigating', 'verifying', 'resolved', 'needs_human')",
            name=op.f("ck_incidents_state"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["incidents.id"], name=op.f("fk_incidents_merged_into_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_resolved_at"), "incidents", ["resolved_at"])
    op.create_index(
        op.f("ix_incidents_state_last_signal_at"), "incidents", ["state", "last_signal_at"]
    )

    op.create_table(
        "signals",
        sa.Column("id", ID, nullable=False),
        sa.Column("detector", NAME, nullable=False),
        sa.Column("series", sa.String(length=512), nullable=False),
        sa.Column("service", NAME, nullable=True),
        sa.Column("node", NAME, nullable=True),
        sa.Column("namespace", NAME, nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        _time("start"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _time("last_seen"),
        sa.CheckConstraint(
            "kind IN ('anomaly', 'capacity', 'alert')", name=op.f("ck_signals_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index(op.f("ix_signals_series"), "signals", ["series"])

    op.create_table(
        "incident_signals",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("signal_id", ID, nullable=False),
        _time("linked_at"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_signals_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_incident_signals_signal_id_signals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_signals")),
        sa.UniqueConstraint(
            "incident_id", "signal_id", name=op.f("uq_incident_signals_incident_id_signal_id")
        ),
    )
    op.create_index(op.f("ix_incident_signals_signal_id"), "incident_signals", ["signal_id"])

    op.create_table(
        "timeline_entries",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        _time("at"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_timeline_entries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
    )
    op.create_index(op.f("ix_timeline_entries_incident_id"), "timeline_entries", ["incident_id"])

    op.create_table(
        "decisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("agent", NAME, nullable=False),
        sa.Column("policy", NAME, nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("model", NAME, nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("escalation_reason", sa.Text(), nullable=True),
        _time("at"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_decisions_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_incident_id"), "decisions", ["incident_id"])

    op.create_table(
        "actions",
        sa.Column("id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("incident_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=600), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=True),
        sa.Column("refused_by", NAME, nullable=True),
        sa.Column("verdict_reason", sa.Text(), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'awaiting_approval', 'approved', 'refused', 'running', "
            "'succeeded', 'failed', 'dry_run')",
            name=op.f("ck_actions_status"),
        ),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('allowed', 'needs_approval', 'refused', 'dry_run')",
            name=op.f("ck_actions_verdict"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_actions_idempotency_key")),
    )
    op.create_index(op.f("ix_actions_incident_id"), "actions", ["incident_id"])
    op.create_index(op.f("ix_actions_status"), "actions", ["status"])

    op.create_table(
        "approvals",
        sa.Column("id", ID, nullable=False),
        sa.Column("action_id", ID, nullable=False),
        _time("requested_at"),
        _time("expires_at"),
        _time("decided_at", nullable=True),
        sa.Column("decided_by", NAME, nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('approved', 'rejected', 'expired')",
            name=op.f("ck_approvals_decision"),
        ),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_approvals_action_id_actions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_action_id"), "approvals", ["action_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_index(op.f("ix_audit_events_kind"), "audit_events", ["kind"])
    op.create_index(op.f("ix_audit_events_subject_id"), "audit_events", ["subject_id"])
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table(
        "fencing",
        sa.Column("name", NAME, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_fencing")),
    )


def downgrade() -> None:
    for table in (
        "fencing",
        "audit_events",
        "approvals",
        "actions",
        "decisions",
        "timeline_entries",
        "incident_signals",
        "signals",
        "incidents",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
