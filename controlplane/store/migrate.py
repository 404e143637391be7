"""Schema migrations, run in code: no ``alembic.ini`` on disk.

:func:`upgrade` brings a database to the newest revision in one transaction (DDL is
transactional on both SQLite and PostgreSQL, so a failed migration leaves nothing half-done);
concurrent upgrades of one PostgreSQL database wait on an advisory lock.
:func:`schema_diff` compares the migrated schema with the models, as ``alembic check`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from controlplane.store.engine import WRITE, store_errors
from controlplane.store.models import Base

__all__ = [
    "MIGRATIONS",
    "MigrationReport",
    "current_revision",
    "head_revision",
    "schema_diff",
    "upgrade",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x41494F7053  # "AIOpS": the advisory lock that serializes upgrades on PostgreSQL


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`upgrade` did: the revision before (``None``: empty database) and after."""

    before: str | None
    after: str
    applied: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.applied)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The database's revision; ``None`` when it was never migrated."""
    with store_errors(engine.url, "reading the schema revision"), engine.connect() as conn:
        return _current(conn)


def upgrade(engine: Engine, revision: str = "head") -> MigrationReport:
    """Migrate the database to ``revision`` (default: the newest) and say what was applied."""
    script = ScriptDirectory.from_config(_config())
    with store_errors(engine.url, "migrating"), engine.execution_options(**WRITE).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        before = _current(conn)
        command.upgrade(_config(conn), revision)
        after = _current(conn)
    assert after is not None
    applied = [
        rev.revision for rev in script.iterate_revisions(after, before or "base") if rev.revision
    ]
    return MigrationReport(before=before, after=after, applied=tuple(reversed(applied)))


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the database's schema and the models (empty when they agree)."""
    with store_errors(engine.url, "comparing the schema"), engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
