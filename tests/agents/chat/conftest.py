"""A store on a manual clock, seeded (see :mod:`tests.agents.chat.factories`), and a router over
a scripted local tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agents.chat import Known
from agents.llm import LLMMetrics, Router, TierSlot
from controlplane import Tier
from controlplane.clock import ManualClock
from controlplane.store import Store

from ..factories import ScriptedTier
from .factories import NS, Seeded, seed

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'chat.db'}", clock=ManualClock(T0), actor="api")
    yield store
    store.close()


@pytest.fixture
def seeded(store: Store) -> Seeded:
    return seed(store)


@pytest.fixture
def tier() -> ScriptedTier:
    return ScriptedTier(Tier.LOCAL)


def router_of(*tiers: ScriptedTier, min_margin: float = 0.0) -> Router:
    return Router(
        [TierSlot(t) for t in tiers],
        min_margin=min_margin,
        metrics=LLMMetrics(CollectorRegistry()),
    )


@pytest.fixture
def router(tier: ScriptedTier) -> Router:
    return router_of(tier)


@pytest.fixture
def known() -> Known:
    names = ("frontend", "search", "geo", "mongodb-users")
    return Known(
        services=frozenset({"search", "geo"}),
        workloads=frozenset((NS, n) for n in names),
        namespaces=frozenset({NS}),
    )
