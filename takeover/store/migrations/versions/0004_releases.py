"""releases: a new agent version's canary rollout

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agent_release',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent', sa.String(), nullable=False),
        sa.Column('active_agent', sa.String(), nullable=True),
        sa.Column('stable', sa.JSON(), nullable=False),
        sa.Column('canary', sa.JSON(), nullable=False),
        sa.Column('plan', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(), nullable=False),
        sa.Column('step', sa.Integer(), nullable=False),
        sa.Column('weight_bp', sa.Integer(), nullable=False),
        sa.Column('step_since', sa.Float(), nullable=False),
        sa.Column('failures', sa.JSON(), nullable=False),
        sa.Column('inconclusive', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('started_by', sa.String(), nullable=False),
        sa.Column('ended_at', sa.Float(), nullable=True),
        sa.Column('gate_approval_id', sa.String(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('active_agent'),
    )
    op.create_index('ix_agent_release_agent', 'agent_release', ['agent'])


def downgrade() -> None:
    op.drop_index('ix_agent_release_agent', table_name='agent_release')
    op.drop_table('agent_release')
