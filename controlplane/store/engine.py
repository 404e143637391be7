"""The database engine: SQLite by default with durable settings, PostgreSQL through the same code.

SQLite connections run ``journal_mode=WAL`` (readers never block the writer), ``synchronous=FULL``
(a commit survives power loss, not only a process crash), ``foreign_keys=ON`` and a busy timeout.
The driver's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself:
``BEGIN IMMEDIATE`` for write transactions (see :data:`WRITE`), so a writer takes the database
lock when its transaction starts instead of failing to upgrade a read lock half-way through.

Errors from the driver become :class:`~controlplane.exceptions.StoreError` naming the database
with its password hidden (:func:`store_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from controlplane.exceptions import StoreError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SQLITE_PRAGMAS",
    "WRITE",
    "describe_url",
    "make_engine",
    "store_errors",
]

BUSY_TIMEOUT_MS = 10_000
SQLITE_PRAGMAS: Mapping[str, str] = {
    "journal_mode": "WAL",
    "synchronous": "FULL",
    "foreign_keys": "ON",
    "busy_timeout": str(BUSY_TIMEOUT_MS),
}
"""Set on every SQLite connection (``busy_timeout`` is milliseconds)."""

WRITE: Mapping[str, Any] = {"aiops_write": True}
"""Execution options of a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""

_POSTGRES_DRIVER = "postgresql+psycopg"


def describe_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {describe_url(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            raise StoreError(f"{describe_url(parsed)}: use the {_POSTGRES_DRIVER}:// driver")
        return parsed.set(drivername=_POSTGRES_DRIVER)
    if backend != "sqlite":
        raise StoreError(
            f"{describe_url(parsed)}: unsupported database {backend!r} "
            "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        )
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or bool(url.query.get("mode") == "memory")


def make_engine(
    url: str | URL, *, connect_args: Mapping[str, Any] | None = None, echo: bool = False
) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL); nothing connects until it is used.

    A SQLite file's parent folder is created. ``postgresql://`` means ``postgresql+psycopg://``.
    ``connect_args`` go to the driver (e.g. ``{"options": "-csearch_path=s1"}`` on PostgreSQL).
    """
    parsed = _parse(url)
    args: dict[str, Any] = dict(connect_args or {})
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed, args, echo)
        else:
            if "connect_timeout" not in parsed.query:
                args.setdefault("connect_timeout", 5)
            engine = create_engine(parsed, connect_args=args, echo=echo, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{describe_url(parsed)}: {exc}") from exc
    return engine


def _sqlite_engine(url: URL, args: dict[str, Any], echo: bool) -> Engine:
    args.setdefault("timeout", BUSY_TIMEOUT_MS / 1000)
    if _is_memory(url):
        args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=args, echo=echo, poolclass=StaticPool)
    else:
        assert url.database is not None
        try:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{describe_url(url)}: cannot create its folder: {exc}") from exc
        engine = create_engine(url, connect_args=args, echo=echo)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Leave transactions to SQLAlchemy's "begin" event below (pysqlite's own are unreliable).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS.items():
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get("aiops_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def store_errors(url: str | URL, doing: str = "database error") -> Iterator[None]:
    """Turn the driver's and SQLAlchemy's exceptions into ``StoreError``, cause kept."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip() or type(exc.orig).__name__
        # No statement: the failure came while connecting, not from a query.
        if exc.statement is None or exc.connection_invalidated:
            raise StoreError(f"cannot reach database {describe_url(url)}: {reason}") from exc
        raise StoreError(f"{doing} on {describe_url(url)}: {reason}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"{doing} on {describe_url(url)}: {exc}") from exc
