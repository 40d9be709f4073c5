"""shadow policies: each shadow policy's would-be verdict on an action, counted per policy

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'policy_shadow_verdict',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('policy', sa.String(), nullable=False),
        sa.Column('decision', sa.String(), nullable=False),
        sa.Column('changes', sa.Boolean(), nullable=False),
        sa.Column('agent', sa.String(), nullable=False),
        sa.Column('action', sa.String(), nullable=False),
        sa.Column('audit_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_policy_shadow_verdict_at', 'policy_shadow_verdict', ['at'])
    op.create_index('ix_policy_shadow_verdict_policy', 'policy_shadow_verdict', ['policy'])


def downgrade() -> None:
    op.drop_index('ix_policy_shadow_verdict_policy', table_name='policy_shadow_verdict')
    op.drop_index('ix_policy_shadow_verdict_at', table_name='policy_shadow_verdict')
    op.drop_table('policy_shadow_verdict')
