"""Street data loader (issue 14): codes and addresses, remembered column mappings.

A street's own keys, so a re-import matches what it loaded before: building.code (楼栋编码) and
building.address, household.code (户编号), facility.code, road.code (osm:w… for OpenStreetMap ways) and road.level (bridges and tunnels, so a
stored network keeps them);
and load_mapping, the last column mapping each street used per kind of layer. No geometry column
is added (no GiST index needed); rows already stored keep NULL codes.

Revision 0004, after 0003 (renumbered at merge; written 2026-12-03).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('load_mapping',
    sa.Column('street_code', sa.String(length=12), nullable=False),
    sa.Column('layer', sa.String(length=16), nullable=False),
    sa.Column('columns', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('street_code', 'layer')
    )
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('address', sa.String(length=128), nullable=True))
        batch_op.create_index(batch_op.f('ix_building_code'), ['code'], unique=False)

    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_facility_code'), ['code'], unique=False)

    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_household_code'), ['code'], unique=False)

    with op.batch_alter_table('road', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('level', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_road_code'), ['code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('road', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_road_code'))
        batch_op.drop_column('level')
        batch_op.drop_column('code')

    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_code'))
        batch_op.drop_column('code')

    with op.batch_alter_table('facility', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_facility_code'))
        batch_op.drop_column('code')

    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_code'))
        batch_op.drop_column('address')
        batch_op.drop_column('code')

    op.drop_table('load_mapping')
