"""Alembic environment: takeover's tables are SQLModel's metadata; the connection is handed in."""

from alembic import context
from sqlmodel import SQLModel

import takeover.store.models  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `takeover db upgrade` (takeover.store.migrate)")
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
