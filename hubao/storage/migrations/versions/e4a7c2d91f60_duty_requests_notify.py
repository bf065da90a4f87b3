"""duty rosters, cross-group requests and their rules, direct-message opt-outs

Revision ID: e4a7c2d91f60
Revises: 5c0e2a7d91b4
Create Date: 2026-11-30 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from hubao.storage.models import UTCDateTime

revision = 'e4a7c2d91f60'
down_revision = '5c0e2a7d91b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'duty_rosters',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('members', sa.JSON(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('every', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column('since', UTCDateTime(), nullable=False),
        sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id']),
        sa.PrimaryKeyConstraint('group_id'),
    )
    op.create_table(
        'cross_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('risk_id', sa.Integer(), nullable=False),
        sa.Column('from_group_id', sa.Integer(), nullable=False),
        sa.Column('to_group_id', sa.Integer(), nullable=False),
        sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['from_group_id'], ['groups.id']),
        sa.ForeignKeyConstraint(['risk_id'], ['risks.id']),
        sa.ForeignKeyConstraint(['to_group_id'], ['groups.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('risk_id'),
    )
    with op.batch_alter_table('cross_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cross_requests_from_group_id'), ['from_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cross_requests_to_group_id'), ['to_group_id'], unique=False)
    op.create_table(
        'request_rules',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('asker_group_id', sa.Integer(), nullable=False),
        sa.Column('allowed', sa.Boolean(), nullable=False),
        sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['asker_group_id'], ['groups.id']),
        sa.ForeignKeyConstraint(['group_id'], ['groups.id']),
        sa.PrimaryKeyConstraint('group_id', 'asker_group_id'),
    )
    op.create_table(
        'notify_opt_outs',
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )


def downgrade() -> None:
    op.drop_table('notify_opt_outs')
    op.drop_table('request_rules')
    with op.batch_alter_table('cross_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cross_requests_to_group_id'))
        batch_op.drop_index(batch_op.f('ix_cross_requests_from_group_id'))
    op.drop_table('cross_requests')
    op.drop_table('duty_rosters')
