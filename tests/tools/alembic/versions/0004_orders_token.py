"""orders.token: a uuid per row, NOT NULL, default gen_random_uuid() (inside Alembic's transaction).

A volatile default rewrites the whole table under ACCESS EXCLUSIVE; schemagate adds the column
without it, backfills in batches (each batch its own transaction) and sets NOT NULL through a
validated CHECK. The backfill cannot run inside a transaction block: SG005 here. The fixed
revision is non_transactional/0004_orders_token.py.

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
    op.add_column(
        "orders",
        sa.Column("token", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("orders", "token")
