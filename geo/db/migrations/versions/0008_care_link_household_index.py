"""An index on ``care_link.household_id`` (issue 15): "who looks after this household" — a grid head's
helper lists, the grid card on the wall — joined care links by household, and the table's key leads with
``person_id``, so SQLite scanned every link in the database for each household of the grid (1.5 s for one
grid of a two-street town) and PostgreSQL read the whole table. Index only: no row changes.

Revision 0008, after 0007.
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_care_link_household_id", "care_link", ["household_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_care_link_household_id", table_name="care_link")
