"""orders.note NOT NULL (inside Alembic's transaction).

schemagate rewrites SET NOT NULL into a CHECK (note IS NOT NULL) NOT VALID, VALIDATE, SET NOT
NULL (which then needs no scan) and DROP CONSTRAINT: guarded phases only.

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
    op.alter_column("orders", "note", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    op.alter_column("orders", "note", existing_type=sa.Text(), nullable=True)
