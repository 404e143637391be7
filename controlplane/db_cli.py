"""``aiops db ...``: the control plane's database (top floor: mounted by ``controlplane.cli``).

The database is ``AIOPS_DATABASE_URL`` (default ``sqlite:///.aiops/aiops.db``), or ``--url``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy import Engine

from controlplane.exceptions import AIOpsError
from controlplane.settings import load_settings
from controlplane.store import (
    SQLITE_PRAGMAS,
    current_revision,
    describe_url,
    head_revision,
    make_engine,
    upgrade,
)

_URL = click.option(
    "--url",
    default=None,
    metavar="URL",
    help="database URL (default: AIOPS_DATABASE_URL, else sqlite:///.aiops/aiops.db)",
)


T = TypeVar("T")


def _url(url: str | None) -> str:
    try:
        return url or load_settings().database_url
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc


def _on_engine(url: str, use: Callable[[Engine], T]) -> T:
    """``use`` an engine on ``url``, disposed afterwards; store errors become CLI errors."""
    try:
        engine = make_engine(url)
        try:
            return use(engine)
        finally:
            engine.dispose()
    except AIOpsError as exc:
        raise click.ClickException(str(exc)) from exc


def _settings_line(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite: " + ", ".join(f"{k}={v}" for k, v in SQLITE_PRAGMAS.items())
    return "postgresql: read committed, row locks for state changes"


@click.group("db")
def db_group() -> None:
    """The control plane's database: SQLite by default, PostgreSQL through the same code."""


@db_group.command("upgrade")
@_URL
def db_upgrade(url: str | None) -> None:
    """Create or migrate the database schema to the newest revision."""
    target = _url(url)
    report = _on_engine(target, upgrade)
    where = describe_url(target)
    if report.changed:
        before = report.before or "an empty database"
        applied = ", ".join(report.applied)
        click.echo(f"{where}: upgraded from {before} to {report.after} (applied {applied})")
    else:
        click.echo(f"{where}: already at the newest revision {report.after}; nothing to do")
    click.echo(_settings_line(target))


@db_group.command("status")
@_URL
def db_status(url: str | None) -> None:
    """Show the database's schema revision and the newest one this version ships."""
    target = _url(url)
    current = _on_engine(target, current_revision)
    head = head_revision()
    state = "up to date" if current == head else "needs 'aiops db upgrade'"
    click.echo(f"{describe_url(target)}: revision {current or 'none'}, newest {head} ({state})")
