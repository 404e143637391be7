"""``aiops api`` (serve the REST API and the console) and ``aiops token ...`` (API tokens).

Top floor: mounted by ``controlplane.cli``. The database is ``AIOPS_DATABASE_URL`` or ``--url``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from controlplane.exceptions import AIOpsError
from controlplane.settings import load_settings
from controlplane.store import Role, Store

__all__ = ["api_command", "token_group"]

_URL = click.option("--url", default=None, metavar="URL", help="database URL")


def _store(url: str | None, actor: str) -> Store:
    try:
        return Store.open(url or load_settings().database_url, actor=actor)
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("token")
def token_group() -> None:
    """API bearer tokens (only their SHA-256 digests are stored)."""


@token_group.command("create")
@click.option("--name", required=True, help="Who or what holds it (the audit trail's actor).")
@click.option(
    "--role",
    type=click.Choice([str(r) for r in Role]),
    default=str(Role.VIEWER),
    show_default=True,
)
@click.option("--expires-in", type=float, default=None, help="Days until it expires.")
@_URL
def token_create(name: str, role: str, expires_in: float | None, url: str | None) -> None:
    """Create a token and print it once (it cannot be shown again)."""
    if expires_in is not None and expires_in <= 0:
        raise click.BadParameter("must be positive", param_hint="--expires-in")
    store = _store(url, "aiops-cli")
    try:
        expires = None if expires_in is None else time.time() + expires_in * 86400
        with store.write() as tx:
            plain, token = tx.tokens.create(
                name, Role(role), created_by="aiops-cli", expires_at=expires
            )
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(plain)
    click.echo(
        f"token {token.id} for {name}, role {role}, expires {_when(token.expires_at)} "
        "(shown once; keep it secret)",
        err=True,
    )


@token_group.command("list")
@_URL
def token_list(url: str | None) -> None:
    """List tokens (never their values)."""
    store = _store(url, "aiops-cli")
    try:
        with store.read() as tx:
            tokens = tx.tokens.list()
    finally:
        store.close()
    for t in tokens:
        state = "revoked" if t.revoked_at else "active"
        click.echo(
            f"{t.id}  {t.name:<20} {t.role:<8} {state:<8} created {_when(t.created_at)}  "
            f"expires {_when(t.expires_at)}  last used {_when(t.last_used_at)}"
        )


@token_group.command("revoke")
@click.argument("token_id")
@_URL
def token_revoke(token_id: str, url: str | None) -> None:
    """Revoke a token by its id."""
    store = _store(url, "aiops-cli")
    try:
        with store.write() as tx:
            tx.tokens.revoke(token_id, by="aiops-cli")
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"token {token_id} revoked")


@click.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--cluster/--no-cluster",
    default=True,
    show_default=True,
    help="Connect to the cluster (AIOPS_KUBE_HOST or AIOPS_TESTBED_URL) for dry runs and chat.",
)
def api_command(host: str, port: int, cluster: bool) -> None:
    """Serve the REST API, the operator chat and the web console."""
    import uvicorn

    from controlplane.runtime import build_api

    try:
        app = build_api(load_settings(), cluster=cluster)
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"aiops: API and console on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
