"""Index orders.customer_id (as first written: inside Alembic's transaction).

schemagate rewrites CREATE INDEX into CREATE INDEX CONCURRENTLY, which cannot run in a
transaction block: through the proxy this revision fails with SG005. The fixed revision is
non_transactional/0002_orders_customer_id_index.py.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("orders_customer_id_idx", "orders", ["customer_id"])


def downgrade() -> None:
    op.drop_index("orders_customer_id_idx", table_name="orders")
