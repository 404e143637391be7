"""The standard evaluation suite: every policy, 3 seeds, in virtual time (issues 7 and 8).

    python benchmarks/eval_suite.py --out FILE [--seeds 1,2,3] [--jobs N] [--policies ...]
                                    [--cloud loopback|settings]

The model policies run with the shipped defaults: ``local`` is the bundled SmolLM2-135M in
process; the cloud tier of ``hybrid`` and ``cloud`` is, by default (``--cloud loopback``),
``python -m llama_cpp.server`` with the same bundled model on 127.0.0.1, started and stopped
here (no network); ``--cloud settings`` uses ``AIOPS_LLM_CLOUD_URL`` as configured instead.

Runs ``aiops eval``'s harness exactly as shipped (the standard suite, default guardrails, the
loop's defaults, the scenarios' simulated operators) and writes, per policy,
``{"mitigation_success", "false_positive_actions", "median_ttm_s", "localization_acc1",
"actions_per_episode"}`` with the whole summary, the run's wall time and the settings beside
them. Targets for ``rules``: mitigation success >= 90 %, zero actions on no-fault controls,
median time to mitigate <= 120 s of virtual time, the whole run <= 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.policies import MODEL_POLICIES
from evaluation.harness import run_evaluation, write_outputs
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
    parser.add_argument("--cloud", choices=("loopback", "settings"), default="loopback")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.cloud == "loopback":
            url = stack.enter_context(loopback_server())
            os.environ["AIOPS_LLM_CLOUD_URL"] = url
            os.environ["AIOPS_LLM_CLOUD_MODEL"] = "smollm2-loopback"
        run(args)


@contextlib.contextmanager
def loopback_server() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the bundled model, on loopback."""
    from agents.llm import bundled_model_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below); model loading fills a pipe
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
         "--interrupt_requests", "false", "--model_alias", "smollm2-loopback"],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("llama_cpp.server did not start")
        print(f"cloud tier: llama_cpp.server with the bundled model at {base}")
        yield base
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def run(args: argparse.Namespace) -> None:
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
            if not r["success"] and r["policy"] in ("rules", "hybrid")
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
    for policy, s in evaluation.summary.items():
        if "decisions" not in s:
            continue
        where = s["acc_where_rules_wrong"]
        print(
            f"  {policy:>9}: {s['decisions']} model decisions, choice accuracy "
            f"{s['choice_acc']:.3f} (rules on the same cases {s['rules_choice_acc']:.3f}), "
            f"where rules was wrong {'n/a' if where is None else f'{where:.3f}'} of "
            f"{s['cases_rules_wrong']}, asked the cloud {s['cloud_rate']:.3f}, to a person "
            f"{s['human_rate']:.3f}, escalation rate {s['escalation_rate']:.3f}"
        )
    for policy, why in evaluation.not_run.items():
        print(f"  {policy:>9}: {why}")
    print("targets for rules: success >= 0.90, 0 actions on controls, median TTM <= 120 s")
    print("target for hybrid: success >= rules")


if __name__ == "__main__":
    main()
