"""Fixtures for the API: an app over a migrated store on a manual clock, bearer tokens of each
role, an executor on a testbed served over HTTP (for dry runs and chat), and a real uvicorn
server on loopback for the browser and load tests.

``client`` is FastAPI's in-process test client (the whole ASGI stack, no socket); ``live_api``
serves the same app on 127.0.0.1 for callers that need a real socket (Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from actions import Executor, Guardrails
from api import create_app
from controlplane.clock import ManualClock
from controlplane.settings import Settings
from controlplane.store import Role, Store, upgrade
from testbed.runner import TestbedServer
from tests.actions.conftest import backend_for, settled_cluster
from tests.telemetry.servers import ThreadedServer

from ..databases import BACKENDS, Database, fresh_database

START = 1_700_000_000.0


@dataclass(frozen=True)
class Tokens:
    viewer: str
    operator: str
    admin: str

    def header(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """SQLite (the default backend); tests that need both use ``any_database``."""
    with fresh_database("sqlite", tmp_path) as db:
        yield db


@pytest.fixture(params=BACKENDS)
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with fresh_database(request.param, tmp_path) as db:
        yield db


@pytest.fixture
def store(database: Database, clock: ManualClock) -> Iterator[Store]:
    engine = database.engine()
    upgrade(engine)
    store = Store(engine, clock=clock, actor="api")
    yield store
    store.close()


@pytest.fixture
def tokens(store: Store) -> Tokens:
    made = {}
    with store.write() as tx:
        for role in Role:
            plain, _ = tx.tokens.create(f"{role}-token", role, created_by="tests")
            made[str(role)] = plain
    return Tokens(**made)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.db'}")


@pytest.fixture
def app(settings: Settings, store: Store) -> FastAPI:
    """The API without a cluster connection (dry runs and chat answer 503)."""
    return create_app(settings, store=store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def testbed() -> Iterator[TestbedServer]:
    """The hotel application on a settled, seeded testbed, served over HTTP."""
    with TestbedServer(settled_cluster()) as server:
        yield server


@pytest.fixture
def executor(store: Store, testbed: TestbedServer) -> Executor:
    return Executor(store, backend_for(testbed), Guardrails())


@pytest.fixture
def cluster_app(settings: Settings, store: Store, executor: Executor) -> FastAPI:
    """The API with an executor on the testbed (dry runs, actions asked for, chat)."""
    return create_app(settings, store=store, executor=executor)


@pytest.fixture
def cluster_client(cluster_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(cluster_app) as c:
        yield c


@pytest.fixture
def live_api(app: FastAPI) -> Iterator[ThreadedServer]:
    with ThreadedServer(app) as server:
        yield server
