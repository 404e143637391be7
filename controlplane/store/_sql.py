"""Small SQL helpers the repositories share.

The correlator's batches go through SQLAlchemy Core on the session's connection (same
transaction, a fraction of the ORM's per-statement cost); :func:`core` flushes the session first
so Core statements see what the ORM has pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = [
    "chunked",
    "core",
    "dialect_insert",
    "for_update",
    "table",
    "update_by_id",
    "update_statement",
]

CHUNK = 5_000
"""Values per ``IN (...)`` list: far under SQLite's and PostgreSQL's bound-parameter limits."""


def chunked(values: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size``."""
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def dialect_insert(session: Session, model: Any) -> Any:
    """An ``INSERT`` that supports ``ON CONFLICT`` on the session's backend."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def for_update(statement: Any, *, read: bool = False) -> Any:
    """Lock the selected rows until the transaction ends (``FOR UPDATE``, or ``FOR SHARE`` when
    ``read``). PostgreSQL honours it; SQLite ignores it, where ``BEGIN IMMEDIATE`` already gives
    the writing transaction the whole database. Rows already in the session are refreshed from
    the locked read."""
    return statement.with_for_update(read=read).execution_options(populate_existing=True)


def table(model: Any) -> Table:
    """The ``Table`` behind an ORM model."""
    return cast(Table, model.__table__)


def core(session: Session) -> Connection:
    """The session's connection, after flushing what the ORM has pending."""
    session.flush()
    return session.connection()


def update_by_id(session: Session, target: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``UPDATE target SET ... WHERE id = :id`` for each row (one executemany).

    Every row must hold ``id`` and the same other columns.
    """
    if not rows:
        return
    columns = tuple(name for name in rows[0] if name != "id")
    params = [{"row_id": row["id"], **{f"v_{n}": row[n] for n in columns}} for row in rows]
    core(session).execute(update_statement(target, columns), params)


@cache
def update_statement(target: Table, columns: tuple[str, ...]) -> Any:
    """``UPDATE target SET col = :v_col ... WHERE id = :row_id``."""
    return (
        target.update()
        .where(target.c.id == bindparam("row_id"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )
