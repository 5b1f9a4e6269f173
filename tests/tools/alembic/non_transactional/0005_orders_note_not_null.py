"""orders.note NOT NULL, outside Alembic's transaction.

Only needed while the proxy refuses to run a guarded-only plan inside the client's transaction.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.alter_column("orders", "note", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    op.alter_column("orders", "note", existing_type=sa.Text(), nullable=True)
