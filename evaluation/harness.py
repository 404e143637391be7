"""The evaluation harness: whole policies scored on the same chaos-injected scenarios.

:func:`run_evaluation` runs every (scenario, seed, policy) episode of a suite (or of scenario
files), in ``jobs`` processes: episodes that share a warm-up (application, load, noise, seed)
run in one process, one after another, so the warm-up is paid once and every policy faces the
very same cluster. A progress line on stderr counts episodes as they finish. Every episode is
deterministic for its seed, whatever the number of processes.

Results go to the database (``eval_runs``, ``eval_episodes``) and to ``out``: ``results.json``
(the summary per policy and every episode) and ``report.md`` with PNG charts (see
:mod:`evaluation.report`). A policy that cannot run here (a model-based policy whose endpoint is
not configured, or that does not exist yet) is reported as not run, with the reason; it is never
replaced by another.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.policies import MODEL_POLICIES, make_policy
from controlplane.exceptions import ConfigError
from controlplane.settings import Settings

from .scenario import Scenario
from .scoring import summarize

__all__ = ["MODEL_POLICIES", "Evaluation", "check_policies", "run_evaluation"]


_QUEUE: Any = None


@dataclass
class Evaluation:
    run_id: str | None
    suite: str
    policies: list[str]
    seeds: list[int]
    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]
    not_run: dict[str, str]
    wall_s: float
    jobs: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "policies": self.policies,
            "seeds": self.seeds,
            "jobs": self.jobs,
            "wall_s": round(self.wall_s, 1),
            "settings": self.settings,
            "summary": self.summary,
            "not_run": self.not_run,
            "episodes": self.rows,
        }


def check_policies(
    names: Sequence[str], settings: Settings | None = None
) -> tuple[list[str], dict[str, str]]:
    """The policies that can run, and why each other one cannot."""
    runnable, not_run = [], {}
    for name in names:
        try:
            make_policy(name, settings)
        except ConfigError as exc:
            if name not in MODEL_POLICIES:
                raise
            not_run[name] = f"not run: {exc} (model-based policies need their endpoint configured)"
            continue
        runnable.append(name)
    return runnable, not_run


def _init(queue: Any) -> None:
    global _QUEUE
    _QUEUE = queue


def _run_group(
    task: tuple[list[tuple[Scenario, str]], int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every episode of one warm-up, in this process."""
    from .episode import run_episode, warmup

    episodes, seed, settings_data = task
    settings = Settings.model_validate(settings_data)
    warm = warmup(episodes[0][0], seed)
    rows = []
    for scenario, policy in episodes:
        try:
            row = run_episode(scenario, seed, policy, warm=warm, settings=settings).row()
        except Exception as exc:  # one broken episode must not lose the run: it is recorded
            row = _failed_row(scenario, seed, policy, exc)
        rows.append(row)
        if _QUEUE is not None:
            _QUEUE.put(row)
    return rows


def _failed_row(scenario: Scenario, seed: int, policy: str, exc: Exception) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "seed": seed,
        "policy": policy,
        "outcome": scenario.outcome.kind,
        "control": scenario.control,
        "fault": "+".join(f.fault for f in scenario.faults) or "none",
        "success": False,
        "reason": f"episode crashed: {type(exc).__name__}: {exc}",
        "error": True,
        "detected": None,
        "false_positive": False,
        "ttd_s": None,
        "acc1": None,
        "acc3": None,
        "label_ok": None,
        "ttm_s": None,
        "slo_violation_min": 0.0,
        "replica_hours": 0.0,
        "actions": 0,
        "changing_actions": 0,
        "escalated": False,
        "collateral": [],
    }


def _groups(
    scenarios: Sequence[Scenario], seeds: Sequence[int], policies: Sequence[str]
) -> list[tuple[list[tuple[Scenario, str]], int]]:
    from .episode import warm_key

    grouped: dict[str, list[tuple[Scenario, str]]] = defaultdict(list)
    seed_of: dict[str, int] = {}
    for seed in seeds:
        for scenario in scenarios:
            key = warm_key(scenario, seed)
            seed_of[key] = seed
            for policy in policies:
                grouped[key].append((scenario, policy))
    # the longest groups first, so the processes finish together
    keys = sorted(grouped, key=lambda k: -len(grouped[k]))
    return [(grouped[k], seed_of[k]) for k in keys]


class _Progress:
    def __init__(self, total: int, stream: Any = sys.stderr) -> None:
        self.total, self.done, self.ok = total, 0, 0
        self.started = time.monotonic()
        self.stream = stream

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.ok += bool(row.get("success"))
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = round(width * self.done / max(self.total, 1))
        verdict = "ok" if row.get("success") else "FAIL"
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} episodes, "
            f"{elapsed:4.0f} s, ~{left:4.0f} s left | {row['policy']} {row['scenario']}"
            f"/{row['seed']}: {verdict}\033[K"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_evaluation(
    scenarios: Sequence[Scenario],
    policies: Sequence[str],
    seeds: Sequence[int],
    *,
    suite: str = "custom",
    jobs: int = 1,
    settings: Settings | None = None,
    store: Any = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Run and score every episode; store the run when ``store`` is given."""
    if not scenarios:
        raise ConfigError("no scenario to run")
    if not seeds:
        raise ConfigError("no seed to run")
    settings = settings or Settings()
    runnable, not_run = check_policies(policies, settings)
    started = time.perf_counter()
    groups = _groups(scenarios, seeds, runnable)
    total = sum(len(g) for g, _ in groups)
    bar = _Progress(total) if progress else None
    run_id = None
    if store is not None:
        with store.write() as tx:
            run_id = tx.evaluations.start_run(suite, list(policies), list(seeds), store.clock.now())
    data = settings.model_dump()  # python mode: a secret (the cloud key) stays usable
    tasks = [(g, seed, data) for g, seed in groups]
    rows: list[dict[str, Any]] = []

    def took(row: dict[str, Any]) -> None:
        rows.append(row)
        if bar is not None:
            bar.update(row)
        if on_row is not None:
            on_row(row)
        if store is not None and run_id is not None:
            with store.write() as tx:
                tx.evaluations.add_episode(run_id, row)

    if jobs <= 1 or len(tasks) == 1:
        global _QUEUE
        previous, _QUEUE = _QUEUE, None
        try:
            for task in tasks:
                for row in _run_group(task):
                    took(row)
        finally:
            _QUEUE = previous
    else:
        context = multiprocessing.get_context("spawn")
        queue = context.Manager().Queue()
        with context.Pool(min(jobs, len(tasks)), initializer=_init, initargs=(queue,)) as pool:
            pending = pool.map_async(_run_group, tasks, chunksize=1)
            seen = 0
            while seen < total:
                try:
                    row = queue.get(timeout=1.0)
                except Exception:  # queue.Empty: check that the workers are still alive
                    if pending.ready():
                        pending.get()  # raises what a worker raised
                        break
                    continue
                seen += 1
                took(row)
            pending.get()
    order = {
        (s.name, seed, p): i
        for i, (s, seed, p) in enumerate(
            (s, seed, p) for seed in seeds for s in scenarios for p in runnable
        )
    }
    rows.sort(key=lambda r: order.get((r["scenario"], r["seed"], r["policy"]), 0))
    summary = {p: summarize([r for r in rows if r["policy"] == p]) for p in runnable}
    wall = time.perf_counter() - started
    if store is not None and run_id is not None:
        with store.write() as tx:
            tx.evaluations.finish_run(
                run_id, {"policies": summary, "not_run": not_run}, store.clock.now(), wall
            )
    return Evaluation(
        run_id=run_id,
        suite=suite,
        policies=list(policies),
        seeds=list(seeds),
        rows=rows,
        summary=summary,
        not_run=not_run,
        wall_s=wall,
        jobs=jobs,
        settings={
            "tick_s": 15.0,
            "warm_up_s": 3600.0,
            "guardrails": str(settings.guardrails_file or "default"),
        },
    )


def write_outputs(evaluation: Evaluation, out: Path) -> list[Path]:
    """``results.json``, ``report.md`` and the charts, in ``out``."""
    import json

    from .report import write_report

    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.write_text(json.dumps(evaluation.to_json(), indent=2, default=str) + "\n")
    return [results, *write_report(evaluation, out)]
