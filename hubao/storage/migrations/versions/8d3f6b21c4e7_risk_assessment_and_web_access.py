"""risk assessment (likelihood, impact) and web link generations

Revision ID: 8d3f6b21c4e7
Revises: 35bf10ae3c56
Create Date: 2026-11-30 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hubao.storage.models

revision = '8d3f6b21c4e7'
down_revision = '35bf10ae3c56'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_access',
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('changed_at', hubao.storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.PrimaryKeyConstraint('scope')
    )
    with op.batch_alter_table('risks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('likelihood', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('impact', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risks', schema=None) as batch_op:
        batch_op.drop_column('impact')
        batch_op.drop_column('likelihood')
    op.drop_table('web_access')
