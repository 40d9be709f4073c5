"""control decisions: a grant's scope (policy, argument bounds), a token's person, who ran an approval

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mode_source') as batch:
        batch.add_column(sa.Column('covers', sa.JSON(), nullable=True))
    with op.batch_alter_table('token') as batch:
        batch.add_column(sa.Column('person', sa.String(), nullable=True))
    with op.batch_alter_table('approval') as batch:
        batch.add_column(sa.Column('executed_by', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approval') as batch:
        batch.drop_column('executed_by')
    with op.batch_alter_table('token') as batch:
        batch.drop_column('person')
    with op.batch_alter_table('mode_source') as batch:
        batch.drop_column('covers')
