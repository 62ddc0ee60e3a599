"""Baseline: the schema of version 7 (rating source, sign-in throttle, wall token).

Databases built before migrations existed record ``schema_version`` 7 in their
``meta`` table; they are stamped with this revision and upgraded from here. New
databases are created whole from geo.db.schema and stamped with the head.
"""
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
