"""risk register, group goals, the pledge, quarterly surveys, drills

Revision ID: 6f556c1cdac7
Revises: e4a7c2d91f60
Create Date: 2026-11-30 05:26:14.291021
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hubao.storage.models

revision = '6f556c1cdac7'
down_revision = 'e4a7c2d91f60'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('goals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
    sa.Column('due_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('created_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'number')
    )
    op.create_table('pledges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('set_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.create_index('ix_pledges_group_set', ['group_id', 'set_at'], unique=False)

    op.create_table('register_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('response', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('created_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('removed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'number')
    )
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('started_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=True),
    sa.Column('open_slot', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('group_id', 'number'),
    sa.UniqueConstraint('open_slot')
    )
    op.create_table('pledge_confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pledge_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('confirmed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pledge_id'], ['pledges.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pledge_id', 'user_id')
    )
    op.create_table('survey_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('q1', sa.Integer(), nullable=True),
    sa.Column('q2', sa.Integer(), nullable=True),
    sa.Column('q3', sa.Integer(), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('answered_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id', 'user_id')
    )
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answers_survey_id'), ['survey_id'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drill', sa.Boolean(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('drill')

    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_answers_survey_id'))

    op.drop_table('survey_answers')
    op.drop_table('pledge_confirmations')
    op.drop_table('surveys')
    op.drop_table('register_entries')
    with op.batch_alter_table('pledges', schema=None) as batch_op:
        batch_op.drop_index('ix_pledges_group_set')

    op.drop_table('pledges')
    op.drop_table('goals')
