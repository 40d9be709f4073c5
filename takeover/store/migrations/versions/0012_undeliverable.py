"""undeliverable notifications a person dismissed

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('dismissed_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('dismissed_by', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('dismissed_by')
        batch.drop_column('dismissed_at')
