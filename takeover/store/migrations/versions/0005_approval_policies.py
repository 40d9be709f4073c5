"""approval policies: quorum votes, escalation, grants' limit, the decided arguments' digest

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column('policy', sa.String(), nullable=False, server_default=''),
    sa.Column('quorum', sa.Integer(), nullable=False, server_default='1'),
    sa.Column('approvals', sa.JSON(), nullable=False, server_default='[]'),
    sa.Column('revision', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('forbidden', sa.JSON(), nullable=False, server_default='[]'),
    sa.Column('escalation', sa.JSON(), nullable=False, server_default='[]'),
    sa.Column('escalated', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('grant_max', sa.Float(), nullable=False, server_default='0'),
    sa.Column('args_digest', sa.String(), nullable=True),
    sa.Column('executed_at', sa.Float(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table('approval', schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table('approval', schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column.name)
