"""inbox rows: a delivery is stored before the platform is answered, processed after

Revision ID: 5c0e2a7d91b4
Revises: b7e4d2a9c1f3
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '5c0e2a7d91b4'
down_revision = 'b7e4d2a9c1f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('seen_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default='done'))
        batch_op.add_column(sa.Column('event', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_seen_deliveries_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('seen_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_deliveries_state'))
        batch_op.drop_column('event')
        batch_op.drop_column('state')
