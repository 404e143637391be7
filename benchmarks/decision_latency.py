"""Decision latency of the local tier: seconds per decision of the ``local`` policy (the
specialists' graph over the embedded SmolLM2-135M, default settings and prompts) on real
incidents, and their prompt tokens.

The incidents are the localization benchmark's (``benchmarks/localization.py``): every fault
of the library on both application files with random targets and onsets, seeds 7-9, analysed
one minute after the first signal on the live testbed. Each detected case's analysis is then
decided by the ``local`` policy in this process, timed from the call to ``decide`` to its return
(triage, diagnosis when hypotheses are close, the specialist's model call, the guard), after one
untimed warm-up decision (the model is loaded once per process). Three passes over every case;
the figures are the median over passes of each pass's p50 and p95. The ``rules`` policy's time
on the same cases is measured beside it as the reference.

    python benchmarks/decision_latency.py --out results/decision_latency.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from agents.analysis import Analysis
from agents.policies import PolicyContext, make_policy
from controlplane import Incident
from controlplane.settings import load_settings
from evaluation.localization import APPS, Warmup, random_scenarios, run_scenario
from telemetry import ClusterView

CHECKPOINTS = (3600.0, 4200.0, 4800.0, 5400.0)
SEEDS = (7, 8, 9)
PASSES = 3


def collect(job: tuple[str, int]) -> list[tuple[list[str], str | None, Analysis]]:
    """The analysed incidents of one (application, seed)."""
    app, seed = job
    warm = Warmup(app, seed, CHECKPOINTS).run()
    cases = []
    for scenario in random_scenarios(warm):
        outcome = run_scenario(scenario, warm)
        if outcome.analysis is None or not outcome.analysis.candidates:
            continue
        services = sorted({s.service for s in outcome.signals if s.service})
        namespace = next((s.namespace for s in outcome.signals if s.namespace), None)
        cases.append((services, namespace, outcome.analysis))
    return cases


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def time_policy(name: str, cases: list[tuple[list[str], str | None, Analysis]]) -> dict[str, Any]:
    policy = make_policy(name, load_settings())
    incidents = [
        Incident(id=f"case-{i}", services=s, namespace=ns, opened_at=a.onset)
        for i, (s, ns, a) in enumerate(cases)
    ]
    first = cases[0][2]
    policy.decide(incidents[0], first, PolicyContext(ClusterView(time=first.at), first.at))
    passes, tokens, calls = [], [], []
    for number in range(PASSES):
        _progress(f"{name}: pass {number + 1} of {PASSES} over {len(cases)} incidents")
        seconds = []
        for incident, (_, _, analysis) in zip(incidents, cases, strict=True):
            context = PolicyContext(ClusterView(time=analysis.at), analysis.at)
            started = time.perf_counter()
            decision = policy.decide(incident, analysis, context)
            seconds.append(time.perf_counter() - started)
            if len(passes) == 0:
                tokens.append(decision.prompt_tokens)
                calls.append(len(decision.calls))
        passes.append((percentile(seconds, 0.5), percentile(seconds, 0.95)))
    return {
        "p50_s": round(statistics.median(p[0] for p in passes), 4),
        "p95_s": round(statistics.median(p[1] for p in passes), 4),
        "passes": [{"p50_s": round(a, 4), "p95_s": round(b, 4)} for a, b in passes],
        "prompt_tokens_p50": statistics.median(tokens) if tokens else 0,
        "prompt_tokens_p95": percentile([float(t) for t in tokens], 0.95) if tokens else 0,
        "model_calls_per_decision": round(sum(calls) / len(calls), 3) if calls else 0,
    }


def _progress(line: str) -> None:
    print(f"... {line}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    settings = load_settings()
    started = time.perf_counter()
    jobs = [(app, seed) for app in APPS for seed in args.seeds]
    _progress(f"collecting incidents: {len(jobs)} warmed-up runs on {args.jobs} processes")
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        cases = []
        for done, group in enumerate(pool.imap(collect, jobs), 1):  # in the jobs' order
            cases += group
            _progress(f"collected {done} of {len(jobs)} runs ({len(cases)} incidents)")
    collected = time.perf_counter() - started
    local = time_policy("local", cases)
    rules = time_policy("rules", cases)
    shown = {
        "policy": "local",
        "model": settings.llm_local_model_path or "bundled SmolLM2-135M-Instruct Q4_1",
        "threads": settings.llm_threads,
        "prior_weight": settings.llm_prior_weight,
        "passes": PASSES,
        "seeds": args.seeds,
        "cases": len(cases),
    }
    result = {
        "local_p50_s": local["p50_s"],
        "local_p95_s": local["p95_s"],
        "prompt_tokens_p50": local["prompt_tokens_p50"],
        "local": local,
        "rules_reference": rules,
        "ratio_p50_local_to_rules": round(local["p50_s"] / max(rules["p50_s"], 1e-9), 1),
        "settings": shown,
        "collect_wall_s": round(collected, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"settings: {shown}")
    print(
        f"local decision: p50 {local['p50_s']:.3f} s, p95 {local['p95_s']:.3f} s over "
        f"{len(cases)} incidents x {PASSES} passes; prompt tokens p50 "
        f"{local['prompt_tokens_p50']:.0f}; {local['model_calls_per_decision']} model calls "
        f"per decision (target p50 <= 0.5 s)"
    )
    print(f"rules reference: p50 {rules['p50_s'] * 1000:.2f} ms; collecting took {collected:.0f} s")


if __name__ == "__main__":
    main()
