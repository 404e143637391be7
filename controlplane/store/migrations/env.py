"""Alembic's environment: migrate the connection :func:`controlplane.store.upgrade` passes in.

There is no ``alembic.ini``; the configuration is built in code, and the connection (already in
a write transaction) arrives in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from controlplane.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise RuntimeError("run the store's migrations with controlplane.store.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
