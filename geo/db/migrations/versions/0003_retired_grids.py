"""Grid plans: a grid is retired, not deleted (its number is never reused and its history stays readable).

Revision 0003, after 0002 (issue 18: geo.grids.edits and boundaries' plans).
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('grid', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('retired_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grid', schema=None) as batch_op:
        batch_op.drop_column('retired_by')
        batch_op.drop_column('retired_at')
