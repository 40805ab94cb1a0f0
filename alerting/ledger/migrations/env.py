"""Alembic environment: runs the migrations on the connection ``migrate.upgrade`` passes in.

Nothing runs when this file is merely imported (pytest's doctest collection
imports every module): alembic's proxy exists only while a command runs.
"""

from __future__ import annotations

from alembic import context


def run() -> None:
    """Upgrade on the caller's connection, inside the caller's transaction."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "_proxy", None) is not None:
    run()
