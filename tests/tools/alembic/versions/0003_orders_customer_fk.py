"""Foreign key orders.customer_id -> customers.id (inside Alembic's transaction).

schemagate rewrites it into ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT: two
lock_timeout-guarded phases, neither of which needs to be outside a transaction block.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key("orders_customer_id_fkey", "orders", "customers", ["customer_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("orders_customer_id_fkey", "orders", type_="foreignkey")
