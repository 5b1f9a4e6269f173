"""Foreign key orders.customer_id -> customers.id, outside Alembic's transaction.

Only needed while the proxy refuses to run a guarded-only plan inside the client's
transaction; with autocommit_block() the NOT VALID + VALIDATE phases each commit on their own.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_foreign_key("orders_customer_id_fkey", "orders", "customers", ["customer_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("orders_customer_id_fkey", "orders", type_="foreignkey")
