"""Indexes for the API's pages: incidents by state in opening order, actions in creation order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incidents_state_opened_at_id", "incidents", ["state", "opened_at", "id"])
    op.create_index("ix_incidents_opened_at_id", "incidents", ["opened_at", "id"])
    op.create_index("ix_actions_created_at_id", "actions", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_actions_created_at_id", table_name="actions")
    op.drop_index("ix_incidents_opened_at_id", table_name="incidents")
    op.drop_index("ix_incidents_state_opened_at_id", table_name="incidents")
