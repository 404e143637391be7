"""Root-cause localization accuracy on the live testbed: Acc@1 and Acc@3 over every fault of the
library, on both application files, with random targets and onsets over several seeds.

Each (application, seed) runs healthy for 90 simulated minutes under constant load with every
kind of benign noise (innocent deploys, harmless log lines, cron spikes, node maintenance, load
drift), scraped every 15 s over HTTP, with checkpoints at 60, 70, 80 and 90 minutes. Every fault
then gets one scenario: a random checkpoint, a random target among those the fault may strike
there (any service; any call edge; a node hosting the application's pods; a database with
credentials for ``db-auth``), a random sub-tick onset delay. The real path runs it: the testbed
over HTTP → ``telemetry.Collector`` (scrape + Kubernetes events) → ``AnomalyMonitor`` signals
after the onset → ``agents.analysis`` (which reads pod logs and the cluster's objects through the
Kubernetes API), one minute after the first signal (see ``evaluation/localization.py``).

A case counts at k when one of the first k hypotheses names the ground truth's root cause (a
pod-level root: its pod or its service; a node-level root: any of its nodes) **and** carries the
fault's label (system level and fault type). A fault the monitor never signals is a miss for the
headline figures (``acc1``, ``acc3``); ``acc1_detected``/``acc3_detected`` count only the cases
with an incident to analyse.

Strengths: the library's defaults, except where the default does nothing visible on a random
target: ``pod-kill`` deletes every pod of the service, ``cpu-stress`` burns the target's whole CPU
limit, ``cpu-limit`` sets a quarter of the pod's CPU use at this load (at most the default 0.05),
``memory-leak`` fills the pod's memory headroom in 7.5 minutes, and ``demand-growth`` adds 4x the
profile per hour, watched for up to 50 minutes (at the default 1x per hour capacity lasts for
hours: that is the capacity monitor's forecast, not an anomaly to localize).

    python benchmarks/localization.py --out results/localization.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from evaluation.localization import APPS, Outcome, Warmup, random_scenarios, run_scenario
from testbed.faults import FAULTS

CHECKPOINTS = (3600.0, 4200.0, 4800.0, 5400.0)
SEEDS = (7, 8, 9)
"""Seeds the rules were not developed on (they were tuned on seeds 1-6 and 11)."""


def _case(outcome: Outcome) -> dict[str, Any]:
    top = outcome.analysis.hypotheses[:3] if outcome.analysis else []
    scenario = outcome.scenario
    return {
        "app": scenario.app,
        "seed": scenario.seed,
        "fault": scenario.fault,
        "target": scenario.target,
        "onset_s": scenario.checkpoint + scenario.delay_s,
        "strength": scenario.strength,
        "root_cause": outcome.truth["root_cause"],
        "detected": outcome.detected,
        "signals": len(outcome.signals),
        "rank": outcome.rank,
        "rank_ignoring_label": outcome.rank_target,
        "first_action": outcome.first_action,
        "mitigation_ok": outcome.mitigation_ok,
        "top3": [
            f"{h.target} {h.label.system_level}/{h.label.fault_type} {h.score:.2f}" for h in top
        ],
        "wall_s": round(outcome.wall_s, 2),
    }


def run_group(job: tuple[str, int, tuple[str, ...]]) -> list[dict[str, Any]]:
    """Warm one (application, seed) and run its scenarios."""
    app, seed, faults = job
    warm = Warmup(app, seed, CHECKPOINTS).run()
    return [_case(run_scenario(s, warm)) for s in random_scenarios(warm, faults)]


def _rates(cases: list[dict[str, Any]]) -> dict[str, float | int]:
    n = len(cases)
    detected = [c for c in cases if c["detected"]]

    def share(items: list[dict[str, Any]], k: int) -> float:
        hits = sum(1 for c in items if c["rank"] is not None and c["rank"] < k)
        return round(hits / len(items), 4) if items else 0.0

    return {
        "cases": n,
        "detected": len(detected),
        "acc1": share(cases, 1),
        "acc3": share(cases, 3),
        "acc1_detected": share(detected, 1),
        "acc3_detected": share(detected, 3),
        "mitigation_first_ok": round(
            sum(1 for c in detected if c["mitigation_ok"]) / len(detected), 4
        )
        if detected
        else 0.0,
    }


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    by_fault: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_app: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        by_fault[case["fault"]].append(case)
        by_app[case["app"]].append(case)
    return {
        **_rates(cases),
        "per_fault": {f: _rates(c) for f, c in sorted(by_fault.items())},
        "per_app": {a: _rates(c) for a, c in sorted(by_app.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--apps", nargs="+", default=list(APPS))
    parser.add_argument("--faults", nargs="+", default=list(FAULTS))
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 2))
    args = parser.parse_args()

    jobs = [(app, seed, tuple(args.faults)) for app in args.apps for seed in args.seeds]
    started = time.perf_counter()
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            groups = pool.map(run_group, jobs, chunksize=1)
    else:
        groups = [run_group(job) for job in jobs]
    wall = time.perf_counter() - started
    cases = [case for group in groups for case in group]

    settings = {
        "apps": args.apps,
        "seeds": args.seeds,
        "faults": len(args.faults),
        "checkpoints_s": list(CHECKPOINTS),
        "tick_s": 15,
        "analyse_after_first_signal_s": 60,
        "noise": "deploys, logs, cron, maintenance, drift",
        "workers": args.workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}",
    }
    result = {
        **summarise(cases),
        "wall_s": round(wall, 1),
        "settings": settings,
        "cases_detail": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"settings: {json.dumps(settings)}")
    print(
        f"Acc@1 {result['acc1']:.3f}  Acc@3 {result['acc3']:.3f}  over {result['cases']} cases "
        f"({result['detected']} detected: Acc@1 {result['acc1_detected']:.3f}, "
        f"Acc@3 {result['acc3_detected']:.3f}); first remedy documented: "
        f"{result['mitigation_first_ok']:.3f}; {wall:.0f} s (target Acc@1 >= 0.85, Acc@3 >= 0.95)"
    )
    for fault, rates in result["per_fault"].items():
        print(
            f"  {fault:16s} acc1 {rates['acc1']:.2f}  acc3 {rates['acc3']:.2f}  "
            f"detected {rates['detected']}/{rates['cases']}"
        )
    for case in cases:
        if case["rank"] != 0:
            print(
                f"  miss: {case['app']}/{case['seed']} {case['fault']} {case['target']} "
                f"rank={case['rank']} top={case['top3'][:1]}"
            )


if __name__ == "__main__":
    main()
