"""Alembic environment: runs migrations on the connection handed over by hubao.storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from hubao.storage import models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `hubao db upgrade`, which provides the connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
