"""what an alert's firing did to agents, and which holds its message last showed

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('takeover', sa.JSON(), nullable=True))
    with op.batch_alter_table('notify_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_held', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('notify_group', schema=None) as batch_op:
        batch_op.drop_column('sent_held')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('takeover')
