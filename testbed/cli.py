"""``aiops testbed ...``: serve a simulated cluster, list its applications and timing.

Defined here, in the testbed, so the testbed stays a stand-alone package; the ``aiops`` command
(``controlplane.cli``) mounts this group.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any

import click

from .app import builtin_apps, load_app
from .errors import TestbedError
from .timing import Timing, timing_table_markdown

log = logging.getLogger("testbed")


def _parse_timing(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=SECONDS, got {item!r}", param_hint="--timing")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{key}: not a number: {value!r}", param_hint="--timing"
            ) from None
    return out


def _speed(value: str) -> float:
    if value == "max":
        return 1e6
    try:
        speed = float(value)
    except ValueError:
        raise click.BadParameter(f"expected a number or 'max', got {value!r}") from None
    if speed <= 0:
        raise click.BadParameter("must be positive")
    return speed


def _truth_token(path: str | None) -> tuple[str, Path]:
    if path:
        file = Path(path)
        if file.exists():
            token = file.read_text(encoding="utf-8").strip()
            if len(token) < 16:
                raise click.BadParameter(
                    "the truth token must be at least 16 characters",
                    param_hint="--truth-token-file",
                )
            return token, file
    else:
        file = Path(".aiops") / "testbed-truth-token"
    file.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, file


@click.group(name="testbed")
def testbed_group() -> None:
    """The simulated Kubernetes cluster the control plane is tested against."""


@testbed_group.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--speed", default="1", show_default=True, help="Simulated seconds per wall second, or 'max'."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="Application file or shipped name (repeatable); default hotel-reservation.",
)
@click.option(
    "--load",
    "load_spec",
    default=None,
    help="Load profile, e.g. 'constant:200', 'diurnal:period=600'; default: the app's.",
)
@click.option(
    "--nodes",
    default=None,
    type=click.IntRange(1, 10000),
    help="Number of nodes (replaces the app's node pools by one pool of this size).",
)
@click.option("--tick", default=1.0, show_default=True, type=click.FloatRange(0.01, 60))
@click.option(
    "--timing",
    "timing_items",
    multiple=True,
    metavar="KEY=SECONDS",
    help="Override a Kubernetes timing default (see 'aiops testbed timing').",
)
@click.option(
    "--truth-token-file",
    default=None,
    help="File holding the token for /testbed/truth (created with a random token "
    "if missing; default .aiops/testbed-truth-token).",
)
@click.option(
    "--noise",
    "noise_spec",
    default="all",
    show_default=True,
    help="Benign noise: 'all', 'none' or a comma list of deploys, logs, cron, maintenance, "
    "drift (innocent deploys, harmless log lines, hourly load spikes, node maintenance, "
    "daily drift).",
)
@click.option(
    "--status-every",
    default=10.0,
    show_default=True,
    type=float,
    help="Wall seconds between status lines (0: none).",
)
def serve(
    host: str,
    port: int,
    speed: str,
    seed: int,
    apps: tuple[str, ...],
    load_spec: str | None,
    nodes: int | None,
    tick: float,
    timing_items: tuple[str, ...],
    truth_token_file: str | None,
    noise_spec: str,
    status_every: float,
) -> None:
    """Serve a testbed cluster's Kubernetes API and /metrics under live load."""
    from .app import NodePool
    from .cluster import Cluster
    from .load import parse_load_spec
    from .noise import parse_noise
    from .runner import TestbedServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        specs = [load_app(a) for a in apps] or [load_app()]
        load = parse_load_spec(load_spec) if load_spec else None
        timing = Timing().with_overrides({**specs[0].timing, **_parse_timing(timing_items)})
        pools = None
        if nodes is not None:
            first = specs[0].cluster.node_pools[0]
            pools = [NodePool(**{**first.model_dump(), "count": nodes})]
        benign = parse_noise(noise_spec)
        cluster = Cluster(
            specs, seed=seed, timing=timing, load=load, node_pools=pools, tick=tick, benign=benign
        )
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the testbed API has no authentication", host)
    token, token_file = _truth_token(truth_token_file)
    server = TestbedServer(cluster, host=host, port=port, truth_token=token, speed=_speed(speed))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    click.echo(
        f"testbed: serving the Kubernetes API and /metrics at {server.url} "
        f"({len(cluster.nodes)} nodes, apps: {', '.join(s.name for s in specs)}, "
        f"speed {speed}, seed {seed})"
    )
    click.echo(f"testbed: truth token in {token_file}; stop with Ctrl-C")
    try:
        while not stop.wait(status_every if status_every > 0 else 3600):
            if server.loop is not None and server.loop.error is not None:
                raise click.ClickException(f"simulation failed: {server.loop.error}")
            click.echo(status_line(cluster, server.loop.lag if server.loop else 0.0))
    finally:
        server.stop()
        click.echo("testbed: stopped")


def status_line(cluster: Any, lag: float) -> str:
    """One line of progress: simulated time, pods, and the entry services' traffic."""
    with cluster.lock:
        total = len(cluster.pods)
        ready = sum(1 for p in cluster.pods.values() if p.ready)
        parts = []
        tr = cluster.traffic
        for (_, entry), inst in zip(tr.entries, cluster.apps, strict=True):
            parts.append(
                f"{inst.namespace}/{tr.components[entry].name} "
                f"{tr.lam[entry]:.0f} rps {tr.latency[entry] * 1000:.0f} ms "
                f"err {tr.error[entry] * 100:.2f}%"
            )
        elapsed = int(cluster.elapsed)
    h, rem = divmod(elapsed, 3600)
    clock = f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}"
    lag_text = f" (behind by {lag:.0f} s)" if lag > 5 * cluster.tick else ""
    return f"t+{clock}{lag_text} pods {ready}/{total} ready | " + " | ".join(parts)


@testbed_group.command(name="apps")
def list_apps() -> None:
    """List the shipped application files."""
    for name in builtin_apps():
        spec = load_app(name)
        click.echo(
            f"{name}: {len(spec.services)} services, entry {spec.entry}, namespace {spec.namespace}"
        )


@testbed_group.command(name="timing")
def show_timing() -> None:
    """Print the Kubernetes timing defaults the testbed follows."""
    click.echo(timing_table_markdown())


@testbed_group.command(name="check")
@click.argument("app_file")
def check(app_file: str) -> None:
    """Validate an application file."""
    try:
        spec = load_app(app_file)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{app_file}: ok ({len(spec.services)} services, call order "
        f"{' -> '.join(spec.topological_order())})"
    )


def _token(token_file: str) -> str:
    try:
        return Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.ClickException(
            f"cannot read the truth token from {token_file}: {exc.strerror} "
            "(it is written by 'aiops testbed serve')"
        ) from None


def _call(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", exc.reason)
        except ValueError:
            message = exc.reason
        raise click.ClickException(f"{exc.code}: {message}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the testbed at {url}: {exc.reason}") from None


_url_option = click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="The testbed server."
)
_token_option = click.option(
    "--token-file",
    default=".aiops/testbed-truth-token",
    show_default=True,
    help="The truth token written by 'serve'.",
)


@testbed_group.command(name="faults")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def list_faults(as_json: bool) -> None:
    """List the fault library with its AIOpsLab-style labels."""
    from .faults import FAULTS

    if as_json:
        import json

        click.echo(json.dumps([f.describe() for f in FAULTS.values()], indent=2))
        return
    for f in FAULTS.values():
        click.echo(
            f"{f.name:16} {f.system_level + ' / ' + f.fault_type:45} target={f.target:8} "
            f"via={f.injection:11} mitigations={','.join(f.mitigations)}"
        )


@testbed_group.command()
@click.argument("name")
@click.option("--target", "target", default="", help="SERVICE, node/NODE, SOURCE->DEST or app.")
@click.option("--namespace", default=None, help="Application namespace (default: the first).")
@click.option("--strength", type=float, default=None, help="See 'aiops testbed faults --json'.")
@click.option("--delay", "delay_s", type=float, default=0.0, help="Onset, simulated seconds.")
@click.option(
    "--duration",
    "duration_s",
    type=float,
    default=None,
    help="Clear it after this many simulated seconds.",
)
@_url_option
@_token_option
def inject(
    name: str,
    target: str,
    namespace: str | None,
    strength: float | None,
    delay_s: float,
    duration_s: float | None,
    url: str,
    token_file: str,
) -> None:
    """Inject fault NAME into a running testbed."""
    from .faults import parse_target

    body: dict[str, Any] = {"name": name, "target": parse_target(target), "delay_s": delay_s}
    if namespace:
        body["namespace"] = namespace
    if strength is not None:
        body["strength"] = strength
    if duration_s is not None:
        body["duration_s"] = duration_s
    fault = _call(url, _token(token_file), "POST", "/testbed/faults", body)
    click.echo(
        f"{fault['id']}: {fault['name']} on {fault['root_cause']['name']} "
        f"({fault['state']}, strength {fault['strength']:g})"
    )


@testbed_group.command()
@click.argument("fault_id", required=False)
@_url_option
@_token_option
def clear(fault_id: str | None, url: str, token_file: str) -> None:
    """Clear one injected fault (FAULT_ID), or every active one."""
    token = _token(token_file)
    if fault_id:
        fault = _call(url, token, "DELETE", f"/testbed/faults/{fault_id}")
        click.echo(f"{fault['id']}: {fault['name']} cleared")
        return
    cleared = _call(url, token, "DELETE", "/testbed/faults")["cleared"]
    click.echo(
        f"cleared {len(cleared)} fault(s)" + "".join(f"\n  {f['id']}: {f['name']}" for f in cleared)
    )
