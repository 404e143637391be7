"""Persistence: SQLAlchemy models, Alembic migrations and repositories over SQLite or PostgreSQL.

Part of the kernel: it imports only the kernel's modules, pydantic, SQLAlchemy and Alembic.
Import public names from here (``from controlplane.store import Store, make_engine``). Nothing
connects at import time; :func:`make_engine` and :meth:`Store.open` are called at entry points.
"""

from controlplane.store.actions import ActionRepository
from controlplane.store.approvals import ApprovalRepository
from controlplane.store.audit import AuditLog
from controlplane.store.controls import ControlRepository
from controlplane.store.decisions import DecisionRepository
from controlplane.store.engine import (
    BUSY_TIMEOUT_MS,
    SQLITE_PRAGMAS,
    describe_url,
    make_engine,
    store_errors,
)
from controlplane.store.fencing import DEFAULT_LEASE, Fencing
from controlplane.store.inbox import TAKE_LIMIT, SignalInbox
from controlplane.store.incidents import IncidentRepository
from controlplane.store.leases import LeaseRepository
from controlplane.store.migrate import (
    MigrationReport,
    current_revision,
    head_revision,
    schema_diff,
    upgrade,
)
from controlplane.store.records import (
    ACTION_TRANSITIONS,
    FINAL_ACTION_STATUSES,
    UNFINISHED_ACTION_STATUSES,
    ActionRecord,
    ActionStatus,
    AlertStatus,
    ApiToken,
    Approval,
    ApprovalDecision,
    AuditEvent,
    Claim,
    Control,
    ControlKind,
    ControlState,
    Lease,
    Role,
    VerdictKind,
    parse_target,
)
from controlplane.store.session import Store, Transaction
from controlplane.store.signals import SignalRepository
from controlplane.store.tokens import TOKEN_PREFIX, TokenRepository, token_digest

__all__ = [
    "ACTION_TRANSITIONS",
    "BUSY_TIMEOUT_MS",
    "DEFAULT_LEASE",
    "FINAL_ACTION_STATUSES",
    "SQLITE_PRAGMAS",
    "TAKE_LIMIT",
    "TOKEN_PREFIX",
    "UNFINISHED_ACTION_STATUSES",
    "ActionRecord",
    "ActionRepository",
    "ActionStatus",
    "AlertStatus",
    "ApiToken",
    "Approval",
    "ApprovalDecision",
    "ApprovalRepository",
    "AuditEvent",
    "AuditLog",
    "Claim",
    "Control",
    "ControlKind",
    "ControlRepository",
    "ControlState",
    "DecisionRepository",
    "Fencing",
    "IncidentRepository",
    "Lease",
    "LeaseRepository",
    "MigrationReport",
    "Role",
    "SignalInbox",
    "SignalRepository",
    "Store",
    "TokenRepository",
    "Transaction",
    "VerdictKind",
    "current_revision",
    "describe_url",
    "head_revision",
    "make_engine",
    "parse_target",
    "schema_diff",
    "store_errors",
    "token_digest",
    "upgrade",
]
