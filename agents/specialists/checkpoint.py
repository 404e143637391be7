"""Checkpointers for the specialists' graph: SQLite beside a SQLite database, the same
PostgreSQL database when the control plane runs on PostgreSQL (so a new leader resumes the runs
of a dead one), in memory for tests and evaluation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from controlplane import ConfigError

__all__ = ["checkpointer_for"]


def checkpointer_for(database_url: str | None) -> Any:
    """A LangGraph checkpointer for ``database_url`` (``None``: in memory)."""
    if database_url is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        db = url.database or ":memory:"
        path = db if db == ":memory:" else str(Path(db).with_suffix(".checkpoints.db"))
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
        saver.setup()
        return saver
    if url.get_backend_name() == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = Connection.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        postgres = PostgresSaver(conn)
        postgres.setup()
        return postgres
    raise ConfigError(f"no graph checkpointer for {url.get_backend_name()} databases")
