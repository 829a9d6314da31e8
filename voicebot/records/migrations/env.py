"""Alembic environment for the call records (run by :func:`voicebot.records.store.migrate`).

The caller passes an open SQLAlchemy connection in ``config.attributes["connection"]``;
there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

from voicebot.records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when run by hand without a caller
    raise RuntimeError("run migrations through voicebot.records.store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
