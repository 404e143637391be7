"""Operator controls (pauses, silences and maintenance windows, opt-outs, dry run), API tokens
(digests only) and the inbox of signals from outside.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32)
NAME = sa.String(length=255)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        _time("created_at"),
        sa.Column("created_by", NAME, nullable=False),
        _time("expires_at", nullable=True),
        _time("revoked_at", nullable=True),
        _time("last_used_at", nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'operator', 'admin')", name=op.f("ck_api_tokens_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_tokens_digest")),
    )

    op.create_table(
        "controls",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("namespace", NAME, nullable=True),
        sa.Column("target", sa.String(length=600), nullable=True),
        sa.Column("maintenance", sa.Boolean(), nullable=False),
        _time("starts_at"),
        _time("ends_at", nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        _time("created_at"),
        _time("lifted_at", nullable=True),
        sa.Column("lifted_by", NAME, nullable=True),
        sa.CheckConstraint(
            "kind IN ('pause', 'silence', 'opt_out', 'dry_run')", name=op.f("ck_controls_kind")
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_controls_window")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controls")),
    )
    op.create_index(op.f("ix_controls_lifted_at"), "controls", ["lifted_at"])

    op.create_table(
        "signal_inbox",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        _time("received_at"),
        sa.Column("signal", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _time("taken_at", nullable=True),
        sa.CheckConstraint("status IN ('firing', 'resolved')", name=op.f("ck_signal_inbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_inbox")),
    )
    op.create_index(op.f("ix_signal_inbox_taken_at"), "signal_inbox", ["taken_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_signal_inbox_taken_at"), table_name="signal_inbox")
    op.drop_table("signal_inbox")
    op.drop_index(op.f("ix_controls_lifted_at"), table_name="controls")
    op.drop_table("controls")
    op.drop_table("api_tokens")
