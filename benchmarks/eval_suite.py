"""The standard evaluation suite: every policy, 3 seeds, in virtual time (issue 7's figures).

    python benchmarks/eval_suite.py --out FILE [--seeds 1,2,3] [--jobs N] [--policies ...]

Runs ``aiops eval``'s harness exactly as shipped (the standard suite, default guardrails, the
loop's defaults, the scenarios' simulated operators) and writes, per policy,
``{"mitigation_success", "false_positive_actions", "median_ttm_s", "localization_acc1",
"actions_per_episode"}`` with the whole summary, the run's wall time and the settings beside
them. Targets for ``rules``: mitigation success >= 90 %, zero actions on no-fault controls,
median time to mitigate <= 120 s of virtual time, the whole run <= 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.harness import MODEL_POLICIES, run_evaluation, write_outputs
from evaluation.scenario import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--policies", default=",".join(("noop", "threshold", "rules", *MODEL_POLICIES))
    )
    parser.add_argument("--report", type=Path, default=None, help="Also write the report here.")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scenarios = load_suite("standard")
    policies = [p for p in args.policies.split(",") if p]
    evaluation = run_evaluation(
        scenarios, policies, seeds, suite="standard", jobs=args.jobs, progress=True
    )
    if args.report is not None:
        write_outputs(evaluation, args.report)
    keys = (
        "mitigation_success",
        "false_positive_actions",
        "median_ttm_s",
        "localization_acc1",
        "actions_per_episode",
    )
    result = {
        "policies": {
            p: {k: s[k] for k in keys} | {"summary": s} for p, s in evaluation.summary.items()
        },
        "not_run": evaluation.not_run,
        "wall_s": round(evaluation.wall_s, 1),
        "scenarios": len(scenarios),
        "seeds": seeds,
        "episodes": len(evaluation.rows),
        "jobs": args.jobs,
        "settings": evaluation.settings
        | {"cpus": os.cpu_count(), "python": platform.python_version()},
        "failures": [
            f"{r['policy']} {r['scenario']}/{r['seed']}: {r['reason']}"
            for r in evaluation.rows
            if not r["success"] and r["policy"] == "rules"
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"standard suite: {len(scenarios)} scenarios x {len(seeds)} seeds, "
        f"{len(evaluation.rows)} episodes, {args.jobs} jobs, {evaluation.wall_s:.0f} s wall "
        f"(target <= 900 s); settings {evaluation.settings}"
    )
    for policy, s in evaluation.summary.items():
        ttm = "n/a" if s["median_ttm_s"] is None else f"{s['median_ttm_s']:.0f} s"
        print(
            f"  {policy:>9}: success {s['mitigation_success']:.3f}, actions on controls "
            f"{s['false_positive_actions']}, median TTM {ttm}, Acc@1 "
            f"{s['localization_acc1'] or 0:.3f}, {s['actions_per_episode']:.2f} actions/episode"
        )
    for policy, why in evaluation.not_run.items():
        print(f"  {policy:>9}: {why}")
    print("targets for rules: success >= 0.90, 0 actions on controls, median TTM <= 120 s")


if __name__ == "__main__":
    main()
