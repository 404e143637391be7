"""One scenario against a live testbed server, for demos (``aiops eval --scenario F --live URL``).

The testbed runs on its own (``aiops testbed serve --truth-token-file F``, at any ``--speed``);
the control loop watches it over HTTP like any cluster, on a clock that reads the testbed's own
time (``/testbed/truth``), and ticks whenever that time has moved on a tick. After ``warm_s`` of
healthy watching (the detectors learn what normal looks like) the scenario's faults are injected
through the testbed's fault API at their onsets; a simulated operator answers approvals as the
scenario says; the SLOs are judged from the served ``/metrics`` (what an operator's scraper
sees) and the episode is scored like any other (:func:`evaluation.scoring.score`).

Only the harness holds the truth token: the loop is never told what was injected.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client

from controlplane.exceptions import ConfigError
from controlplane.runtime import LoopOptions, build_loop
from controlplane.settings import Settings
from testbed.app import SLOSpec, load_app
from testbed.faults import FAULTS
from testbed.slo import ExpositionSnapshot, evaluate_exposition, snapshot_from_exposition

from .embedded import simulated_operator
from .episode import EpisodeResult, _from_store
from .localization import TICK_S
from .scenario import Scenario
from .scoring import EpisodeTrace, FaultTruth, TickTrace, score

__all__ = ["TestbedClock", "run_live"]

JUDGE_WINDOW_S = 60.0


class TestbedClock:
    """The testbed's own time, read from its truth endpoint (the harness holds the token)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def now(self) -> float:
        response = self.http.get("/testbed/truth")
        response.raise_for_status()
        return float(response.json()["time"])

    def sleep(self, seconds: float) -> None:  # the loop never sleeps on its clock here
        time.sleep(seconds)


def _target(scenario: Scenario, index: int, api: client.ApiClient, rng: Any) -> dict[str, str]:
    fault = scenario.faults[index]
    if fault.target != "auto" and not (isinstance(fault.target, dict) and "choose" in fault.target):
        return dict(fault.target)
    if isinstance(fault.target, dict):
        return dict(rng.choice(fault.target["choose"]))
    app = load_app(scenario.app)
    definition = FAULTS[fault.fault]
    if definition.target == "app":
        return {}
    if definition.target == "edge":
        edges = [(s.name, c.service) for s in app.services for c in s.calls if s.name != app.entry]
        source, destination = rng.choice(edges)
        return {"source": source, "destination": destination}
    if definition.target == "node":
        pods = client.CoreV1Api(api).list_namespaced_pod(app.namespace).items
        nodes = sorted({p.spec.node_name for p in pods if p.spec and p.spec.node_name})
        return {"node": rng.choice(nodes)}
    if fault.fault == "db-auth":
        return {"service": rng.choice([s.name for s in app.services if s.credentials])}
    return {"service": rng.choice([s.name for s in app.services if app.callers(s.name)])}


def _replicas(api: client.AppsV1Api, namespace: str) -> dict[str, int]:
    """Desired replicas of every Deployment in ``namespace``."""
    return {
        str(d.metadata.name): int(d.spec.replicas or 0)
        for d in api.list_namespaced_deployment(namespace).items
        if d.metadata is not None and d.spec is not None
    }


def run_live(
    scenario: Scenario,
    policy: str,
    url: str,
    seed: int,
    settings: Settings,
    *,
    truth_token: str,
    warm_s: float = 3600.0,
    tick_s: float = TICK_S,
    say: Callable[[str], None] = print,
    poll_s: float = 0.05,
) -> EpisodeResult:
    """Run ``scenario`` once against the testbed at ``url`` (see the module)."""
    drawn = scenario.draw(seed)
    app = load_app(scenario.app)
    slos = (
        tuple(SLOSpec(**s.model_dump()) for s in scenario.slos)
        if scenario.slos
        else app.effective_slos()
    )
    headers = {"Authorization": f"Bearer {truth_token}"}
    wall = time.perf_counter()
    with (
        httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=10.0) as http,
        tempfile.TemporaryDirectory(prefix="aiops-live-") as folder,
    ):
        probe = http.get("/testbed/truth")
        if probe.status_code in (401, 403):
            raise ConfigError(f"the testbed at {url} refused the truth token ({probe.status_code})")
        probe.raise_for_status()
        clock = TestbedClock(http)
        local = settings.model_copy(
            update={
                "testbed_url": url,
                "kube_host": None,
                "database_url": f"sqlite:///{Path(folder) / 'live.db'}",
            }
        )
        configuration = client.Configuration()
        configuration.host = url
        api = client.ApiClient(configuration)
        apps_api = client.AppsV1Api(api)
        loop = build_loop(local, clock, LoopOptions(policy=policy, tick_s=tick_s), say=say)
        snapshots: deque[ExpositionSnapshot] = deque(maxlen=round(JUDGE_WINDOW_S / tick_s) + 1)
        ticks: list[TickTrace] = []
        signals_s: list[float] = []
        fault_ids: list[tuple[str, dict[str, str]]] = []
        try:

            def step(last: float) -> float:
                while (now := clock.now()) < last + tick_s:
                    time.sleep(poll_s)
                return now

            last = clock.now()
            say(f"live: watching {url} for {warm_s:.0f} s of testbed time before the faults")
            warm_until = last + warm_s
            while last < warm_until:
                last = step(last)
                loop.tick()
            start = last
            initial = _replicas(apps_api, app.namespace)
            for i, fault in enumerate(drawn.faults):
                target = _target(scenario, i, api, drawn.rng)
                strength = fault.strength if isinstance(fault.strength, float) else None
                response = http.post(
                    "/testbed/faults",
                    json={
                        "name": fault.fault,
                        "target": target,
                        "namespace": app.namespace,
                        "strength": strength,
                        "delay_s": fault.onset_s,
                        "duration_s": fault.duration_s,
                    },
                )
                if response.status_code != 201:
                    raise ConfigError(f"the testbed refused {fault.fault}: {response.text}")
                fault_ids.append((response.json()["id"], target))
                say(f"live: {fault.fault} on {target or app.name} at +{fault.onset_s:.0f} s")
            while last - start < scenario.time_allowed_s:
                last = step(last)
                report = loop.tick()
                if report.signals:
                    signals_s.append(last - start)
                if scenario.operator is not None:
                    simulated_operator(
                        loop.store,
                        last,
                        scenario.operator.delay_s,
                        say,
                        approve=scenario.operator.approve,
                    )
                text = http.get("/metrics").text
                snapshots.append(snapshot_from_exposition(text, last))
                met = len(snapshots) < 2 or all(
                    evaluate_exposition(snapshots[0], snapshots[-1], slo, app.namespace).met
                    for slo in slos
                )
                replicas = _replicas(apps_api, app.namespace)
                ticks.append(
                    TickTrace(
                        at_s=last - start,
                        slo_met=met,
                        replicas=sum(replicas.values()),
                        zero=sorted(n for n, r in replicas.items() if r == 0 and initial.get(n)),
                    )
                )
            truths = []
            for (fault_id, target), fault in zip(fault_ids, drawn.faults, strict=True):
                truth = http.get(f"/testbed/faults/{fault_id}").json()
                root = truth["root_cause"]
                truths.append(
                    FaultTruth(
                        name=fault.fault,
                        onset_s=fault.onset_s,
                        root_kind=str(root["kind"]),
                        root_names=[n for n in str(root["name"]).split(",") if n],
                        namespace=str(root["namespace"]),
                        label=dict(truth["label"]),
                        mitigations=list(truth["mitigations"]),
                        targets=[v for k, v in target.items() if k in ("service", "source")],
                    )
                )
            actions, escalated, incidents = _from_store(loop.store, start)
        finally:
            loop.close()
            api.close()
    outcome = scenario.outcome
    trace = EpisodeTrace(
        scenario=scenario.name,
        seed=seed,
        policy=policy,
        outcome=outcome.kind,
        hold_s=outcome.hold_s,
        cost_bound=outcome.cost_bound,
        duration_s=last - start,
        faults=truths,
        ticks=ticks,
        actions=actions,
        initial_replicas=sum(initial.values()),
        signals_s=signals_s,
        incidents_s=incidents,
        escalated_s=escalated,
        acceptable=outcome.mitigations
        if outcome.mitigations is not None
        else sorted({m for f in truths for m in f.mitigations}),
        within_s=outcome.within_s,
        breach_at_s=outcome.breach_at_s,
        wall_s=time.perf_counter() - wall,
    )
    result = score(trace)
    say(
        f"live: {'SUCCESS' if result.success else 'FAILURE'} ({result.reason}); "
        f"{result.actions} action(s), {result.slo_violation_min:.1f} SLO-violation min"
    )
    return EpisodeResult(trace, result)
