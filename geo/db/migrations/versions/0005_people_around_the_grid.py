"""The people around the grid (issue 17): volunteer activities and the time bank, monthly patrols and their
ratings, leaders' visits to their contact points, councils (一征三议两公开), estates' management (红色物业, 三有),
a volunteer team's grid and leader, a leader's contact community.

Revision 0005, after 0004.
"""
from alembic import op
import sqlalchemy as sa

from geo.db.schema import Geometry


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('council_matter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('proposal', sa.Text(), nullable=True),
    sa.Column('deliberation', sa.Text(), nullable=True),
    sa.Column('decision', sa.Text(), nullable=True),
    sa.Column('votes_for', sa.Integer(), nullable=True),
    sa.Column('votes_against', sa.Integer(), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('notice', sa.Text(), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('outcome_on', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('council_matter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_council_matter_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_council_matter_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_council_matter_stage'), ['stage'], unique=False)

    op.create_table('patrol',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('patrolled_on', sa.Date(), nullable=False),
    sa.Column('patroller', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('grid_id', 'month', name='uq_patrol_grid_month')
    )
    with op.batch_alter_table('patrol', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patrol_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patrol_month'), ['month'], unique=False)

    op.create_table('council_opinion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('matter_id', sa.Integer(), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('stance', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('collected_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['matter_id'], ['council_matter.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('council_opinion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_council_opinion_matter_id'), ['matter_id'], unique=False)

    op.create_table('volunteer_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('place', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('geom', Geometry(), nullable=True),
    sa.Column('minx', sa.Float(), nullable=True),
    sa.Column('miny', sa.Float(), nullable=True),
    sa.Column('maxx', sa.Float(), nullable=True),
    sa.Column('maxy', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['volunteer_team.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_activity_bbox', ['minx', 'maxx', 'miny', 'maxy'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_activity_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_activity_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_activity_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_activity_team_id'), ['team_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # as store.create_schema makes for every spatial table
        op.execute("CREATE INDEX IF NOT EXISTS ix_volunteer_activity_geom_gist ON volunteer_activity USING GIST (geom)")

    op.create_table('time_account',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('balance_min', sa.Integer(), nullable=False),
    sa.Column('earned_min', sa.Integer(), nullable=False),
    sa.Column('spent_min', sa.Integer(), nullable=False),
    sa.CheckConstraint('balance_min >= 0', name='ck_time_account_not_negative'),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id')
    )
    with op.batch_alter_table('time_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_account_community_id'), ['community_id'], unique=False)

    op.create_table('time_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('counterpart_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['volunteer_activity.id'], ),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['counterpart_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('time_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_entry_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_entry_person_id'), ['person_id'], unique=False)

    op.create_table('volunteer_attendance',
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['volunteer_activity.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('activity_id', 'person_id')
    )
    with op.batch_alter_table('volunteer_attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_attendance_person_id'), ['person_id'], unique=False)

    op.create_table('council_ticket',
    sa.Column('matter_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['matter_id'], ['council_matter.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('matter_id', 'ticket_id')
    )
    with op.batch_alter_table('council_ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_council_ticket_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('leader_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('leader_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leader_visit_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leader_visit_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leader_visit_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leader_visit_visited_on'), ['visited_on'], unique=False)

    op.create_table('patrol_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patrol_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('photo', sa.String(length=255), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('rated_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('stars BETWEEN 1 AND 5', name='ck_patrol_rating_stars'),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], ),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], ),
    sa.ForeignKeyConstraint(['patrol_id'], ['patrol.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patrol_id', 'kind', 'target', name='uq_patrol_rating_target')
    )
    with op.batch_alter_table('patrol_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patrol_rating_building_id'), ['building_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patrol_rating_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patrol_rating_patrol_id'), ['patrol_id'], unique=False)

    with op.batch_alter_table('estate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('property_company', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('supervising_unit', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('red_property', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('three_have_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('three_have_note', sa.Text(), nullable=True))

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_community_id', sa.Integer(),
                                      sa.ForeignKey('community.id', name='fk_person_contact_community_id'),
                                      nullable=True))

    with op.batch_alter_table('volunteer_team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grid_id', sa.Integer(), sa.ForeignKey('grid.id', name='fk_volunteer_team_grid_id'),
                                      nullable=True))
        batch_op.add_column(sa.Column('leader_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_volunteer_team_grid_id'), ['grid_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volunteer_team', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_team_grid_id'))
        batch_op.drop_column('created_at')
        batch_op.drop_column('leader_id')
        batch_op.drop_column('grid_id')

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('contact_community_id')

    with op.batch_alter_table('estate', schema=None) as batch_op:
        batch_op.drop_column('three_have_note')
        batch_op.drop_column('three_have_on')
        batch_op.drop_column('red_property')
        batch_op.drop_column('supervising_unit')
        batch_op.drop_column('property_company')

    with op.batch_alter_table('patrol_rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patrol_rating_patrol_id'))
        batch_op.drop_index(batch_op.f('ix_patrol_rating_grid_id'))
        batch_op.drop_index(batch_op.f('ix_patrol_rating_building_id'))

    op.drop_table('patrol_rating')
    with op.batch_alter_table('leader_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leader_visit_visited_on'))
        batch_op.drop_index(batch_op.f('ix_leader_visit_person_id'))
        batch_op.drop_index(batch_op.f('ix_leader_visit_grid_id'))
        batch_op.drop_index(batch_op.f('ix_leader_visit_community_id'))

    op.drop_table('leader_visit')
    with op.batch_alter_table('council_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_council_ticket_ticket_id'))

    op.drop_table('council_ticket')
    with op.batch_alter_table('volunteer_attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_attendance_person_id'))

    op.drop_table('volunteer_attendance')
    with op.batch_alter_table('time_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_entry_person_id'))
        batch_op.drop_index(batch_op.f('ix_time_entry_community_id'))
        batch_op.drop_index(batch_op.f('ix_time_entry_at'))

    op.drop_table('time_entry')
    with op.batch_alter_table('time_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_account_community_id'))

    op.drop_table('time_account')
    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_team_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_started_at'))
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_grid_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_community_id'))
        batch_op.drop_index('ix_volunteer_activity_bbox')

    op.drop_table('volunteer_activity')
    with op.batch_alter_table('council_opinion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_council_opinion_matter_id'))

    op.drop_table('council_opinion')
    with op.batch_alter_table('patrol', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patrol_month'))
        batch_op.drop_index(batch_op.f('ix_patrol_grid_id'))

    op.drop_table('patrol')
    with op.batch_alter_table('council_matter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_council_matter_stage'))
        batch_op.drop_index(batch_op.f('ix_council_matter_grid_id'))
        batch_op.drop_index(batch_op.f('ix_council_matter_community_id'))

    op.drop_table('council_matter')
