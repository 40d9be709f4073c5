"""agent instances: each SDK instance's last poll and the document version it then held

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'agent_instance',
        sa.Column('agent', sa.String(), nullable=False),
        sa.Column('instance', sa.String(), nullable=False),
        sa.Column('seen_at', sa.Float(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('agent', 'instance'),
    )
    op.create_index('ix_agent_instance_seen_at', 'agent_instance', ['seen_at'])


def downgrade() -> None:
    op.drop_index('ix_agent_instance_seen_at', 'agent_instance')
    op.drop_table('agent_instance')
