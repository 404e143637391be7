"""``aiops eval``: score whole policies on chaos-injected scenarios (see ``evaluation``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from controlplane.exceptions import AIOpsError
from controlplane.settings import load_settings


def _seeds(text: str) -> list[int]:
    """``3`` → seeds 1, 2, 3; ``7,8,9`` → those seeds."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(1, int(text) + 1))
    except ValueError:
        raise click.BadParameter(f"{text!r}: a count (3) or a list of seeds (7,8,9)") from None
    if not seeds or any(s < 0 for s in seeds):
        raise click.BadParameter(f"{text!r}: at least one non-negative seed")
    return seeds


@click.command("eval")
@click.option("--suite", default="standard", show_default=True, help="A shipped suite.")
@click.option(
    "--scenario",
    "scenario_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run this scenario file instead of a suite (repeatable).",
)
@click.option("--only", default=None, help="Only scenarios whose name contains this text.")
@click.option(
    "--policies", default="noop,threshold,rules", show_default=True, help="Comma-separated."
)
@click.option("--seeds", default="3", show_default=True, help="A count (3) or a list (7,8,9).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes (default: the CPUs this process may use).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where results.json, report.md and the charts go (default: .aiops/eval/<time>).",
)
@click.option(
    "--live",
    default=None,
    metavar="URL",
    help="Run the one --scenario with one policy against a live testbed server (a demo).",
)
@click.option(
    "--truth-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--live: the testbed's truth token (to inject faults and read the ground truth).",
)
@click.option(
    "--warm",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="--live: seconds of testbed time watched healthy before the faults (the detectors "
    "calibrate over 150 ticks).",
)
@click.option("--quiet", is_flag=True, help="No progress line.")
def eval_command(
    suite: str,
    scenario_files: tuple[Path, ...],
    only: str | None,
    policies: str,
    seeds: str,
    jobs: int | None,
    out: Path | None,
    live: str | None,
    truth_token_file: Path | None,
    warm: float,
    quiet: bool,
) -> None:
    """Score policies on scenarios, in virtual time; writes JSON, Markdown and charts."""
    from evaluation.harness import run_evaluation, write_outputs
    from evaluation.scenario import load_scenario, load_suite

    try:
        settings = load_settings()
        scenarios = (
            [load_scenario(p) for p in scenario_files] if scenario_files else load_suite(suite)
        )
        if only:
            scenarios = [s for s in scenarios if only in s.name]
            if not scenarios:
                raise click.BadParameter(f"no scenario name contains {only!r}", param_hint="--only")
        names = [p.strip() for p in policies.split(",") if p.strip()]
        if live:
            from evaluation.live import run_live

            if len(scenarios) != 1 or len(names) != 1:
                raise click.UsageError("--live runs one scenario (--scenario) with one policy")
            if truth_token_file is None:
                raise click.UsageError("--live needs --truth-token-file (aiops testbed serve's)")
            try:
                token = truth_token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise click.BadParameter(str(exc), param_hint="--truth-token-file") from None
            result = run_live(
                scenarios[0],
                names[0],
                live,
                _seeds(seeds)[0],
                settings,
                truth_token=token,
                warm_s=warm,
                say=click.echo,
            )
            sys.exit(0 if result.score.success else 1)
        from controlplane.clock import SystemClock
        from controlplane.store import Store

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(settings.database_url, clock=SystemClock(), actor="eval")
        try:
            evaluation = run_evaluation(
                scenarios,
                names,
                _seeds(seeds),
                suite="files" if scenario_files else suite,
                jobs=jobs or len(os.sched_getaffinity(0)),
                settings=settings,
                store=store,
                progress=not quiet,
            )
        finally:
            store.close()
        import time

        folder = out or settings.data_dir / "eval" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        written = write_outputs(evaluation, folder)
        for policy, s in evaluation.summary.items():
            ttm = "n/a" if s["median_ttm_s"] is None else f"{s['median_ttm_s']:.0f} s"
            click.echo(
                f"{policy:>10}: right outcome {s['mitigation_success']:.0%} of {s['episodes']}, "
                f"actions on controls {s['false_positive_actions']}, median TTM {ttm}, "
                f"Acc@1 {s['localization_acc1'] or 0:.0%}, "
                f"{s['actions_per_episode']:.2f} actions/episode"
            )
        for policy, why in evaluation.not_run.items():
            click.echo(f"{policy:>10}: {why}")
        click.echo(
            f"run {evaluation.run_id} in {evaluation.wall_s:.0f} s; wrote {written[0].parent}"
        )
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc
