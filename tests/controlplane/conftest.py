"""Fixtures for the store and the correlator: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.clock import ManualClock
from controlplane.store import Store, upgrade

from ..databases import BACKENDS, Database, fresh_database


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database: a SQLite file, or a fresh schema on PostgreSQL."""
    with fresh_database(request.param, tmp_path) as db:
        yield db


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000.0)


@pytest.fixture
def store(database: Database, clock: ManualClock) -> Iterator[Store]:
    """A store migrated to the newest schema, on a manual clock."""
    engine = database.engine()
    upgrade(engine)
    store = Store(engine, clock=clock)
    yield store
    store.close()
