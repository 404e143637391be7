"""Databases for tests: a SQLite file, or a fresh schema on a real PostgreSQL server.

PostgreSQL comes from ``AIOPS_TEST_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets its own schema (a
unique name, dropped afterwards) reached through ``search_path``, so tests running in parallel
(``pytest -n``) never see each other's tables. Where the server cannot be reached the
PostgreSQL variants are skipped with a reason saying what they need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from controlplane.store import describe_url, make_engine, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    return os.environ.get("AIOPS_TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or ``None`` when they can."""
    url = postgres_url()
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any failure means: skip, and say why
        return (
            f"PostgreSQL not reachable at {describe_url(url)} ({type(exc).__name__}); set "
            "AIOPS_TEST_DATABASE_URL to a database where the tests may create schemas"
        )
    finally:
        engine.dispose()
    return None


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: a URL plus the driver arguments that select its schema."""

    backend: str
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def engine(self) -> Engine:
        return make_engine(self.url, connect_args=self.connect_args)

    @property
    def full_url(self) -> str:
        """One URL that selects the schema too (driver options in the query string)."""
        url = make_url(self.url)
        if self.connect_args:
            url = url.update_query_dict({k: str(v) for k, v in self.connect_args.items()})
        return url.render_as_string(hide_password=False)


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of ``backend``; a PostgreSQL schema is dropped afterwards."""
    if backend == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'aiops.db'}")
        return
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    schema = f"test_{uuid4().hex[:16]}"
    admin = make_engine(postgres_url())
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield Database("postgresql", postgres_url(), {"options": f"-csearch_path={schema}"})
    finally:
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        except SQLAlchemyError:  # pragma: no cover - the server went away; nothing to clean
            pass
        admin.dispose()


@contextmanager
def migrated_postgres(tmp_path: Path) -> Iterator[Database]:
    """A fresh PostgreSQL schema migrated to the newest revision (skips, saying why, when the
    server cannot be reached)."""
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    with fresh_database("postgresql", tmp_path) as db:
        engine = db.engine()
        upgrade(engine)
        engine.dispose()
        yield db
