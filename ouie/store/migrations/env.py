"""Alembic environment: runs on the connection handed over by `ouie.store.database`."""

from __future__ import annotations

from alembic import context

from ouie.store.models import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
