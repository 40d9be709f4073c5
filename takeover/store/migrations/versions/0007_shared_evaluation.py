"""shared evaluation: replicas, evaluated slots, group health; when an agent last polled

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rule_group') as batch:
        batch.add_column(sa.Column('evaluated_by', sa.String(), nullable=False, server_default=''))
        batch.add_column(sa.Column('duration', sa.Float(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('health', sa.JSON(), nullable=True))
    with op.batch_alter_table('agent') as batch:
        batch.add_column(sa.Column('last_seen_at', sa.Float(), nullable=True))
    op.create_table(
        'rule_group_slot',
        sa.Column('group_key', sa.String(), nullable=False),
        sa.Column('slot', sa.Float(), nullable=False),
        sa.Column('replica', sa.String(), nullable=False),
        sa.Column('finished_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('group_key', 'slot'),
    )
    op.create_index('ix_rule_group_slot_finished_at', 'rule_group_slot', ['finished_at'])
    op.create_table(
        'replica',
        sa.Column('id', sa.String(), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('seen_at', sa.Float(), nullable=False),
        sa.Column('failing_since', sa.Float(), nullable=True),
        sa.Column('queried', sa.Boolean(), nullable=False),
        sa.Column('last_error', sa.String(), nullable=False),
        sa.Column('groups', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_replica_seen_at', 'replica', ['seen_at'])


def downgrade() -> None:
    op.drop_index('ix_replica_seen_at', table_name='replica')
    op.drop_table('replica')
    op.drop_index('ix_rule_group_slot_finished_at', table_name='rule_group_slot')
    op.drop_table('rule_group_slot')
    with op.batch_alter_table('agent') as batch:
        batch.drop_column('last_seen_at')
    with op.batch_alter_table('rule_group') as batch:
        batch.drop_column('health')
        batch.drop_column('duration')
        batch.drop_column('evaluated_by')
