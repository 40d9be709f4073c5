"""console sessions: a person signed in to the browser console

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_session',
        sa.Column('id_hash', sa.String(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('notice', sa.String(), nullable=True),
        sa.Column('notice_error', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index('ix_console_session_token_id', 'console_session', ['token_id'])
    op.create_index('ix_console_session_expires_at', 'console_session', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_console_session_expires_at', table_name='console_session')
    op.drop_index('ix_console_session_token_id', table_name='console_session')
    op.drop_table('console_session')
