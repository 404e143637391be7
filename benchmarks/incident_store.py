"""How many signals per second the correlator ingests and correlates into the incident store.

A seeded synthetic cluster (``--services`` services in 4 namespaces with a call graph and a few
shared databases per namespace, placed on ``--nodes`` nodes) produces a stream of 5-second ticks:
background anomalies on random services, fault episodes (node failures hitting every service on
the node, cascades up the call graph, database faults with their callers, capacity warnings)
that make bursts of hundreds of signals, and duplicates (about a fifth of the signals are
re-emitted a few ticks later under the same detector and series). SLO statuses for every
service ride along each tick. Every tick's signals go to :meth:`Correlator.ingest` as one batch,
in one transaction, as the control loop delivers them; a stand-in for the agents resolves
incidents quiet for 10 minutes (not timed). Only ``ingest`` calls are timed.

Each run uses a fresh database with the store's default durable settings: a SQLite file (not
``:memory:``) in WAL mode with ``synchronous=FULL``, and a fresh schema on PostgreSQL (the
server's own settings, printed). The figure per backend is the median of ``--repeat`` runs.
``--per-signal`` also times one transaction per signal on SQLite, for comparison.

Target (issue 5): >= 2,000 signals/s on SQLite.

    python benchmarks/incident_store.py --out results/incident_store.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy

from controlplane.clock import ManualClock
from controlplane.correlation import Correlator
from controlplane.domain import IncidentState, Signal, SignalKind, SLOStatus
from controlplane.store import SQLITE_PRAGMAS, Store, describe_url, make_engine
from controlplane.topology import StaticTopology

TICK_S = 5.0
NAMESPACES = 10
DATABASES = 5  # per namespace: the last services, called by many others
METRICS = ("p99_ms", "error_ratio", "rps", "cpu_ratio", "restarts")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Scenario:
    topology: StaticTopology
    ticks: list[list[Signal]]
    statuses: list[dict[str, SLOStatus]]
    services: list[str]
    nodes: list[str]
    stats: dict[str, Any] = field(default_factory=dict)


def build_cluster(
    rng: random.Random, services: int, nodes: int
) -> tuple[StaticTopology, list[str], list[str], dict[str, str], dict[str, set[str]]]:
    node_names = [f"node-{i:03d}" for i in range(nodes)]
    names: list[str] = []
    namespace_of: dict[str, str] = {}
    calls: dict[str, set[str]] = {}
    per_ns = services // NAMESPACES
    for n in range(NAMESPACES):
        ns = f"ns{n}"
        local = [f"{ns}-svc{i:03d}" for i in range(per_ns)]
        databases = local[-DATABASES:]
        for i, name in enumerate(local[:-DATABASES]):
            later = local[i + 1 : -DATABASES]
            callees = set(rng.sample(later, min(len(later), rng.randint(0, 3))))
            callees |= set(rng.sample(databases, rng.randint(0, 1)))
            calls[name] = callees
        names += local
        namespace_of.update({name: ns for name in local})
    placement = {name: set(rng.sample(node_names, rng.randint(1, 3))) for name in names}
    on_node: dict[str, set[str]] = {n: set() for n in node_names}
    for name, where in placement.items():
        for n in where:
            on_node[n].add(name)
    topology = StaticTopology(calls=calls, placement=placement)
    return topology, names, node_names, namespace_of, on_node


def make_scenario(
    seed: int, services: int, nodes: int, ticks: int, noise: float, episodes: float
) -> Scenario:
    rng = random.Random(seed)
    topology, names, node_names, namespace_of, on_node = build_cluster(rng, services, nodes)
    per_ns = services // NAMESPACES
    databases = [n for n in names if int(n.rsplit("svc", 1)[1]) >= per_ns - DATABASES]
    callers: dict[str, set[str]] = {}
    for name in names:
        for other in topology.neighbours(name):
            callers.setdefault(name, set()).add(other)
    start = 1_700_000_000.0
    pending: dict[int, list[Signal]] = {}
    counts = {"signals": 0, "duplicates": 0, "episodes": 0}

    def emit(tick: int, service: str | None, node: str | None, metric: str, **kw: Any) -> None:
        at = start + tick * TICK_S
        if service is not None:
            ns = namespace_of[service]
            series = f"service/{ns}/{service}/{metric}"
        else:
            ns, series = None, f"node/-/{node}/{metric}"
        detector = kw.pop("detector", "ensemble")
        signal = Signal(
            detector=detector,
            series=series,
            service=service,
            node=node,
            namespace=ns,
            score=round(rng.uniform(0.5, 1.0), 3),
            start=at,
            **kw,
        )
        pending.setdefault(tick, []).append(signal)
        counts["signals"] += 1
        if rng.random() < 0.2:  # the same detector and series again, a few ticks on
            later = tick + rng.randint(1, 6)
            again = signal.model_copy(update={"id": uuid4().hex, "start": start + later * TICK_S})
            pending.setdefault(later, []).append(again)
            counts["duplicates"] += 1
            counts["signals"] += 1

    for tick in range(ticks):
        for _ in range(_poisson(rng, noise)):  # background anomalies
            emit(tick, rng.choice(names), None, rng.choice(METRICS))
        if rng.random() < episodes:
            counts["episodes"] += 1
            _episode(rng, tick, emit, names, node_names, on_node, callers, namespace_of, databases)
    out = [pending.get(t, []) for t in range(ticks)]
    statuses = []
    for tick in range(ticks):
        at = start + tick * TICK_S
        hot = {s.service for s in out[tick] if s.service is not None}
        statuses.append(
            {
                name: SLOStatus(
                    service=name,
                    namespace=namespace_of[name],
                    met=name not in hot or rng.random() < 0.5,
                    burn_rate=rng.uniform(10, 20) if name in hot else rng.uniform(0, 1),
                    at=at,
                )
                for name in names
            }
        )
    sizes = [len(t) for t in out]
    stats = {
        **counts,
        "signals": sum(sizes),
        "ticks": ticks,
        "largest_tick": max(sizes),
        "mean_tick": round(statistics.mean(sizes), 1),
    }
    return Scenario(topology, out, statuses, names, node_names, stats)


def _episode(
    rng: random.Random,
    tick: int,
    emit: Any,
    names: list[str],
    node_names: list[str],
    on_node: dict[str, set[str]],
    callers: dict[str, set[str]],
    namespace_of: dict[str, str],
    databases: list[str],
) -> None:
    kind = rng.choice(["node", "cascade", "database", "capacity"])
    if kind == "node":
        target = rng.choice(node_names)
        emit(tick, None, target, "ready")
        emit(tick, None, target, "cpu_ratio")
        for service in sorted(on_node[target]):
            for metric in rng.sample(METRICS, rng.randint(1, 3)):
                emit(tick + rng.randint(0, 2), service, None, metric)
    elif kind in ("cascade", "database"):
        root = rng.choice(databases if kind == "database" else names)
        wave, seen = {root}, {root}
        for step in range(4):
            for service in sorted(wave):
                for metric in rng.sample(METRICS, rng.randint(1, 3)):
                    emit(tick + step, service, None, metric)
            wave = {c for s in wave for c in callers.get(s, set())} - seen
            seen |= wave
    else:
        ns = rng.choice(sorted(set(namespace_of.values())))
        local = [n for n in names if namespace_of[n] == ns]
        for service in rng.sample(local, 5):
            emit(tick, service, None, "cpu_ratio", detector="capacity", kind=SignalKind.CAPACITY)


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def resolve_quiet(store: Store, now: float, quiet_s: float = 300.0) -> None:
    """A stand-in for the agents: resolve incidents with no change for ``quiet_s``."""
    with store.write() as tx:
        for snap in tx.incidents.candidates():
            if snap.state != IncidentState.RESOLVED and snap.updated_at < now - quiet_s:
                tx.incidents.move(snap.id, IncidentState.RESOLVED, "quiet", now)


@dataclass
class Run:
    seconds: float
    signals: int
    tick_ms: list[float]
    incidents: int = 0

    @property
    def rate(self) -> float:
        return self.signals / self.seconds


def run(store: Store, scenario: Scenario, per_signal: bool = False) -> Run:
    """Time the ``ingest`` calls of one pass over the scenario."""
    correlator = Correlator(store, scenario.topology)
    out = Run(0.0, 0, [])
    for tick, signals in enumerate(scenario.ticks):
        statuses = scenario.statuses[tick]
        t0 = time.perf_counter()
        if per_signal:
            for signal in signals:
                correlator.ingest([signal], statuses)
        else:
            correlator.ingest(signals, statuses)
        elapsed = time.perf_counter() - t0
        out.seconds += elapsed
        out.signals += len(signals)
        out.tick_ms.append(elapsed * 1000)
        if tick % 12 == 11 and signals:
            resolve_quiet(store, signals[0].start)
    with store.read() as tx:
        out.incidents = len(tx.incidents.candidates(reopen_since=0.0))
    return out


@contextmanager
def sqlite_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix="aiops-bench-") as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'aiops.db'}", clock=ManualClock())
        try:
            yield store
        finally:
            store.close()


@contextmanager
def postgres_store(url: str) -> Iterator[Store]:
    schema = f"bench_{uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    store = Store.open(
        url, clock=ManualClock(), connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def postgres_settings(url: str) -> str | None:
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            sync = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
            fsync = conn.exec_driver_sql("SHOW fsync").scalar()
        return f"server {version}, synchronous_commit={sync}, fsync={fsync}, read committed"
    except Exception as exc:  # the figure is skipped, and the reason printed
        print(f"postgresql: not reachable at {describe_url(url)} ({type(exc).__name__}); skipped")
        return None
    finally:
        engine.dispose()


def measure(name: str, open_store: Any, scenario: Scenario, runs: int, per_signal: bool) -> Run:
    """Run the scenario ``runs`` times on fresh databases; the run with the median rate."""
    done = []
    for _ in range(runs):
        with open_store() as store:
            done.append(run(store, scenario, per_signal))
        last = done[-1]
        p50, p99 = _quantile(last.tick_ms, 0.5), _quantile(last.tick_ms, 0.99)
        figures = f"{last.signals} signals in {last.seconds:.2f} s = {last.rate:,.0f}/s"
        ticks = f"per tick p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        print(f"  {name}: {figures}; {ticks}; {last.incidents} incidents not merged away")
    return sorted(done, key=lambda r: r.rate)[len(done) // 2]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _figures(prefix: str, median: Run) -> dict[str, float]:
    return {
        f"{prefix}_signals_per_s": round(median.rate, 1),
        f"{prefix}_tick_ms_p50": round(_quantile(median.tick_ms, 0.5), 2),
        f"{prefix}_tick_ms_p99": round(_quantile(median.tick_ms, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=360, help="5 s ticks per run (360: 30 min)")
    parser.add_argument("--noise", type=float, default=2.0, help="background signals per tick")
    parser.add_argument("--episodes", type=float, default=0.15, help="faults started per tick")
    parser.add_argument("--repeat", type=int, default=3, help="runs per backend (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--per-signal", action="store_true", help="also time one transaction per signal (SQLite)"
    )
    args = parser.parse_args()
    scenario = make_scenario(
        args.seed, args.services, args.nodes, args.ticks, args.noise, args.episodes
    )
    pg = postgres_settings(args.postgres_url)
    print(
        f"settings: {args.services} services in {NAMESPACES} namespaces on {args.nodes} nodes, "
        f"seed {args.seed}, {args.ticks} ticks of {TICK_S:g} s, one transaction per tick, "
        f"{args.repeat} runs on fresh databases; stream: {scenario.stats}"
    )
    print("sqlite: " + ", ".join(f"{k}={v}" for k, v in SQLITE_PRAGMAS.items()) + ", temp file")
    if pg:
        print(f"postgresql: {describe_url(args.postgres_url)}, {pg}")
    print(
        f"cpus={os.cpu_count()}, python={platform.python_version()}, "
        f"sqlalchemy={sqlalchemy.__version__}, sqlite={sqlite3.sqlite_version}"
    )
    results: dict[str, Any] = {
        "settings": {
            "sqlite": dict(SQLITE_PRAGMAS),
            "postgres": pg,
            "stream": scenario.stats,
            "services": args.services,
            "nodes": args.nodes,
            "runs": args.repeat,
        }
    }
    results |= _figures("sqlite", measure("sqlite", sqlite_store, scenario, args.repeat, False))
    if args.per_signal:
        one = measure("sqlite, a transaction per signal", sqlite_store, scenario, 1, True)
        results["sqlite_one_transaction_per_signal_signals_per_s"] = round(one.rate, 1)
    results["postgres_signals_per_s"] = None
    if pg:
        open_pg = partial(postgres_store, args.postgres_url)
        results |= _figures(
            "postgres", measure("postgresql", open_pg, scenario, args.repeat, False)
        )
    sqlite_rate = results["sqlite_signals_per_s"]
    print(f"sqlite_signals_per_s (median of {args.repeat}): {sqlite_rate:,.0f}  target >= 2,000")
    one_each = results.get("sqlite_one_transaction_per_signal_signals_per_s")
    if one_each is not None:
        print(f"sqlite, one transaction per signal: {one_each:,.0f}/s")
    if results["postgres_signals_per_s"] is not None:
        pg_rate = results["postgres_signals_per_s"]
        print(f"postgres_signals_per_s (median of {args.repeat}): {pg_rate:,.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
