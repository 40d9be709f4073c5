"""leadership as a lease: the leader term's deadline, by the database's clock

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('leader_term') as batch:
        batch.add_column(sa.Column('expires_at', sa.Float(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('leader_term') as batch:
        batch.drop_column('expires_at')
