"""Alembic's environment for geo.db.migrate: always run with a connection handed over by the caller.

The caller (geo.db.migrate.upgrade) opens the transaction; the migrations of one
upgrade run inside it, so on PostGIS a failed step leaves nothing changed. SQLite
upgrades run on a copy of the file (geo.db.migrate), so the live file is replaced
only by a fully migrated one.
"""
from alembic import context

from geo.db.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
