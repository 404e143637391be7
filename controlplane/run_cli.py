"""``aiops run``: the control loop, against a cluster or an embedded testbed."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time

import click

from controlplane.clock import SystemClock
from controlplane.exceptions import AIOpsError
from controlplane.runtime import LoopOptions, build_loop
from controlplane.settings import load_settings

__all__ = ["run_command"]


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()


def _target(values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    out = {}
    for value in values:
        key, sep, name = value.partition("=")
        if not sep or not key or not name:
            raise click.BadParameter(f"{value!r}: expected KEY=NAME (service=geo, node=n1)")
        out[key] = name
    return out


@click.command("run")
@click.option("--policy", default=None, help="noop, threshold or rules (default: AIOPS_POLICY).")
@click.option("--tick", "tick_s", type=float, default=None, help="Seconds between ticks.")
@click.option("--ticks", type=int, default=None, help="Stop after this many ticks.")
@click.option("--dry-run", is_flag=True, help="Decide and record, but change nothing.")
@click.option(
    "--elect/--no-elect",
    default=False,
    help="Take part in leader election (several instances on one database).",
)
@click.option("--embedded", is_flag=True, help="Heal an embedded testbed in virtual time.")
@click.option("--app", default="hotel-reservation", show_default=True, help="Embedded: app.")
@click.option("--fault", default="bad-release", show_default=True, help="Embedded: fault.")
@click.option("--target", multiple=True, help="Embedded: fault target KEY=NAME (repeatable).")
@click.option("--seed", type=int, default=11, show_default=True, help="Embedded: seed.")
@click.option(
    "--inject-after", type=float, default=3600.0, show_default=True, help="Embedded: seconds."
)
@click.option("--limit", type=float, default=3 * 3600.0, show_default=True, help="Embedded.")
@click.option("--pace", type=float, default=None, help="Embedded: simulated s per wall s.")
@click.option("--noise/--no-noise", default=True, show_default=True, help="Embedded: noise.")
@click.option(
    "--operator-delay",
    type=float,
    default=120.0,
    show_default=True,
    help="Embedded: a simulated operator approves after this many seconds (-1: never).",
)
def run_command(
    policy: str | None,
    tick_s: float | None,
    ticks: int | None,
    dry_run: bool,
    elect: bool,
    embedded: bool,
    app: str,
    fault: str,
    target: tuple[str, ...],
    seed: int,
    inject_after: float,
    limit: float,
    pace: float | None,
    noise: bool,
    operator_delay: float,
) -> None:
    """Run the control loop: collect, detect, correlate, analyse, decide, act, verify.

    Without --embedded it watches the cluster at AIOPS_KUBE_HOST (or AIOPS_TESTBED_URL) in real
    time. With --embedded it starts a testbed in this process, injects --fault after
    --inject-after seconds of virtual time, and tells what it saw, concluded and did; the exit
    status is 0 when the fault was healed.
    """
    logging.basicConfig(level=logging.WARNING)
    try:
        settings = load_settings()
        options = LoopOptions(
            policy=policy or settings.policy,
            tick_s=tick_s or (15.0 if embedded else settings.tick_seconds),
            dry_run=dry_run,
            holder=f"{socket.gethostname()}-{os.getpid()}" if elect else None,
        )
        if embedded:
            from evaluation.embedded import EmbeddedOptions, run_embedded

            # virtual time starts afresh every run: unless a database was configured, its
            # records go to one of its own (the default one would hold the last run's
            # incidents and leases, in another time)
            if "database_url" not in settings.model_fields_set:
                runs = settings.data_dir / "runs"
                runs.mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
                database = runs / f"embedded-{stamp}-{os.getpid()}.db"
                settings = settings.model_copy(update={"database_url": f"sqlite:///{database}"})
            _say(f"aiops: this run's records go to {settings.database_url}")
            result = run_embedded(
                settings,
                EmbeddedOptions(
                    app=app,
                    fault=fault or None,
                    target=_target(target),
                    seed=seed,
                    inject_after_s=inject_after,
                    limit_s=limit,
                    pace=pace,
                    noise=noise,
                    operator_delay_s=None if operator_delay < 0 else operator_delay,
                    loop=options,
                ),
                say=_say,
            )
            sys.exit(0 if result.healed or not fault else 1)
        loop = build_loop(settings, SystemClock(), options, say=_say)
        _say(
            f"aiops: watching {settings.kube_host or settings.testbed_url}, policy "
            f"{options.policy}, a tick every {options.tick_s:g} s (Ctrl-C stops)"
        )
        try:
            loop.run(ticks=ticks, interval_s=options.tick_s)
        finally:
            loop.close()
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc
