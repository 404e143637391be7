"""How fast the REST API lists incidents under an open-loop load: ``GET /incidents`` (the first
page of 50, filtered by state) with 10,000 incidents in SQLite.

A SQLite file in a temporary folder gets ``--incidents`` incidents (seeded: mostly resolved over
the last 90 days, a few hundred open, diagnosing, mitigating, verifying or waiting for a person;
severities and services mixed; two to six timeline entries each) and a ``viewer`` token, through
the store's repositories. The API is served as it ships: ``aiops api --no-cluster`` with
``AIOPS_DATABASE_URL`` pointing at the file, one uvicorn worker, in its own process on
127.0.0.1. This process offers load **open loop**: request *i* is due at ``start + i / rate``
and is sent then whatever came back before (keep-alive connections, as many as the requests
outstanding, up to ``--connections``); its latency counts from when it was due, so time spent
queueing (in the client or the server) counts and nothing is omitted. A request fails on a
status other than 200, a connection error or no answer within ``--timeout``.

The requests cycle through ``--states`` (one state per request: ``?state=open&limit=50``,
``?state=diagnosing&limit=50``, ...), so the figure is not one cached query plan and page.

Phase 1 offers 200 requests/s for 20 s, ``--repeat`` times; the figure is the median p99.
Phase 2 steps the offered load up (``--step-s`` seconds each, ``--step-rps`` apart) until a step
misses (p99 >= ``--max-p99-ms`` or any failure), then bisects between the last step that held
and the first that missed down to ``--resolution-rps``; ``max_rps`` is the highest offered load
that held. Before the load, the unloaded round trip (one request at a time) and the two
clients' own CPU cost at a light load (``--compare-rps``: the raw client is the default because
httpx's costs several times more on the same cores as the server). After it, a profile of one
request's parts in this process: the token check (in a write and in a read transaction), the
page query per state, whole requests through the app without a socket; and, when the schema has
no index serving the page query, the query again on a copy that has one. Every run prints the
server's and the client's CPU time per request and the load average (other work on the machine
shows there, and in the figures).

Target (issue): p99 < 50 ms at 200 requests/s on 2 cores.

    python benchmarks/api_load.py --out results/api_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import fastapi
import httpx
import sqlalchemy
import uvicorn

from controlplane.domain import IncidentState, Severity, new_id
from controlplane.store import SQLITE_PRAGMAS, Role, Store
from testbed.runner import free_port

TARGET_RPS = 200.0
TARGET_P99_MS = 50.0
DAY_S = 86_400.0
NOW = 1_700_000_000.0
NAMESPACES = {
    "hotel": ["frontend", "search", "geo", "profile", "rate", "recommendation", "reservation"],
    "shop": ["cart", "checkout", "payment", "catalogue", "shipping", "currency", "email"],
    "media": ["compose", "text", "media", "user", "home-timeline", "social-graph", "url"],
    "platform": ["ingress", "auth", "dns", "registry", "metrics", "logging"],
}
NODES = [f"node-{i:02d}" for i in range(24)]
WHAT_IF_INDEX = "state, opened_at DESC, id"
STATES = {  # share of incidents in each state
    IncidentState.RESOLVED: 0.88,
    IncidentState.OPEN: 0.04,
    IncidentState.NEEDS_HUMAN: 0.035,
    IncidentState.DIAGNOSING: 0.025,
    IncidentState.MITIGATING: 0.01,
    IncidentState.VERIFYING: 0.01,
}
SEVERITIES = {
    Severity.INFO: 0.1,
    Severity.LOW: 0.35,
    Severity.MEDIUM: 0.35,
    Severity.HIGH: 0.15,
    Severity.CRITICAL: 0.05,
}
PATH_TO = {  # the states an incident went through before the one it is in
    IncidentState.OPEN: [],
    IncidentState.DIAGNOSING: ["diagnosing"],
    IncidentState.MITIGATING: ["diagnosing", "mitigating"],
    IncidentState.VERIFYING: ["diagnosing", "mitigating", "verifying"],
    IncidentState.NEEDS_HUMAN: ["diagnosing", "needs_human"],
    IncidentState.RESOLVED: ["diagnosing", "mitigating", "verifying", "resolved"],
}


# --- the database -------------------------------------------------------------------------------


def _pick(rng: random.Random, shares: dict[Any, float]) -> Any:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _incident(rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One incident row and its timeline."""
    state = _pick(rng, STATES)
    namespace = rng.choice(list(NAMESPACES))
    services = rng.sample(NAMESPACES[namespace], rng.choice([1, 1, 1, 2, 3]))
    nodes = rng.sample(NODES, 1) if rng.random() < 0.15 else []
    age = rng.uniform(0, 90 * DAY_S) if state is IncidentState.RESOLVED else rng.expovariate(1e-4)
    opened = NOW - age
    iid, at = new_id(), opened
    timeline = [_entry(iid, at, "opened", f"{len(services) + len(nodes)} signals correlated")]
    steps = PATH_TO[state]
    if rng.random() < 0.3 and state is IncidentState.RESOLVED:
        steps = ["resolved"]  # quiet again before anyone acted
    previous = "open"
    for step in steps:
        at += rng.uniform(20, 600)
        timeline.append(_entry(iid, at, "transition", f"{previous} -> {step}"))
        previous = step
    if "mitigating" in steps:
        timeline.insert(2, _entry(iid, at - 1, "hypothesis", f"deployment/{services[0]}: 0.81"))
    resolved = at if state is IncidentState.RESOLVED else None
    row = {
        "id": iid,
        "state": str(state),
        "severity": str(_pick(rng, SEVERITIES)),
        "namespace": namespace,
        "services": services,
        "nodes": nodes,
        "opened_at": opened,
        "updated_at": at,
        "resolved_at": resolved,
        "last_signal_at": opened,
        "capacity_only": False,
        "merged_into": None,
    }
    return row, timeline


def _entry(incident_id: str, at: float, kind: str, summary: str) -> dict[str, Any]:
    return {"incident_id": incident_id, "at": at, "kind": kind, "summary": summary, "ref_id": None}


@dataclass
class Database:
    url: str
    token: str
    states: dict[str, int]
    timeline_entries: int


def build_database(folder: Path, incidents: int, seed: int) -> Database:
    """``incidents`` incidents and a viewer token in a fresh SQLite file under ``folder``."""
    rng = random.Random(seed)
    url = f"sqlite:///{folder / 'aiops.db'}"
    store = Store.open(url, actor="bench")
    states: dict[str, int] = {}
    entries = 0
    try:
        for start in range(0, incidents, 1000):
            made = [_incident(rng) for _ in range(min(1000, incidents - start))]
            with store.write() as tx:
                tx.incidents.insert_many([row for row, _ in made])
                tx.incidents.timeline_many([e for _, timeline in made for e in timeline])
            for row, timeline in made:
                states[row["state"]] = states.get(row["state"], 0) + 1
                entries += len(timeline)
        with store.write() as tx:
            token, _ = tx.tokens.create("bench-viewer", Role.VIEWER, created_by="bench")
    finally:
        store.close()
    return Database(url, token, dict(sorted(states.items())), entries)


# --- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_s(self) -> float | None:
        """The server process's CPU time so far (user + system; Linux's /proc, else None)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(db: Database, folder: Path) -> Iterator[Server]:
    """``aiops api --no-cluster`` on a free loopback port, in its own process."""
    port = free_port()
    env = {**os.environ, "AIOPS_DATABASE_URL": db.url, "AIOPS_DATA_DIR": str(folder)}
    command = [sys.executable, "-m", "controlplane.cli", "api", "--no-cluster"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API did not become ready on {url}")


# --- the load -----------------------------------------------------------------------------------


class RawClient:
    """HTTP/1.1 over asyncio streams: keep-alive connections, reused while idle, a new one
    (up to ``limit``) when none is; a request waits for a connection past that (the wait
    counts in its latency). Reads the status and a ``Content-Length`` body, nothing more.

    As HTTP clients do, a connection idle longer than ``IDLE_S`` (under the server's keep-alive
    timeout, uvicorn's 5 s) is not reused, and a request whose reused connection turns out to
    have been closed by the server before any byte of the answer is sent again on a new one
    (once; the retry counts in its latency)."""

    IDLE_S = 4.0

    def __init__(self, url: str, token: str, limit: int, timeout: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port, self.token, self.timeout = host, int(port), token, timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(limit)
        self.opened = 0
        self.retried = 0

    def _request(self, path: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: application/json\r\n\r\n"
        ).encode()

    def _reusable(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < self.IDLE_S:
                return reader, writer
            writer.close()
        return None

    async def get(self, path: str) -> int:
        async with self._slots:
            reused = self._reusable()
            for attempt in range(2):
                if reused is None or attempt:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    self.opened += 1
                else:
                    reader, writer = reused
                try:
                    writer.write(self._request(path))
                    head = await reader.readuntil(b"\r\n\r\n")
                    await reader.readexactly(_content_length(head))
                except asyncio.IncompleteReadError as exc:
                    writer.close()
                    if attempt == 0 and reused is not None and not exc.partial:
                        self.retried += 1  # closed by the server while idle: send again
                        continue
                    raise
                except BaseException:
                    writer.close()
                    raise
                self._idle.append((reader, writer, time.monotonic()))
                return int(head[9:12])
            raise AssertionError("unreachable")

    async def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


def _content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    raise ValueError("a response without Content-Length")


class HttpxClient:
    """The same requests through ``httpx.AsyncClient`` (for comparing the client's cost)."""

    def __init__(self, url: str, token: str, limit: int, timeout: float) -> None:
        self.timeout = timeout
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        self._client = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            limits=limits,
            timeout=None,
        )

    async def get(self, path: str) -> int:
        return (await self._client.get(path)).status_code

    async def close(self) -> None:
        await self._client.aclose()


Client = RawClient | HttpxClient


@dataclass
class Phase:
    """What one stretch of offered load got. A failed request counts in the latencies at the
    time it failed (a timeout at ``timeout``, so then they are lower bounds)."""

    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    send_lag_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    loadavg: float = 0.0
    """The machine's 1-minute load average when the run ended (other work shows here)."""

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def p99(self) -> float:
        return _quantile(self.latencies_ms, 0.99)

    def summary(self) -> dict[str, Any]:
        sent = len(self.send_lag_ms)
        return {
            "offered_rps": self.rate,
            "seconds": self.seconds,
            "requests": sent,
            "ok": self.ok,
            "errors": self.errors,
            "achieved_rps": round(self.ok / self.wall_s, 1) if self.wall_s else 0,
            "p50_ms": _ms(_quantile(self.latencies_ms, 0.50)),
            "p95_ms": _ms(_quantile(self.latencies_ms, 0.95)),
            "p99_ms": _ms(self.p99),
            "p99_is_lower_bound": "TimeoutError" in self.errors,
            "max_ms": _ms(max(self.latencies_ms, default=math.nan)),
            "p99_ms_by_path": {p: _ms(_quantile(v, 0.99)) for p, v in self.by_path.items()},
            "send_lag_p99_ms": _ms(_quantile(self.send_lag_ms, 0.99)),
            "client_cpu_ms_per_request": _ms(1000 * self.client_cpu_s / sent) if sent else None,
            "server_cpu_ms_per_request": (
                _ms(1000 * self.server_cpu_s / sent) if sent and self.server_cpu_s else None
            ),
            "loadavg_1m": round(self.loadavg, 2),
        }


def _quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


async def offer(client: Client, paths: list[str], rate: float, seconds: float) -> Phase:
    """Send ``rate`` requests per second for ``seconds`` on schedule, whatever the answers."""
    loop = asyncio.get_running_loop()
    phase = Phase(rate, seconds)
    count = round(rate * seconds)
    cpu = time.process_time()
    start = loop.time() + 0.05
    tasks = []
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))  # behind schedule: yield, send now
        phase.send_lag_ms.append(max(0.0, loop.time() - due) * 1000)
        path = paths[i % len(paths)]
        tasks.append(asyncio.create_task(_one(client, path, due, phase)))
    await asyncio.gather(*tasks)
    phase.wall_s = loop.time() - start
    phase.client_cpu_s = time.process_time() - cpu
    return phase


async def _one(client: Client, path: str, due: float, phase: Phase) -> None:
    loop = asyncio.get_running_loop()
    error = None
    try:
        async with asyncio.timeout(client.timeout):
            status = await client.get(path)
        if status != 200:
            error = f"http_{status}"
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, httpx.HTTPError) as exc:
        error = type(exc).__name__
    latency = (loop.time() - due) * 1000
    phase.latencies_ms.append(latency)
    phase.by_path.setdefault(path, []).append(latency)
    if error is None:
        phase.ok += 1
    else:
        phase.errors[error] = phase.errors.get(error, 0) + 1


@dataclass
class Load:
    """How load is offered: the client (made afresh per run), the requests, the server."""

    make_client: Callable[[], Client]
    paths: list[str]
    server: Server
    pause_s: float

    def run(self, rate: float, seconds: float) -> Phase:
        """One run, once the server is idle (the last run's backlog worked off)."""
        settle(self.server.url, self.pause_s)

        async def go() -> Phase:
            client = self.make_client()
            try:
                return await offer(client, self.paths, rate, seconds)
            finally:
                await client.close()

        before = self.server.cpu_s()
        phase = asyncio.run(go())
        after = self.server.cpu_s()
        if before is not None and after is not None:
            phase.server_cpu_s = after - before
        phase.loadavg = os.getloadavg()[0]
        return phase


def settle(url: str, pause_s: float, quick_ms: float = 20.0, within_s: float = 120.0) -> None:
    """Wait ``pause_s``, then until ``/healthz`` answers within ``quick_ms`` three times in a
    row (a server still working off requests its clients gave up on answers late)."""
    time.sleep(pause_s)
    deadline, quick = time.monotonic() + within_s, 0
    with httpx.Client(base_url=url, timeout=within_s) as client:
        while quick < 3 and time.monotonic() < deadline:
            t0 = time.perf_counter()
            client.get("/healthz")
            quick = quick + 1 if (time.perf_counter() - t0) * 1000 < quick_ms else 0
            time.sleep(0.05)


def _show(name: str, phase: Phase) -> None:
    s = phase.summary()
    print(
        f"  {name}: offered {s['offered_rps']:g}/s for {s['seconds']:g} s: "
        f"{s['ok']}/{s['requests']} ok at {s['achieved_rps']}/s; p50 {s['p50_ms']} ms, "
        f"p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms; "
        f"errors {s['errors'] or 0}; send lag p99 {s['send_lag_p99_ms']} ms; CPU/request: "
        f"server {s['server_cpu_ms_per_request']} ms, client {s['client_cpu_ms_per_request']} ms;"
        f" load average {s['loadavg_1m']}"
    )


def holds(phase: Phase, max_p99_ms: float) -> bool:
    return phase.failed == 0 and not math.isnan(phase.p99) and phase.p99 < max_p99_ms


def highest_rate(load: Load, args: argparse.Namespace) -> tuple[float, list[dict[str, Any]]]:
    """Step the offered load up until a step misses, then bisect; the highest that held
    (0 when not even ``--resolution-rps`` did)."""
    steps: list[dict[str, Any]] = []

    def attempt(rate: float) -> bool:
        phase = load.run(rate, args.step_s)
        ok = holds(phase, args.max_p99_ms)
        _show(f"step {rate:g}/s ({'held' if ok else 'missed'})", phase)
        steps.append({**phase.summary(), "held": ok})
        return ok

    held, rate = 0.0, args.rate
    while rate <= args.max_rps and attempt(rate):
        held, rate = rate, rate + args.step_rps
    missed = rate if rate <= args.max_rps else None
    while missed is not None and missed - held > args.resolution_rps:
        middle = held + round((missed - held) / 2 / args.resolution_rps) * args.resolution_rps
        if attempt(middle):
            held = middle
        else:
            missed = middle
    return held, steps


# --- the profile --------------------------------------------------------------------------------


def _timed(fn: Callable[[], object], runs: int) -> dict[str, float | None]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": _ms(_quantile(times, 0.5)), "p99_ms": _ms(_quantile(times, 0.99))}


def profile(db: Database, states: list[str], runs: int) -> dict[str, Any]:
    """One request's parts, in this process, on the benchmark's database: the token check
    (in a write and in a read transaction, alone and 8 threads at once), the page query per
    state, and whole requests through the app without a socket (``/healthz``: the framework
    alone); what a request costs beyond its query and token check is the framework's and the
    serialization's."""
    from api import create_app
    from controlplane.settings import Settings

    store = Store.open(db.url, actor="api", migrate=False)
    out: dict[str, Any] = {}

    def auth_write() -> None:
        with store.write() as tx:
            tx.tokens.verify(db.token)

    def auth_read() -> None:
        with store.read() as tx:
            tx.tokens.verify(db.token, touch=False)

    out["token_check_write_tx"] = _timed(auth_write, runs)
    out["token_check_read_tx"] = _timed(auth_read, runs)
    out["token_check_write_tx_8_threads"] = _contended(auth_write, runs)
    out["token_check_read_tx_8_threads"] = _contended(auth_read, runs)
    for state in states:
        out[f"page_query_{state}"] = _timed(partial(_page, store, state), runs)
    app = create_app(Settings(database_url=db.url), store=store)
    paths = ["/healthz"] + [f"/incidents?state={s}&limit=50" for s in states]
    out |= asyncio.run(_in_process(app, db.token, paths, runs))
    store.close()
    return out


async def _in_process(app: Any, token: str, paths: list[str], runs: int) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    out = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path in paths:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                (await client.get(path, headers=headers)).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            figures = {"p50_ms": _ms(_quantile(times, 0.5)), "p99_ms": _ms(_quantile(times, 0.99))}
            out[f"in_process_request {path}"] = figures
    return out


def what_if_index(db: Database, folder: Path, states: list[str], runs: int) -> dict[str, Any]:
    """The page query on a copy of the database with an index that serves its filter and
    order, unless the schema has one already (nothing, then)."""
    copy = folder / "what-if.db"
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as to:
        source.backup(to)
        if _has_page_index(to):
            return {}
        to.execute(f"CREATE INDEX ix_what_if ON incidents ({WHAT_IF_INDEX})")
    store = Store.open(f"sqlite:///{copy}", actor="api", migrate=False)
    try:
        return {f"page_query_{s}": _timed(partial(_page, store, s), runs) for s in states}
    finally:
        store.close()


def _has_page_index(conn: sqlite3.Connection) -> bool:
    """Whether an index on ``incidents`` leads with (state, opened_at)."""
    for index in conn.execute("PRAGMA index_list(incidents)").fetchall():
        columns = [row[2] for row in conn.execute(f"PRAGMA index_info('{index[1]}')")]
        if columns[:2] == ["state", "opened_at"]:
            return True
    return False


def _page(store: Store, state: str) -> list[Any]:
    with store.read() as tx:
        return tx.incidents.page(states=[IncidentState(state)], limit=51)


def _contended(fn: Callable[[], object], runs: int, threads: int = 8) -> dict[str, float | None]:
    """``fn``'s latency when ``threads`` threads call it at once (as the API's thread pool)."""

    def each(_: int) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000

    with ThreadPoolExecutor(threads) as pool:
        times = list(pool.map(each, range(runs * 2)))
    return {"p50_ms": _ms(_quantile(times, 0.5)), "p99_ms": _ms(_quantile(times, 0.99))}


def round_trip(url: str, token: str, paths: list[str], runs: int) -> dict[str, float | None]:
    """One request at a time over a keep-alive connection: the unloaded latency."""
    times = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for i in range(runs):
            t0 = time.perf_counter()
            client.get(paths[i % len(paths)]).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": _ms(_quantile(times, 0.5)), "p99_ms": _ms(_quantile(times, 0.99))}


# --- main ---------------------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--states", default="open,diagnosing,needs_human,resolved")
    parser.add_argument("--limit", type=int, default=50, help="page size")
    parser.add_argument("--rate", type=float, default=TARGET_RPS, help="phase 1 load, req/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="phase 1 duration")
    parser.add_argument("--repeat", type=int, default=3, help="phase 1 runs (median)")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--step-s", type=float, default=10.0, help="phase 2 step duration")
    parser.add_argument("--step-rps", type=float, default=100.0)
    parser.add_argument("--resolution-rps", type=float, default=25.0)
    parser.add_argument("--max-rps", type=float, default=3000.0)
    parser.add_argument("--max-p99-ms", type=float, default=100.0)
    parser.add_argument("--pause-s", type=float, default=2.0, help="rest between runs")
    parser.add_argument("--connections", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument(
        "--compare-rps", type=float, default=50.0, help="load for comparing clients (0: skip)"
    )
    parser.add_argument("--profile-runs", type=int, default=300)
    return parser.parse_args()


def _settings(args: argparse.Namespace, db: Database) -> dict[str, Any]:
    return {
        "incidents": args.incidents,
        "states_in_db": db.states,
        "timeline_entries": db.timeline_entries,
        "requests": f"GET /incidents?state=<each of {args.states}, in turn>&limit={args.limit}",
        "sqlite": dict(SQLITE_PRAGMAS),
        "server": "aiops api --no-cluster (uvicorn, 1 worker, 1 process), 127.0.0.1",
        "uvicorn": uvicorn.__version__,
        "uvicorn_loop_http": _loop_and_http(),
        "client": f"{args.client}, open loop, up to {args.connections} keep-alive connections",
        "phase1": {"rate": args.rate, "seconds": args.seconds, "runs": args.repeat},
        "phase2": {
            "start": args.rate,
            "step_rps": args.step_rps,
            "step_s": args.step_s,
            "resolution_rps": args.resolution_rps,
            "max_p99_ms": args.max_p99_ms,
        },
        "timeout_s": args.timeout,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite_library": sqlite3.sqlite_version,
    }


def _loop_and_http() -> str:
    """What uvicorn's ``auto`` picks here: uvloop and httptools when installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {http}"


def main() -> None:
    args = _arguments()
    states = args.states.split(",")
    paths = [f"/incidents?state={s}&limit={args.limit}" for s in states]
    with tempfile.TemporaryDirectory(prefix="aiops-api-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        db = build_database(folder, args.incidents, args.seed)
        settings = _settings(args, db)
        print(f"built {args.incidents} incidents in {time.perf_counter() - t0:.1f} s")
        print("settings: " + json.dumps(settings))
        results = run(args, db, folder, paths, states)
    results["settings"] = settings
    p99, top = results["p99_ms_at_200rps"], results["max_rps"]
    verdict = "meets" if p99 is not None and p99 < TARGET_P99_MS else "misses"
    print(
        f"p99_ms_at_200rps (median of {args.repeat}): {p99} ms  "
        f"target < {TARGET_P99_MS:g} ms: {verdict}"
    )
    print(f"max_rps (p99 < {args.max_p99_ms:g} ms, no errors): {top:g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


def run(
    args: argparse.Namespace, db: Database, folder: Path, paths: list[str], states: list[str]
) -> dict[str, Any]:
    with serve(db, folder) as server:
        url = server.url
        clients: dict[str, Callable[[], Client]] = {
            "raw": lambda: RawClient(url, db.token, args.connections, args.timeout),
            "httpx": lambda: HttpxClient(url, db.token, args.connections, args.timeout),
        }
        load = Load(clients[args.client], paths, server, args.pause_s)
        unloaded = round_trip(url, db.token, paths, args.profile_runs)
        print(f"unloaded round trip, one request at a time: {unloaded}")
        _show("warm-up", load.run(args.rate / 2, args.warmup_s))
        compared = {}
        if args.compare_rps > 0:
            print(f"clients compared at {args.compare_rps:g}/s:")
            for name, make in clients.items():
                compared[name] = Load(make, paths, server, args.pause_s).run(
                    args.compare_rps, args.step_s
                )
                _show(name, compared[name])
        print(f"phase 1 ({args.client} client):")
        runs = []
        for i in range(args.repeat):
            runs.append(load.run(args.rate, args.seconds))
            _show(f"run {i + 1}", runs[-1])
        print("phase 2:")
        top, steps = highest_rate(load, args)
    print("profile (in process, same database):")
    parts = profile(db, states, args.profile_runs)
    for name, figures in parts.items():
        print(f"  {name}: {figures}")
    what_if = what_if_index(db, folder, states, args.profile_runs)
    if what_if:
        print(f"what if incidents had an index on ({WHAT_IF_INDEX}) (a copy):")
    else:
        print("the schema has an index leading with (state, opened_at): no what-if")
    for name, figures in what_if.items():
        print(f"  {name}: {figures}")
    median = sorted(runs, key=lambda p: p.p99)[len(runs) // 2]
    return {
        "p99_ms_at_200rps": _ms(statistics.median(p.p99 for p in runs)),
        "p99_is_lower_bound": "TimeoutError" in median.errors,
        "max_rps": top,
        "phase1_runs": [p.summary() for p in runs],
        "phase1_median_run": median.summary(),
        "clients_compared": {name: p.summary() for name, p in compared.items()},
        "phase2_steps": steps,
        "unloaded_round_trip": unloaded,
        "profile": parts,
        "what_if_index": {"columns": WHAT_IF_INDEX, **what_if} if what_if else None,
    }


if __name__ == "__main__":
    main()
