"""delivery: back-off, fallback and undeliverable notifications; approvals Slack never showed

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('next_attempt_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('fallback', sa.String(), nullable=True))
        batch.add_column(sa.Column('undeliverable_at', sa.Float(), nullable=True))
    op.create_index('ix_outbox_undeliverable_at', 'outbox', ['undeliverable_at'])
    with op.batch_alter_table('approval') as batch:
        batch.add_column(sa.Column('delivery_error', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approval') as batch:
        batch.drop_column('delivery_error')
    op.drop_index('ix_outbox_undeliverable_at', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('undeliverable_at')
        batch.drop_column('fallback')
        batch.drop_column('next_attempt_at')
