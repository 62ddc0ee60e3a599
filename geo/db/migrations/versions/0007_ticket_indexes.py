"""Indexes the city-scale readers need (issue 15): ``ticket.street_id`` (the wall and every street-wide
reader filter by street) and ``ticket.closed_at`` (closed today / in the window). Without them PostgreSQL
read the whole ticket table for the wall (EXPLAIN). The escalation clock's query is served by the index
on ``state`` it already had.
Indexes only: no row changes, nothing to back-fill.

Revision 0007, after 0006.
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_INDEXES = {"ix_ticket_street_id": "street_id", "ix_ticket_closed_at": "closed_at"}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        op.create_index(name, "ticket", [column], unique=False)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="ticket")
