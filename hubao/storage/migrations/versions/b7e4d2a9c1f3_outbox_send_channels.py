"""outbox send channels: a channel per message and each channel's pace

Revision ID: b7e4d2a9c1f3
Revises: 8d3f6b21c4e7
Create Date: 2026-11-30 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hubao.storage.models

revision = 'b7e4d2a9c1f3'
down_revision = '8d3f6b21c4e7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outbox_pace',
        sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('ready_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('recent', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'chat_id', 'channel'),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=160), server_default='', nullable=False)
        )
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index(
            'ix_outbox_channel',
            ['state', 'platform', 'chat_id', 'channel', 'lane', 'id', 'next_attempt_at'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_channel')
        batch_op.create_index('ix_outbox_due', ['state', 'next_attempt_at', 'lane'], unique=False)
        batch_op.drop_column('channel')
    op.drop_table('outbox_pace')
