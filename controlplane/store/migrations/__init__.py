"""Alembic migrations of the store (run them with :func:`controlplane.store.upgrade`)."""
